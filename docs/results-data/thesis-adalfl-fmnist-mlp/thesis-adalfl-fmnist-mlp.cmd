+ metaloss learn --seeds 0,1,2,3,4 --steps 10000 --threads 1 --method adalfl --dataset fashion-mnist --model mlp --base-lr-grid 0.01,0.03,0.1 --out runs/thesis-adalfl-fmnist-mlp
