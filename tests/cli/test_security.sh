#!/bin/sh
# Hostile inputs: ONNX external data pointing out of the model's folder (CLI level), no shell ever
# run on data (a source check plus file names full of shell metacharacters, quotes, newlines and
# bytes that are not UTF-8 through extract, export and report), SQL only through prepared
# statements with fixed text (a source check plus a data set and labels named like an injection),
# and report.html escaping file names and labels. One PASS/FAIL/SKIP line per check.
NAME=security; . "$(dirname "$0")/../support/common.sh"
SRC=$(find core engine store extract classify cli -name '*.[ch]' | sort)

# ---- 7a. no shell, no exec: the product never starts another program ----
ALLOW_EXEC="" # files allowed to start programs (none: keep it that way)
grep -nE '(^|[^A-Za-z0-9_])(system|popen|execl|execlp|execle|execv|execvp|execvpe|fexecve|posix_spawnp?|wordexp)[[:space:]]*\(' $SRC |
    grep -v "^\($ALLOW_EXEC\):" >"$T/err"
[ ! -s "$T/err" ] && [ -n "$SRC" ]; check "no system/popen/exec*/posix_spawn/wordexp call in $(echo "$SRC" | wc -l) C files" $?

# ---- 8a. SQL only as fixed text through prepared statements ----
# (store/catalog.c, and store/merge_catalog.c, which copies catalog rows with their own times and
# ids through the connection and binders that store/catalog_db.h declares)
: >"$T/err"
files_sql=$(grep -l 'sqlite3_' $SRC | tr '\n' ' ')
[ "$files_sql" = "store/catalog.c store/catalog_db.h store/merge_catalog.c " ] ||
    echo "sqlite3 used outside store/catalog.c, catalog_db.h and merge_catalog.c: $files_sql" >>"$T/err"
grep -nE 'sqlite3_(exec|mprintf|vmprintf|snprintf|vsnprintf|str_[a-z]+)[[:space:]]*\(' $SRC >>"$T/err"
# the SQL argument of every prepare: a literal, the constant table SQL[id], exec_script's `sql`, or
# verify's constant CHECKS[i].sql
grep -n 'sqlite3_prepare' store/catalog.c |
    grep -vE 'sqlite3_prepare[a-z0-9_]*\([a-z>-]+, ("[^"]*"|SQL\[id\]|sql|CHECKS\[i\]\.sql),' >>"$T/err"
# exec_script runs only literals, the schema constants or repair's constant CHECKS[i].fix
grep -nE 'exec_script\([a-z]+,' store/catalog.c | grep -vE 'exec_script\([a-z]+, ("[^"]*"|SCHEMA_V[12]|CHECKS\[i\]\.fix),' >>"$T/err"
# the constant table, the schema and ITEM_COLS hold string literals only (no formatting, no data)
strip() { sed -E 's/"([^"\\]|\\.)*"//g; s/\[[SQ]_[A-Z0-9_]+\] =//g; s/ITEM_COLS(_V1)?//g; s|/\*.*\*/||g; s/[[:space:],]//g'; }
awk '/^static const char \*const SQL\[S_COUNT\] = \{/ {on=1; next} on && /^\};/ {exit} on' store/catalog.c | strip | grep . |
    sed 's/^/SQL table holds a non-literal: /' >>"$T/err"
for v in 1 2; do
    awk "/^static const char SCHEMA_V$v\\[\\] =/ {on=1; next} on {print; if (/;[[:space:]]*\$/) exit}" store/catalog.c |
        sed 's/;[[:space:]]*$//' | strip | grep . | sed "s/^/schema $v holds a non-literal: /" >>"$T/err"
done
awk '/^static const struct \{ const char \*what, \*sql, \*fix; \} CHECKS\[\] = \{/ {on=1; next} on && /^\};/ {exit} on' store/catalog.c |
    sed 's/[{}]//g' | strip | grep . | sed 's/^/CHECKS holds a non-literal: /' >>"$T/err"
# merge_catalog.c: every prepare on its constant table SQL[q], which holds string literals only
grep -n 'sqlite3_prepare' store/merge_catalog.c | grep -vE 'sqlite3_prepare_v2\(db, SQL\[q\],' >>"$T/err"
awk '/^static const char \*const SQL\[Q_COUNT\] = \{/ {on=1; next} on && /^\};/ {exit} on' store/merge_catalog.c | strip | grep . |
    sed 's/^/merge SQL table holds a non-literal: /' >>"$T/err"
