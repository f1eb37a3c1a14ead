#!/usr/bin/env bash
# odf-sim's stdout carries only results: --json output parses with nothing else on stdout under -v (diagnostics and
# progress go to stderr), progress shows rate and ETA, and --quiet silences it.  Usage: logging.sh ODF_SIM WORKDIR
set -euo pipefail
sim=$1
work=$2
rm -rf "$work" && mkdir -p "$work"
fail() {
	echo "FAIL: $*" >&2
	exit 1
}
# 2000 forks of a small parent: about 134000 ops, enough for the replay's progress (plain lines every update with
# ODF_PROGRESS_INTERVAL=0, stderr being a file).
"$sim" gen fuzz-loop --parent 0.01 --iterations 2000 --pages 64 -o "$work/t.trace" -v 2>"$work/gen.err"
grep -q "wrote .*t.trace" "$work/gen.err" || fail "gen -v printed no diagnostics on stderr"

export ODF_PROGRESS_INTERVAL=0
for fmt in json csv; do
	"$sim" replay "$work/t.trace" --modes classic,odf --jobs 1 --$fmt -v >"$work/out.$fmt" 2>"$work/err.$fmt"
	grep -q "ops/s, ETA" "$work/err.$fmt" || fail "-v --$fmt: no progress with rate and ETA on stderr"
	grep -q "^odf-sim: " "$work/err.$fmt" || fail "-v --$fmt: no debug lines on stderr"
done
python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$work/out.json" || fail "--json -v stdout is not JSON"
python3 - "$work/out.csv" <<'PY' || fail "--csv -v stdout is not CSV"
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))
assert len(rows) > 1 and all(len(r) == len(rows[0]) for r in rows), "ragged CSV"
PY

"$sim" replay "$work/t.trace" --modes classic,odf --jobs 1 --json --quiet >"$work/q.json" 2>"$work/q.err"
python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$work/q.json" || fail "--json --quiet stdout is not JSON"
[[ ! -s "$work/q.err" ]] || fail "--quiet: stderr not empty: $(head -3 "$work/q.err")"
# The flag works on every level: before the subcommand's own options and on a nested subcommand.
"$sim" replay --quiet "$work/t.trace" --modes classic --jobs 1 --json >/dev/null 2>"$work/q2.err"
[[ ! -s "$work/q2.err" ]] || fail "replay --quiet TRACE: stderr not empty"
"$sim" gen fork-sweep --sizes 0.01 -o "$work/f.trace" -q 2>"$work/q3.err"
[[ ! -s "$work/q3.err" ]] || fail "gen fork-sweep -q: stderr not empty"
# Errors still reach stderr under --quiet, with the status.
set +e
"$sim" replay "$work/missing.trace" --quiet 2>"$work/e.err"
rc=$?
set -e
((rc == 2)) || fail "missing trace under --quiet: exit status $rc, not 2"
grep -q "missing.trace" "$work/e.err" || fail "missing trace under --quiet: no message"
echo "logging: ok"
