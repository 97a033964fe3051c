#!/usr/bin/env bash
# Turn Debian's dataset-fashion-mnist (IDX files in /usr/share/datasets/fashion-mnist) into a PNG data
# set in split layout for scale tests:  DIR/{train,test}/<class>/<index>.png
#   - grayscale 28x28 PNGs (featcache decodes gray PNG to RGB); <index> is the image's position in its
#     IDX split, zero-padded to 5 digits (train 00000..59999, test 00000..09999);
#   - classes: t-shirt_top trouser pullover dress coat sandal shirt sneaker bag ankle_boot (labels 0..9).
#   - --limit N keeps the first N images of each split (so --limit 500 gives 1000 images in all).
# Idempotent: a finished DIR is recorded in DIR/.fashion-mnist.json; rerunning with the same --limit
# does nothing (file mtimes stay as they are), with another --limit only writes the missing files and
# removes the ones beyond the limit. Files are written to a temporary name and renamed, so an
# interrupted run leaves no half-written PNG and a rerun completes it. Refuses a non-empty DIR that it
# did not make.
#
# Usage: scripts/fashion_mnist.sh DIR [--limit N] [--source DIR]
#   --source: where the IDX files are (default /usr/share/datasets/fashion-mnist, or $FASHION_MNIST_DIR)
# Needs: apt-get install dataset-fashion-mnist python3-pil python3-numpy
set -euo pipefail
die() { echo "fashion_mnist.sh: $*" >&2; exit 1; }
usage="usage: fashion_mnist.sh DIR [--limit N] [--source DIR]"

out="" limit="" src=${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
while [ $# -gt 0 ]; do
  case $1 in
    --limit) [ $# -ge 2 ] || die "missing value for --limit"; limit=$2; shift 2 ;;
    --source) [ $# -ge 2 ] || die "missing value for --source"; src=$2; shift 2 ;;
    -h|--help) echo "$usage"; exit 0 ;;
    -*) die "unknown option $1 ($usage)" ;;
    *) [ -z "$out" ] || die "$usage"; out=$1; shift ;;
  esac
done
[ -n "$out" ] || die "$usage"
if [ -n "$limit" ]; then
  [[ $limit =~ ^[0-9]+$ ]] && [ "$limit" -gt 0 ] || die "--limit wants a positive integer, got '$limit'"
fi
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
  [ -f "$src/$f.gz" ] || [ -f "$src/$f" ] || die "$src/$f.gz not found: Fashion-MNIST is not installed
  (apt-get install dataset-fashion-mnist, or point --source / \$FASHION_MNIST_DIR at the IDX files)"
done
py=/usr/bin/python3
[ -x "$py" ] || die "$py not found (apt-get install python3)"
"$py" -c 'import numpy, PIL' 2>/dev/null || die "needs python3-numpy and python3-pil (apt-get install python3-numpy python3-pil)"

exec "$py" - "$out" "$src" "${limit:-0}" <<'EOF'
import gzip, json, os, struct, sys, time
import numpy as np
from PIL import Image

out, src, limit = sys.argv[1], sys.argv[2], int(sys.argv[3]) or None
CLASSES = ["t-shirt_top", "trouser", "pullover", "dress", "coat",
           "sandal", "shirt", "sneaker", "bag", "ankle_boot"]
SPLITS = [("train", "train"), ("test", "t10k")]
MARK = os.path.join(out, ".fashion-mnist.json")

def die(msg):
    sys.exit(f"fashion_mnist.sh: {msg}")

def read_idx(stem, magic, ndim):
    path = os.path.join(src, stem)
    opener = (gzip.open, path + ".gz") if os.path.exists(path + ".gz") else (open, path)
    with opener[0](opener[1], "rb") as f:
        data = f.read()
    if len(data) < 4 + 4 * ndim or struct.unpack(">I", data[:4])[0] != magic:
        die(f"{opener[1]}: not an IDX file with magic {magic:#x}")
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(dims)):
        die(f"{opener[1]}: truncated ({arr.size} bytes for shape {dims})")
    return arr.reshape(dims)

want = {"version": 1, "limit": limit, "layout": "split", "classes": CLASSES}
if os.path.isdir(out):
    try:
        with open(MARK) as f:
            have = json.load(f)
    except (OSError, ValueError):
        have = None
    if have == want:
        print(f"{out}: already made (limit {limit or 'none'}), nothing to do", file=sys.stderr)
        sys.exit(0)
    extra = set(os.listdir(out)) - {"train", "test", ".fashion-mnist.json"}
    if have is None and extra:
        die(f"{out} exists and holds other files ({sorted(extra)[:3]}...); give an empty or new folder")
os.makedirs(out, exist_ok=True)
try:  # the marker goes first: a half-made folder is ours, but not finished
    os.remove(MARK)
except FileNotFoundError:
    pass

t0 = time.time()
written = kept = removed = 0
for split, stem in SPLITS:
    images = read_idx(f"{stem}-images-idx3-ubyte", 0x803, 3)
    labels = read_idx(f"{stem}-labels-idx1-ubyte", 0x801, 1)
    if len(images) != len(labels) or images.shape[1:] != (28, 28) or labels.max() >= len(CLASSES):
        die(f"{stem}: unexpected shapes {images.shape} / {labels.shape}")
    n = min(limit or len(images), len(images))
    dirs = [os.path.join(out, split, c) for c in CLASSES]
    for d in dirs:
        os.makedirs(d, exist_ok=True)
    for i in range(n):
        path = os.path.join(dirs[labels[i]], f"{i:05d}.png")
        if os.path.exists(path):  # renamed into place only when complete; content is deterministic
            kept += 1
            continue
        tmp = path + ".tmp"
        Image.fromarray(images[i], mode="L").save(tmp, format="PNG", compress_level=1)
        os.replace(tmp, path)
        written += 1
    # drop what a larger earlier --limit (or an interrupted run) left behind
    for d in dirs:
        for name in os.listdir(d):
            stemname, dot, ext = name.partition(".")
            if ext == "png.tmp" or (ext == "png" and stemname.isdigit() and int(stemname) >= n):
                os.remove(os.path.join(d, name))
                removed += 1
    print(f"{out}/{split}: {n} images", file=sys.stderr)

with open(MARK + ".tmp", "w") as f:
    json.dump(want, f)
os.replace(MARK + ".tmp", MARK)
print(f"{out}: {written} PNGs written, {kept} already there, {removed} removed "
      f"in {time.time() - t0:.1f} s", file=sys.stderr)
EOF
