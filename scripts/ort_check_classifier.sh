#!/usr/bin/env bash
# Acceptance check for export-onnx: run one merged classifier (backbone + head, e.g. from
# `featcache export-onnx` or scripts/tools/run_model_npy.c merge) in ONNX Runtime and in featcache on the same
# .npy input batch, and print the max |diff| of the `probabilities` output (acceptance: <= 1e-4).
# featcache's side is scripts/tools/run_model_npy.c, built here against build/libfeatcache.a (run `make`
# first); ONNX Runtime is scripts/ort/run.js (installed into build/ort by scripts/ort/install.sh).
# Usage: scripts/ort_check_classifier.sh MERGED.onnx INPUT.npy [TOLERANCE]
# Exit status: 0 within tolerance, 1 above it or on any error.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 MERGED.onnx INPUT.npy [TOLERANCE]" >&2; exit 1; }
model=$1 input=$2 tol=${3:-1e-4}
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$root/build}
[ -f "$build/libfeatcache.a" ] || { echo "$0: $build/libfeatcache.a missing (run make)" >&2; exit 1; }
tool=$build/run_model_npy
if [ ! -x "$tool" ] || [ "$root/scripts/tools/run_model_npy.c" -nt "$tool" ] || [ "$build/libfeatcache.a" -nt "$tool" ]; then
    ${CC:-cc} -std=c11 -D_GNU_SOURCE -O2 -fopenmp -Wall -Wextra -Wno-unused-parameter -I"$root" -I"$build/gen" \
        -o "$tool" "$root/scripts/tools/run_model_npy.c" "$root/tests/support/npy.c" "$build/libfeatcache.a" \
        -lturbojpeg -lpng -lwebpdemux -lwebp -lgif -ltiff -lprotobuf-c -llmdb -lsqlite3 -lm -lpthread -fopenmp \
        ${LDFLAGS:-} # make sanitize's -fsanitize=...: its library is instrumented
fi
"$root/scripts/ort/install.sh"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
node "$root/scripts/ort/run.js" "$model" "$input" "$out/ort" --outputs probabilities
"$tool" run "$model" "$input" "$out/featcache.npy" probabilities
diff=$("$tool" compare "$out/ort/probabilities.npy" "$out/featcache.npy")
echo "probabilities max |diff| ONNX Runtime vs featcache: $diff (tolerance $tol)"
awk -v d="$diff" -v t="$tol" 'BEGIN { exit !(d + 0 <= t + 0) }'
