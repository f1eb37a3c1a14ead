#!/usr/bin/env bash
# Re-records the real traces of this directory with scripts/record (see README.md for what each one is).
#   traces/real/record-traces.sh [sqlite3|bash-loop|redis|redis-2m|redis-native|redis-threads|redis-snapshot|
#                                 afl-sqlite|apache|apache-native|all]
# Needs: valgrind, zstd, sqlite3, bash, redis-server and redis-tools, afl++ and libsqlite3-dev, apache2 and
# apache2-utils, curl (scripts/setup --record installs them).  Prints the native and recorded wall times (the
# Valgrind slowdown).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
rec="$root/scripts/record"
what="${1:-all}"
# RECORD_OPTS: extra scripts/record options (e.g. --all-accesses); OUT_DIR: where the traces go (default here);
# EXT: the traces' file extension (default .trace.zst).
read -r -a rec_opts <<<"${RECORD_OPTS:-}"
out_dir="${OUT_DIR:-$here}"
ext="${EXT:-.trace.zst}"

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

sqlite_trace() {
	local d
	d="$(mktemp -d)"
	local t0 t1 t2
	t0=$(now)
	(cd "$d" && sqlite3 native.db <"$here/sqlite-workload.sql" >/dev/null)
	t1=$(now)
	(cd "$d" && "$rec" "${rec_opts[@]}" -o "$out_dir/sqlite3-workload$ext" -- sqlite3 traced.db <"$here/sqlite-workload.sql" >/dev/null)
	t2=$(now)
	echo "sqlite3: native $(secs "$t0" "$t1") s, recorded $(secs "$t1" "$t2") s"
	rm -rf "$d"
}

bash_loop_trace() {
	local t0 t1 t2
	t0=$(now)
	bash -c 'for i in $(seq 200); do /bin/true; done'
	t1=$(now)
	"$rec" "${rec_opts[@]}" -o "$out_dir/bash-fork-exec-200$ext" -- bash -c 'for i in $(seq 200); do /bin/true; done'
	t2=$(now)
	echo "bash-loop: native $(secs "$t0" "$t1") s, recorded $(secs "$t1" "$t2") s"
}

# redis-server on a loopback port: populate with redis-benchmark, BGSAVE while redis-benchmark keeps writing,
# then SHUTDOWN NOSAVE.  The BGSAVE child is a fork of the server.
wait_redis() { # wait_redis PORT PID: until the server on PORT answers PING (120 s); else kill PID and fail
	local i
	for i in $(seq 120); do
		redis-cli -p "$1" ping 2>/dev/null | grep -q PONG && return 0
		sleep 1
	done
	echo "redis did not start" >&2
	kill "$2"
	return 1
}

redis_cpu() { # CPU seconds (user + sys) used so far by the server process on port $1
	redis-cli -p "$1" info cpu | tr -d '\r' | awk -F: '/^used_cpu_(user|sys):/ { s += $2 } END { printf "%.2f", s }'
}

POP_N=200000
POP_D=256

redis_trace() {
	local port=16390 d
	d="$(mktemp -d)"
	"$rec" "${rec_opts[@]}" -o "$out_dir/redis-bgsave$ext" -- redis-server --port "$port" --bind 127.0.0.1 --save "" \
		--appendonly no --dir "$d" --daemonize no --protected-mode yes --logfile "$d/redis.log" &
	local rpid=$!
	wait_redis "$port" "$rpid" || return 1
	local t0 t1 c0 c1
	t0=$(now)
	c0=$(redis_cpu "$port")
	redis-benchmark -p "$port" -t set -n $POP_N -r $POP_N -d $POP_D -c 4 -q | tr '\r' '\n' | tail -1
	c1=$(redis_cpu "$port")
	t1=$(now)
	echo "redis: populate ($POP_N SETs) under the recorder: $(secs "$t0" "$t1") s wall, server CPU $(secs "$c0" "$c1") s"
	redis-cli -p "$port" dbsize
	redis-benchmark -p "$port" -t set,incr,lpush -n 100000 -r $POP_N -d $POP_D -c 4 -q >"$d/bench2.txt" &
	local bpid=$!
	sleep 3
	redis-cli -p "$port" bgsave
	local i
	for i in $(seq 300); do
		redis-cli -p "$port" info persistence | grep -q "rdb_bgsave_in_progress:0" && break
		sleep 1
	done
	redis-cli -p "$port" info persistence | grep -E "rdb_last_bgsave_status|rdb_bgsave_in_progress"
	wait "$bpid" || true
	tr '\r' '\n' <"$d/bench2.txt" | grep "requests per second" || true
	redis-cli -p "$port" shutdown nosave || true
	wait "$rpid"
	rm -rf "$d"
}

