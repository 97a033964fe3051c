#!/usr/bin/env python3
"""PyTorch timings of the shapes in bench/bench_train_ops.c: forward and backward milliseconds of each
op (autograd backward of the op alone, computing the same gradients: the top's first conv computes no
input gradient), the step estimated as the same sum with multiplicities, and a real training step of
torchvision's MobileNetV2 features[11:] + pooling + Linear(1280, 100) with AdamW (random weights,
BatchNorm folded away as featcache loads it: eval-mode BN is a per-channel affine, so the module step
below uses conv biases instead).
Usage: bench_train_ops_torch.py [batch (32)] [threads (2)] [--cpu]   (--cpu: process CPU time)
Median of 9 runs [best] after a warm-up, like the C benchmark.
"""
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

args = [a for a in sys.argv[1:] if not a.startswith("--")]
N = int(args[0]) if args else 32
THREADS = int(args[1]) if len(args) > 1 else 2
CPU = "--cpu" in sys.argv
torch.set_num_threads(THREADS)
clock = time.process_time if CPU else time.perf_counter

# name, kind, count, C, OC, groups, H, k, stride, first (as OPS in bench_train_ops.c)
OPS = [
    ("conv 1x1 64->384 14x14", "conv", 1, 64, 384, 1, 14, 1, 1, True),
    ("dw 3x3 384 14x14", "conv", 1, 384, 384, 384, 14, 3, 1, False),
    ("conv 1x1 384->96 14x14", "conv", 1, 384, 96, 1, 14, 1, 1, False),
    ("conv 1x1 96->576 14x14", "conv", 3, 96, 576, 1, 14, 1, 1, False),
    ("dw 3x3 576 14x14", "conv", 2, 576, 576, 576, 14, 3, 1, False),
    ("conv 1x1 576->96 14x14", "conv", 2, 576, 96, 1, 14, 1, 1, False),
    ("dw 3x3 576 s2 14->7", "conv", 1, 576, 576, 576, 14, 3, 2, False),
    ("conv 1x1 576->160 7x7", "conv", 1, 576, 160, 1, 7, 1, 1, False),
    ("conv 1x1 160->960 7x7", "conv", 3, 160, 960, 1, 7, 1, 1, False),
    ("dw 3x3 960 7x7", "conv", 3, 960, 960, 960, 7, 3, 1, False),
    ("conv 1x1 960->160 7x7", "conv", 2, 960, 160, 1, 7, 1, 1, False),
    ("conv 1x1 960->320 7x7", "conv", 1, 960, 320, 1, 7, 1, 1, False),
    ("conv 1x1 320->1280 7x7", "conv", 1, 320, 1280, 1, 7, 1, 1, False),
    ("relu6 384x14x14", "relu6", 2, 384, 0, 0, 14, 0, 0, False),
    ("relu6 576x14x14", "relu6", 5, 576, 0, 0, 14, 0, 0, False),
    ("relu6 576x7x7", "relu6", 1, 576, 0, 0, 7, 0, 0, False),
    ("relu6 960x7x7", "relu6", 6, 960, 0, 0, 7, 0, 0, False),
    ("relu6 1280x7x7", "relu6", 1, 1280, 0, 0, 7, 0, 0, False),
    ("add 96x14x14", "add", 2, 96, 0, 0, 14, 0, 0, False),
    ("add 160x7x7", "add", 2, 160, 0, 0, 7, 0, 0, False),
    ("gap 1280x7x7", "gap", 1, 1280, 0, 0, 7, 0, 0, False),
    ("linear 1280->100", "linear", 1, 1280, 100, 0, 1, 0, 0, False),
    ("adamw 2.1M params", "adamw", 1, 2100000, 0, 0, 1, 0, 0, False),
    ("conv 3x3 96->96 14x14 (new block)", "conv", 0, 96, 96, 1, 14, 3, 1, False),
    ("batchnorm 96x14x14 (new block)", "bn", 0, 96, 0, 0, 14, 0, 0, False),
]


