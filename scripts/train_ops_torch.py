#!/usr/bin/env python3
"""PyTorch cross-check of the training ops (engine/train), run by tests/engine/test_train_ops.c.

The test writes, into DIR, the inputs of a few convolutions (one-group, grouped+dilated, depthwise
stride 2, depthwise 5x5) and of a BatchNorm training step as .npy files together with featcache's
outputs and gradients for dout; this script recomputes them with torch (float64) and compares.
Prints one line per tensor and exits 1 if any relative error (max |a - t| / max |t|) is over 1e-4.
Usage: train_ops_torch.py DIR
"""
import os
import sys

import numpy as np
import torch

TOL = 1e-4


def load(d, name):
    return torch.from_numpy(np.load(os.path.join(d, name + ".npy")).astype(np.float64))


def compare(label, ours, theirs):
    ours = ours.detach().numpy()
    theirs = theirs.detach().numpy()
    err = np.abs(ours - theirs).max() / max(np.abs(theirs).max(), 1e-6)
    ok = err <= TOL
    print(f"  torch {label}: relative error {err:.2e} {'ok' if ok else 'TOO LARGE'}")
    return ok


def conv_case(d, p, stride, pad, dil, groups):
    x = load(d, p + "_inp").requires_grad_()
    w = load(d, p + "_weight").requires_grad_()
    b = load(d, p + "_bias").requires_grad_()
    y = torch.nn.functional.conv2d(x, w, b, stride=stride, padding=pad, dilation=dil, groups=groups)
    y.backward(load(d, p + "_dout"))
    ok = compare(p + " out", load(d, p + "_out"), y)
    ok &= compare(p + " dinp", load(d, p + "_dinp"), x.grad)
    ok &= compare(p + " dweight", load(d, p + "_dweight"), w.grad)
    return ok & compare(p + " dbias", load(d, p + "_dbias"), b.grad)


def bn_case(d):
    x = load(d, "bn_inp").requires_grad_()
    bn = torch.nn.BatchNorm2d(x.shape[1], eps=1e-5, momentum=0.1).double().train()
    with torch.no_grad():
        bn.weight.copy_(load(d, "bn_gamma"))
        bn.bias.copy_(load(d, "bn_beta"))
        bn.running_mean.copy_(load(d, "bn_rm0"))
        bn.running_var.copy_(load(d, "bn_rv0"))
    y = bn(x)
    y.backward(load(d, "bn_dout"))
    ok = compare("bn out", load(d, "bn_out"), y)
    ok &= compare("bn running_mean", load(d, "bn_rm"), bn.running_mean)
    ok &= compare("bn running_var", load(d, "bn_rv"), bn.running_var)
    ok &= compare("bn dinp", load(d, "bn_dinp"), x.grad)
    ok &= compare("bn dgamma", load(d, "bn_dgamma"), bn.weight.grad)
    return ok & compare("bn dbeta", load(d, "bn_dbeta"), bn.bias.grad)


def main():
    d = sys.argv[1]
    ok = conv_case(d, "conv", 2, 1, 1, 1)
    ok &= conv_case(d, "grouped", 1, 2, 2, 2)
    ok &= conv_case(d, "dw", 2, 1, 1, 6)
    ok &= conv_case(d, "dw5", 1, 2, 1, 5)
    ok &= bn_case(d)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
