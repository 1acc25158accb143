# sim_scale.gp — figure of bench/bench_sim_scale.sh: wall time per step (trainer and its
# bare-SMPI peer) and private memory vs K, log-log, one colour per exchange, with the fitted
# exponent b of wall = a K^b (K >= 256 where there are two such points, else all K).
# gnuplot -e "tsv='results/bench/sim_scale/sim_scale.tsv'; out='.../sim_scale.png'; fits='b1 b2 b3'" sim_scale.gp
set terminal pngcairo size 1200,480 font ",10"
set output out
set datafile separator "\t"
set datafile commentschars "#"
set key top left
set logscale xy 2
set grid
set multiplot layout 1,2
exs = "allgather allreduce ps"
set xlabel "virtual workers K"
set ylabel "wall seconds per step"
set title "qsgdsim sim (solid) vs bare SMPI collectives + numerics (dashed)"
# the fitted exponents come from bench_sim_scale.sh (least squares of log wall on log K, K >= 256
# where there are two such points, else all K): -e "fits='b1 b2 b3'" (NaN: fewer than 2 points)
if (!exists("fits")) fits = "NaN NaN NaN"
array B[3]
do for [i=1:3] { B[i] = word(fits, i) eq "NaN" ? NaN : real(word(fits, i)) }
plot for [i=1:3] tsv u (strcol(1) eq word(exs, i) ? $2 : 1/0):4 w lp lw 2 pt 7 lc i \
       t sprintf("%s (K^{%.2f})", word(exs, i), B[i]), \
     for [i=1:3] tsv u (strcol(1) eq word(exs, i) ? $2 : 1/0):5 w lp lw 1 dt 2 pt 6 lc i t sprintf("%s peer", word(exs, i))
set ylabel "MiB"
set title "memory of smpimain: private (solid), PSS (dashed), peak over the run"
plot for [i=1:3] tsv u (strcol(1) eq word(exs, i) ? $2 : 1/0):10 w lp lw 2 pt 7 lc i t word(exs, i), \
     for [i=1:3] tsv u (strcol(1) eq word(exs, i) ? $2 : 1/0):11 w lp lw 1 dt 2 pt 6 lc i notitle
unset multiplot
