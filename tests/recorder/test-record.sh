#!/usr/bin/env bash
# Records tests/recorder/forktest.c with scripts/record (odfgrind) and checks the trace:
# header, fork, the child's exit, the child's writes to the mmap'd pages under the child's pid, mprotect, munmap,
# brk growth, first-touch (each page once per epoch) against --all-accesses, and the trace validator.
# Prints "N passed, N failed"; exits 0 when everything passed, 1 otherwise. Without valgrind (scripts/setup
# installs it) it prints "0 passed, 0 failed, 1 skipped" and exits 0.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=tests/recorder/lib.sh
. "$here/lib.sh"

work="$(mktemp -d "${TMPDIR:-/tmp}/odf-test-record.XXXXXX")"
trap 'rm -rf "$work"' EXIT

if ! cc -O1 -o "$work/forktest" "$here/forktest.c"; then
	ko "compile forktest.c"
	finish
fi
ok "compile forktest.c"

# Sanity: the program itself works without Valgrind.
check "forktest runs natively" "$work/forktest" >/dev/null

if "$root/scripts/record" -o "$work/ft.trace" -- "$work/forktest" >"$work/ft.out" 2>"$work/ft.err"; then
	ok "record (first-touch)"
else
	ko "record (first-touch)"
	cat "$work/ft.err"
	finish
fi
if "$root/scripts/record" --all-accesses -o "$work/all.trace" -- "$work/forktest" >"$work/all.out" 2>"$work/all.err"; then
	ok "record (--all-accesses)"
else
	ko "record (--all-accesses)"
	cat "$work/all.err"
fi

# Page-level facts about one trace, for the mapping at address $2 (16 pages).
facts() { # facts TRACE MAPADDR
	LC_ALL=C awk -v map="$2" '
	function hex(s,   i, v) {
		v = 0; s = tolower(s); if (substr(s, 1, 2) == "0x") s = substr(s, 3)
		for (i = 1; i <= length(s); i++) v = v * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1
		return v
	}
	BEGIN { M = hex(map); P = 4096; N = 16 }
	NR == 1 { print "header " ($0 == "# odf-trace v1" ? 1 : 0) }
	/^#/ || NF == 0 { next }
	{ n++ }
	$1 == 1 && $2 == "mmap" && hex($3) == M && hex($4) == N * P && $5 == "rw" && $6 == "private" { mmap_line = n }
	$1 == 1 && $2 == "mprotect" && hex($3) == M + 8 * P && hex($4) == 8 * P && $5 == "r" { mprot_line = n }
	$1 == 1 && $2 == "fork" { forks++; if ($3 == 2) fork_line = n }
	$1 == 1 && $2 == "mprotect" && hex($3) == M && hex($4) == 2 * P && $5 == "rw" { rw_line = n }
	$1 == 2 && $2 == "exit" { child_exit = n }
	$1 == 1 && $2 == "munmap" && hex($3) == M && hex($4) == N * P { munmap_line = n }
	$1 == 1 && $2 == "brk" { nbrk++; b = hex($3); if (nbrk == 1) brk0 = b; if (b > brkmax) brkmax = b }
	$1 == 1 && $2 == "exit" { parent_exit = n }
	($2 == "r" || $2 == "w") {
		a = hex($3); len = (NF >= 4) ? hex($4) : P
		for (p = a - a % P; p < a + len; p += P) {
			if (p < M || p >= M + N * P) continue
			i = (p - M) / P
			if ($1 == 1 && $2 == "w" && mmap_line && !fork_line) pw[i]++
			if ($1 == 1 && $2 == "w" && fork_line && !rw_line) pf[i]++
			if ($1 == 1 && $2 == "w" && rw_line) pm[i]++
			if ($1 == 2 && $2 == "w") cw[i]++
			if ($1 == 2 && $2 == "r") cr[i]++
			if ($1 != 1 && $1 != 2) other++
		}
	}
	END {
		print "mmap " (mmap_line ? 1 : 0); print "mprotect " (mprot_line > mmap_line ? 1 : 0)
		print "fork " (fork_line > mprot_line ? 1 : 0); print "forks " forks + 0
		print "child_exit " (child_exit > fork_line ? 1 : 0)
		print "munmap " (munmap_line > child_exit ? 1 : 0)
		print "brk_grows " (nbrk >= 2 && brkmax > brk0 ? 1 : 0)
		print "parent_exit_last " (parent_exit == n ? 1 : 0)
		for (i = 0; i < N; i++) { if (pw[i] == 1) pw1++; if (pw[i] >= 3) pw3++ }
		for (i = 0; i < 8; i++) { if (cw[i] == 1) cw1++; if (cw[i] >= 2) cw2++ }
		for (i = 8; i < N; i++) { if (cw[i]) cwro++; if (cr[i] == 1) cr1++ }
		for (i = 0; i < 4; i++) { if (pf[i] == 1) pf1++; if (pf[i] >= 2) pf2++ }
		print "post_fork_once " pf1 + 0; print "post_fork_2x " pf2 + 0
		print "post_mprotect " pm[0] + 0 "," pm[1] + 0 "," pm[2] + 0 "," pm[3] + 0
		print "parent_pages_once " pw1 + 0; print "parent_pages_3x " pw3 + 0
		print "child_pages_once " cw1 + 0; print "child_pages_2x " cw2 + 0
		print "child_writes_ro " cwro + 0; print "child_reads_ro_once " cr1 + 0
		print "other_pids " other + 0; print "ops " n
	}' "$1"
}
val() { awk -v k="$1" '$1 == k { print $2 }' "$2"; }

