# bounds.gp — figure of `qsgdsim bounds` (experiments/cmd_bounds.c): for each (bucket, norm),
# left: variance ratio E||Q(v)-v||^2/||v||^2 vs s against Lemma 3.1's bound (log-log);
# right: bits per coordinate vs s (Elias code, Theorem 3.2 bound, dense code, 32-bit floats).
# One colour per n, one point type per distribution. Run by the program as
#   gnuplot -e "datafile='DIR/bounds.tsv'; outfile='DIR/bounds.png'; ns='256 4096';
#               buckets='0 512'; norms='l2'; dists='gaussian heavy'; trials='100'" bounds.gp
# (by hand, the defaults below match `qsgdsim bounds --out results/bounds`).
if (!exists("datafile")) datafile = 'results/bounds/bounds.tsv'
if (!exists("outfile")) outfile = 'results/bounds/bounds.png'
if (!exists("ns")) ns = '256 4096 65536'
if (!exists("buckets")) buckets = '0 512'
if (!exists("norms")) norms = 'l2'
if (!exists("dists")) dists = 'gaussian heavy sparse flat'
if (!exists("trials")) trials = '?'

set encoding utf8
set datafile separator "\t"
nb = words(buckets); nm = words(norms); nn = words(ns); nd = words(dists)
nrows = nb * nm
# fmt (optional, from `qsgdsim plot`): png (default) | svg | pdf | dumb (text; outfile '' = stdout)
if (!exists("fmt")) fmt = 'png'
if (fmt eq 'svg') {
    set terminal svg size 1700, 80 + 560 * nrows dynamic font "DejaVu Sans,11" noenhanced background rgb 'white'
} else { if (fmt eq 'pdf') {
    set terminal pdfcairo size 15.5in, (0.7 + 5.1 * nrows) * 1in font "DejaVu Sans,9" noenhanced
} else { if (fmt eq 'dumb') {
    set terminal dumb size 200, 10 + 40 * nrows noenhanced
} else {
    set terminal pngcairo size 1700, 80 + 560 * nrows font "DejaVu Sans,11" noenhanced
} } }
if (outfile ne '') { set output outfile } else { set output }

colors = '#1f77b4 #d62728 #2ca02c #9467bd #ff7f0e #8c564b #e377c2 #17becf #7f7f7f #bcbd22'
col(i) = word(colors, (i - 1) % words(colors) + 1)
ptype(j) = word('7 5 9 11 13 15 4 6', (j - 1) % 8 + 1) + 0

# row r of the grid: bucket index and norm index
bk(r) = word(buckets, (r - 1) / nm + 1)
nr(r) = word(norms, (r - 1) % nm + 1)
# does the current data line belong to series (n index i, dist index j, grid row r)?
sel(i, j, r) = column("n") == word(ns, i) + 0 && strcol("dist") eq word(dists, j) && \
               column("bucket") == bk(r) + 0 && strcol("norm") eq nr(r)
bucket_label(r) = bk(r) eq '0' ? 'bucket = whole vector (d = n)' : sprintf('bucket d = %s', bk(r))

set multiplot layout nrows, 2 title sprintf("qsgdsim bounds — QSGD on random vectors, %s trials per point; solid: measured, dashed: bound (Alistarh et al. 2017)", trials) font ",13"
set logscale xy
set grid xtics ytics mxtics mytics lc rgb '#dddddd'
set xlabel "levels s"
set format y "%g"
set key outside right top vertical spacing 1.1 box width -2

do for [r = 1:nrows] {
    # ---- left: variance ratio ------------------------------------------------------------
    set title sprintf("variance ratio ‖Q(v)−v‖²/‖v‖²   (%s, norm = %s)", bucket_label(r), nr(r))
    set ylabel "E‖Q(v)−v‖² / ‖v‖²"
    plot for [i = 1:nn] for [j = 1:nd] datafile \
             using (sel(i, j, r) ? column("s") : NaN):(column("var_ratio") > 0 ? column("var_ratio") : NaN) \
             with linespoints lw 1.5 lc rgb col(i) pt ptype(j) ps 1.0 notitle, \
         for [i = 1:nn] datafile using (sel(i, 1, r) ? column("s") : NaN):(column("var_bound")) \
             with lines dt 2 lw 2 lc rgb col(i) notitle, \
         for [i = 1:nn] NaN with lines lw 2 lc rgb col(i) title sprintf("n = %s", word(ns, i)), \
         for [j = 1:nd] NaN with points pt ptype(j) lc rgb 'black' title word(dists, j), \
         NaN with lines dt 2 lw 2 lc rgb 'black' title "bound min(d/s², √d/s)"

    # ---- right: bits per coordinate -----------------------------------------------------
    set title sprintf("bits per coordinate   (%s, norm = %s%s)", bucket_label(r), nr(r), \
                      nr(r) eq 'max' ? '; Thm 3.2 is for l2 only' : '')
    set ylabel "bits / n"
    plot for [i = 1:nn] for [j = 1:nd] datafile \
             using (sel(i, j, r) ? column("s") : NaN):(column("elias_bits") / column("n")) \
             with linespoints lw 1.5 lc rgb col(i) pt ptype(j) ps 1.0 notitle, \
         for [i = 1:nn] datafile using (sel(i, 1, r) ? column("s") : NaN):(column("elias_bound") / column("n")) \
             with lines dt 2 lw 2 lc rgb col(i) notitle, \
         for [i = 1:nn] datafile using (sel(i, 1, r) ? column("s") : NaN):(column("dense_bits") / column("n")) \
             with lines dt 3 lw 2.5 lc rgb col(i) notitle, \
         for [i = 1:nn] datafile using (sel(i, 1, r) ? column("s") : NaN):(column("fp32_bits") / column("n")) \
             with lines lw 2.5 lc rgb 'black' notitle, \
         for [i = 1:nn] NaN with lines lw 2 lc rgb col(i) title sprintf("n = %s", word(ns, i)), \
         for [j = 1:nd] NaN with points pt ptype(j) lc rgb 'black' title word(dists, j), \
         NaN with linespoints lw 1.5 pt 7 lc rgb 'gray40' title "Elias code (measured)", \
         NaN with lines dt 2 lw 2 lc rgb 'gray40' title "Theorem 3.2 bound (s ≥ 2)", \
         NaN with lines dt 3 lw 2.5 lc rgb 'gray40' title "dense code (sign+level)", \
         NaN with lines lw 2.5 lc rgb 'black' title "32-bit floats"
}
unset multiplot
