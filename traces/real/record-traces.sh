#!/usr/bin/env bash
# Re-records the real traces of this directory with scripts/record (see README.md for what each one is).
#   traces/real/record-traces.sh [sqlite3|bash-loop|redis|redis-2m|redis-native|redis-threads|all]
# Needs: valgrind, zstd, sqlite3, bash, redis-server and redis-tools (apt-get install sqlite3 redis-server
# redis-tools).  Prints the native and recorded wall times (the Valgrind slowdown).
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
	local i
	for i in $(seq 120); do
		redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && break
		sleep 1
	done
	redis-cli -p "$port" ping | grep -q PONG || { echo "redis did not start" >&2; kill "$rpid"; return 1; }
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
	local i
	for i in $(seq 120); do
		redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && break
		sleep 1
	done
	redis-cli -p "$port" ping | grep -q PONG || { echo "redis did not start" >&2; kill "$rpid"; return 1; }
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
	for i in $(seq 120); do
		redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && break
		sleep 1
	done
	redis-cli -p "$port" ping | grep -q PONG || { echo "redis did not start" >&2; kill "$rpid"; return 1; }
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

case "$what" in
sqlite3) sqlite_trace ;;
bash-loop) bash_loop_trace ;;
redis) redis_trace ;;
redis-2m) redis_large_trace ;;
redis-native) redis_native_rate ;;
redis-threads) redis_threads_trace ;;
all) sqlite_trace; bash_loop_trace; redis_trace; redis_native_rate; redis_large_trace ;;
*) echo "usage: $0 [sqlite3|bash-loop|redis|redis-2m|redis-native|redis-threads|all]" >&2; exit 2 ;;
esac
