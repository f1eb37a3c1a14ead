#!/usr/bin/env bash
# Records the multi-threaded tests/recorder/threadtest.c with scripts/record (odfgrind) and checks the odf-trace v2
# trace: header v2, 'clone 1..3' by pid 1, ops and a 'texit' of each thread 1.1..1.3, the fork from a thread and the
# child's writes and exit, 'run' ops; `odf-sim check` and `odf-sim replay --check --modes all` (oracle and
# invariants). Then the request boundaries (--begin-at read --end-at read) on the program's tiny pipe server give
# 'req latency' rows in the replay, a single-threaded program stays v1 without 'run' (and is v2 with --v2), and bad
# options fail with a clear message; posix_spawn and vfork are 'spawn' and 'vfork' in v2. Prints "N passed, N failed"; exit 0 when everything passed. Without valgrind
# it prints "0 passed, 0 failed, 1 skipped" and exits 0.
# ODF_SIM=path/to/odf-sim (default build/sim/cli/odf-sim); ODFGRIND_LIB=dir of a built tool (else scripts/record
# builds it).
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=tests/recorder/lib.sh
. "$here/lib.sh"
odf_sim="${ODF_SIM:-$root/build/sim/cli/odf-sim}"
[[ -x "$odf_sim" ]] || skip "odf-sim not built ($odf_sim)"

work="$(mktemp -d "${TMPDIR:-/tmp}/odf-test-record-threads.XXXXXX")"
trap 'rm -rf "$work"' EXIT
record="$root/scripts/record"

if ! cc -O1 -pthread -o "$work/threadtest" "$here/threadtest.c"; then
	ko "compile threadtest.c"
	finish
fi
ok "compile threadtest.c"
check "threadtest runs natively" "$work/threadtest" >/dev/null

# ---- three threads, a fork from a thread
if "$record" -o "$work/t.trace" -- "$work/threadtest" >"$work/t.out" 2>"$work/t.err"; then
	ok "record threadtest"
else
	ko "record threadtest"
	cat "$work/t.err"
	finish
fi
t="$work/t.trace"
check "header '# odf-trace v2'" test "$(head -1 "$t")" = "# odf-trace v2"
check "odf-sim check" "$odf_sim" check "$t"
for k in 1 2 3; do
	check "'1 clone $k' before any op of thread 1.$k" awk -v k="$k" '$0 == "1 clone " k && !c { c = NR }
		$1 == "1." k && !f { f = NR } END { exit !(c && f > c) }' "$t"
	check "thread 1.$k has memory ops and ends with '1.$k texit'" awk -v k="$k" '$1 == "1." k && ($2 == "r" || $2 == "w" ||
		$2 == "mmap") { m = 1 } $0 == "1." k " texit" { x = NR } $1 == "1." k { last = NR } END { exit !(m && x && x == last) }' "$t"
done
check "no thread 1.4 (three threads)" bash -c "! grep -q '^1\\.4 ' '$t'"
check "a thread forks the child: '1.N fork 2', then '2 w' ops and '2 exit'" awk '$1 ~ /^1\.[1-3]$/ && $2 == "fork" &&
	$3 == 2 { f = NR } $1 == 2 && $2 == "w" && f { w = 1 } $0 == "2 exit" && w { x = 1 } END { exit !x }' "$t"
check "the child has its main thread only (no '2.N' ops)" bash -c "! grep -q '^2\\.' '$t'"
check "'run NS' ops of the main thread and of the threads" awk '$2 == "run" && $3 > 0 { if (index($1, ".")) th = 1; else m = 1 }
	END { exit !(m && th) }' "$t"
check "pid 1 exits last" bash -c "grep -v '^#' '$t' | grep -v '^\$' | tail -1 | grep -qx '1 exit'"
if "$odf_sim" replay "$t" --check --modes all >"$work/t.replay" 2>&1; then
	ok "odf-sim replay --check --modes all"
else
	ko "odf-sim replay --check --modes all"
	tail -20 "$work/t.replay"
fi
check "replay: oracle and invariants held in every mode" grep -q "oracle and invariants held in every mode" "$work/t.replay"

# ---- --all-accesses keeps the thread structure too
if "$record" --all-accesses -o "$work/ta.trace" -- "$work/threadtest" >/dev/null 2>"$work/ta.err"; then
	check "--all-accesses: odf-sim check" "$odf_sim" check "$work/ta.trace"
	check "--all-accesses: more ops than first-touch" test "$(grep -vc '^#' "$work/ta.trace")" -gt "$(grep -vc '^#' "$t")"
else
	ko "record --all-accesses threadtest"
	cat "$work/ta.err"
fi

