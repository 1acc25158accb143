# compressors_time_to_target.gp — scripts/compressors-study.sh: simulated seconds to the
# target accuracy per scheme (log), one bar per bandwidth; a scheme that does not reach the
# target within the run has no bar. Data: barfile (compressors_ttt.dat): a header, then
# scheme, one time per bandwidth. Variables as compressors_accuracy_time.gp.
W = 1500
H = 700
load common

set title sprintf('Simulated time to test accuracy %g%s (no bar: not reached)', target, what) font ',14'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border rgb '#333333'
set boxwidth 0.9
set logscale y
set format y '%g'
set ylabel 'simulated seconds to the target (log)'
set xtics rotate by -35 left nomirror font ',10'
set grid noxtics ytics
set key top right box opaque font ',10'
bwcol(i) = word('#9ecae1 #3182bd #08306b', (i - 1) % 3 + 1)
plot for [i = 1:nbw] barfile skip 1 using (column(i + 1)):xtic(1) title sprintf('%g Gb/s', v('bw', i)) lc rgb bwcol(i)
