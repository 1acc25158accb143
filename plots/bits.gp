# bits.gp — `qsgdsim plot` bits sent per iteration by one worker, one bar per quantizer
# (clustered by model when the model is swept), log scale, labelled with the compression
# against fp32 (fp32 bits / these bits).
# Data (experiments/cmd_plot.c): datafile block 0: x, quantizer label, quantizer index,
# bits, ratio; labelfile: x, y, cluster label. Variables: nbars, bcolor1.., maxbars;
# fmt/outfile/common.
if (!exists("maxbars")) maxbars = 5
W = 200 + 95 * maxbars     # room for a "503.2 Mbit (4.0×)" label per bar
W = W < 1000 ? 1000 : W
H = 620
load common

set title 'Bits sent per iteration by one worker (in brackets: compression vs fp32)' font ',13'
set style fill solid 0.85 border rgb '#333333'
set boxwidth 0.8
set logscale y
set format y '%.0s%c'
set ylabel 'bits per iteration (log)'
set xtics rotate by -35 left nomirror font ',10'
set grid noxtics ytics
set offsets 0.6, 0.6, 0, 0
stats datafile index 0 using 4 nooutput
set yrange [STATS_min / 5 : STATS_max * 4]
unset key
plot for [b = 1:nbars] datafile index 0 using ($3 == b ? $1 : NaN):4 with boxes lc rgb v('bcolor', b) notitle, \
     datafile index 0 using 1:4:(gprintf('%.1s %cbit', $4) . ($5 > 1.0001 ? sprintf(' (%.1f×)', $5) : '')):xtic(2) with labels offset 0, 0.7 font ',9' notitle, \
     labelfile index 0 using 1:2:3 with labels offset 0, 2.0 font ',11' notitle
