# Rendered from the repository root: gnuplot docs/plots/adalfl-meta-grad-norm-output.gp (data: scripts/adalfl_selection.sh)
set terminal svg size 900,520 dynamic noenhanced font 'sans,12' background '#ffffff'
set output 'docs/plots/adalfl-meta-grad-norm-output.svg'
set title "AdaLFL online meta-gradient norm, F-MNIST logistic, selection seeds"
set xlabel "base step"
set ylabel "||grad_phi L_task|| (mean per 100 steps)"
set logscale y
set format y '%.0e'
set key inside right center
set grid
plot 'docs/plots/data/adalfl-select-softplus-seed100.dat' using 1:2 with lines lw 2 lc 1 dt 1 title 'Softplus output, seed 100', \
     'docs/plots/data/adalfl-select-softplus-seed101.dat' using 1:2 with lines lw 2 lc 1 dt 2 title 'Softplus output, seed 101', \
     'docs/plots/data/adalfl-select-none-seed100.dat' using 1:2 with lines lw 2 lc 2 dt 1 title 'no output activation, seed 100', \
     'docs/plots/data/adalfl-select-none-seed101.dat' using 1:2 with lines lw 2 lc 2 dt 2 title 'no output activation, seed 101'
