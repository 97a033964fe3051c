#!/bin/sh
# Benchmark (not a test) of the heads on the same cached features, in one run:
#   1. featcache sweep of softmax over 9 L2 values (whole command, process start and feature loading
#      included) vs scikit-learn LogisticRegression over the same 9 C values (fit() calls only), both
#      with standardized features; ratio and best validation accuracies.
#   2. a 16-configuration softmax + MLP sweep on ants/bees (8 L2 values from the issue's example range
#      1e-6..1e2 x {softmax, mlp 256}; target < 2 s). For the MLP, l2 is AdamW's decoupled weight decay.
# With --fashion DIR only the two measurements of issue 14 run instead, on Fashion-MNIST
# (scripts/fashion_mnist.sh DIR --limit 5000, made if missing; its train/ is train, its test/ is val;
# a DIR that already holds train/ and val/ is used as it is; data set name fm), MobileNetV2 features at --size 96
# (5000 x 1280 per split, 10 classes), extracted once into --fm-cache (default build/bench/fm-cache):
#   a. the 16-value softmax L2 sweep 'head=softmax l2=1e-2..1e3:16' (target < 2 s) against
#      scikit-learn's LogisticRegression over the same 16 C values;
#   b. the 16-configuration MLP sweep $FM_MLP_GRID (target < 10 s) against MLPClassifier over the same
#      16 configurations (adam, alpha = l2, the same epochs and batch, no early stopping, no dropout).
#   featcache: whole commands, wall and CPU (user + sys) seconds, medians of --rounds. scikit-learn's
#   fits take about 10 minutes on 2 cores, so their result is kept in FM_CACHE/sklearn.txt and read
#   from there (the script says so) unless --sklearn asks to run them again.
# Rounds alternate featcache and scikit-learn; medians are printed.
# Usage: scripts/bench_heads.sh [--rounds 3] [--cache DIR] [--fashion DIR [--fm-cache DIR] [--sklearn]]
#   (extracts ants/bees, or Fashion-MNIST, first if needed)
set -eu
FC=${FEATCACHE_BIN:-build/featcache}
SHARED=${FEATCACHE_SHARED:-../shared}
M="$SHARED/models/mobilenet_v2_1.0_224.onnx"
H="$SHARED/data/hymenoptera"
rounds=3 cache=build/bench/heads-cache fashion="" sk_fm=0 fmc=build/bench/fm-cache
FM_MLP_GRID=${FM_MLP_GRID:-'head=mlp hidden=256,512 lr=1e-3,3e-3 l2=1e-4,1e-2 dropout=0,0.3 epochs=4 batch=256'}
while [ $# -gt 0 ]; do
    case $1 in --rounds) rounds=$2; shift 2 ;; --cache) cache=$2; shift 2 ;; --fashion) fashion=$2; shift 2 ;; --fm-cache) fmc=$2; shift 2 ;;
        --sklearn) sk_fm=1; shift ;; *) echo "bench_heads.sh: unknown option $1" >&2; exit 1 ;; esac