def timed(fn):
    fn()
    t = []
    for _ in range(9):
        t0 = clock()
        fn()
        t.append(clock() - t0)
    t.sort()
    return t[4] * 1e3, t[0] * 1e3


def make(op):
    """(forward without a graph, forward with it, forward + backward) of op; adamw: (step, None, None)."""
    name, kind, count, C, OC, g, H, k, s, first = op
    if kind == "adamw":
        p = nn.Parameter(torch.randn(C))
        p.grad = torch.randn(C)
        opt = torch.optim.AdamW([p], lr=1e-3)
        return opt.step, None, None
    x = torch.randn(N, C, H, H) if kind != "linear" else torch.randn(N, C)
    x.requires_grad_(not first)
    if kind == "conv":
        w = torch.randn(OC, C // g, k, k, requires_grad=True)
        b = torch.randn(OC, requires_grad=True)
        f = lambda: F.conv2d(x, w, b, stride=s, padding=k // 2, groups=g)
    elif kind == "relu6":
        f = lambda: F.relu6(x)
    elif kind == "add":
        y2 = torch.randn_like(x)
        f = lambda: x + y2
    elif kind == "gap":
        f = lambda: F.adaptive_avg_pool2d(x, 1)
    elif kind == "bn":
        bn = nn.BatchNorm2d(C).train()
        f = lambda: bn(x)
    else:  # linear + cross-entropy
        lin = nn.Linear(C, OC)
        t = torch.zeros(N, dtype=torch.long)
        f = lambda: F.cross_entropy(lin(x), t)

    def fwd():
        with torch.no_grad():
            f()

    def fwdbwd():
        y = f()
        y.backward(torch.ones_like(y) if y.dim() else None)

    return fwd, f, fwdbwd


def main():
    print(f"PyTorch {torch.__version__}, batch {N}, {torch.get_num_threads()} threads, "
          f"{'CPU time' if CPU else 'wall clock'} (median of 9 runs [best])")
    total = 0.0
    for op in OPS:
        fwd, fwd_graph, fwdbwd = make(op)
        f, fb = timed(fwd)
        if fwd_graph is None:
            print(f"{op[0]:36s} x{op[2]}  forward {f:8.3f} ms [{fb:8.3f}]  backward    0.000 ms")
            total += op[2] * f
            continue
        g, _ = timed(fwd_graph)
        both, _ = timed(fwdbwd)
        b = max(both - g, 0.0)  # the backward alone: forward+backward minus the forward with its graph
        print(f"{op[0]:36s} x{op[2]}  forward {f:8.3f} ms [{fb:8.3f}]  backward {b:8.3f} ms "
              f"(forward+backward {both:.3f})")
        total += op[2] * (g + b)
    print(f"top of MobileNetV2 from the 14x14 cut, one step (sum of the ops above): {total:.2f} ms = "
          f"{N / total * 1e3:.1f} images/s")
    module_step()


def module_step():
    import torchvision
    m = torchvision.models.mobilenet_v2()
    top = nn.Sequential(*list(m.features.children())[11:], nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                        nn.Linear(1280, 100))
    # BatchNorm folded into the convs (featcache folds it at load): drop BN, give the convs biases
    for mod in top.modules():
        for name, child in list(mod.named_children()):
            if isinstance(child, nn.BatchNorm2d):
                setattr(mod, name, nn.Identity())
            elif isinstance(child, nn.Conv2d) and child.bias is None:
                child.bias = nn.Parameter(torch.zeros(child.out_channels))
    opt = torch.optim.AdamW(top.parameters(), lr=1e-4)
    x = torch.randn(N, 64, 14, 14)
    t = torch.randint(0, 100, (N,))

    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(top(x), t).backward()
        opt.step()

    ms, best = timed(step)
    params = sum(p.numel() for p in top.parameters())
    print(f"torch module step (features[11:] + head, {params} params, AdamW): {ms:.2f} ms [{best:.2f}] = "
          f"{N / ms * 1e3:.1f} images/s")


if __name__ == "__main__":
    main()
