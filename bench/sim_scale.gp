# sim_scale.gp — figure of bench/bench_sim_scale.sh: wall time per step (trainer and its
# bare-SMPI peer) and private memory vs K, log-log, one colour per exchange, with the fitted
# exponent b of wall = a K^b (K >= 256 where there are two such points, else all K).
# gnuplot -e "tsv='results/bench/sim_scale/sim_scale.tsv'; out='.../sim_scale.png'" sim_scale.gp
set terminal pngcairo size 1200,480 font ",10"
set output out
set datafile separator "\t"
set datafile commentschars "#"
set key top left
set logscale xy 2
set grid
set fit quiet
set fit logfile out[1:strlen(out)-4].'.fit'
set multiplot layout 1,2
exs = "allgather allreduce ps"
set xlabel "virtual workers K"
set ylabel "wall seconds per step"
set title "qsgdsim sim (solid) vs bare SMPI collectives + numerics (dashed)"
array B[3]
do for [i=1:3] {
  e = word(exs, i)
  B[i] = 0
  a = 0; b = 2
  stats tsv u ($1 eq e && $2 >= 256 ? 1 : 1/0) nooutput
  kmin = (STATS_records >= 2) ? 256 : 0
  stats tsv u ($1 eq e && $2 >= kmin ? 1 : 1/0) nooutput
  if (STATS_records >= 2) {
    f(x) = a + b * x
    fit f(x) tsv u ($1 eq e && $2 >= kmin ? log($2) : 1/0):(log($4)) via a, b
    B[i] = b
  }
}
plot for [i=1:3] tsv u ($1 eq word(exs, i) ? $2 : 1/0):4 w lp lw 2 pt 7 lc i \
       t sprintf("%s (K^{%.2f})", word(exs, i), B[i]), \
     for [i=1:3] tsv u ($1 eq word(exs, i) ? $2 : 1/0):5 w lp lw 1 dt 2 pt 6 lc i t sprintf("%s peer", word(exs, i))
set ylabel "MiB"
set title "memory of smpimain: private (solid), PSS (dashed), peak over the run"
plot for [i=1:3] tsv u ($1 eq word(exs, i) ? $2 : 1/0):10 w lp lw 2 pt 7 lc i t word(exs, i), \
     for [i=1:3] tsv u ($1 eq word(exs, i) ? $2 : 1/0):11 w lp lw 1 dt 2 pt 6 lc i notitle
unset multiplot
