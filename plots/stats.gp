# stats.gp — figure of `qsgdsim stats` (cli/cmd_stats.c), three panels:
# top: variance ratio E||C(v)-v||^2/||v||^2 per compressor (log scale; CI as error bars) and
#      its type's bound (black dash); zero (lossless) is not drawn;
# middle: bits per coordinate measured, the format's max_bits/n (black dash) and bits_bound/n
#      (red dash, variable-length formats);
# bottom: error-feedback residual ||e_t||/||v_t|| over steps t, one line per stateful
#      (spec, distribution).
# One point type per distribution. Run by the program as
#   gnuplot -e "datafile='DIR/stats.tsv'; effile='DIR/ef.tsv'; outfile='DIR/stats.png';
#               dists='gaussian heavy'; specs='fp32 qsgd:bits=4 ...'; efsteps='50'; efnames='topk/gaussian ...';
#               n='16384'; trials='1000'; conf='0.999'" stats.gp
# (by hand, the defaults below match `qsgdsim stats --out results/stats`).
if (!exists("datafile")) datafile = 'results/stats/stats.tsv'
if (!exists("effile")) effile = 'results/stats/ef.tsv'
if (!exists("outfile")) outfile = 'results/stats/stats.png'
if (!exists("dists")) dists = 'gaussian heavy'
if (!exists("specs")) specs = ''
if (!exists("efsteps")) efsteps = '50'
if (!exists("efnames")) efnames = ''
if (!exists("n")) n = '?'
if (!exists("trials")) trials = '?'
if (!exists("conf")) conf = '0.999'

set encoding utf8
set datafile separator "\t"
nd = words(dists); ns = words(specs); S = efsteps + 0; ne = words(efnames)
set terminal pngcairo size 1700, 1500 font "DejaVu Sans,11" noenhanced
if (outfile ne '') { set output outfile } else { set output }

colors = '#1f77b4 #d62728 #2ca02c #9467bd #ff7f0e #8c564b #e377c2 #17becf #7f7f7f #bcbd22'
col(i) = word(colors, (i - 1) % words(colors) + 1)
ptype(j) = word('7 5 9 11 13 15', (j - 1) % 6 + 1) + 0
# rows are spec-major, one per distribution: x = spec index, shifted per distribution
xpos(j) = int(column(0) / nd) + (j - (nd + 1) / 2.0) * 0.25
sel(j) = strcol("dist") eq word(dists, j)
pos(x) = x > 0 ? x : NaN

set multiplot layout 3, 1 title sprintf("qsgdsim stats: n = %s, %s trials per row, %g%% confidence", n, trials, 100 * conf)
set grid ytics mytics lc rgb '#dddddd'
set xrange [-0.6 : ns - 0.4]
set xtics rotate by -30 left font ",9" ()
do for [i = 1:ns] { set xtics add (word(specs, i) i - 1) }
set key outside right top vertical box

# ---- top: variance ratio vs bound -------------------------------------------------------
set logscale y
set format y "%g"
set ylabel "E‖C(v)−v‖² / ‖v‖²"
set title "variance ratio (points, CI bars) and the type's bound (black dash); lossless = 0 not drawn"
plot for [j = 1:nd] datafile using (sel(j) ? xpos(j) : NaN):(pos(column("var_ratio"))): \
         (pos(column("var_lo")) > 0 ? column("var_lo") : column("var_ratio")):(column("var_hi")) \
         with yerrorbars pt ptype(j) ps 1.2 lw 1.5 lc rgb col(j) title word(dists, j), \
     datafile using (sel(1) ? int(column(0) / nd) : NaN):(pos(column("var_bound"))):(0.4) \
         with xerrorbars pt 0 lw 2.5 lc rgb 'black' title "variance_bound"

# ---- middle: bits per coordinate ----------------------------------------------------------
set ylabel "bits / coordinate"
set title "bits per coordinate: measured mean (points), max_bits/n (black dash), bits_bound/n (red dash)"
plot for [j = 1:nd] datafile using (sel(j) ? xpos(j) : NaN):(pos(column("bits"))) \
         with points pt ptype(j) ps 1.4 lc rgb col(j) title word(dists, j), \
     datafile using (sel(1) ? int(column(0) / nd) : NaN):(pos(column("max_bits"))):(0.4) \
         with xerrorbars pt 0 lw 2.5 lc rgb 'black' title "max_bits / n", \
     datafile using (sel(1) ? int(column(0) / nd) : NaN):(pos(column("bits_bound"))):(0.4) \
         with xerrorbars pt 0 lw 2.5 lc rgb '#d62728' title "bits_bound / n"

# ---- bottom: error-feedback residual --------------------------------------------------------
unset xrange
unset xtics
set xtics norotate font ",11" autofreq
set xlabel "step t"
set ylabel "‖e_t‖ / ‖v_t‖ (RMS over runs)"
set title "error-feedback residual of the stateful compressors (fresh vectors each step)"
if (ne > 0) {
    plot for [b = 0:ne - 1] effile using "t":(pos(column("e_ratio"))) every ::(b * S)::(b * S + S - 1) \
         with linespoints lw 1.5 pt ptype(b % nd + 1) ps 0.6 lc rgb col(b / nd + 1) title word(efnames, b + 1)
} else {
    set label 1 "no stateful compressor in the list" at graph 0.5, 0.5 center
    unset logscale y
    plot [0:1] [0:1] NaN notitle
}
unset multiplot
