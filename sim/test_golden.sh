#!/usr/bin/env bash
# Golden simulated times (CTest sim_golden_times; see sim/CMakeLists.txt), in the spirit of
# SimGrid's .tesh files: with fixed compute and codec models the simulated time of a few steps
# of every exchange on a small star is pinned, the expected value COMPUTED HERE from alpha-beta
# and the exact message sizes, never copied from a run.
#   test_golden.sh QSGDSIM
#
# Model (derivation in docs/testing.md, "Golden simulated times"). Platform star:bw=1Gbps,
# lat=50us: route host -> switch -> host = 2 SPLITDUPLEX links of lat/2 each (net_xml.c), so
# alpha = 50e-6 s, beta = 1.25e8 B/s per direction. `qsgdsim sim`'s cm02 flags (CM02 model,
# crosstraffic 0, TCP-gamma 1e18): a flow of m bytes alone on its route takes alpha + m/beta;
# n flows of equal size started together on one link direction share it max-min fairly and
# all end at alpha + n m/beta. Two SMPI 3.32 constants enter:
#   e = 16  bytes of MPI envelope added to every point-to-point message (smpi_request.cpp:
#           payload_size = size + 16)
#   w = 1e-8 s injected into every MPI_Wtime call (smpi/wtime); the trainer calls it a known
#           number of times per iteration (counted per exchange below, from trainer.c)
# Compute S = --compute fixed:S, codec none (encode = decode = 0), evaluation is not charged.
# Per exchange, X = the collective time of one steady step:
#   allgather  (SMPI ring allgatherv, K-1 rounds, one flow per link direction per round)
#              X = (K-1)(alpha + (m+e)/beta)          comm = X + w,  step = S + X + 3w
#   allreduce  (qsgdsim's ring, n+1 floats divisible by K: chunks of c = (n+1)/K floats;
#              --allreduce mpi = SMPI's "lr", the same rounds)
#              X = 2(K-1)(alpha + (4c+e)/beta)        comm = X + w,  step = S + X + 3w
#   ps         (K-1 workers, K <= 3: gather into the server's link, shared, then a binomial
#              bcast that is one hop for K <= 3; the reporter is worker rank 1)
#              X = alpha + (K-1)(m+e)/beta + alpha + (K-1)(4(n+1)+e)/beta
#                                                     comm = X + 2w, step = S + X + 5w
#   stripes    (leastsq, one tensor, dim divisible by K: every message m1 = 12 + 4 dim/K)
#              X = [alpha + (K-1)(4+e)/beta] alltoall of counts + [alpha + (K-1)(m1+e)/beta]
#                  alltoallv + (K-1)[alpha + (4+e)/beta] ring allgather of counts
#                  + (K-1)[alpha + (m1+e)/beta] ring allgatherv
#                                                     comm = X + 2w, step = S + X + 5w
#   overlap    (per-tensor MPI_Iallgather, all K-1 sends at once on the sender's link; every
#              tensor but tensor 0, the last posted, ends during backprop; comm = the wait)
#              X = alpha + (K-1)(m0+e)/beta           comm = X,      step = S + X + 2w
# Iteration 1 of a rank-0 reporter (all but ps) also holds the skew of the barrier before the
# clock starts (SMPI's linear barrier: rank 0 leaves it when its K-1 empty release messages
# are posted, the others when they arrive): skew = alpha + (K-1)e/beta. Rows: sim_time(i) =
# skew + i step, comm(1) = comm + skew, comm(i > 1) = comm, compute = S, encode = decode = 0,
# bits_sent = the exact bits of the message formats (sim.h, README "Wire formats").
#
# Tolerance: only the print precision of iterations.tsv, relative 5e-9 for sim_time (%.9g)
# and 5e-6 for comm and compute (%.6g); SimGrid's own surf/precision is 1e-9 s. Measured:
# every value agrees to the last printed digit. The suite then checks that it can fail: the
# same outputs against an expectation with alpha or beta changed by 1% must fail every case.
set -u
qsgdsim=$1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qsgdsim-golden.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail=0; pass=0
ok()  { echo "ok:   $*"; pass=$((pass+1)); }
bad() { echo "FAIL: $*"; fail=$((fail+1)); }

ALPHA=50e-6; BETA=1.25e8; NET="star:bw=1Gbps,lat=50us"
S=0.002; STEPS=4; E=16; W=1e-8
common=(--batch 16 --max-steps $STEPS --compute fixed:$S --codec none --seed 1 --quiet)
LOGREG=(--model logreg --data synth-logreg:n=512,dim=130,ntest=16) # tensors w[130], b[1]
LEASTSQ=(--model leastsq --data synth-leastsq:n=512,dim=60,ntest=64) # tensor x[60]

