#!/usr/bin/env python3
"""torch_compress_peer.py — the PyTorch side of bench_quant: gradient compressors written the
way GRACE (Xu et al., "GRACE: A Compressed Communication Framework for Distributed Machine
Learning", ICDCS 2021; github.com/sands-lab/grace, grace_dl/torch) writes them, timed on the
CPU in float32 on one thread (torch.set_num_threads(1)), so that bench_quant can print our
throughput beside theirs in the same run.

Compressors (the algorithms of GRACE's torch compressor and memory classes, re-typed here):
  topk R       torch.topk of |g| (k = max(1, int(R n))), values gathered, scatter_ on decode;
               with GRACE's ResidualMemory (error feedback: g + e before, e = g - C(g) after),
               as our topk keeps its residual by default
  terngrad     2.5-sigma clipping, scale = max|clipped|, stochastic ternary from uniform_
               samples, int8 codes; decode = codes * scale
  natural      sign, log2, floor/ceil, bernoulli rounding to a power of two, int8 exponent
               codes; decode 2^exponent with the sign folded in
  powersgd R   rank-R power iteration on the rows x cols matrix with GRACE's PowerSGDMemory
               (residual added before, fresh N(0,1) Q each step, residual kept after),
               Gram-Schmidt orthogonalisation of Q and P, P = M Q, Q = M^T P; decode P Q^T
               (one worker: GRACE's two allreduce_ calls are the identity)
"Encode" is everything a worker does before sending (memory compensate, compress, memory
update, which decompresses); "decode" is decompress alone.

Two ways to run it:
  torch_compress_peer.py --serve   line protocol on stdin/stdout, used by bench_quant:
      -> "ready torch=<version>"   (or "unavailable <reason>")
      <- "run <name> <rows> <cols> <param> <reps> <min_time_s>"
      -> "ok <enc_best_s> <enc_median_s> <dec_best_s> <dec_median_s>"   (or "err <why>")
      <- "quit"
  torch_compress_peer.py NAME ROWS COLS PARAM      one measurement, printed.
The input is N(0,1) float32 (torch.manual_seed(1)); timing as bench_quant's: one warm-up
call, calibration, then REPS repetitions of k back-to-back calls taking >= MIN_TIME seconds
together; best and median seconds per call.
"""
import sys
import time


def orthogonalize(m):
    """Gram-Schmidt on the columns of m, in place (GRACE's orthogonalize, without jit)."""
    cols = m.shape[1]
    for i in range(cols):
        col = m[:, i:i + 1]
        col /= col.pow(2).sum().sqrt()
        if i + 1 < cols:
            rest = m[:, i + 1:]
            rest -= (col * rest).sum(dim=0) * col


class TopK:
    def __init__(self, torch, g, ratio):
        self.t = torch
        self.numel = g.numel()
        self.k = max(1, int(self.numel * ratio))
        self.residual = None

    def compress(self, g):
        g = g.flatten()
        _, idx = self.t.topk(g.abs(), self.k)
        return g[idx], idx

    def decompress(self, msg):
        vals, idx = msg
        out = self.t.zeros(self.numel, dtype=vals.dtype)
        out.scatter_(0, idx, vals)
        return out

    def encode(self, g):
        if self.residual is not None:  # ResidualMemory.compensate (beta = gamma = 1)
            g = self.residual + g
        msg = self.compress(g)
        self.residual = g.flatten() - self.decompress(msg)  # ResidualMemory.update
        return msg


class TernGrad:
    def __init__(self, torch, g, _param):
        self.t = torch
        self.shape = g.shape

    def encode(self, g):
        t = self.t
        g = g.flatten()
        std = t.sqrt(t.mean((g - t.mean(g)) ** 2))
        c = 2.5 * std.item()
        clipped = t.clamp(g, -c, c)
        a = clipped.abs()
        scale = a.max()
        sg = clipped.sign() * scale
        rnd = t.empty_like(g).uniform_(0, scale.item())
        sg[rnd >= a] = 0
        return sg.sign().to(t.int8), scale.flatten()

    def decompress(self, msg):
        codes, scale = msg
        return (codes.to(self.t.float32) * scale).view(self.shape)


