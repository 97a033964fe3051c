#!/bin/sh
# Checks from the sources that #include dependencies run one way (README "Layers"):
#   core <- store <- {extract, classify};  core <- engine <- {extract, classify};  cli and api (the
#   C API for bindings) use all, and neither includes the other.
# A file of layer X may include its own layer's headers, and of a layer Y allowed below X only
# Y's public header Y/Y.h; extract/ and classify/ never include each other; the generated ONNX
# schema (onnx/onnx.pb-c.h) belongs to engine/. Prints one line per violation (file:line: what)
# and exits 1 if there is any, 0 otherwise. Usage: scripts/check_layers.sh [ROOT] (default: .)
root=${1:-.}
cd "$root" || exit 2
allowed() { # layer -> the layers it may use
    case $1 in
    core) echo "" ;;
    store) echo "core" ;;
    engine) echo "core" ;;
    extract) echo "core store engine" ;;
    classify) echo "core store engine" ;;
    cli) echo "core store engine extract classify" ;;
    api) echo "core store engine extract classify" ;;
    esac
}
bad=0
for layer in core store engine extract classify cli api; do
    [ -d "$layer" ] || { echo "check_layers: $root/$layer: missing layer folder"; bad=1; continue; }
    ok=$(allowed $layer)
    for f in $(find "$layer" -name '*.[ch]' | sort); do
        grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" | while IFS= read -r hit; do
            line=${hit%%:*}
            inc=$(printf '%s\n' "$hit" | sed 's/^[^"]*"\([^"]*\)".*/\1/')
            top=${inc%%/*}
            [ "$top" = "$inc" ] && { echo "$f:$line: \"$inc\" has no layer folder (write \"$layer/$inc\")"; continue; }
            [ "$top" = "$layer" ] && continue
            if [ "$top" = onnx ]; then
                [ "$layer" = engine ] || echo "$f:$line: \"$inc\" is engine/'s generated schema: use engine/engine.h"
                continue
            fi
            case " $ok " in
            *" $top "*)
                [ "$inc" = "$top/$top.h" ] ||
                    echo "$f:$line: \"$inc\" is internal to $top/: include \"$top/$top.h\"" ;;
            *) echo "$f:$line: $layer/ may not include \"$inc\" ($layer/ uses: ${ok:-nothing})" ;;
            esac
        done
    done
done >"${TMPDIR:-/tmp}/check_layers.$$"
if [ -s "${TMPDIR:-/tmp}/check_layers.$$" ]; then
    cat "${TMPDIR:-/tmp}/check_layers.$$"; bad=1
fi
rm -f "${TMPDIR:-/tmp}/check_layers.$$"
exit $bad
