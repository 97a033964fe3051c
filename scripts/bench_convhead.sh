#!/bin/sh
# Benchmark (not a test) of `featcache train --head conv` against PyTorch training the same model
# (new conv blocks with training-mode BatchNorm + a softmax head, AdamW) on the same cached maps:
# featcache's epochs read the maps from the cache batch by batch; PyTorch (scripts/finetune_torch.py
# bench) trains the blocks built from the same ONNX graph on the rows of featcache's epoch 1 (its
# --trace), held in memory as float32, batch as featcache's, channels_last. The steps alone on both
# sides (no validation pass). Same threads, alternating rounds; each round prints the machine's
# load (uptime) and both sides' wall and CPU seconds per epoch (medians over the round's epochs);
# the end prints the medians of the rounds and the ratios PyTorch / featcache. On a busy machine
# (load above the thread count) the CPU-time ratio is the one to quote.
# featcache's products run in its default precision (auto: bf16 where the CPU has AVX512_BF16) or
# --precision's; PyTorch's in float32 (its CPU bf16 autocast is slower here).
# Usage: scripts/bench_convhead.sh [--data DIR] [--model M.onnx] [--layer T] [--conv SPEC] [--size N]
#                                  [--epochs N] [--batch N] [--threads N] [--rounds N] [--cache DIR]
#                                  [--precision f32|bf16|auto]
# Defaults: Fashion-MNIST 5000/5000 in /tmp/fm (`scripts/fashion_mnist.sh DIR --limit 5000` makes one),
# MobileNetV2 from ../shared, t93 (the 28x28 stage; 12x12 at input 96), 128,128s2, size 96, 3 epochs
# per round, batch 64, 2 threads, 3 rounds, a temporary cache (the maps are extracted once into it).
# Needs /usr/bin/python3 with torch and onnx.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
FC=${FEATCACHE_BIN:-$root/build/featcache}
PY=/usr/bin/python3
data=/tmp/fm model=$root/../shared/models/mobilenet_v2_1.0_224.onnx layer=t93 conv=128,128s2 size=96
epochs=3 batch=64 threads=2 rounds=3 cache="" precision=auto
while [ $# -gt 0 ]; do
    case $1 in
    --data) data=$2 ;; --model) model=$2 ;; --layer) layer=$2 ;; --conv) conv=$2 ;; --size) size=$2 ;;
    --epochs) epochs=$2 ;; --batch) batch=$2 ;; --threads) threads=$2 ;; --rounds) rounds=$2 ;; --cache) cache=$2 ;;
    --precision) precision=$2 ;;
    *) echo "usage: see the top of $0" >&2; exit 64 ;;
    esac
    shift 2
done
$PY -c "import torch, onnx" 2>/dev/null || { echo "bench_convhead: PyTorch or onnx is not installed (apt-get install python3-torch python3-onnx)"; exit 1; }
[ -d "$data" ] || { echo "bench_convhead: no data set at $data (scripts/fashion_mnist.sh $data --limit 5000)"; exit 1; }
w=$(mktemp -d "${TMPDIR:-/tmp}/bench_convhead.XXXXXX")
trap 'rm -rf "$w"' EXIT
[ -n "$cache" ] || cache=$w/c
TR="$FC train $data --model $model --layer $layer --size $size --head conv --conv $conv --batch $batch --threads $threads --cache $cache"
TRP="$TR --precision $precision"
median() { sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
load() { uptime | sed 's/.*load average: //'; }

# the maps cached once, and the rows of epoch 1 for PyTorch (its starting values: f32 either way)
$TR --epochs 1 --precision f32 --trace "$w/trace" --quiet >/dev/null
ran=$($TRP --epochs 1 --json | tail -1 | $PY -c 'import json, sys; print(json.load(sys.stdin)["precision"])')
echo "featcache train --head conv ($ran products) vs PyTorch (float32): $(basename "$model") $layer, blocks $conv, size $size, batch $batch, $threads threads"
for r in $(seq "$rounds"); do
    l=$(load)
    $TRP --epochs "$epochs" --json >"$w/f$r.json"
    $PY -c 'import json, statistics, sys
e = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{\"epoch\"")]
e = [x for x in e if x["epoch"] > 0]
print(statistics.median(x["train_seconds"] for x in e), statistics.median(x["train_cpu_seconds"] for x in e))' "$w/f$r.json" >"$w/fe$r"
    $PY "$root/scripts/finetune_torch.py" bench "$w/trace" --epochs "$epochs" --threads "$threads" >"$w/t$r.json"
    $PY -c 'import json, statistics, sys
j = json.load(open(sys.argv[1]))
print(j["median_epoch_seconds"], statistics.median(j["epoch_cpu_seconds"]))' "$w/t$r.json" >"$w/te$r"
    echo "  round $r (load $l): epoch featcache $(cut -d' ' -f1 "$w/fe$r") s (cpu $(cut -d' ' -f2 "$w/fe$r") s)," \
        "PyTorch $(cut -d' ' -f1 "$w/te$r") s (cpu $(cut -d' ' -f2 "$w/te$r") s)"
done
fw=$(cut -d' ' -f1 "$w"/fe* | median) fc=$(cut -d' ' -f2 "$w"/fe* | median)
tw=$(cut -d' ' -f1 "$w"/te* | median) tc=$(cut -d' ' -f2 "$w"/te* | median)
echo "epoch (training steps, median of rounds): featcache $fw s (cpu $fc s), PyTorch $tw s (cpu $tc s)"
echo "PyTorch / featcache: wall $(echo "$tw / $fw" | bc -l | cut -c1-5), cpu $(echo "$tc / $fc" | bc -l | cut -c1-5) (load now $(load))"