class Natural:
    def __init__(self, torch, g, _param):
        self.t = torch
        self.shape = g.shape

    def encode(self, g):
        t = self.t
        g = g.flatten()
        sign = t.sign(g)
        a = g.abs()
        lg = t.log2(a)
        hi = lg.ceil().to(t.int8)
        lo = lg.floor().to(t.int8)
        q = 2.0 ** lo
        p = ((2.0 ** hi) - a) / q
        p[q == 0] = 0.5
        e = lo + t.bernoulli(1 - p)
        e = e.clamp(-110, 17) - 18
        e[sign == -1] += 127
        e[sign == 0] = -128
        return e

    def decompress(self, e):
        t = self.t
        e = e.clone()  # GRACE decodes in place; keep the message for the next call
        neg = e >= 0
        e[neg] -= 127
        e += 18
        a = 2 ** e.float()
        return t.where(neg, -a, a).view(self.shape)


class PowerSGD:
    def __init__(self, torch, g, rank):
        self.t = torch
        self.shape = g.shape
        self.rows = g.shape[0]
        self.cols = g.numel() // self.rows
        self.rank = min(self.rows, self.cols, int(rank))
        self.residual = None

    def encode(self, g):
        t = self.t
        if self.residual is not None:  # PowerSGDMemory.compensate
            g = g + self.residual
        m = g.view(self.rows, -1)
        q = t.empty(self.cols, self.rank, dtype=g.dtype).normal_()
        orthogonalize(q)
        p = t.mm(m, q)
        orthogonalize(p)
        q = t.mm(m.t(), p)
        msg = (p, q)
        self.residual = g - self.decompress(msg)  # PowerSGDMemory.update
        return msg

    def decompress(self, msg):
        p, q = msg
        return self.t.mm(p, q.t()).view(self.shape)


KINDS = {"topk": TopK, "terngrad": TernGrad, "natural": Natural, "powersgd": PowerSGD}


def time_call(fn, reps, min_time):
    fn()  # warm-up
    t0 = time.perf_counter()
    fn()
    t1 = max(time.perf_counter() - t0, 1e-7)
    k = max(1, int(min_time / reps / t1 + 0.999999))
    per = []
    for _ in range(reps):
        a = time.perf_counter()
        for _ in range(k):
            fn()
        per.append((time.perf_counter() - a) / k)
    per.sort()
    return per[0], per[len(per) // 2]


def measure(torch, name, rows, cols, param, reps, min_time):
    torch.set_num_threads(1)
    torch.manual_seed(1)
    g = torch.randn(rows, cols, dtype=torch.float32)
    c = KINDS[name](torch, g, float(param))
    if name == "topk":
        g = g.flatten()
    msg = [c.encode(g)]

    def enc():
        msg[0] = c.encode(g)

    e_best, e_med = time_call(enc, reps, min_time)
    last = msg[0]
    d_best, d_med = time_call(lambda: c.decompress(last), reps, min_time)
    return e_best, e_med, d_best, d_med


def main():
    try:
        import torch
    except Exception as e:  # noqa: BLE001 - any import failure means "no peer"
        if "--serve" in sys.argv:
            print("unavailable cannot import torch: %s" % str(e).replace("\n", " "), flush=True)
            return 0
        print("cannot import torch: %s" % e, file=sys.stderr)
        return 1
    torch.set_num_threads(1)
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        print("ready torch=%s" % torch.__version__, flush=True)
        for line in sys.stdin:
            f = line.split()
            if not f:
                continue
            if f[0] == "quit":
                break
            if f[0] != "run" or len(f) != 7 or f[1] not in KINDS:
                print("err bad command: %s" % line.strip(), flush=True)
                continue
            try:
                r = measure(torch, f[1], int(f[2]), int(f[3]), f[4], int(f[5]), float(f[6]))
                print("ok %.6e %.6e %.6e %.6e" % r, flush=True)
            except Exception as e:  # noqa: BLE001 - reported to the C side
                print("err %s" % str(e).replace("\n", " "), flush=True)
        return 0
    if len(sys.argv) != 5 or sys.argv[1] not in KINDS:
        print(__doc__, file=sys.stderr)
        return 2
    rows, cols = int(sys.argv[2]), int(sys.argv[3])
    r = measure(torch, sys.argv[1], rows, cols, sys.argv[4], 5, 0.5)
    n = rows * cols
    print("%s %dx%d %s: encode %.1f M coords/s (median %.1f), decode %.1f M coords/s "
          "(median %.1f)" % (sys.argv[1], rows, cols, sys.argv[4], n / r[0] / 1e6,
                             n / r[1] / 1e6, n / r[2] / 1e6, n / r[3] / 1e6))
    return 0


if __name__ == "__main__":
    sys.exit(main())