# Message sizes from the formats. fp32: 32 bits a value. qsgd dense, s levels, bucket D, n
# values: 32 ceil(n/D) + (1 + bitlen(s)) n bits. The trainer's message (sim.h): [loss: 8 B]
# [nbits: 4 B a tensor][each payload, byte-aligned].
qsgd_bits() { awk -v n="$1" -v D="$2" -v s="$3" 'BEGIN { w = 1; for (v = s; v > 0; v = int(v / 2)) w++
  printf "%d", 32 * int((n + D - 1) / D) + w * n }'; }
bytes() { local b=0 x; for x in "$@"; do b=$((b + (x + 7) / 8)); done; echo $b; }

# case NAME K EXCHANGE-KIND SKEW(0|1) BITS X-FORMULA COMM-W STEP-W -- trainer args
# X-FORMULA is an awk expression in a (alpha), b (beta), e, K; the check runs with the
# factors fa, fb on alpha and beta (1 1 for the test, 1.01 to show that it fails).
cases=()
run_case() {
  local name=$1 K=$2 skew=$3 bits=$4 xf=$5 cw=$6 sw=$7; shift 7
  if "$qsgdsim" sim --ranks "$K" --network "$NET" --out "$tmp/$name" -- "${common[@]}" "$@" \
       > "$tmp/$name.log" 2>&1; then
    cases+=("$name|$K|$skew|$bits|$xf|$cw|$sw")
  else
    bad "$name: the simulation failed"; tail -5 "$tmp/$name.log"
  fi
}

# check NAME K SKEW BITS XF CW SW FA FB: 0 if every row matches, else prints the first misfit
check() {
  local name=$1 K=$2 skew=$3 bits=$4 xf=$5 cw=$6 sw=$7 fa=$8 fb=$9
  awk -F'\t' -v K="$K" -v skew="$skew" -v bits="$bits" -v cw="$cw" -v sw="$sw" -v S="$S" \
      -v W="$W" -v e="$E" -v a="$(awk -v x="$ALPHA" -v f="$fa" 'BEGIN { printf "%.17g", x * f }')" \
      -v b="$(awk -v x="$BETA" -v f="$fb" 'BEGIN { printf "%.17g", x * f }')" -v steps="$STEPS" '
    function off(x, y, rel) { d = x - y; if (d < 0) d = -d; return d > rel * (y < 0 ? -y : y) }
    BEGIN { X = '"$xf"'; comm = X + cw * W; step = S + X + sw * W
            sk = skew ? a + (K - 1) * e / b : 0; rows = 0; bad = "" }
    /^#/ || $1 == "iteration" { next }
    { i = $1; rows++
      t = sk + i * step; c = comm + (i == 1 ? sk : 0)
      if (off($3, t, 5e-9)) bad = bad sprintf(" iter %d sim_time %s != %.10g;", i, $3, t)
      if (off($6, c, 5e-6)) bad = bad sprintf(" iter %d comm %s != %.7g;", i, $6, c)
      if (off($4, S, 5e-6) || $5 != 0 || $7 != 0) bad = bad sprintf(" iter %d compute/encode/decode %s/%s/%s != %g/0/0;", i, $4, $5, $7, S)
      if ($8 != bits) bad = bad sprintf(" iter %d bits %s != %s;", i, $8, bits) }
    END { if (rows != steps) bad = bad sprintf(" %d rows, not %d;", rows, steps)
          if (bad != "") { print substr(bad, 1, 400); exit 1 } }' "$tmp/$name/iterations.tsv"
}

F32W=$((32 * 130)); F32B=32                   # logreg fp32 payload bits: w, b
M_F32=$((8 + 8 + $(bytes $F32W $F32B)))       # 540 bytes
# allgather, fp32 and qsgd dense (bits=4: s = 7; every tensor quantized), K = 2, 3, 4
for K in 2 3 4; do
  run_case allgather-fp32-K$K $K 1 $((8 * M_F32)) "(K-1)*(a + ($M_F32+e)/b)" 1 3 \
    "${LOGREG[@]}" --quant fp32 --exchange allgather
done
QW=$(qsgd_bits 130 64 7); QB=$(qsgd_bits 1 64 7)
M_Q=$((16 + $(bytes $QW $QB)))
run_case allgather-qsgd4-K3 3 1 $((128 + QW + QB)) "(K-1)*(a + ($M_Q+e)/b)" 1 3 \
  "${LOGREG[@]}" --quant qsgd:bits=4,bucket=64,format=dense --quant-min-numel 0 --exchange allgather
