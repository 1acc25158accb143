#!/usr/bin/env bash
# table1_bands.sh — Table 1: the paper's speedups beside the calibrated prediction and its
# sensitivity band (experiments/table1_sensitivity.cfg). Reads DIR/summary.tsv by column
# name; writes DIR/plots/bands.dat and DIR/plots/bands.png.
#
#   plots/table1_bands.sh results/table1_sensitivity
#
# A row of the figure is a network: the bar is the paper's number, the dot the prediction of
# the "calibrated" group, the whisker the lowest and highest prediction over the other
# groups (compute x0.75/x1.25, die_bw 1.0/2.0 GB/s, another batch), each input moved alone.
set -euo pipefail
dir=${1:?usage: table1_bands.sh RESULTS_DIR}
here=$(cd "$(dirname "$0")" && pwd)
sum=$dir/summary.tsv
[ -r "$sum" ] || { echo "table1_bands.sh: no $sum (run the experiment first)" >&2; exit 1; }
mkdir -p "$dir/plots"
dat=$dir/plots/bands.dat
tmp=$dat.tmp.$$
trap 'rm -f "$tmp"' EXIT
# the network's name is the reference source after "Table 1: " (up to the first comma)
awk -F'\t' '
  /^#/ { next }
  !h { for (i = 1; i <= NF; i++) c[$i] = i
       if (!("ref_group" in c) || !("speedup" in c) || !("ref_speedup" in c) || !("ref_source" in c)) {
         print "table1_bands.sh: summary.tsv lacks ref_group/speedup/ref_speedup/ref_source" > "/dev/stderr"; exit 2 }
       h = 1; next }
  $c["ref_group"] == "" || $c["speedup"] == "NaN" { next }
  { net = $c["ref_source"]; sub(/^Table 1: */, "", net); sub(/,.*/, "", net)
    if (!(net in paper)) { order[++n] = net; paper[net] = $c["ref_speedup"] }
    s = $c["speedup"] + 0
    if ($c["ref_group"] == "calibrated") pred[net] = s
    else { if (!(net in lo) || s < lo[net]) lo[net] = s; if (!(net in hi) || s > hi[net]) hi[net] = s } }
  END { if (!n) { print "table1_bands.sh: no complete rows with references" > "/dev/stderr"; exit 2 }
        print "# x\tnetwork\tpaper\tpredicted\tband_low\tband_high"
        for (i = 1; i <= n; i++) { k = order[i]
          if (!(k in pred)) { print "table1_bands.sh: no calibrated row for " k > "/dev/stderr"; exit 2 }
          if (!(k in lo)) { lo[k] = pred[k]; hi[k] = pred[k] }
          printf "%d\t%s\t%s\t%.6g\t%.6g\t%.6g\n", i - 1, k, paper[k], pred[k],
                 (lo[k] < pred[k] ? lo[k] : pred[k]), (hi[k] > pred[k] ? hi[k] : pred[k]) } }' \
  "$sum" >"$tmp"
mv "$tmp" "$dat"
gnuplot -e "datafile='$dat'; outfile='$dir/plots/bands.png'" "$here/table1_bands.gp"
echo "$dir/plots/bands.png"
