#!/bin/sh
# How close `--compute bf16` stays to f32 on one model (a measurement, not a test: it never fails on
# the numbers). Prints (1) the smallest and the median cosine between the bf16 and the f32 pooled
# features over the images given (build/bench/bench_bf16_cosine: ants/bees and the 8 shared images
# by default), and (2) the validation accuracy of a softmax probe trained on ants/bees' f32 features
# and on its bf16 features (extract + train in a temporary cache). Needs AVX512_BF16, `make all bench`.
#
# Usage: scripts/bf16_accuracy.sh MODEL.onnx [--preprocess tf|torch|caffe] [--layers] [IMAGE_OR_DIR...]
#   e.g. scripts/bf16_accuracy.sh ../shared/models/mobilenet_v2_1.0_224.onnx
#        scripts/bf16_accuracy.sh build/torchvision/resnet50.dyn.onnx --preprocess torch
#   --layers: also the cosine of every step's output on the worst image (where the error grows).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
shared=${SHARED:-$root/../shared}
die() { echo "bf16_accuracy.sh: $*" >&2; exit 1; }
[ $# -ge 1 ] || die "usage: bf16_accuracy.sh MODEL.onnx [--preprocess P] [--layers] [IMAGE_OR_DIR...]"
model=$1; shift
pre=tf layers=""
images=""
while [ $# -gt 0 ]; do
  case $1 in
    --preprocess) [ $# -ge 2 ] || die "missing value for $1"; pre=$2; shift ;;
    --layers) layers=--layers ;;
    *) images="$images $1" ;;
  esac
  shift
done
data="$shared/data/hymenoptera"
[ -n "$images" ] || images="$data $shared/images"
fc="$root/build/featcache" cos="$root/build/bench/bench_bf16_cosine"
[ -x "$fc" ] && [ -x "$cos" ] || die "build first: make all bench"

# shellcheck disable=SC2086
"$cos" "$model" --preprocess "$pre" $layers $images

[ -d "$data" ] || { echo "no $data: probe skipped"; exit 0; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for c in f32 bf16; do
  "$fc" extract "$data" --model "$model" --preprocess "$pre" --compute $c --cache "$tmp/cache" --quiet >/dev/null
  acc=$("$fc" train hymenoptera --model "$model" --preprocess "$pre" --compute $c --cache "$tmp/cache" --json |
        sed -n 's/.*"val_accuracy": *\([0-9.]*\).*/\1/p' | head -n 1)
  echo "ants/bees softmax probe ($c): validation accuracy $acc"
done