grep '^#define ITEM_COLS' store/catalog.c | sed 's/^#define ITEM_COLS\(_V1\)*//' | strip | grep . >>"$T/err"
# nothing formats SQL text at run time
grep -nE '(printf|strcat|strcpy|memcpy)[[:space:]]*\(.*"[^"]*(SELECT|INSERT|UPDATE|DELETE|DROP|CREATE|PRAGMA|ATTACH) ' $SRC >>"$T/err"
n_prep=$(cat store/catalog.c store/merge_catalog.c | grep -c 'sqlite3_prepare')
[ ! -s "$T/err" ] && [ "$n_prep" -gt 0 ]
check "SQL: sqlite3 only in store/catalog.c and store/merge_catalog.c, $n_prep prepare calls on literal/constant text, no exec/mprintf, no formatted SQL" $?

need_python "numpy, PIL, onnx" "CLI checks: /usr/bin/python3 lacks numpy/PIL/onnx (scripts/install_deps.sh installs them)"
M="$T/m.onnx"
$PY "$FX" model "$M" && $PY "$FX" images "$T/img" 24 5 || { bad "making fixtures"; exit 1; }

# ---- 6. external data outside the model's folder (CLI) ----
mkdir -p "$T/models"
ln -s /etc/hostname "$T/models/link.bin"
for k in escape absolute link; do
    $PY "$FX" badmodel $k "$T/models/$k.onnx"
    "$FC" extract "$T/img" --model "$T/models/$k.onnx" --cache "$T/mc" >/dev/null 2>"$T/err"; rc1=$?
    m1=$(head -1 "$T/err")
    "$FC" infer --model "$T/models/$k.onnx" "$T/img/img000.jpg" >/dev/null 2>"$T/err"; rc2=$?
    [ $rc1 -eq 1 ] && [ $rc2 -eq 1 ] && echo "$m1" | grep -q "$k.onnx: .*outside" && grep -q "$k.onnx: .*outside" "$T/err"
    check "external data '$k': extract and infer exit 1 ($(echo "$m1" | sed 's/^featcache extract: [^ ]*: //'))" $?
done

# ---- 7b. file names with shell metacharacters, quotes, newlines, non-UTF-8 bytes ----
W="$T/work"
D1="$W/set/cl ass \$(touch pwned1)"
D2="$W/set/plain;\`touch pwned2\`"
mkdir -p "$D1" "$D2"
i=0
nl='
'
for n in 'a b.jpg' '$(touch pwned3).jpg' '`touch pwned4`;x.jpg' "q'uo\"te.jpg" "new${nl}line.jpg" \
    "$(printf 'bytes\377\376.jpg')" 'back\slash.jpg' '-rf .jpg' '*.jpg' '|&<>.jpg'; do
    f=$(printf 'img%03d.jpg' $i)
    cp "$T/img/$f" "$D1/$n"
    cp "$T/img/$f" "$D2/$n" # the same bytes in the other class: some are misclassified, so the
    i=$((i + 1))             # report lists these names among its worst images
done
printf 'no image' >"$D2/$(printf 'junk\377.jpg')"
cd "$W" || exit 1
"$FC" extract set --model "$M" --cache c --json >"$T/w.json" 2>"$T/err"
rc=$?
[ $rc -eq 3 ] && [ $(($(json_field computed "$T/w.json") + $(json_field cached "$T/w.json"))) -eq 20 ] &&
    $PY -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d["bad_files"][0]["path"].endswith("junk\ufffd.jpg"), d' "$T/w.json" 2>>"$T/err"
check "extract: 20 oddly named files stored, the non-UTF-8 bad file listed in valid JSON (as U+FFFD), exit 3" $?
"$FC" export set --model "$M" --cache c -o e >/dev/null 2>"$T/err" &&
    [ "$(wc -l <e/paths.txt)" -eq 20 ] && [ "$(wc -l <e/labels.txt)" -eq 20 ] &&
    grep -qxF 'plain;`touch pwned2`/new\nline.jpg' e/paths.txt && grep -qxF 'cl ass $(touch pwned1)/back\\slash.jpg' e/paths.txt &&
    grep -qx "cl ass \$(touch pwned1)/bytes$(printf '\377\376').jpg" e/paths.txt && grep -qxF "plain;\`touch pwned2\`/q'uo\"te.jpg" e/paths.txt
