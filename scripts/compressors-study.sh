#!/usr/bin/env bash
# compressors-study.sh — the analysis of experiments/compressors.cfg (issue 13): time to a
# target accuracy, final accuracy and bits per compressor and bandwidth, and each scheme's
# break-even bandwidth against the ring all-reduce baselines; a table and three figures.
#
#   scripts/compressors-study.sh [-t TARGET] [-f png|svg|pdf] [-b Q,Q,...] [DIR [BASELINE_DIR]]
#       DIR           results of compressors.cfg            (default results/compressors)
#       BASELINE_DIR  results of compressors_allreduce.cfg  (default results/compressors_allreduce)
#       -t TARGET     test accuracy to reach (default 0.85)
#       -b Q,...      the ring all-reduce quantizers that are baselines (default fp32,fp16,bf16:
#                     the dense sums); other all-reduce schemes (PowerSGD's two rings, the
#                     requantizing rings of lossy quantizers) are compared against them
#
# Writes DIR/breakeven.tsv (one row per scheme = quantizer + exchange), DIR/time_to_target.tsv
# (one row per scheme and bandwidth) and DIR/plots/compressors_{accuracy_time,accuracy_bits,
# time_to_target}.<fmt> (gnuplot, plots/compressors_*.gp). Exit 0, 1 when a point is missing
# or incomplete, or a check below fails, 2 on bad usage.
#
# Method. A scheme's points differ only in the network, so they train identically (checked:
# same evaluations) and reach the target at the same iteration N (the first evaluation at or
# above TARGET). The simulated time to it (the evaluation's sim_time) is a sum of phases
# over the first N iterations,
#   T(B) = F + C(B),  F = sum(compute + encode + decode)   (modelled: independent of B)
#                     C(B) = T(B) - F = N L + V / B         (alpha-beta network, one latency)
# (C is the comm phase plus the few small messages outside it, < 0.1% of T: checked)
# with L the latency part of an iteration and V the bits an iteration's critical path moves
# over one link, times N. V and N L come from the comm sums at the lowest and the highest
# bandwidth, V = (C(B_lo) - C(B_hi)) / (1/B_lo - 1/B_hi), N L = C(B_hi) - V / B_hi, and the
# middle bandwidths check the line (fit_err: the largest relative error of the predicted
# T(B)). With A = F + N L, two schemes take equally long at
#   B* = (V_c - V_b) / (A_b - A_c)
# where the compressed scheme c wins below B* when it moves fewer bits and costs more fixed
# time (V_c < V_b, A_c > A_b), at every bandwidth when it is better in both (B* = inf,
# "always"), never when worse in both ("never"), and above B* in the remaining case.
# per_iter_breakeven: the same with A/N and V/N, one iteration each (the bandwidth where the
# iterations take equally long, whatever the iterations to the target).
set -euo pipefail

target=0.85
fmt=png
baseq=fp32,fp16,bf16
while getopts "t:f:b:h" o; do
    case $o in
    t) target=$OPTARG ;;
    f) fmt=$OPTARG ;;
    b) baseq=$OPTARG ;;
    *)
        sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
        [ "$o" = h ] && exit 0 || exit 2
        ;;
    esac
done
shift $((OPTIND - 1))
dir=${1:-results/compressors}
base=${2:-results/compressors_allreduce}
here=$(cd "$(dirname "$0")/.." && pwd)
case $fmt in png | svg | pdf) ;; *)
    echo "compressors-study.sh: -f $fmt: use png, svg or pdf" >&2
    exit 2
    ;;
esac
awk -v t="$target" 'BEGIN { exit !(t > 0 && t <= 1) }' || {
    echo "compressors-study.sh: -t $target: a test accuracy in (0, 1]" >&2
    exit 2
}
for d in "$dir" "$base"; do
    [ -f "$d/summary.tsv" ] || {
        echo "compressors-study.sh: $d/summary.tsv not found (run qsgdsim run on its experiment first)" >&2
        exit 1
    }
done
mkdir -p "$dir/plots"
out=$dir/breakeven.tsv
tt=$dir/time_to_target.tsv

# One line per point: scheme, exchange, bandwidth (Gb/s), network, point directory.
list_points() { # DIR
    awk -F'\t' -v d="$1" '
        /^#/ { next }
        !h { for (i = 1; i <= NF; i++) c[$i] = i; h = 1; next }
        {
            if ($c["status"] != "complete") { printf "%s/%s: status %s\n", d, $c["dir"], $c["status"] > "/dev/stderr"; bad = 1; next }
            net = ("network" in c) ? $c["network"] : "-"
            print d "/" $c["dir"] "\t" net
        }
        END { exit bad }' "$1/summary.tsv"
}
{
    list_points "$dir"
    list_points "$base"
} >"$dir/.points.$$" || {
    rm -f "$dir/.points.$$"
    echo "compressors-study.sh: every point must be complete" >&2
    exit 1
}

