+ metaloss learn --seeds 0,1,2,3,4 --steps 10000 --base-lr-grid 0.003,0.01,0.03,0.1,0.3 --threads 1 --method ml3 --dataset fashion-mnist --model logistic --out runs/thesis-ml3-fmnist-logistic
