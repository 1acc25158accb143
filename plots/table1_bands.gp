# table1_bands.gp — drawn by plots/table1_bands.sh: the paper's Table 1 speedup (bar), the
# calibrated prediction (dot) and its sensitivity band (whisker) per network.
# Data: x, network, paper, predicted, band_low, band_high.
set terminal pngcairo size 900, 560 font 'DejaVu Sans,11'
set output outfile
set title "Table 1: paper vs prediction (p2.16xlarge, CNTK exchanges, one calibrated constant)" font ',12'
set style fill solid 0.6 border rgb '#333333'
set boxwidth 0.5
set xtics nomirror
set grid noxtics ytics
set ylabel 'speedup of QSGD over fp32 (per step)'
set yrange [0:*]
set offsets 0.5, 0.5, graph 0.1, 0
set key top right
plot datafile using 1:3:xtic(2) with boxes lc rgb '#bbbbbb' title "paper (Table 1)", \
     '' using 1:4:5:6 with yerrorbars pt 7 ps 1.4 lw 2 lc rgb '#1f77b4' title "prediction (band: compute x0.75-1.25, die\\_bw 1.0-2.0 GB/s, batch)", \
     '' using 1:3:(sprintf('%.2f', $3)) with labels offset 0, 0.8 font ',9' notitle, \
     '' using ($1 + 0.3):4:(sprintf('%.2f', $4)) with labels left font ',9' tc rgb '#1f77b4' notitle, \
     1 with lines dt 3 lc rgb '#555555' notitle
