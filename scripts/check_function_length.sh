#!/bin/sh
# Lists the C functions longer than LIMIT lines, counted from the first line of the signature to
# the closing brace (DESIGN.md: functions short enough to read at once; split a long one into
# named steps). A function is a definition whose signature starts in column 0 and whose body ends
# with a "}" in column 0 (the project's style); prototypes and initializers are skipped. Prints
# one line per function (file:line: N lines: signature) and exits 1 if there is any, 0 otherwise.
# Usage: scripts/check_function_length.sh LIMIT FILE...
limit=${1:?usage: check_function_length.sh LIMIT FILE...}
shift
[ $# -gt 0 ] || exit 0
awk -v limit="$limit" '
FNR == 1 { start = 0; body = 0 }
!start && /^[A-Za-z_][^;=]*\(/ && !/^(typedef|struct|enum|union)[^A-Za-z0-9_]/ { start = FNR; sig = $0; body = 0 }
start && !body && /;[[:space:]]*$/ { start = 0; next }
start && !body && /\{[[:space:]]*$/ { body = 1 }
start && body && /^\}/ {
    n = FNR - start + 1
    if (n > limit) { printf "%s:%d: %d lines: %s\n", FILENAME, start, n, sig; bad = 1 }
    start = 0; body = 0
}
END { exit bad }
' "$@"