# The same with 2,000,000 keys (about 1 GB of server memory) populated with pipelined SETs; writers run in a loop
# for the whole BGSAVE.
redis_large_trace() {
	local port=16392 d n=2000000
	d="$(mktemp -d)"
	"$rec" "${rec_opts[@]}" -o "$out_dir/redis-bgsave-2m$ext" -- redis-server --port "$port" --bind 127.0.0.1 --save "" \
		--appendonly no --dir "$d" --daemonize no --protected-mode yes --logfile "$d/redis.log" &
	local rpid=$!
	wait_redis "$port" "$rpid" || return 1
	local t0 t1
	t0=$(now)
	redis-benchmark -p "$port" -t set -n $n -r $n -d $POP_D -c 4 -P 32 -q | tr '\r' '\n' | tail -1
	t1=$(now)
	echo "redis-2m: populate ($n pipelined SETs) under the recorder: $(secs "$t0" "$t1") s"
	redis-cli -p "$port" dbsize
	redis-cli -p "$port" info memory | grep -E "^used_memory_human"
	touch "$d/writing"
	(while [[ -e "$d/writing" ]]; do
		redis-benchmark -p "$port" -t set,incr,lpush -n 20000 -r $n -d $POP_D -c 4 -q | tr '\r' '\n' |
			grep "requests per second" || true
	done) >"$d/bench2.txt" 2>&1 &
	local bpid=$!
	sleep 3
	t0=$(now)
	redis-cli -p "$port" bgsave
	local i
	for i in $(seq 900); do
		redis-cli -p "$port" info persistence | grep -q "rdb_bgsave_in_progress:0" && break
		sleep 1
	done
	t1=$(now)
	echo "redis-2m: BGSAVE under the recorder took $(secs "$t0" "$t1") s"
	redis-cli -p "$port" info persistence | grep -E "rdb_last_bgsave_status|rdb_bgsave_in_progress"
	rm -f "$d/writing"
	wait "$bpid" || true
	sort "$d/bench2.txt" | uniq -c | head -20
	redis-cli -p "$port" shutdown nosave || true
	wait "$rpid"
	rm -rf "$d"
}

redis_native_rate() {
	local port=16391 d
	d="$(mktemp -d)"
	redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$d" --daemonize no \
		--logfile "$d/redis.log" &
	local rpid=$!
	sleep 1
	local t0 t1 c0 c1
	t0=$(now)
	c0=$(redis_cpu "$port")
	redis-benchmark -p "$port" -t set -n $POP_N -r $POP_N -d $POP_D -c 4 -q | tr '\r' '\n' | tail -1
	c1=$(redis_cpu "$port")
	t1=$(now)
	echo "redis native: populate ($POP_N SETs): $(secs "$t0" "$t1") s wall, server CPU $(secs "$c0" "$c1") s"
	redis-cli -p "$port" shutdown nosave || true
	wait "$rpid" || true
	rm -rf "$d"
}

# odf-trace v2: redis-server with its threads (bio, jemalloc), 'run' from the instructions executed and one request
# interval per event-loop iteration (begin when epoll_wait returns events, end at the next epoll_wait); 2,000 SETs,
# a BGSAVE, then 500 GETs and 500 SETs.
redis_threads_trace() {
	local port=16394 d i
	d="$(mktemp -d)"
	"$rec" "${rec_opts[@]}" --begin-at epoll_wait --end-at epoll_wait -o "$out_dir/redis-threads$ext" -- \
		redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$d" --daemonize no \
		--protected-mode yes --logfile "$d/redis.log" &
	local rpid=$!
	wait_redis "$port" "$rpid" || return 1
	redis-benchmark -p "$port" -t set -n 2000 -r 2000 -d 256 -c 2 -q | tr '\r' '\n' | tail -1
	redis-cli -p "$port" bgsave
	for i in $(seq 120); do
		redis-cli -p "$port" info persistence | grep -q "rdb_bgsave_in_progress:0" && break
		sleep 1
	done
	redis-benchmark -p "$port" -t get,set -n 500 -r 2000 -d 256 -c 2 -q | tr '\r' '\n' | grep -v '^$' || true
	redis-cli -p "$port" shutdown nosave || true
	wait "$rpid"
	rm -rf "$d"
}

