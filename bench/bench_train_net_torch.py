#!/usr/bin/python3
"""PyTorch anchor of bench/bench_train_net.c: one training step of torchvision MobileNetV2's
features[START:] (the top above a cut) + global average pooling + Linear(1280, classes) +
cross-entropy, SGD with momentum (the backbone at 0.1x the lr), no gradient at the cut. Random
weights and inputs (speed only). BatchNorm is folded into conv biases as featcache folds it (--bn
keeps eval-mode BatchNorm layers instead). Prints the median step in ms [best] like the C bench;
--cpu measures the process's CPU time instead of the wall clock (as the C bench's --cpu).
Cuts: t146 at 224 is START 15 with a 160x7x7 input; t140 at 96 is START 14 with 96x6x6.
Usage: bench_train_net_torch.py START C H [--batch 32] [--threads 2] [--steps 20] [--classes 2] [--bn] [--cpu]
"""
import argparse
import time

import torch
import torch.nn as nn
import torchvision

p = argparse.ArgumentParser()
p.add_argument("start", type=int)
p.add_argument("channels", type=int)
p.add_argument("size", type=int)
p.add_argument("--batch", type=int, default=32)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--steps", type=int, default=20)
p.add_argument("--classes", type=int, default=2)
p.add_argument("--bn", action="store_true")
p.add_argument("--cpu", action="store_true")
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)


def fold(m):
    """Conv2d gets a bias, BatchNorm2d becomes Identity (what folding leaves)."""
    for name, c in m.named_children():
        if isinstance(c, nn.BatchNorm2d):
            setattr(m, name, nn.Identity())
        elif isinstance(c, nn.Conv2d):
            c.bias = nn.Parameter(torch.zeros(c.out_channels))
        else:
            fold(c)


top = nn.Sequential(*torchvision.models.mobilenet_v2().features[a.start:])
if not a.bn:
    fold(top)
top.eval()  # frozen BatchNorm statistics (no-op when folded); no Dropout in features
head = nn.Linear(1280, a.classes)
opt = torch.optim.SGD([{"params": top.parameters(), "lr": 1e-4}, {"params": head.parameters()}],
                      lr=1e-3, momentum=0.9, weight_decay=1e-4)
x = torch.rand(a.batch, a.channels, a.size, a.size) * 4 - 2
y = torch.arange(a.batch) % a.classes
loss_fn = nn.CrossEntropyLoss()


def step():
    opt.zero_grad(set_to_none=True)
    f = top(x).mean((2, 3))
    loss = loss_fn(head(f), y)
    loss.backward()
    opt.step()


for _ in range(2):
    step()
clock = time.process_time if a.cpu else time.perf_counter
t = []
for _ in range(a.steps):
    t0 = clock()
    step()
    t.append((clock() - t0) * 1e3)
t.sort()
params = sum(q.numel() for q in top.parameters())
print(f"torch features[{a.start}:] {a.channels}x{a.size}x{a.size}, {params} parameters, batch {a.batch}, "
      f"{a.threads} threads{', BatchNorm' if a.bn else ''}: step {t[len(t) // 2]:.3f} ms [{t[0]:.3f}]")