# ---- request boundaries on a tiny server: a thread loops read() on a pipe
if "$record" --begin-at read --end-at read -o "$work/s.trace" -- "$work/threadtest" server >/dev/null 2>"$work/s.err"; then
	ok "record the pipe server with --begin-at read --end-at read"
	s="$work/s.trace"
	check "server: odf-sim check" "$odf_sim" check "$s"
	check "server: at least 20 'begin req'/'end req' pairs in thread 1.1" awk '$1 == "1.1" && $2 == "begin" && $3 == "req" { b++ }
		$1 == "1.1" && $2 == "end" && $3 == "req" { e++ } END { exit !(b >= 20 && e >= 20) }' "$s"
	check "server: a 'run' inside each request of thread 1.1" awk '$1 != "1.1" { next } $2 == "begin" { open = 1; r = 0 }
		$2 == "run" && open { r = 1 } $2 == "end" { open = 0; n++; if (r) k++ } END { exit !(n >= 20 && k == n) }' "$s"
	if "$odf_sim" replay "$s" --check --modes all >"$work/s.replay" 2>&1; then
		ok "server: odf-sim replay --check --modes all"
	else
		ko "server: odf-sim replay --check --modes all"
		tail -20 "$work/s.replay"
	fi
	check "server: replay reports 'req latency p50' and p99 rows" bash -c "grep -q '^req latency p50 (us)' '$work/s.replay' &&
		grep -q '^req latency p99 (us)' '$work/s.replay'"
	check "server: p50 latency > 10 us (about 100k instructions per request at 0.3 ns)" awk '/^req latency p50 \(us\)/ {
		v = $5 } END { exit !(v > 10) }' "$work/s.replay"
	# A different factor scales the time.
	if "$record" --begin-at read --end-at read --ns-per-instr 3 -o "$work/s3.trace" -- "$work/threadtest" server \
		>/dev/null 2>&1 && "$odf_sim" replay "$work/s3.trace" --modes classic >"$work/s3.replay" 2>&1; then
		check "server: --ns-per-instr 3 makes p50 about 10x longer" awk '/^req latency p50 \(us\)/ { v[FILENAME] = $5 }
			END { for (f in v) if (f ~ /s3/) b = v[f]; else a = v[f]; exit !(a > 0 && b > 7 * a && b < 13 * a) }' \
			"$work/s.replay" "$work/s3.replay"
	else
		ko "server: record and replay with --ns-per-instr 3"
	fi
else
	ko "record the pipe server"
	cat "$work/s.err"
fi

# ---- single-threaded programs: v1 as before unless a v2 option is given
if "$record" -o "$work/one.trace" -- /bin/true >/dev/null 2>&1; then
	check "single-threaded without options: v1, no run" bash -c "head -1 '$work/one.trace' | grep -qx '# odf-trace v1' &&
		! grep -q ' run ' '$work/one.trace'"
else
	ko "record /bin/true"
fi
if "$record" --v2 -o "$work/onev2.trace" -- /bin/true >/dev/null 2>&1; then
	check "--v2: header v2 with run ops, odf-sim check" bash -c "head -1 '$work/onev2.trace' | grep -qx '# odf-trace v2' &&
		grep -q '^1 run ' '$work/onev2.trace' && '$odf_sim' check '$work/onev2.trace' >/dev/null"
else
	ko "record --v2 /bin/true"
fi

# ---- posix_spawn and vfork: 'spawn' and 'vfork' in v2 (the spawn child's ops before its exec dropped), 'fork' in v1
if "$record" --v2 -o "$work/sp.trace" -- "$work/threadtest" spawn >/dev/null 2>"$work/sp.err"; then
	check "spawn: '1 spawn 2', '2 exec', '1 vfork 3', '3 exec', '3 exit'" awk '$0 == "1 spawn 2" { a = 1 }
		$0 == "2 exec" && a { b = 1 } $0 == "1 vfork 3" && b { c = 1 } $0 == "3 exec" && c { d = 1 }
		$0 == "3 exit" && d { e = 1 } END { exit !e }' "$work/sp.trace"
	check "spawn: odf-sim replay --check --modes all" bash -c "'$odf_sim' replay '$work/sp.trace' --check --modes all 2>&1 |
		grep -q 'oracle and invariants held in every mode'"
else
	ko "record --v2 threadtest spawn"
	cat "$work/sp.err"
fi
if "$record" -o "$work/sp1.trace" -- "$work/threadtest" spawn >/dev/null 2>&1; then
	check "spawn without v2 options: v1 with '1 fork 2' and '1 fork 3'" bash -c "head -1 '$work/sp1.trace' |
		grep -qx '# odf-trace v1' && grep -qx '1 fork 2' '$work/sp1.trace' && grep -qx '1 fork 3' '$work/sp1.trace'"
else
	ko "record threadtest spawn"
fi

# ---- errors
neg() { # neg "description" "expected message" record-args...
	local d="$1" msg="$2"
	shift 2
	if "$record" "$@" -o "$work/bad.trace" -- /bin/true >"$work/bad.out" 2>&1; then
		ko "$d (exit status 0)"
	elif grep -q -- "$msg" "$work/bad.out"; then
		ok "$d"
	else
		ko "$d (message: $(tail -1 "$work/bad.out"))"
	fi
}
neg "unknown syscall in --begin-at is an error" "unknown system call 'nosuchcall'" --begin-at nosuchcall --end-at read
neg "--begin-at without --end-at is an error" "go together" --begin-at read
neg "bad --ns-per-instr is an error" "ns-per-instr: a positive number" --ns-per-instr abc
neg "bad --request-label is an error" "request-label: one word" --request-label 'a#b' --begin-at read --end-at read

finish