# odf-trace v2: the kernel-apps Redis workload (scripts/kernel-apps, kernel/apps/apps-guest.sh) under the recorder:
# DEBUG POPULATE $RS_KEYS keys of $RS_VALUE bytes, 2 BGSAVEs of the idle server, then redis-benchmark SETs (100 B, 50
# clients, random keys among the populated ones) while BGSAVE runs back to back; one request interval per event-loop
# iteration (epoll_wait to epoll_wait), so the intervals during a snapshot include the COW faults and the fork.
RS_KEYS=65536
RS_VALUE=8000
RS_REQUESTS=20000
redis_snapshot_trace() {
	local port=16395 d i saves=0
	d="$(mktemp -d)"
	rs_bgsave() {
		redis-cli -p "$port" bgsave >/dev/null
		for _ in $(seq 900); do
			redis-cli -p "$port" info persistence | grep -q "rdb_bgsave_in_progress:0" && break
			sleep 0.5
		done
		redis-cli -p "$port" info persistence | tr -d '\r' | grep rdb_last_bgsave_status:ok >/dev/null ||
			echo "redis-snapshot: BGSAVE failed" >&2
		redis-cli -p "$port" info stats | tr -d '\r' | grep latest_fork_usec
	}
	"$rec" "${rec_opts[@]}" --begin-at epoll_wait --end-at epoll_wait -o "$out_dir/redis-snapshot$ext" -- \
		redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --rdbcompression no --dir "$d" \
		--daemonize no --protected-mode yes --enable-debug-command yes --logfile "$d/redis.log" &
	local rpid=$!
	wait_redis "$port" "$rpid" || return 1
	local t0 t1
	t0=$(now)
	redis-cli -p "$port" debug populate "$RS_KEYS" key "$RS_VALUE"
	t1=$(now)
	echo "redis-snapshot: DEBUG POPULATE $RS_KEYS x $RS_VALUE B under the recorder: $(secs "$t0" "$t1") s"
	redis-cli -p "$port" info memory | tr -d '\r' | grep -E "^used_memory_human"
	for i in 1 2; do
		t0=$(now)
		rs_bgsave
		echo "redis-snapshot: idle BGSAVE $i: $(secs "$t0" "$(now)") s"
	done
	t0=$(now)
	redis-benchmark -p "$port" -t set -n "$RS_REQUESTS" -c 50 -d 100 -r "$RS_KEYS" -q >"$d/bench.txt" 2>&1 &
	local bpid=$!
	while kill -0 "$bpid" 2>/dev/null; do
		rs_bgsave
		saves=$((saves + 1))
	done
	wait "$bpid" || true
	echo "redis-snapshot: $RS_REQUESTS SETs with $saves BGSAVEs under the recorder: $(secs "$t0" "$(now)") s"
	tr '\r' '\n' <"$d/bench.txt" | grep "requests per second" || true
	redis-cli -p "$port" shutdown nosave || true
	wait "$rpid"
	rm -rf "$d"
}

# odf-trace v2: afl-fuzz (afl++) fuzzing kernel/apps/sqlite-fuzz.c (scripts/kernel-apps' harness, built with
# afl-clang-fast) for $AFL_EXECS executions (-E): afl-fuzz forks and execs the harness, whose deferred fork server
# (after filling its in-memory database) forks one child per execution and reaps it (wait4). AFL's coverage map is
# SysV shared memory (recorded at shmat as a shared mapping). afl-fuzz binds itself to a free CPU ('cpu' op).
AFL_EXECS=200
afl_sqlite_trace() {
	local d t0 t1 t2
	d="$(mktemp -d)"
	AFL_QUIET=1 afl-clang-fast -O2 -o "$d/sqlite-fuzz.dbg" "$root/kernel/apps/sqlite-fuzz.c" -lsqlite3
	# Valgrind 3.19 cannot read the DWARF 5 that Debian's clang writes: no debug info.
	strip --strip-debug -o "$d/sqlite-fuzz" "$d/sqlite-fuzz.dbg"
	mkdir "$d/seeds"
	echo "SELECT count(*), sum(c) FROM t WHERE b LIKE 'row1%';" >"$d/seeds/select.sql"
	echo "INSERT INTO u VALUES (4, 'four'); SELECT x, y FROM u ORDER BY x;" >"$d/seeds/insert.sql"
	export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_FORKSRV_INIT_TMOUT=600000
	t0=$(now)
	(cd "$d" && afl-fuzz -E "$AFL_EXECS" -i seeds -o native -- ./sqlite-fuzz @@ >/dev/null 2>&1)
	t1=$(now)
	(cd "$d" && "$rec" "${rec_opts[@]}" --v2 -o "$out_dir/afl-sqlite$ext" -- afl-fuzz -E "$AFL_EXECS" -t 60000 -i seeds \
		-o recorded -- ./sqlite-fuzz @@ >"$d/afl.log" 2>&1) || { tail -20 "$d/afl.log" >&2; return 1; }
	t2=$(now)
	grep '^record:' "$d/afl.log" || true
	grep -E "^(execs_done|execs_per_sec|corpus_count)" "$d/native/default/fuzzer_stats" "$d/recorded/default/fuzzer_stats"
	echo "afl-sqlite: $AFL_EXECS execs native $(secs "$t0" "$t1") s, recorded $(secs "$t1" "$t2") s"
	rm -rf "$d"
}