map="$(awk '/^map /{print $2}' "$work/ft.out")"
check "program printed its mapping" test -n "$map"
facts "$work/ft.trace" "$map" >"$work/ft.facts"
check "header '# odf-trace v1'" test "$(val header "$work/ft.facts")" = 1
check "mmap of the 16-page mapping by pid 1" test "$(val mmap "$work/ft.facts")" = 1
check "mprotect of its upper half to r" test "$(val mprotect "$work/ft.facts")" = 1
check "one fork, '1 fork 2', after the mprotect" test "$(val fork "$work/ft.facts")-$(val forks "$work/ft.facts")" = 1-1
check "child exit '2 exit' after the fork" test "$(val child_exit "$work/ft.facts")" = 1
check "munmap of the mapping after the child's exit" test "$(val munmap "$work/ft.facts")" = 1
check "heap grows by brk (malloc)" test "$(val brk_grows "$work/ft.facts")" = 1
check "pid 1 exits last" test "$(val parent_exit_last "$work/ft.facts")" = 1
check "child (pid 2) writes pages 0..7 of the mapping" test "$(val child_pages_once "$work/ft.facts")" = 8
check "child never writes the read-only half" test "$(val child_writes_ro "$work/ft.facts")" = 0
check "first-touch: child reads each read-only page once" test "$(val child_reads_ro_once "$work/ft.facts")" = 8
check "first-touch: parent writes each of the 16 pages once before the fork" \
	test "$(val parent_pages_once "$work/ft.facts")" = 16
check "first-touch: after the fork (new epoch) the parent writes pages 0..3 once each" \
	test "$(val post_fork_once "$work/ft.facts")" = 4
check "first-touch: after mprotect of pages 0..1 only they are written again, once" \
	test "$(val post_mprotect "$work/ft.facts")" = 1,1,0,0
check "no other pid touches the mapping" test "$(val other_pids "$work/ft.facts")" = 0

if [[ -s "$work/all.trace" ]]; then
	map2="$(awk '/^map /{print $2}' "$work/all.out")"
	facts "$work/all.trace" "$map2" >"$work/all.facts"
	check "all-accesses: parent writes each page 3 times" test "$(val parent_pages_3x "$work/all.facts")" = 16
	check "all-accesses: after the fork the parent writes pages 0..3 twice" \
		test "$(val post_fork_2x "$work/all.facts")" = 4
	check "all-accesses: child writes each of its pages twice" test "$(val child_pages_2x "$work/all.facts")" = 8
	a="$(val ops "$work/all.facts")"
	f="$(val ops "$work/ft.facts")"
	check "first-touch trace is smaller ($f vs $a ops)" test "$f" -lt "$a"
fi

if command -v python3 >/dev/null 2>&1; then
	if python3 "$here/validate-trace.py" "$work/ft.trace"; then ok "validator (first-touch)"; else ko "validator (first-touch)"; fi
	if [[ -s "$work/all.trace" ]]; then
		if python3 "$here/validate-trace.py" "$work/all.trace"; then ok "validator (all-accesses)"; else ko "validator (all-accesses)"; fi
	fi
fi

# The project's own parser, when built (ODF_SIM=path overrides).
odf_sim="${ODF_SIM:-$root/build/sim/cli/odf-sim}"
if [[ -x "$odf_sim" ]]; then
	check "odf-sim check (first-touch)" "$odf_sim" check "$work/ft.trace"
	[[ -s "$work/all.trace" ]] && check "odf-sim check (all-accesses)" "$odf_sim" check "$work/all.trace"
fi

# exec: a shell that forks and execs a child.
if "$root/scripts/record" -o "$work/exec.trace" -- /bin/sh -c '/bin/true; exit 0' >/dev/null 2>"$work/exec.err"; then
	check "exec: '1 fork 2', then '2 exec', its new mappings, '2 exit'" \
		awk '$0 == "1 fork 2" { f = NR } $0 == "2 exec" && f { e = NR } $1 == 2 && $2 == "mmap" && e { m = 1 }
			$0 == "2 exit" && m { x = 1 } END { exit !x }' "$work/exec.trace"
else
	ko "record sh -c '/bin/true'"
	cat "$work/exec.err"
fi

# A child that outlives the recorded program: record must wait for it and keep its events and its own exit.
if "$root/scripts/record" -o "$work/orphan.trace" -- /bin/sh -c '(/bin/true; /bin/true) & exit 0' >/dev/null \
	2>"$work/orphan.err"; then
	check "orphan: the background child's exec and exit are recorded, none added" \
		awk '$0 == "1 fork 2" { f = 1 } $1 == 2 && $2 == "fork" { g = 1 } $2 == "exec" && g { e = 1 }
			/exit\(s\) added/ { bad = 1 } END { exit !(f && g && e && !bad) }' "$work/orphan.trace"
else
	ko "record sh -c '(...) &'"
	cat "$work/orphan.err"
fi

# Error handling of scripts/record.
check "record: missing program is an error" \
	bash -c "! '$root/scripts/record' -o '$work/x.trace' -- /nonexistent/prog 2>/dev/null"
check "record: failed run is an error" bash -c "! '$root/scripts/record' -o '$work/x.trace' -- /bin/false 2>/dev/null"
check "record: --zstd writes a .zst" bash -c "'$root/scripts/record' --zstd -o '$work/z.trace' -- /bin/true 2>/dev/null &&
	zstd -dc '$work/z.trace.zst' | head -1 | grep -qx '# odf-trace v1'"

finish
