# compressors_accuracy_bits.gp — scripts/compressors-study.sh: test accuracy against the
# bits one worker has sent (log), one line per scheme (independent of the bandwidth: the
# first bandwidth's blocks). Data and variables as compressors_accuracy_time.gp.
W = 1100
H = 760
load common
load sprintf('%s/compressors_common.gp', system(sprintf('dirname "%s"', common)))

set title sprintf('Test accuracy vs bits sent by one worker%s (dotted: the target %g)', what, target) font ',14'
set logscale x
set format x '%.0s%c'
set xlabel 'bits sent by one worker (log)'
set ylabel 'test accuracy'
set yrange [0.70 : 0.90]
set key outside right top samplen 2 spacing 1.0 font ',9'
plot for [s = 1:nschemes] datafile index s - 1 using ($1 > 0 ? $3 : NaN):4 \
         with lines lw swidth(s) dt sdash(s) lc rgb scol(s) title v('stitle', s), \
     target with lines dt 3 lw 1.5 lc rgb '#444444' notitle
