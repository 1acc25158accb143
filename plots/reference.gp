# reference.gp — `qsgdsim plot` simulated speedups over fp32 beside the paper's (the
# `reference` groups of an experiment file, e.g. Table 1 of Alistarh et al. 2017).
# Data (experiments/cmd_plot.c): datafile: x, label, simulated, paper, source.
# Variables: nitems; fmt/outfile/common.
W = 260 + 130 * nitems
W = W < 900 ? 900 : W
H = 680
load common

set title 'Speedup over fp32: simulated vs the paper' font ',13'
set style fill solid 0.85 border rgb '#333333'
set boxwidth 0.36
set xtics rotate by -35 left nomirror font ',10'
set grid noxtics ytics
set ylabel 'speedup over fp32'
set yrange [0:*]
set offsets 0.6, 0.6, graph 0.12, 0
set key top right font ',11'
plot datafile using ($1 - 0.19):3:xtic(2) with boxes lc rgb '#1f77b4' title 'simulated (qsgdsim)', \
     '' using ($1 + 0.19):4 with boxes lc rgb '#bbbbbb' title 'paper', \
     '' using ($1 - 0.19):3:(sprintf('%.2f', $3)) with labels offset 0, 0.7 font ',9' notitle, \
     '' using ($1 + 0.19):4:(sprintf('%.2f', $4)) with labels offset 0, 0.7 font ',9' notitle, \
     1 with lines dt 3 lc rgb '#555555' notitle
