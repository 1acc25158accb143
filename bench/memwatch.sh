#!/usr/bin/env bash
# memwatch.sh OUTFILE -- COMMAND...: run COMMAND, sample the memory of its process tree every
# 0.2 s (/proc/PID/smaps_rollup of every descendant: private = Private_Clean + Private_Dirty,
# shared = Shared_Clean + Shared_Dirty, counted once per process; memory maps = lines of
# /proc/PID/maps), and write the peaks to OUTFILE as "key value" lines:
#   wall_s private_kb shared_kb pss_kb rss_kb maps rc
# pss (proportional set size) divides each shared page by the number of its mappings: the
# physical memory of the tree (a folded SMPI block mapped 100k times counts once).
# The command's exit status is this script's. Honest accounting: a shared block mapped by
# many ranks of one SMPI process counts once in Shared (and SMPI's folded shared-malloc
# blocks are one physical page set however often they are mapped).
set -u
out=${1:?usage: memwatch.sh OUTFILE -- COMMAND...}; shift
[ "${1:-}" = "--" ] && shift
t0=$(date +%s.%N)
"$@" &
root=$!
pk=0; sk=0; rk=0; mk=0; qk=0
desc() { local p=$1 c; echo "$p"; for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do desc "$c"; done; }
while kill -0 "$root" 2>/dev/null; do
  p=0; s=0; r=0; m=0; q=0
  for pid in $(desc "$root"); do
    read -r pp ss rr qq < <(awk '/^Rss:/{r=$2} /^Pss:/{q=$2} /^Private_(Clean|Dirty):/{p+=$2} /^Shared_(Clean|Dirty):/{s+=$2} END{print p+0, s+0, r+0, q+0}' /proc/"$pid"/smaps_rollup 2>/dev/null || echo "0 0 0 0")
    mm=$(wc -l < /proc/"$pid"/maps 2>/dev/null || echo 0)
    p=$((p + pp)); s=$((s + ss)); r=$((r + rr)); m=$((m + mm)); q=$((q + qq))
  done
  [ "$p" -gt "$pk" ] && pk=$p; [ "$s" -gt "$sk" ] && sk=$s; [ "$r" -gt "$rk" ] && rk=$r; [ "$m" -gt "$mk" ] && mk=$m; [ "$q" -gt "$qk" ] && qk=$q
  sleep 0.2
done
wait "$root"; rc=$?
t1=$(date +%s.%N)
printf "wall_s %s\nprivate_kb %d\nshared_kb %d\npss_kb %d\nrss_kb %d\nmaps %d\nrc %d\n" "$(echo "$t1 - $t0" | bc)" "$pk" "$sk" "$qk" "$rk" "$mk" "$rc" > "$out"
exit "$rc"
