#!/usr/bin/env bash
# The recorder's v2 'wait' and 'cpu' ops: records tests/recorder/waitcpu.c with scripts/record --v2 and checks the
# order of its ops (see waitcpu.c): '1 cpu LO' before the first fork; each reaped child's exit before its parent's
# 'wait' (waitpid, waitid, and wait4 from a thread); a child killed by SIGKILL gets its exit written by the merge right
# before the wait; a thread pinned by another thread gets '1.1 cpu HI' before its next op; a mask of several CPUs,
# a WNOHANG wait that reaps nothing and a WUNTRACED wait for a stopped child write nothing. Then `odf-sim check` and
# `odf-sim replay --check --modes all`, and the checker rejects the trace with a wait moved before the child's exit
# or a child waited for twice (what a recorder that got the order wrong would write). Prints "N passed, N failed".
# ODF_SIM=path/to/odf-sim (default build/sim/cli/odf-sim); ODFGRIND_LIB=dir of a built tool.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=tests/recorder/lib.sh
. "$here/lib.sh"
odf_sim="${ODF_SIM:-$root/build/sim/cli/odf-sim}"
[[ -x "$odf_sim" ]] || skip "odf-sim not built ($odf_sim)"

work="$(mktemp -d "${TMPDIR:-/tmp}/odf-test-record-waitcpu.XXXXXX")"
trap 'rm -rf "$work"' EXIT
record="$root/scripts/record"

if ! cc -O1 -pthread -o "$work/waitcpu" "$here/waitcpu.c"; then
	ko "compile waitcpu.c"
	finish
fi
ok "compile waitcpu.c"
check "waitcpu runs natively" "$work/waitcpu" >/dev/null

if "$record" --v2 -o "$work/w.trace" -- "$work/waitcpu" >"$work/w.out" 2>"$work/w.err"; then
	ok "record waitcpu"
else
	ko "record waitcpu"
	cat "$work/w.err"
	finish
fi
t="$work/w.trace"
read -r _ lo hi < <(grep '^cpus ' "$work/w.out")
check "the program printed its CPUs ($lo $hi)" test -n "$lo" -a -n "$hi"
check "odf-sim check" "$odf_sim" check "$t"

# in_order "description" LINE... : each line occurs, in this order.
in_order() {
	local d="$1"
	shift
	check "$d" awk -v want="$(printf '%s\n' "$@")" 'BEGIN { n = split(want, w, "\n"); i = 1 }
		i <= n && $0 == w[i] { i++ } END { exit !(i > n) }' "$t"
}
in_order "'1 cpu $lo' (sched_setaffinity(0)) before the first fork" "1 cpu $lo" "1 fork 2"
in_order "waitpid: '1 fork 2', '2 exit', '1 wait 2'" "1 fork 2" "2 exit" "1 wait 2"
check "SIGKILLed child: '3 exit' written right before '1 wait 3' (and a comment says so)" bash -c \
	"grep -v '^#' '$t' | grep -x -B1 '1 wait 3' | head -1 | grep -qx '3 exit' &&
	grep -q '^# 2 exit(s) of children killed by a signal written at their wait' '$t'"
in_order "pthread_setaffinity_np by the main thread: '1 clone 1', '1.1 cpu $hi', then the thread's fork" \
	"1 clone 1" "1.1 cpu $hi" "1.1 fork 4" "4 exit" "1.1 wait 4" "1.1 texit"
in_order "WUNTRACED then SIGKILL: one '1 wait 5' after '5 exit'" "1 fork 5" "5 exit" "1 wait 5" "1 exit"
check "exactly 4 waits (WNOHANG and a stopped child reap nothing)" test "$(grep -c ' wait ' "$t")" = 4
check "no wait dropped by the merge (a stopped child's waitpid wrote no wait)" bash -c "! grep -q 'wait(s) for processes' '$t'"
check "exactly 2 cpu ops (a mask of several CPUs is not recorded)" test "$(grep -c ' cpu ' "$t")" = 2
if "$odf_sim" replay "$t" --check --modes all >"$work/w.replay" 2>&1; then
	ok "odf-sim replay --check --modes all"
else
	ko "odf-sim replay --check --modes all"
	tail -20 "$work/w.replay"
fi
check "replay: oracle and invariants held in every mode" grep -q "oracle and invariants held in every mode" "$work/w.replay"

# The order matters: a wait before the child's exit blocks the thread, so its next op is an error (here the child's
# exit is moved to the end); a second wait is an error too.
awk '$0 == "3 exit" { held = $0; next } $0 == "1 exit" { print held } { print }' "$t" >"$work/early.trace"
check "checker rejects a wait moved before the child's exit" bash -c \
	"! '$odf_sim' check '$work/early.trace' >'$work/early.out' 2>&1 && grep -q 'blocked in wait until 3 exits' '$work/early.out'"
awk '{ print } $0 == "1 wait 2" { print }' "$t" >"$work/twice.trace"
check "checker rejects a child waited for twice" bash -c \
	"! '$odf_sim' check '$work/twice.trace' >'$work/twice.out' 2>&1 && grep -q 'already waited for' '$work/twice.out'"

# v1 (no v2 option, but the program has a thread: v2 anyway); a single-threaded fork+wait stays v1 without wait ops.
cat >"$work/fw.c" <<'EOF'
#include <sys/wait.h>
#include <unistd.h>
int main(void) { pid_t c = fork(); if (c == 0) _exit(0); int st; return waitpid(c, &st, 0) != c; }
EOF
if cc -O1 -o "$work/fw" "$work/fw.c" && "$record" -o "$work/fw.trace" -- "$work/fw" >/dev/null 2>&1; then
	check "single-threaded fork+wait without v2 options: v1, no wait op" bash -c \
		"head -1 '$work/fw.trace' | grep -qx '# odf-trace v1' && ! grep -q ' wait ' '$work/fw.trace'"
else
	ko "record fork+wait"
fi

finish
