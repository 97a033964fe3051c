#!/bin/sh
# Benchmark (not a test) of `featcache finetune` against PyTorch (scripts/finetune_torch.py), same
# machine, same threads, alternating rounds; prints medians and ratios, CPU time (user + system)
# and peak memory (GNU time).
#   epoch   featcache's training time per epoch on the cached cut activations vs PyTorch training
#           the same top on the same inputs (the rows of featcache's epoch 1, written by --trace),
#           same batch: the steps alone on both sides (no validation pass)
#   job     the whole job: featcache from an empty cache (caching the cut for every view, the
#           linear probe, the epochs) vs PyTorch fine-tuning the same top from the images, the
#           frozen bottom recomputed every epoch
# Usage: scripts/bench_finetune.sh [--data DIR] [--model M.onnx] [--cut T] [--views LIST] [--size N]
#                                  [--epochs N] [--batch N] [--threads N] [--rounds N] [--only epoch|job]
#                                  [--precision f32|bf16|auto] [--torch-autocast bf16]
# --precision goes to featcache finetune (default: its own), --torch-autocast to PyTorch's epoch
# bench (its forward under torch.autocast; default: float32); the header line names them when given.
# Defaults: ants/bees and MobileNetV2 from ../shared, cut t146, views orig,flip, 15 epochs, batch 32,
# 2 threads, 3 rounds. Needs /usr/bin/python3 with torch, and GNU time (/usr/bin/time).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
FC=${FEATCACHE_BIN:-$root/build/featcache}
PY=/usr/bin/python3
data=$root/../shared/data/hymenoptera model=$root/../shared/models/mobilenet_v2_1.0_224.onnx
cut=t146 views=orig,flip size=224 epochs=15 batch=32 threads=2 rounds=3 only="" precision="" autocast=""
while [ $# -gt 0 ]; do
    case $1 in
    --data) data=$2 ;; --model) model=$2 ;; --cut) cut=$2 ;; --views) views=$2 ;; --size) size=$2 ;;
    --epochs) epochs=$2 ;; --batch) batch=$2 ;; --threads) threads=$2 ;; --rounds) rounds=$2 ;; --only) only=$2 ;;
    --precision) precision=$2 ;; --torch-autocast) autocast=$2 ;;
    *) echo "usage: see the top of $0" >&2; exit 64 ;;
    esac
    shift 2
done
$PY -c "import torch" 2>/dev/null || { echo "bench_finetune: PyTorch is not installed (apt-get install python3-torch)"; exit 1; }
[ -x /usr/bin/time ] || { echo "bench_finetune: GNU time is not installed (apt-get install time)"; exit 1; }
w=$(mktemp -d "${TMPDIR:-/tmp}/bench_finetune.XXXXXX")
trap 'rm -rf "$w"' EXIT
feature=$($FC cuts --model "$model" --size "$size" --json | $PY -c 'import json, sys; print(json.load(sys.stdin)["feature"])')
FT="$FC finetune $data --model $model --cut $cut --views $views --size $size --batch $batch --threads $threads${precision:+ --precision $precision}"
ok3() { "$@" || [ $? -eq 3 ]; } # exit 3: done, some images were bad (ants/bees has a GIF)
# GNU time's "%e %M" line is the file's last: a command that exits non-zero gets a line before it
tfield() { tail -n 1 "$1" | cut -d' ' -f"$2"; }
cpu() { echo "$(tfield "$1" 3) + $(tfield "$1" 4)" | bc -l; } # user + system
median() { sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

echo "featcache finetune vs PyTorch: $(basename "$model") cut $cut, views $views, size $size, batch $batch, $threads threads${precision:+, featcache precision $precision}${autocast:+, PyTorch autocast $autocast}"
if [ "$only" != job ]; then
    # the cut cached once, and the rows of epoch 1 for PyTorch
    ok3 $FT --cache "$w/c" --epochs 1 --schedule constant --trace "$w/trace" --quiet -o "$w/t.onnx" >/dev/null
    for r in $(seq "$rounds"); do
        ok3 $FT --cache "$w/c" --epochs "$epochs" --json -o "$w/f.onnx" >"$w/f$r.json"
        $PY -c 'import json, sys
e = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{\"epoch\"")]
print(*[x["train_seconds"] for x in e if x["epoch"] > 0])' "$w/f$r.json" | tr ' ' '\n' | median >"$w/fe$r"
        $PY "$root/scripts/finetune_torch.py" bench "$w/trace" --epochs "$epochs" ${autocast:+--autocast "$autocast"} >"$w/t$r.json"
        $PY -c 'import json, sys; print(json.load(open(sys.argv[1]))["median_epoch_seconds"])' "$w/t$r.json" >"$w/te$r"
        echo "  round $r: epoch featcache $(cat "$w/fe$r") s, PyTorch $(cat "$w/te$r") s"
    done
    fe=$(cat "$w"/fe* | median) te=$(cat "$w"/te* | median)
    echo "epoch (training steps, median of rounds): featcache $fe s, PyTorch $te s, PyTorch / featcache = $(echo "$te / $fe" | bc -l | cut -c1-5)"
fi
if [ "$only" != epoch ]; then
    for r in $(seq "$rounds"); do
        rm -rf "$w/j"
        ok3 /usr/bin/time -f "%e %M %U %S" -o "$w/fjt$r" $FT --cache "$w/j" --epochs "$epochs" --quiet -o "$w/j.onnx" >/dev/null
        /usr/bin/time -f "%e %M %U %S" -o "$w/tjt$r" $PY "$root/scripts/finetune_torch.py" images --model "$model" --cut "$cut" --feature "$feature" \
            --data "$data" --views "$views" --size "$size" --epochs "$epochs" --batch "$batch" --threads "$threads" >"$w/tj$r.json"
        echo "  round $r: job featcache $(tfield "$w/fjt$r" 1) s ($(cpu "$w/fjt$r") s CPU, $(tfield "$w/fjt$r" 2) KiB peak), PyTorch from images $(tfield "$w/tjt$r" 1) s ($(cpu "$w/tjt$r") s CPU, $(tfield "$w/tjt$r" 2) KiB)"
    done
    fj=$(for f in "$w"/fjt*; do tfield "$f" 1; done | median) tj=$(for f in "$w"/tjt*; do tfield "$f" 1; done | median)
    echo "job (cache the cut + $epochs epochs, median): featcache $fj s, PyTorch from images $tj s, ratio $(echo "$tj / $fj" | bc -l | cut -c1-5)"
fi