# allreduce: 132 floats (130 + bias + loss), chunks 132/K; qsgdsim's ring and MPI's (lr)
for K in 2 3 4; do
  c=$((132 / K))
  run_case allreduce-ring-K$K $K 1 $((32 * 2 * (K - 1) * c)) "2*(K-1)*(a + (4*$c+e)/b)" 1 3 \
    "${LOGREG[@]}" --quant fp32 --exchange allreduce
  run_case allreduce-mpi-K$K $K 1 $((32 * 132)) "2*(K-1)*(a + (4*$c+e)/b)" 1 3 \
    "${LOGREG[@]}" --quant fp32 --exchange allreduce --allreduce mpi
done
# allreduce, requantizing ring (ex_allreduce.c): leastsq x[23] + loss = 24 values, chunks of
# c = 24/K (K = 3: 8, K = 4: 6); qsgd dense s = 7, bucket 1: 32 + 4 = 36 bits a value, so a
# chunk of x is 36c bits and the last chunk (c - 1 values of x, the loss in fp32) 36c - 4:
# every message is 36c/8 = 4.5c bytes (c even), so both rings are the fp32 ring's rounds with
# m = 4.5c. Bits of rank 0: the reduce-scatter sends every chunk but 1, the all-gather every
# chunk but 2; the last chunk is among both: 2 (K-1) 36c - 4 (times it is sent).
for K in 3 4; do
  c=$((24 / K)); m=$((9 * c / 2)); nlast=$((K == 3 ? 1 : 2))
  run_case allreduce-requant-K$K $K 1 $((2 * (K - 1) * 36 * c - 4 * nlast)) \
    "2*(K-1)*(a + ($m+e)/b)" 1 3 --model leastsq --data synth-leastsq:n=512,dim=23,ntest=64 \
    --quant qsgd:bits=4,bucket=1,format=dense --quant-min-numel 0 --exchange allreduce
done
# ps: K-1 workers; the server broadcasts 132 floats
for K in 2 3; do
  run_case ps-fp32-K$K $K 0 $((8 * M_F32)) "2*a + (K-1)*($M_F32+e)/b + (K-1)*(4*132+e)/b" 2 5 \
    "${LOGREG[@]}" --quant fp32 --exchange ps
done
run_case ps-qsgd4-K3 3 0 $((128 + QW + QB)) "2*a + (K-1)*($M_Q+e)/b + (K-1)*(4*132+e)/b" 2 5 \
  "${LOGREG[@]}" --quant qsgd:bits=4,bucket=64,format=dense --quant-min-numel 0 --exchange ps
# stripes: leastsq x[60], stripes of 60/K values, message [loss][nbits][payload]
for K in 2 3 4; do
  m1=$((12 + 4 * 60 / K))
  run_case stripes-fp32-K$K $K 1 $((2 * (K - 1) * 8 * m1)) \
    "2*a + (K-1)*(4+e)/b + (K-1)*($m1+e)/b + (K-1)*(2*a + (4+e)/b + ($m1+e)/b)" 2 5 \
    "${LEASTSQ[@]}" --quant fp32 --exchange stripes
done
# overlap: the exposed wait is tensor 0's (w[130]) all-gather; bits = loss + payloads
for K in 2 3; do
  run_case overlap-fp32-K$K $K 1 $((64 + F32W + F32B)) "a + (K-1)*($(bytes $F32W)+e)/b" 0 2 \
    "${LOGREG[@]}" --quant fp32 --exchange allgather --overlap
done
run_case overlap-qsgd4-K3 3 1 $((64 + QW + QB)) "a + (K-1)*($(bytes $QW)+e)/b" 0 2 \
  "${LOGREG[@]}" --quant qsgd:bits=4,bucket=64,format=dense --quant-min-numel 0 --exchange allgather --overlap

for c in "${cases[@]}"; do
  IFS='|' read -r name K skew bits xf cw sw <<< "$c"
  if msg=$(check "$name" "$K" "$skew" "$bits" "$xf" "$cw" "$sw" 1 1); then
    ok "$name: $STEPS iterations: sim_time, comm, compute, bits as derived from alpha-beta"
  else
    bad "$name:$msg"; grep -v '^#' "$tmp/$name/iterations.tsv" | cut -f1,3-8
  fi
  # the test can fail: latency or bandwidth 1% off in the expectation is caught
  for f in "1.01 1" "0.99 1" "1 1.01" "1 0.99"; do
    if check "$name" "$K" "$skew" "$bits" "$xf" "$cw" "$sw" $f > /dev/null; then
      bad "$name: an expectation with (alpha, beta) x ($f) passes too: the check is blind"
    fi
  done
done
[ ${#cases[@]} -eq 21 ] || bad "${#cases[@]} cases ran, not 21"
echo "golden times: $pass passed, $fail failed"
[ $fail -eq 0 ]
