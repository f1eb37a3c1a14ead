# Shared by the recorder tests (sourced): counters, check, finish, and the skip when valgrind is missing.
# Expects `here` (this directory) to be set by the sourcing script.
root="$(cd "$here/../.." && pwd)"
pass=0
fail=0
ok() { echo "ok   - $1"; pass=$((pass + 1)); }
ko() { echo "FAIL - $1"; fail=$((fail + 1)); }
check() { # check "description" command...
	local d="$1"
	shift
	if "$@"; then ok "$d"; else ko "$d"; fi
}
finish() {
	echo "$pass passed, $fail failed"
	((fail == 0)) && exit 0
	exit 1
}
skip() { # skip "reason"
	echo "$1: skipping"
	echo "0 passed, 0 failed, 1 skipped"
	exit 0
}
command -v valgrind >/dev/null 2>&1 || skip "valgrind is not installed"