check "export: paths.txt/labels.txt one line per item (newline and backslash escaped, other bytes as they are)" $?
"$FC" train set --model "$M" --cache c --split hash:0.5 --json >"$T/train.json" 2>"$T/err" &&
    run=$(sed -n 's/^{"run":\([0-9]*\).*/\1/p' "$T/train.json") &&
    "$FC" report "$run" --cache c -o "r e p o r t.html" >/dev/null 2>>"$T/err" &&
    $PY -c 'import sys; open(sys.argv[1], encoding="utf-8").read()' "r e p o r t.html" 2>>"$T/err" &&
    grep -q '&lt;&gt;.jpg\|\$(touch pwned\|`touch pwned' "r e p o r t.html"
check "report: a page with these names among the worst images, valid UTF-8" $?
found=$(find "$T" / -maxdepth 1 -name "pwned*" 2>/dev/null; find "$T" -name "pwned*"; ls | grep "^pwned")
[ -z "$found" ]; check "no name was ever run by a shell (no pwned* file anywhere)" $?
cd - >/dev/null || exit 1

# ---- 8b + 9. an injection-shaped data set name and labels; HTML in names and labels ----
mkdir -p "$T/inj"
LA='<script>alert(1)</script>'
LB="x'); DROP TABLE items;--"
{
    echo 'path,label,split'
    i=0
    for f in $(ls "$T/img" | head -16); do
        cp "$T/img/$f" "$T/inj/<img src=x onerror=alert($i)>.jpg"
        if [ $i -lt 6 ]; then lab=$LA; sp=train; elif [ $i -lt 12 ]; then lab=$LB; sp=train; else lab=$LA; sp=val; fi
        echo "\"<img src=x onerror=alert($i)>.jpg\",\"$lab\",$sp"
        i=$((i + 1))
    done
    # val: the same bytes under both labels, so at least one is misclassified and shown
    cp "$T/img/img020.jpg" "$T/inj/<img src=x onerror=alert(98)>.jpg"
    cp "$T/img/img020.jpg" "$T/inj/<img src=x onerror=alert(99)>.jpg"
    echo "\"<img src=x onerror=alert(98)>.jpg\",\"$LA\",val"
    echo "\"<img src=x onerror=alert(99)>.jpg\",\"$LB\",val"
} >"$T/inj/manifest.csv"
"$FC" extract "$T/inj/manifest.csv" --name "$LB" --model "$M" --cache "$T/ic" --quiet 2>"$T/err" &&
    "$FC" ls --cache "$T/ic" >"$T/ls" 2>>"$T/err" && grep -qF "$LB" "$T/ls" && grep -q " 18 items .* 18 ok .* 2 classes" "$T/ls" &&
    "$FC" export "$LB" --model "$M" --cache "$T/ic" -o "$T/ie" >/dev/null 2>>"$T/err" &&
    [ "$(grep -cxF "$LB" "$T/ie/labels.txt")" -eq 7 ] && [ "$(grep -cxF "$LA" "$T/ie/labels.txt")" -eq 11 ] &&
    "$FC" verify --cache "$T/ic" >/dev/null 2>>"$T/err"
check "data set and label named \"$LB\": stored and read back verbatim, items table intact, verify clean" $?
"$FC" train "$LB" --model "$M" --cache "$T/ic" --json >"$T/itrain.json" 2>"$T/err" &&
    run=$(sed -n 's/^{"run":\([0-9]*\).*/\1/p' "$T/itrain.json") &&
    "$FC" report "$run" --cache "$T/ic" -o "$T/inj.html" >/dev/null 2>>"$T/err"
rc=$?
R="$T/inj.html"
[ $rc -eq 0 ] && ! grep -q '<script>alert' "$R" && ! grep -q '<img src=x' "$R" &&
    grep -qF '&lt;script&gt;alert(1)&lt;/script&gt;' "$R" && grep -qF '&lt;img src=x onerror=alert(9' "$R" &&
    grep -qF 'x&#39;); DROP TABLE items;--' "$R"
check "report.html: label <script>alert(1)</script>, file <img src=x onerror=...> and the quote-laden name appear escaped, never raw" $?
exit 0
