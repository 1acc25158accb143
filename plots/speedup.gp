# speedup.gp — `qsgdsim plot` scaling figure: simulated time per epoch (left, log) and
# speedup over fp32 with the same other settings (right) against the worker count (log2
# axis) or the network (categorical, in file order). Colour = quantizer; dash type and
# point type = the combination of the remaining swept settings (network, model, ...).
# Data (experiments/cmd_plot.c): datafile, block (q-1)*nother + o-1: x, x label,
# time per epoch, speedup (means over seeds). Variables: nq, nother, qtitle1.., qcolor1..,
# otitle1.., oname (the settings the line styles stand for), xkind ('workers' | 'network'), nx, any_speedup; fmt/outfile/common.
W = any_speedup ? 1700 : 900
H = 640
load common

blk(q, o) = (q - 1) * nother + o - 1
ptype(o) = word('7 5 9 11 13 15 4 6', (o - 1) % 8 + 1) + 0
is_workers = xkind eq 'workers'
set multiplot layout 1, (any_speedup ? 2 : 1) title 'Scaling ' . (is_workers ? 'with the number of workers' : 'with the network') . ' (colour: quantizer' . (nother > 1 ? '; line style: ' . oname . ')' : ')') font ',14'
if (is_workers) {
    set logscale x 2
    set xlabel 'workers K'
    set offsets graph 0.03, graph 0.03, 0, 0
} else {
    set xlabel 'network'
    set offsets 0.3, 0.3, 0, 0
}
set grid xtics ytics
set key outside right top vertical font ',10' spacing 1.15 samplen 2.5

# every line: colour of its quantizer, dash/points of its other combination
set logscale y
set ylabel 'simulated seconds per epoch (log)'
set title 'time per epoch'
if (is_workers) {
    plot for [q = 1:nq] for [o = 1:nother] datafile index blk(q, o) using 1:3 with linespoints lw 2 dt o pt ptype(o) ps 1.1 lc rgb v('qcolor', q) notitle, \
         for [q = 1:nq] NaN with lines lw 3 lc rgb v('qcolor', q) title v('qtitle', q), \
         for [o = 1:(nother > 1 ? nother : 0)] NaN with linespoints lw 2 dt o pt ptype(o) lc rgb '#000000' title v('otitle', o)
} else {
    plot for [q = 1:nq] for [o = 1:nother] datafile index blk(q, o) using 1:3:xtic(2) with linespoints lw 2 dt o pt ptype(o) ps 1.1 lc rgb v('qcolor', q) notitle, \
         for [q = 1:nq] NaN with lines lw 3 lc rgb v('qcolor', q) title v('qtitle', q), \
         for [o = 1:(nother > 1 ? nother : 0)] NaN with linespoints lw 2 dt o pt ptype(o) lc rgb '#000000' title v('otitle', o)
}
if (any_speedup) {
    # speedups up to ~8x on a linear axis from 0, larger ranges on a log axis
    stats datafile using 4 nooutput
    if (STATS_max > 8) {
        set logscale y
        set yrange [*:*]
        set ytics (0.5, 0.7, 1, 1.5, 2, 3, 5, 7, 10, 15, 20, 30, 50, 70, 100)
        set ylabel 'speedup over fp32 (fp32 time / time, log)'
    } else {
        unset logscale y
        set yrange [0:*]
        set ytics autofreq
        set ylabel 'speedup over fp32 (fp32 time / time)'
    }
    set title 'speedup over fp32 (dotted: 1 = no gain)'
    if (is_workers) {
        plot for [q = 1:nq] for [o = 1:nother] datafile index blk(q, o) using 1:4 with linespoints lw 2 dt o pt ptype(o) ps 1.1 lc rgb v('qcolor', q) notitle, \
             1 with lines dt 3 lw 1.5 lc rgb '#555555' notitle, \
             for [q = 1:nq] NaN with lines lw 3 lc rgb v('qcolor', q) title v('qtitle', q), \
             for [o = 1:(nother > 1 ? nother : 0)] NaN with linespoints lw 2 dt o pt ptype(o) lc rgb '#000000' title v('otitle', o)
    } else {
        plot for [q = 1:nq] for [o = 1:nother] datafile index blk(q, o) using 1:4:xtic(2) with linespoints lw 2 dt o pt ptype(o) ps 1.1 lc rgb v('qcolor', q) notitle, \
             1 with lines dt 3 lw 1.5 lc rgb '#555555' notitle, \
             for [q = 1:nq] NaN with lines lw 3 lc rgb v('qcolor', q) title v('qtitle', q), \
             for [o = 1:(nother > 1 ? nother : 0)] NaN with linespoints lw 2 dt o pt ptype(o) lc rgb '#000000' title v('otitle', o)
    }
}
unset multiplot
