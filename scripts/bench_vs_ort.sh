#!/usr/bin/env bash
# Side-by-side throughput of featcache and ONNX Runtime (CPU, npm onnxruntime-node) on one model.
# Rounds alternate ORT, featcache, ORT, featcache, ... so background load hits both alike; prints the
# median img/s of each and the ratio featcache/ORT, then each round's own ratio and their median. A
# benchmark, not a test: it never fails on speed.
# Installs onnxruntime-node into build/ort when missing. If build/featcache is missing or fails,
# says so and still prints the ORT number.
#
# Usage: scripts/bench_vs_ort.sh MODEL.onnx [--batch 16] [--threads 2] [--size 224] [--rounds 3]
#                                [--seconds 5] [--compute f32|bf16]
#   --compute bf16: featcache with bf16 products (AVX512_BF16) against ONNX Runtime in fp32.
#   A model with a fixed batch size (e.g. build/torchvision/<name>.onnx) needs --batch to match it;
#   use the dynamic-batch build/torchvision/<name>.dyn.onnx for batch 16.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
die() { echo "bench_vs_ort.sh: $*" >&2; exit 1; }

[ $# -ge 1 ] || die "usage: bench_vs_ort.sh MODEL.onnx [--batch 16] [--threads 2] [--size 224] [--rounds 3] [--seconds 5] [--compute f32|bf16]"
model=$1; shift
batch=16 threads=2 size=224 rounds=3 seconds=5 compute=f32
while [ $# -gt 0 ]; do
  [ $# -ge 2 ] || die "missing value for $1"
  case $1 in
    --batch) batch=$2 ;; --threads) threads=$2 ;; --size) size=$2 ;;
    --rounds) rounds=$2 ;; --seconds) seconds=$2 ;; --compute) compute=$2 ;;
    *) die "unknown option $1" ;;
  esac
  shift 2
done
[ -f "$model" ] || die "$model: no such file"
command -v node >/dev/null || die "node not found (apt-get install nodejs npm)"
bash "$here/ort/install.sh" || die "cannot install onnxruntime-node"

fc="$root/build/featcache"
fc_ok=1
[ -x "$fc" ] || { echo "note: $fc not built (make); reporting ONNX Runtime only" >&2; fc_ok=0; }

# imgs_per_s from the last line that is a JSON object (tools may print progress before it).
imgs() { node -e '
  const lines = require("fs").readFileSync(0, "utf8").split("\n").filter((l) => l.trim().startsWith("{"));
  if (!lines.length) process.exit(1);
  const v = JSON.parse(lines[lines.length - 1]).imgs_per_s;
  if (typeof v !== "number") process.exit(1);
  console.log(v);'; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

ort=() fcs=()
for ((r = 1; r <= rounds; r++)); do
  out=$(node "$here/ort/bench.js" "$model" --batch "$batch" --threads "$threads" --size "$size" \
        --seconds "$seconds" --json) || die "ONNX Runtime benchmark failed"
  v=$(imgs <<<"$out") || die "cannot parse ONNX Runtime output: $out"
  ort+=("$v"); echo "round $r: onnxruntime $v img/s" >&2
  if [ $fc_ok = 1 ]; then
    if out=$("$fc" bench --model "$model" --batch "$batch" --threads "$threads" --size "$size" \
             --seconds "$seconds" --compute "$compute" --json) && v=$(imgs <<<"$out"); then
      fcs+=("$v"); echo "round $r: featcache ($compute) $v img/s" >&2
    else
      echo "note: featcache bench failed (exit or output above); reporting ONNX Runtime only" >&2
      fc_ok=0
    fi
  fi
done

o=$(median "${ort[@]}")
echo "model $model  batch $batch  threads $threads  size $size  rounds $rounds x ${seconds}s  featcache --compute $compute"
echo "onnxruntime-node: $o img/s (median of rounds)"
if [ $fc_ok = 1 ] && [ ${#fcs[@]} -gt 0 ]; then
  f=$(median "${fcs[@]}")
  echo "featcache ($compute):  $f img/s (median of rounds)"
  awk -v f="$f" -v o="$o" 'BEGIN { printf "ratio featcache/ORT: %.3f\n", f / o }'
  # each round's own ratio: the two runs of a round are seconds apart, so a machine whose speed
  # drifts over minutes moves both alike (the ratio of medians pairs runs of different minutes)
  per=()
  for ((r = 0; r < ${#fcs[@]}; r++)); do
    per+=("$(awk -v f="${fcs[r]}" -v o="${ort[r]}" 'BEGIN { printf "%.4f", f / o }')")
  done
  echo "ratio per round: $(printf '%s\n' "${per[@]}" | sort -g | tr '\n' ' ')(median $(median "${per[@]}"))"
else
  echo "featcache:        n/a"
fi