# Per point: its phases to the target and its evaluations. Then per scheme the fit and the
# break-even bandwidths against every ring all-reduce scheme.
rc=0
awk -F'\t' -v target="$target" -v out="$out" -v tt="$tt" -v pdir="$dir/plots" -v baseq="$baseq" '
function bw(net,   m) {   # Gb/s of a star spec: bw=XGbps, bw=XMbps or link=NGb...
    if (match(net, /bw=[0-9.eE+]+Gbps/)) return substr(net, RSTART + 3, RLENGTH - 7) + 0
    if (match(net, /bw=[0-9.eE+]+Mbps/)) return (substr(net, RSTART + 3, RLENGTH - 7) + 0) / 1000
    if (match(net, /link=[0-9]+Gb/)) return substr(net, RSTART + 5, RLENGTH - 7) + 0
    return 0
}
function cols(line,   n, i, f) { n = split(line, f, "\t"); delete ci; for (i = 1; i <= n; i++) ci[f[i]] = i }
function fail(msg) { print "compressors-study.sh: " msg > "/dev/stderr"; bad = 1 }
function fmtb(x) { return x == "inf" || x == "NaN" || x == "never" ? x : sprintf("%.4g", x) }
{ pdir_[NR] = $1; pnet[NR] = $2; np = NR }
END {
    ns = 0
    for (p = 1; p <= np; p++) {
        d = pdir_[p]; q = ""; ex = ""; hdr = 0; n = 0; F = 0; C = 0; bits = 0
        f = d "/iterations.tsv"
        while ((getline line < f) > 0) {
            if (line ~ /^# config: quant = /) q = substr(line, 19)
            if (line ~ /^# config: exchange = /) ex = substr(line, 22)
            if (line ~ /^# config: model = /) models[substr(line, 19)] = 1
            if (line ~ /^# ranks: [0-9]+, workers: [0-9]+$/) workers[substr(line, index(line, "workers: ") + 9)] = 1
            if (line ~ /^#/) continue
            if (!hdr) { cols(line); hdr = 1; continue }
            split(line, v, "\t"); n++
            it_[n] = v[ci["iteration"]]; ph_[n] = v[ci["compute"]] + v[ci["encode"]] + v[ci["decode"]]
            cm_[n] = v[ci["comm"]]; bits += v[ci["bits_sent"]]
        }
        close(f)
        if (!n || q == "" || ex == "") { fail(f ": no iterations or no quant/exchange config lines"); continue }
        # evaluations: the first at or above the target (iteration 0 excluded), the last
        f = d "/eval.tsv"; hdr = 0; nt = 0; ttar = "NaN"; acc = "NaN"; evs = ""
        while ((getline line < f) > 0) {
            if (line ~ /^#/) continue
            if (!hdr) { cols(line); hdr = 1; continue }
            split(line, v, "\t"); acc = v[ci["test_accuracy"]]
            evs = evs v[ci["iteration"]] ":" acc " "
            if (!nt && v[ci["iteration"]] > 0 && acc + 0 >= target) { nt = v[ci["iteration"]]; ttar = v[ci["sim_time"]] }
        }
        close(f)
        key = q "\t" ex
        if (!(key in sidx)) { sidx[key] = ++ns; sq[ns] = q; sx[ns] = ex; sev[ns] = evs; sn[ns] = 0 }
        s = sidx[key]
        if (sev[s] != evs) fail(d ": evaluations differ from the same scheme at another bandwidth")
        B = bw(pnet[p])
        if (B <= 0) { fail(d ": bandwidth of network \"" pnet[p] "\" not understood"); continue }
        k = ++sn[s]; sb[s, k] = B; sd[s, k] = d; sT[s, k] = ttar
        sacc[s] = acc; sbits[s] = bits / n; snt[s] = nt; siters[s] = n
        F = 0; C = 0
        if (nt) for (i = 1; i <= n && it_[i] <= nt; i++) { F += ph_[i]; C += cm_[i] }
        # C: everything but compute and codec (the comm phase and the small per-iteration
        # messages outside it), so that F + C is the simulated time of the evaluation exactly
        sF[s, k] = F; sC[s, k] = ttar - F
        if (nt && (F + C - ttar > 1e-3 * ttar || ttar - F - C > 1e-3 * ttar))
            fail(sprintf("%s: phases to the target sum to %.9g s, the evaluation says %.9g s", d, F + C, ttar))
        # accuracy vs simulated time (per bandwidth) and vs bits (cumulative, one worker)
        f = d "/eval.tsv"; hdr = 0; tr = ""; nr = 0
        while ((getline line < f) > 0) {
            if (line ~ /^#/) continue
            if (!hdr) { cols(line); hdr = 1; continue }
            split(line, v, "\t")
            tr = tr sprintf("%s\t%s\t%.6g\t%s\n", v[ci["iteration"]], v[ci["sim_time"]], v[ci["iteration"]] * bits / n, v[ci["test_accuracy"]])
        }
        close(f)
        scurve[s, k] = tr
    }
    # the fit, per scheme
    for (s = 1; s <= ns; s++) {
        lo = hi = 1
        for (k = 1; k <= sn[s]; k++) { if (sb[s, k] < sb[s, lo]) lo = k; if (sb[s, k] > sb[s, hi]) hi = k }
        fitok[s] = snt[s] && sn[s] >= 2 && sb[s, lo] < sb[s, hi]
        if (!fitok[s]) { sA[s] = sV[s] = sErr[s] = "NaN"; continue }
        V = (sC[s, lo] - sC[s, hi]) / (1 / sb[s, lo] - 1 / sb[s, hi])   # Gbit (s x Gb/s)
        NL = sC[s, hi] - V / sb[s, hi]
        Fm = 0; for (k = 1; k <= sn[s]; k++) Fm += sF[s, k]; Fm /= sn[s]
        for (k = 1; k <= sn[s]; k++)
            if (sF[s, k] - Fm > 1e-9 * Fm || Fm - sF[s, k] > 1e-9 * Fm) fail(sq[s] ": compute + codec time differs between bandwidths")
        sA[s] = Fm + NL; sV[s] = V; sFm[s] = Fm; sNL[s] = NL; e = 0
        for (k = 1; k <= sn[s]; k++) { r = (sA[s] + V / sb[s, k]) / sT[s, k] - 1; r = r < 0 ? -r : r; e = r > e ? r : e }
        sErr[s] = e
    }
    # baselines: the ring all-reduce schemes of the -b quantizers (dense sums)
    nb = 0
    nbq = split(baseq, bqv, ",")
    for (i = 1; i <= nbq; i++) isbase[bqv[i]] = 1
    for (s = 1; s <= ns; s++) if (sx[s] == "allreduce" && (sq[s] in isbase)) bl[++nb] = s
    if (!nb) fail("no allreduce scheme of the baseline quantizers (" baseq ") among the points (the baseline directory)")
    print "# what: compressors study, time to test accuracy " target " and break-even bandwidth against the ring all-reduce (scripts/compressors-study.sh)" > out
    print "# T(B) = A + V / B, A = compute + codec + latency time to the target (s), V = bits on one link to the target (Gbit), B in Gb/s" > out
    print "# breakeven_vs_X = (V - V_X) / (A_X - A) Gb/s; wins_vs_X: below (this scheme is faster below it), above, always, never; NaN: target not reached" > out
    printf "quantizer\texchange\tfinal_accuracy\titers_to_target\tbits_per_iter\tcompute_codec_per_iter_s\tlatency_per_iter_s\tlink_Mbit_per_iter\tA_s\tV_Gbit\tfit_err" > out
    for (j = 1; j <= nb; j++) printf "\tbreakeven_vs_%s_%s_Gbps\twins_vs_%s_%s\tper_iter_breakeven_vs_%s_%s_Gbps", sq[bl[j]], sx[bl[j]], sq[bl[j]], sx[bl[j]], sq[bl[j]], sx[bl[j]] > out
    printf "\n" > out
    print "quantizer\texchange\tbandwidth_Gbps\tfinal_accuracy\titers_to_target\ttime_to_target_s\tpredicted_s\tbits_per_iter\tpoint" > tt
    for (s = 1; s <= ns; s++) {
        nt = snt[s]
        if (fitok[s])
            printf "%s\t%s\t%.4f\t%d\t%.6g\t%.6g\t%.6g\t%.6g\t%.6g\t%.6g\t%.2g", sq[s], sx[s], sacc[s], nt, sbits[s], sFm[s] / nt, sNL[s] / nt, sV[s] / nt * 1000, sA[s], sV[s], sErr[s] > out
        else
            printf "%s\t%s\t%.4f\t%s\t%.6g\tNaN\tNaN\tNaN\tNaN\tNaN\tNaN", sq[s], sx[s], sacc[s], nt ? nt : "NaN", sbits[s] > out
        for (j = 1; j <= nb; j++) {
            b = bl[j]
            if (!fitok[s] || !fitok[b]) { be = "NaN"; w = "NaN" }
            else if (s == b) { be = "NaN"; w = "-" }
            else {
                dV = sV[s] - sV[b]; dA = sA[b] - sA[s]
                if (dV <= 0 && dA >= 0) { be = "inf"; w = "always" }
                else if (dV >= 0 && dA <= 0) { be = "NaN"; w = "never" }
                else { be = dV / dA; w = dV < 0 ? "below" : "above" }
            }
            # the same for one iteration (as if both needed the same iterations): a + w/B
            pe = "NaN"
            if (fitok[s] && fitok[b] && s != b) {
                dv = sV[s] / snt[s] - sV[b] / snt[b]; da = sA[b] / snt[b] - sA[s] / snt[s]
                pe = dv <= 0 && da >= 0 ? "inf" : dv >= 0 && da <= 0 ? "never" : dv / da
            }
            printf "\t%s\t%s\t%s", fmtb(be), w, fmtb(pe) > out
        }
        printf "\n" > out
        for (k = 1; k <= sn[s]; k++)
            printf "%s\t%s\t%g\t%.4f\t%s\t%s\t%s\t%.6g\t%s\n", sq[s], sx[s], sb[s, k], sacc[s], nt ? nt : "NaN", sT[s, k], fitok[s] ? sprintf("%.6g", sA[s] + sV[s] / sb[s, k]) : "NaN", sbits[s], sd[s, k] > tt
    }
    # figure data: one gnuplot block per (bandwidth, scheme); bandwidths ascending
    nbw = 0
    for (s = 1; s <= ns; s++) for (k = 1; k <= sn[s]; k++) if (!(sb[s, k] in bseen)) { bseen[sb[s, k]] = 1; bws[++nbw] = sb[s, k] }
    for (i = 2; i <= nbw; i++) for (j = i; j > 1 && bws[j] < bws[j - 1]; j--) { x = bws[j]; bws[j] = bws[j - 1]; bws[j - 1] = x }
    f = pdir "/compressors_curves.dat"
    printf "" > f
    for (i = 1; i <= nbw; i++) for (s = 1; s <= ns; s++) {
        printf "# %g Gb/s, %s %s\n", bws[i], sq[s], sx[s] > f
        for (k = 1; k <= sn[s]; k++) if (sb[s, k] == bws[i]) printf "%s", scurve[s, k] > f
        printf "\n\n" > f
    }
    close(f)
    f = pdir "/compressors_ttt.dat"
    printf "scheme" > f
    for (i = 1; i <= nbw; i++) printf "\t%g Gb/s", bws[i] > f
    printf "\n" > f
    for (s = 1; s <= ns; s++) {
        printf "%s%s", sq[s], sx[s] == "allgather" ? "" : " (" sx[s] ")" > f
        for (i = 1; i <= nbw; i++) {
            tv = "NaN"
            for (k = 1; k <= sn[s]; k++) if (sb[s, k] == bws[i]) tv = sT[s, k]
            printf "\t%s", tv > f
        }
        printf "\n" > f
    }
    close(f)
    f = pdir "/compressors_setup.gp"
    printf "nschemes = %d; nbw = %d; target = %s\n", ns, nbw, target > f
    # what the figures are of, for their titles: ", MODEL, K workers", each part only when
    # every point has the same (the experiment files compare compressors on one model, one K)
    nm = 0; for (m in models) { nm++; mname = m }
    nw = 0; for (w in workers) { nw++; wname = w }
    what = (nm == 1 ? ", " mname : "") (nw == 1 ? ", " wname " workers" : "")
    printf "what = \"%s\"\n", what > f
    for (i = 1; i <= nbw; i++) printf "bw%d = %g\n", i, bws[i] > f
    for (s = 1; s <= ns; s++) {
        printf "stitle%d = \"%s%s\"\n", s, sq[s], sx[s] == "allgather" ? "" : " (" sx[s] ")" > f
        printf "sbase%d = %d\n", s, (sx[s] == "allreduce" && (sq[s] in isbase)) > f
    }
    close(f)
    exit bad
}' "$dir/.points.$$" || rc=1
rm -f "$dir/.points.$$"

if ! command -v gnuplot >/dev/null 2>&1; then
    echo "compressors-study.sh: gnuplot not found (install gnuplot-nox): tables only, no figures" >&2
elif [ -f "$dir/plots/compressors_setup.gp" ]; then
    for fig in accuracy_time accuracy_bits time_to_target; do
        o=$dir/plots/compressors_$fig.$fmt
        if gnuplot -e "common='$here/plots/common.gp'; fmt='$fmt'; outfile='$o'; datafile='$dir/plots/compressors_curves.dat'; barfile='$dir/plots/compressors_ttt.dat'" \
            -e "load '$dir/plots/compressors_setup.gp'" "$here/plots/compressors_$fig.gp"; then
            echo "$o"
        else
            echo "compressors-study.sh: gnuplot failed on plots/compressors_$fig.gp" >&2
            rc=1
        fi
    done
fi
echo "$out"
echo "$tt"
exit $rc
