#!/bin/sh
# Benchmark (not a test) of the heads on the same cached features, in one run:
#   1. featcache sweep of softmax over 9 L2 values (whole command, process start and feature loading
#      included) vs scikit-learn LogisticRegression over the same 9 C values (fit() calls only), both
#      with standardized features; ratio and best validation accuracies.
#   2. a 16-configuration softmax + MLP sweep on ants/bees (8 L2 values from the issue's example range
#      1e-6..1e2 x {softmax, mlp 256}; target < 2 s). For the MLP, l2 is AdamW's decoupled weight decay.
# Rounds alternate featcache and scikit-learn; medians are printed.
# Usage: scripts/bench_heads.sh [--rounds 3] [--cache DIR]   (extracts ants/bees first if needed)
set -eu
FC=${FEATCACHE_BIN:-build/featcache}
SHARED=${FEATCACHE_SHARED:-../shared}
M="$SHARED/models/mobilenet_v2_1.0_224.onnx"
H="$SHARED/data/hymenoptera"
rounds=3 cache=build/bench/heads-cache
while [ $# -gt 0 ]; do
    case $1 in --rounds) rounds=$2; shift 2 ;; --cache) cache=$2; shift 2 ;; *) echo "bench_heads.sh: unknown option $1" >&2; exit 1 ;; esac
done
[ -x "$FC" ] || { echo "bench_heads.sh: build featcache first (make)" >&2; exit 1; }
/usr/bin/python3 -c 'import sklearn, numpy' 2>/dev/null || { echo "bench_heads.sh: needs python3-sklearn and python3-numpy" >&2; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
"$FC" extract "$H" --model "$M" --cache "$cache" --quiet 2>/dev/null || [ $? -eq 3 ]
"$FC" export hymenoptera --model "$M" --cache "$cache" -o "$T/e" 2>/dev/null
median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
now() { date +%s.%N; }
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
