#!/usr/bin/python3
"""Stage 1 of the anchor pipeline of scripts/bench_extract.sh: PIL decode + resize + tf normalization.

Walks DATASET (every regular file below it, sorted by relative path), decodes each image with Pillow,
converts it to RGB, resizes it to SIZE x SIZE with Image.BILINEAR (Pillow's default antialiasing
bilinear filter, whole image, no crop, full-resolution decode: no JPEG draft mode), applies the `tf`
preprocessing x/127.5 - 1 and stores it as CHW float32 into one [N,3,SIZE,SIZE] .npy file. This is
what ../shared/reference/*/input.npy was made with.

To compare like with like, only JPEG and PNG files are processed (what featcache decodes); other
files (the GIF in ants/bees) are counted as bad and skipped, as featcache does.

Prints one JSON line: {"images", "bad", "seconds"} and writes OUT.npy and OUT.paths.txt.
Usage: /usr/bin/python3 scripts/bench/anchor_decode.py DATASET OUT.npy [--size 224]
"""
import json
import os
import sys
import time

import numpy as np
from PIL import Image


def main(argv):
    args = argv[1:]
    size = 224
    if "--size" in args:
        i = args.index("--size")
        size = int(args[i + 1])
        del args[i:i + 2]
    if len(args) != 2:
        sys.exit("usage: anchor_decode.py DATASET OUT.npy [--size 224]")
    root, out = args
    t0 = time.perf_counter()
    files = []
    for d, dirs, names in os.walk(root):
        dirs[:] = [x for x in dirs if not x.startswith(".")]
        files += [os.path.join(d, n) for n in names if not n.startswith(".")]
    files.sort()

    batch = np.empty((len(files), 3, size, size), dtype=np.float32)
    n, bad, paths = 0, 0, []
    for path in files:
        try:
            with Image.open(path) as im:
                if im.format not in ("JPEG", "PNG"):
                    bad += 1
                    continue
                rgb = im.convert("RGB").resize((size, size), Image.BILINEAR)
        except (OSError, ValueError, Image.DecompressionBombError):
            bad += 1
            continue
        x = np.asarray(rgb, dtype=np.float32)          # HWC
        np.multiply(x.transpose(2, 0, 1), 1 / 127.5, out=batch[n])
        batch[n] -= 1.0
        paths.append(os.path.relpath(path, root))
        n += 1
    np.save(out, batch[:n])
    with open(out[:-4] + ".paths.txt" if out.endswith(".npy") else out + ".paths.txt", "w") as f:
        f.write("\n".join(paths) + "\n")
    print(json.dumps({"images": n, "bad": bad, "seconds": round(time.perf_counter() - t0, 3)}))


if __name__ == "__main__":
    main(sys.argv)
