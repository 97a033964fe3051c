#!/usr/bin/python3
"""PyTorch CPU throughput anchor for one torchvision model (random weights, eval, no_grad).

Same protocol as scripts/ort/bench.js: random input, warm-up, timed runs for --seconds (at least 3),
median of per-run img/s. A benchmark, not a test. Weights are torchvision's default random init:
speed does not depend on the values.

Usage: /usr/bin/python3 scripts/bench_torch.py MODEL_NAME [--batch 16] [--threads 2] [--size 224]
                                                [--seconds 10] [--json]
"""
import argparse
import json
import statistics
import sys
import time

import torch
import torchvision


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", help="torchvision model name, e.g. resnet50")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if not hasattr(torchvision.models, args.model):
        sys.exit(f"bench_torch.py: unknown torchvision model {args.model!r}")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    kwargs = {"aux_logits": False, "init_weights": True} if args.model in ("googlenet", "inception_v3") else {}
    model = getattr(torchvision.models, args.model)(weights=None, **kwargs).eval()
    x = torch.rand(args.batch, 3, args.size, args.size) * 2 - 1

    times = []
    with torch.inference_mode():
        for _ in range(args.warmup):
            model(x)
        start = time.perf_counter()
        while len(times) < 3 or time.perf_counter() - start < args.seconds:
            t = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - t)
    res = {"imgs_per_s": round(statistics.median(args.batch / t for t in times), 2),
           "median_ms_per_batch": round(statistics.median(times) * 1000, 3), "runs": len(times),
           "batch": args.batch, "threads": args.threads, "size": args.size,
           "engine": f"torch {torch.__version__}"}
    if args.json:
        print(json.dumps(res))
    else:
        print(f"{args.model}: {res['imgs_per_s']} img/s (median of {res['runs']} runs, "
              f"{res['median_ms_per_batch']} ms/batch, batch {args.batch}, {args.threads} threads)")


if __name__ == "__main__":
    main()
