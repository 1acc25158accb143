# compressors_accuracy_time.gp — scripts/compressors-study.sh: test accuracy against
# simulated seconds (log), one panel per bandwidth, one line per scheme; the target dotted.
# Data: datafile (compressors_curves.dat) block (bandwidth-1)*nschemes + scheme-1, columns
# iteration, sim_time, cumulative bits of one worker, test accuracy. Variables
# (compressors_setup.gp): nschemes, nbw, bw1.., stitle1.., sbase1.., target,
# what (", MODEL, K workers").
W = 620 * nbw
H = 760
load common
load sprintf('%s/compressors_common.gp', system(sprintf('dirname "%s"', common)))

set multiplot layout 1, nbw title sprintf('Test accuracy vs simulated time%s (dotted: the target %g)', what, target) font ',14'
set logscale x
set format x '%.0s%c'
set xlabel 'simulated seconds (log)'
set ylabel 'test accuracy'
set yrange [0.70 : 0.90]
set key top left box opaque samplen 2 spacing 1.0 font ",9"
do for [i = 1:nbw] {
    set title sprintf('%g Gb/s', v('bw', i))
    if (i == 1) { set key } else { unset key }
    plot for [s = 1:nschemes] datafile index (i - 1) * nschemes + s - 1 using ($1 > 0 ? $2 : NaN):4 \
             with lines lw swidth(s) dt sdash(s) lc rgb scol(s) title v('stitle', s), \
         target with lines dt 3 lw 1.5 lc rgb '#444444' notitle
}
unset multiplot
