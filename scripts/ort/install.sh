#!/usr/bin/env bash
# Install onnxruntime-node (pinned in scripts/ort/package.json) into build/ort/, not into the repo.
# Idempotent: does nothing when the pinned version is already there. --ignore-scripts skips the
# package's install hook, which would try to download GPU files; the CPU library ships in the package.
# Usage: scripts/ort/install.sh [PREFIX]        (default PREFIX: <repo>/build/ort, or $FC_ORT_PREFIX)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
prefix=${1:-${FC_ORT_PREFIX:-$root/build/ort}}
want=$(node -p "require('$here/package.json').dependencies['onnxruntime-node']")
have=$(node -p "try { require('$prefix/node_modules/onnxruntime-node/package.json').version } catch (e) { '' }" 2>/dev/null || true)
if [ "$have" = "$want" ]; then exit 0; fi
command -v npm >/dev/null || { echo "install.sh: npm not found (apt-get install npm)" >&2; exit 1; }
mkdir -p "$prefix"
cp "$here/package.json" "$prefix/package.json"
echo "installing onnxruntime-node@$want into $prefix ..." >&2
npm install --prefix "$prefix" --ignore-scripts --no-audit --no-fund --loglevel=error >&2 \
  || { echo "install.sh: npm install of onnxruntime-node@$want failed" >&2; exit 1; }
