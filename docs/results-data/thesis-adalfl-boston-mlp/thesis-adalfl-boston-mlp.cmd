+ metaloss learn --seeds 0,1,2,3,4 --steps 10000 --threads 1 --method adalfl --dataset boston --model mlp --base-lr-grid 0.003,0.01,0.03,0.1,0.3 --out runs/thesis-adalfl-boston-mlp
