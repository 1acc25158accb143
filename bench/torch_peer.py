#!/usr/bin/env python3
"""torch_peer.py — the PyTorch side of bench_models: the same five models (same
architectures, float32, CPU), trained with plain SGD on synthetic data of Fashion-MNIST's
shape (1x28x28, 10 classes), reporting training throughput (samples/s for forward +
backward + SGD step) and the peak RSS of this process during the run.

Two ways to run it:
  torch_peer.py --serve        line protocol on stdin/stdout, used by bench_models:
                                 -> "ready torch=<version>"  (or "unavailable <reason>")
                                 <- "run <model> <batch> <threads> <seconds>"
                                 -> "ok <samples_per_s> <peak_rss_kib> <steps>"
                                 <- "quit"
  torch_peer.py MODEL BATCH THREADS [SECONDS]   one measurement, printed.
QSGDSIM_TORCH_DEVICE=cuda runs the models on the GPU (bench_models --device cuda sets it);
the loss is read back every step (loss.item()), which synchronizes, as the C side does.
"""
import os
import resource
import sys
import time

N_SAMPLES = 4096  # synthetic training set (the C side uses the same size)


def reset_peak_rss():
    """Reset VmHWM (Linux >= 4.0: writing 5 to clear_refs); False if not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_kib():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def build(torch, name):
    nn = torch.nn
    if name == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128),
                             nn.ReLU(), nn.Linear(128, 10))
    if name == "cnn":
        return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Flatten(), nn.Linear(32 * 7 * 7, 128), nn.ReLU(),
                             nn.Linear(128, 10))
    if name == "softmax":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    if name in ("logreg", "leastsq"):
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 1, bias=(name == "logreg")))
    raise ValueError("unknown model " + name)


def measure(torch, name, batch, threads, seconds):
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    reset_peak_rss()
    F = torch.nn.functional
    dev = torch.device(os.environ.get("QSGDSIM_TORCH_DEVICE", "cpu"))
    model = build(torch, name).to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.rand(N_SAMPLES, 1, 28, 28).to(dev)
    if name == "logreg":
        y = torch.randint(0, 2, (N_SAMPLES,)).float().to(dev)
    elif name == "leastsq":
        y = torch.randn(N_SAMPLES).to(dev)
    else:
        y = torch.randint(0, 10, (N_SAMPLES,)).to(dev)

    def step():
        idx = torch.randint(0, N_SAMPLES, (batch,), device=dev)
        xb, yb = x[idx], y[idx]
        opt.zero_grad(set_to_none=True)
        out = model(xb)
        if name == "logreg":
            loss = F.binary_cross_entropy_with_logits(out.squeeze(1), yb)
        elif name == "leastsq":
            loss = 0.5 * F.mse_loss(out.squeeze(1), yb)
        else:
            loss = F.cross_entropy(out, yb)
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(3):  # warm-up: allocator, thread pool, lazy init
        step()
    steps = 0
    t0 = time.perf_counter()
    while True:
        step()
        steps += 1
        el = time.perf_counter() - t0
        if el >= seconds and steps >= 3:
            break
    return steps * batch / el, peak_rss_kib(), steps


def main():
    try:
        import torch
    except Exception as e:  # noqa: BLE001 - any import failure means "no peer"
        if "--serve" in sys.argv:
            print("unavailable cannot import torch: %s" % str(e).replace("\n", " "), flush=True)
            return 0
        print("cannot import torch: %s" % e, file=sys.stderr)
        return 1
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        dev = os.environ.get("QSGDSIM_TORCH_DEVICE", "cpu")
        if dev.startswith("cuda") and not torch.cuda.is_available():
            print("unavailable torch %s has no CUDA device" % torch.__version__, flush=True)
            return 0
        where = torch.cuda.get_device_name(0) if dev.startswith("cuda") else "cpu"
        print("ready torch=%s on %s" % (torch.__version__, where), flush=True)
        for line in sys.stdin:
            f = line.split()
            if not f:
                continue
            if f[0] == "quit":
                break
            if f[0] != "run" or len(f) != 5:
                print("err bad command: %s" % line.strip(), flush=True)
                continue
            try:
                sps, rss, steps = measure(torch, f[1], int(f[2]), int(f[3]), float(f[4]))
                print("ok %.3f %d %d" % (sps, rss, steps), flush=True)
            except Exception as e:  # noqa: BLE001 - reported to the C side
                print("err %s" % str(e).replace("\n", " "), flush=True)
        return 0
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    secs = float(sys.argv[4]) if len(sys.argv) > 4 else 2.0
    sps, rss, steps = measure(torch, sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), secs)
    print("%s batch %s threads %s: %.1f samples/s, peak RSS %.1f MiB (%d steps)" %
          (sys.argv[1], sys.argv[2], sys.argv[3], sps, rss / 1024.0, steps))
    return 0


if __name__ == "__main__":
    sys.exit(main())