done
[ -x "$FC" ] || { echo "bench_heads.sh: build featcache first (make)" >&2; exit 1; }
/usr/bin/python3 -c 'import sklearn, numpy' 2>/dev/null || { echo "bench_heads.sh: needs python3-sklearn and python3-numpy" >&2; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
now() { date +%s.%N; }
if [ -n "$fashion" ]; then
    if [ -d "$fashion/train" ] && [ -d "$fashion/val" ]; then
        fm=$fashion
    else
        bash scripts/fashion_mnist.sh "$fashion" --limit 5000 >/dev/null
        fm=$fmc-data/fm # train/ and val/ as links to the download's train/ and test/
        mkdir -p "$fm"
        ln -sfn "$(cd "$fashion" && pwd)/train" "$fm/train"
        ln -sfn "$(cd "$fashion" && pwd)/test" "$fm/val"
    fi
    "$FC" extract "$fm" --name fm --model "$M" --size 96 --cache "$fmc" --quiet 2>/dev/null || [ $? -eq 3 ]
    # one timed sweep: appends wall and CPU seconds to $T/NAME.wall, $T/NAME.cpu; JSON in $T/NAME.json
    timed() {
        name=$1; shift
        /usr/bin/time -f "%e %U %S" -o "$T/time" "$FC" sweep fm --model "$M" --size 96 --cache "$fmc" --json "$@" >"$T/$name.json"
        awk '{ print $1 }' "$T/time" >>"$T/$name.wall"
        awk '{ print $2 + $3 }' "$T/time" >>"$T/$name.cpu"
    }
    for r in $(seq "$rounds"); do
        timed sm --grid 'head=softmax l2=1e-2..1e3:16'
        timed mlp --grid "$FM_MLP_GRID"
    done
    best() { grep -o '"val_accuracy":[0-9.]*' "$1" | cut -d: -f2 | sort -g | tail -1; }
    sk="$fmc/sklearn.txt"
    if [ "$sk_fm" = 1 ] || [ ! -s "$sk" ]; then
        "$FC" export fm --model "$M" --size 96 --cache "$fmc" -o "$T/fe" 2>/dev/null
        /usr/bin/python3 scripts/sklearn_compare.py "$T/fe/features.npy" "$T/fe/labels.txt" "$T/fe/splits.txt" \
            --normalize std --l2 1e-2..1e3:16 --repeat 1 --json >"$T/fmsk.json"
        /usr/bin/python3 - "$T/fmsk.json" "$T/fe" "$FM_MLP_GRID" >"$T/sklearn.txt" <<'PY'
import itertools, json, sys, time, warnings
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
d = json.load(open(sys.argv[1]))
print("softmax", d["total_seconds"], d["best"]["val_accuracy"])
fe, grid = sys.argv[2], dict(kv.split("=", 1) for kv in sys.argv[3].split())
X = np.load(f"{fe}/features.npy")
y = np.array(open(f"{fe}/labels.txt").read().split("\n")[:len(X)])
split = np.array(open(f"{fe}/splits.txt").read().split("\n")[:len(X)])
tr, va = split == "train", split == "val"
mu, sd = X[tr].mean(0), X[tr].std(0)
X = (X - mu) / np.maximum(sd, 1e-6)
warnings.filterwarnings("ignore", category=ConvergenceWarning)
vals = lambda k: grid[k].split(",")
total, best = 0.0, 0.0
for h, lr, l2, dr in itertools.product(vals("hidden"), vals("lr"), vals("l2"), vals("dropout")):
    # scikit-learn has no dropout: configurations differing only in dropout are the same fit
    m = MLPClassifier(hidden_layer_sizes=(int(h),), learning_rate_init=float(lr), alpha=float(l2),
                      batch_size=int(grid["batch"]), max_iter=int(grid["epochs"]), random_state=0)
    t0 = time.perf_counter()
    m.fit(X[tr], y[tr])
    total += time.perf_counter() - t0
    best = max(best, m.score(X[va], y[va]))
print("mlp", total, best)
PY
        cp "$T/sklearn.txt" "$sk"
        how="run now"
    else
        how="cached in $sk, from $(date -r "$sk" '+%Y-%m-%d %H:%M'); --sklearn runs it again"
    fi
    line() { # NAME LABEL SKLEARN-KEY TARGET
        w=$(median <"$T/$1.wall"); c=$(median <"$T/$1.cpu")
        skt=$(awk -v k="$3" '$1 == k { print $2 }' "$sk"); ska=$(awk -v k="$3" '$1 == k { print $3 }' "$sk")
        printf '  %s: featcache %.2f s wall, %.2f s CPU (target < %s s wall), best val accuracy %s;\n' "$2" "$w" "$c" "$4" "$(best "$T/$1.json")"
        printf '      scikit-learn %.1f s (fit() calls), best val accuracy %.4f; ratio scikit-learn / featcache (wall) %.2f\n' "$skt" "$ska" "$(echo "$skt / $w" | bc -l)"
    }
    echo "Fashion-MNIST 5000 train / 5000 val, MobileNetV2 at 96 px, 1280 features (median of $rounds rounds; scikit-learn $how):"
    line sm "softmax sweep, 16 L2 values 1e-2..1e3" softmax 2
    line mlp "MLP sweep, 16 configurations ($FM_MLP_GRID)" mlp 10
    exit 0
fi
"$FC" extract "$H" --model "$M" --cache "$cache" --quiet 2>/dev/null || [ $? -eq 3 ]
"$FC" export hymenoptera --model "$M" --cache "$cache" -o "$T/e" 2>/dev/null
: >"$T/fc"; : >"$T/sk"; : >"$T/fit"; : >"$T/mix"
for r in $(seq "$rounds"); do # bc does the arithmetic (Debian package bc)
    t0=$(now)
    "$FC" sweep hymenoptera --model "$M" --cache "$cache" --grid 'head=softmax l2=1e-6..1e2:9' --json >"$T/sweep.json"
    t1=$(now)
    echo "$t1 - $t0" | bc -l >>"$T/fc"
    sed -n 's/.*"seconds_fit":\([0-9.]*\).*/\1/p' "$T/sweep.json" >>"$T/fit"
    /usr/bin/python3 scripts/sklearn_compare.py "$T/e/features.npy" "$T/e/labels.txt" "$T/e/splits.txt" \
        --normalize std --repeat 1 --json >"$T/sk.json"
    /usr/bin/python3 - "$T/sk.json" >>"$T/sk" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
fits = d.get("fits") or d.get("results") or []
total = d.get("total_seconds") or d.get("seconds") or sum(f.get("seconds", 0) for f in fits)
print(total)
PY
    t0=$(now)
    "$FC" sweep hymenoptera --model "$M" --cache "$cache" --grid 'head=softmax,mlp l2=1e-6..1e2:8 hidden=256' --json >"$T/mix.json"
    t1=$(now)
    echo "$t1 - $t0" | bc -l >>"$T/mix"
done
fc=$(median <"$T/fc"); fit=$(median <"$T/fit"); sk=$(median <"$T/sk"); mix=$(median <"$T/mix")
best_fc=$(grep -o '"val_accuracy":[0-9.]*' "$T/sweep.json" | cut -d: -f2 | sort -g | tail -1)
best_sk=$(/usr/bin/python3 -c "
import json,sys; d=json.load(open('$T/sk.json')); f=d.get('fits') or d.get('results') or []
print(max(x.get('val_accuracy', 0) for x in f))")
n_mix=$(sed -n 's/.*"configs":\([0-9]*\).*/\1/p' "$T/mix.json")
echo "softmax, 9 L2 values, standardized ants/bees MobileNetV2 features (median of $rounds rounds):"
echo "  featcache sweep command: $fc s (fitting alone $fit s), best val accuracy $best_fc"
echo "  scikit-learn 9 fits:     $sk s, best val accuracy $best_sk"
echo "  speed-up: $(echo "$sk / $fc" | bc -l | cut -c1-6)x whole command, $(echo "$sk / $fit" | bc -l | cut -c1-6)x fitting"
echo "$n_mix-configuration softmax + MLP sweep: $mix s (whole command)"

