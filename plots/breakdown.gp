# breakdown.gp — `qsgdsim plot` epoch time breakdown (the paper's Figure 2): simulated
# seconds per epoch split into compute, encode, communication and decode, one stacked bar
# per quantizer, bars clustered by worker count, one panel per combination of the other
# swept settings (network, model, ...).
# Data (experiments/cmd_plot.c): datafile, one block per panel: x, bar label, bar index,
# cumulative seconds compute, +encode, +comm, +decode; labelfile: x, y, cluster label.
# Variables: npanels, ptitle1.., nbars, bcolor1.., maxbars (bars in the fullest panel),
# subtitle; fmt/outfile/common.
if (!exists("maxbars")) maxbars = 8
ncols = npanels < 3 ? npanels : 3
nrows = (npanels + ncols - 1) / ncols
PW = 140 + 36 * maxbars        # panel width: ~36 pixels per bar
PW = PW < 650 ? 650 : PW
W = ncols == 1 ? (PW < 900 ? 900 : PW) : PW * ncols
H = 110 + 520 * nrows
load common

c_compute = '#4c72b0'; c_encode = '#dd8452'; c_comm = '#c44e52'; c_decode = '#55a868'
set multiplot layout nrows, ncols title 'Simulated time per epoch by phase' . subtitle . "\n" font ',14'
set style fill solid 0.9 border rgb '#333333'
set boxwidth 0.8
set xtics rotate by -35 left nomirror font ',10'
set grid noxtics ytics
set ylabel 'simulated seconds per epoch'
set yrange [0:*]
set offsets 0.6, 0.6, graph (maxbars > 10 ? 0.22 : 0.16), 0
set key above horizontal Left reverse font ',10' samplen 1.5 width 1 maxrows 1
do for [p = 1:npanels] {
    set title v('ptitle', p)
    plot datafile index p - 1 using 1:7:xtic(2) with boxes lc rgb c_decode title 'decode', \
         '' index p - 1 using 1:6 with boxes lc rgb c_comm title 'communication', \
         '' index p - 1 using 1:5 with boxes lc rgb c_encode title 'encode', \
         '' index p - 1 using 1:4 with boxes lc rgb c_compute title 'compute', \
         '' index p - 1 using 1:7:(sprintf('%.3g', $7)) with labels rotate by (maxbars > 10 ? 90 : 0) left offset (maxbars > 10 ? 0 : -1.2), 0.6 font ',9' notitle, \
         labelfile index p - 1 using 1:2:3 with labels offset 0, 2.2 font ',12' tc rgb '#000000' notitle
}
unset multiplot
