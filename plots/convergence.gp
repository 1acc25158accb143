# convergence.gp — `qsgdsim plot` convergence figure: per panel row (a combination of the
# swept settings other than the quantizer), train loss and test accuracy (test loss when the
# model has no accuracy) against epochs and against simulated seconds, one line per
# quantizer (seeds of one quantizer share its colour).
# Data (experiments/cmd_plot.c): trainfile = epoch, sim_time, train loss (binned means);
# evalfile = epoch, sim_time, test loss, test accuracy; block (panel-1)*nlines + line-1.
# Variables: npanels (rows in this file), first (panels before this file), nlines, any_acc,
# ptitle1.., ltitle1.., lcolor1.., figtitle; fmt/outfile/common as in common.gp.
W = 1800
H = 110 + 400 * npanels
load common

blk(r, l) = (first + r - 1) * nlines + l - 1
acol = any_acc ? 4 : 3
aname = any_acc ? 'test accuracy' : 'test loss'
pt(r, what) = v('ptitle', r) eq '' ? what : v('ptitle', r) . ' — ' . what

# Loss axes: log scale over more than a factor of 3 (ticks at 1, 2, 3, 5 x 10^k below
# ~1.5 decades, at powers of 10 above), linear otherwise.
stats trainfile using 3 nooutput
lspan = STATS_max / STATS_min
espan = 1
if (!any_acc) { stats evalfile using 3 nooutput; espan = STATS_max / STATS_min }
finetics = 'set ytics (0.001, 0.002, 0.003, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 3, 5, 10, 20, 30, 50, 100, 200, 300, 500, 1000)'
logaxis(span) = span < 3 ? 'unset logscale y; set ytics autofreq' : span < 30 ? 'set logscale y; ' . finetics : 'set logscale y; set ytics autofreq'
loglabel(span) = span < 3 ? '' : ' (log)'
# about 5 ticks on an axis from 0 to xmax: 1, 2 or 5 x 10^k apart
nicestep(xmax) = (xe = 10**floor(log10(xmax / 5.0)), xm = xmax / 5.0 / xe, (xm < 1.5 ? 1 : xm < 3.5 ? 2 : xm < 7.5 ? 5 : 10) * xe)
set multiplot layout npanels, 4 title (figtitle eq '' ? 'Convergence' : 'Convergence (' . figtitle . ')') . ': one line per quantizer' font ',14'
set key bottom left box opaque samplen 2 spacing 1.1 font ',10'
do for [r = 1:npanels] {
    showkey = r == 1 && !(nlines == 1 && ltitle1 eq '')
    set autoscale yfix
    set offsets 0, 0, graph 0.05, graph 0.05
    set format y '%g'
    set xtics autofreq

    eval logaxis(lspan)
    set xlabel 'epoch'
    set ylabel 'train loss' . loglabel(lspan)
    set title pt(r, 'train loss vs epoch')
    if (showkey) { set key top right } else { unset key }
    plot for [l = 1:nlines] trainfile index blk(r, l) using 1:3 with lines lw 2 lc rgb v('lcolor', l) title v('ltitle', l)

    if (!any_acc) { eval logaxis(espan) } else { unset logscale y; set ytics autofreq }
    set ylabel aname . (any_acc ? '' : loglabel(espan))
    set title pt(r, aname . ' vs epoch')
    if (showkey) { if (any_acc) { set key bottom right } else { set key top right } } else { unset key }
    plot for [l = 1:nlines] evalfile index blk(r, l) using 1:acol with linespoints lw 2 pt 7 ps 0.6 lc rgb v('lcolor', l) title v('ltitle', l)

    # simulated time axes: this row's longest run
    stats trainfile index blk(r, 1):blk(r, nlines) using 2 nooutput
    tmax = STATS_max
    stats evalfile index blk(r, 1):blk(r, nlines) using 2 nooutput
    tmax = STATS_max > tmax ? STATS_max : tmax
    if (tmax > 0) { set xtics nicestep(tmax) }
    eval logaxis(lspan)
    set xlabel 'simulated seconds'
    set ylabel 'train loss' . loglabel(lspan)
    set title pt(r, 'train loss vs simulated time')
    if (showkey) { set key top right } else { unset key }
    plot for [l = 1:nlines] trainfile index blk(r, l) using 2:3 with lines lw 2 lc rgb v('lcolor', l) title v('ltitle', l)

    if (!any_acc) { eval logaxis(espan) } else { unset logscale y; set ytics autofreq }
    set ylabel aname . (any_acc ? '' : loglabel(espan))
    set title pt(r, aname . ' vs simulated time')
    if (showkey) { if (any_acc) { set key bottom right } else { set key top right } } else { unset key }
    plot for [l = 1:nlines] evalfile index blk(r, l) using 2:acol with linespoints lw 2 pt 7 ps 0.6 lc rgb v('lcolor', l) title v('ltitle', l)
}
unset multiplot
