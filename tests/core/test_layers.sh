#!/bin/sh
# The include graph runs one way (scripts/check_layers.sh, README "Layers"): the tree as it is
# passes, and a copy of it with a planted upward include, an internal header reached from another
# layer, or extract/ and classify/ including each other fails, naming the file and the include.
# One PASS/FAIL line per check for tests/run.sh.
check=scripts/check_layers.sh
if out=$(sh $check . 2>&1); then echo "PASS layers: the tree's includes run one way"
else echo "FAIL layers: the tree breaks the layering:"; printf '%s\n' "$out" | sed 's/^/    /'; fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/fc_layers.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
plant() { # name file line expected-substring
    rm -rf "$tmp/tree" && mkdir "$tmp/tree"
    for d in core store engine extract classify cli api; do cp -r "$d" "$tmp/tree/"; done
    printf '%s\n' "$3" >>"$tmp/tree/$2"
    if out=$(sh $check "$tmp/tree" 2>&1); then
        echo "FAIL layers: planted $1 ($2: $3) was not caught"
    elif printf '%s\n' "$out" | grep -q "^$2:.*$4"; then
        echo "PASS layers: planted $1 caught: $(printf '%s\n' "$out" | head -1)"
    else
        echo "FAIL layers: planted $1 gave an unexpected report:"; printf '%s\n' "$out" | sed 's/^/    /'
    fi
}
plant "upward include (store -> extract)" store/cache.c '#include "extract/extract.h"' 'may not include'
plant "upward include (engine -> store)" engine/session.c '#include "store/store.h"' 'may not include'
plant "upward include (core -> engine)" core/file.c '#include "engine/engine.h"' 'may not include'
plant "sideways include (classify -> extract)" classify/train.c '#include "extract/extract.h"' 'may not include'
plant "internal header of another layer" extract/job.c '#include "engine/graph.h"' 'internal to engine'
plant "the C API from the CLI (cli -> api)" cli/main.c '#include "api/featcache.h"' 'may not include'
plant "the CLI from the C API (api -> cli)" api/list.c '#include "cli/cli.h"' 'may not include'
plant "generated schema outside engine" classify/head.c '#include "onnx/onnx.pb-c.h"' 'generated schema'