# odf-trace v2: apache2 (prefork MPM, a minimal configuration: httpd-prefork.conf) right after its start: the master
# forks 4 children, which serve $AP_REQUESTS GETs of an 8 KiB static page from ab (4 concurrent connections, no
# keep-alive); a request is from accept4 returning a connection to the child's shutdown of it (lingering close).
# Then SIGTERM: the master stops the children and reaps them (wait ops). setsid: the master signals its whole
# process group at shutdown, which must not include the recorder.
AP_REQUESTS=300
apache_trace() {
	local port=18081 d i
	d="$(mktemp -d)"
	chmod 755 "$d"
	mkdir "$d/htdocs"
	head -c 6000 /dev/urandom | base64 >"$d/htdocs/index.html"
	chmod -R a+rX "$d/htdocs"
	AP_DIR="$d" AP_PORT="$port" "$rec" "${rec_opts[@]}" --begin-at accept4 --end-at shutdown \
		-o "$out_dir/apache-prefork$ext" -- setsid apache2 -f "$here/httpd-prefork.conf" -DFOREGROUND &
	local rpid=$!
	for i in $(seq 300); do
		curl -s -o /dev/null "http://127.0.0.1:$port/index.html" && break
		sleep 1
	done
	local t0 t1
	t0=$(now)
	ab -q -n "$AP_REQUESTS" -c 4 -s 120 "http://127.0.0.1:$port/index.html" | grep -E "Complete requests|Failed requests|Time per request.*mean\)"
	t1=$(now)
	echo "apache-prefork: $AP_REQUESTS requests under the recorder: $(secs "$t0" "$t1") s"
	kill -TERM "$(cat "$d/apache.pid")"
	wait "$rpid"
	grep -v -E "AH00163|AH00094|AH00169|AH00558" "$d/error.log" || true
	rm -rf "$d"
}

apache_native() { # the same requests without the recorder (for the slowdown)
	local port=18082 d i
	d="$(mktemp -d)"
	chmod 755 "$d"
	mkdir "$d/htdocs"
	head -c 6000 /dev/urandom | base64 >"$d/htdocs/index.html"
	chmod -R a+rX "$d/htdocs"
	AP_DIR="$d" AP_PORT="$port" setsid apache2 -f "$here/httpd-prefork.conf" -DFOREGROUND &
	local rpid=$!
	for i in $(seq 30); do
		curl -s -o /dev/null "http://127.0.0.1:$port/index.html" && break
		sleep 0.2
	done
	local t0 t1
	t0=$(now)
	ab -q -n "$AP_REQUESTS" -c 4 "http://127.0.0.1:$port/index.html" | grep -E "Complete requests|Failed requests"
	t1=$(now)
	echo "apache native: $AP_REQUESTS requests: $(secs "$t0" "$t1") s"
	kill -TERM "$(cat "$d/apache.pid")"
	wait "$rpid" || true
	rm -rf "$d"
}

case "$what" in
sqlite3) sqlite_trace ;;
bash-loop) bash_loop_trace ;;
redis) redis_trace ;;
redis-2m) redis_large_trace ;;
redis-native) redis_native_rate ;;
redis-threads) redis_threads_trace ;;
redis-snapshot) redis_snapshot_trace ;;
afl-sqlite) afl_sqlite_trace ;;
apache) apache_trace ;;
apache-native) apache_native ;;
all) sqlite_trace; bash_loop_trace; redis_trace; redis_native_rate; redis_large_trace ;;
*) echo "usage: $0 [sqlite3|bash-loop|redis|redis-2m|redis-native|redis-threads|redis-snapshot|afl-sqlite|apache|apache-native|all]" >&2; exit 2 ;;
esac
