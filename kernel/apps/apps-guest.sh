#!/bin/sh
# Guest side of scripts/kernel-apps (runs under its /init; busybox sh). Not meant to be run by hand.
#   apps-guest.sh KEYS VALUE_BYTES BGSAVES BENCH_REQUESTS AFL_SECONDS INJECT
# For use_odf 0 and then 1 (set in this shell, inherited by every program it starts):
#   redis: DEBUG POPULATE KEYS keys of VALUE_BYTES, BGSAVES BGSAVEs (latest_fork_usec after each), the dump
#          checked by redis-check-rdb and by a restart that loads it (DBSIZE must match); then redis-benchmark
#          (SETs of 100 B, 50 clients, random keys among KEYS) while BGSAVE runs again and again;
#   afl:   afl-fuzz -V AFL_SECONDS on /usr/bin/sqlite-fuzz.
# Prints "R ..." result lines for the host and "apps: FAIL ..." on any failure (exit 1). INJECT (none, rdb, afl)
# breaks one thing on purpose to show that the checks fail.
keys=$1 size=$2 bgsaves=$3 benchn=$4 aflsec=$5 inject=$6
ln -s redis-server /usr/bin/redis-check-rdb
fails=0
fail() { echo "apps: FAIL $*"; fails=$((fails + 1)); }
info() { redis-cli -s "$sock" INFO "$1" | tr -d '\r'; }
field() { info "$1" | sed -n "s/^$2:\(.*\)$/\1/p"; }
now_ms() { awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime; }

start_redis() { # DIR
	redis-server --port 0 --unixsocket "$sock" --dir "$1" --dbfilename dump.rdb --save '' --appendonly no --rdbcompression no \
		--enable-debug-command yes --daemonize no --logfile "$1/redis.log" &
	rpid=$!
	i=0
	until redis-cli -s "$sock" PING 2>/dev/null | grep -q PONG; do
		i=$((i + 1))
		[ $i -lt 600 ] || { fail "redis-server did not answer PING"; tail -5 "$1/redis.log"; return 1; }
		kill -0 $rpid 2>/dev/null || { fail "redis-server exited"; tail -5 "$1/redis.log"; return 1; }
		sleep 0.2
	done
	# A restart that loads a dump answers PING with LOADING errors until done.
	until [ "$(field persistence loading)" = 0 ]; do sleep 0.2; done
}

stop_redis() {
	redis-cli -s "$sock" SHUTDOWN NOSAVE >/dev/null 2>&1
	wait $rpid 2>/dev/null
}

bgsave() { # -> prints the fork's usec, or an error message and returns 1 (run in $(...))
	r=$(redis-cli -s "$sock" BGSAVE | tr -d '\r')
	case $r in *started*) ;; *) echo "BGSAVE answered: $r"; return 1 ;; esac
	while [ "$(field persistence rdb_bgsave_in_progress)" != 0 ]; do sleep 0.1; done
	st=$(field persistence rdb_last_bgsave_status)
	[ "$st" = ok ] || { echo "BGSAVE status $st"; return 1; }
	field stats latest_fork_usec
}

for mode in 0 1; do
	(
	echo $mode > /proc/self/use_odf || { fail "cannot set use_odf"; exit 1; }
	echo "R mode=$mode use_odf=$(cat /proc/self/use_odf)"
	dir=/tmp/redis$mode
	sock=$dir/redis.sock
	mkdir -p $dir
	start_redis $dir || exit 1
	t0=$(now_ms)
	r=$(redis-cli -s "$sock" DEBUG POPULATE "$keys" key "$size" | tr -d '\r')
	[ "$r" = OK ] || fail "DEBUG POPULATE: $r"
	echo "R mode=$mode populate keys=$(redis-cli -s $sock DBSIZE) used_memory=$(field memory used_memory)" \
	     "rss=$(field memory used_memory_rss) ms=$(($(now_ms) - t0))"
	i=1
	while [ $i -le "$bgsaves" ]; do
		t0=$(now_ms)
		us=$(bgsave) || { fail "$us"; break; }
		echo "R mode=$mode bgsave i=$i fork_usec=$us ms=$(($(now_ms) - t0))"
		i=$((i + 1))
	done
	stop_redis
	[ "$inject" = rdb ] && dd if=/dev/zero of=$dir/dump.rdb bs=1 count=64 seek=4096 conv=notrunc 2>/dev/null
	if redis-check-rdb $dir/dump.rdb > $dir/check.log 2>&1; then
		echo "R mode=$mode check-rdb ok"
	else
		fail "redis-check-rdb on the dump"; tail -5 $dir/check.log
	fi
	t0=$(now_ms)
	start_redis $dir || exit 1
	n=$(redis-cli -s "$sock" DBSIZE | tr -d '\r')
	echo "R mode=$mode reload dbsize=$n ms=$(($(now_ms) - t0))"
	[ "$n" = "$keys" ] || fail "restart loaded $n keys, expected $keys"

	# Latency while snapshotting: SETs on the loaded keys while BGSAVE runs back to back.
	redis-benchmark -s "$sock" -t set -n "$benchn" -c 50 -d 100 -r "$keys" > $dir/bench.txt 2>&1 &
	bpid=$!
	saves=0
	while kill -0 $bpid 2>/dev/null; do
		us=$(bgsave) || { fail "$us"; break; }
		saves=$((saves + 1))
		echo "R mode=$mode bench-bgsave i=$saves fork_usec=$us"
	done
	wait $bpid || fail "redis-benchmark exited non-zero"
	echo "R mode=$mode bench saves=$saves"
	tr '\r' '\n' < $dir/bench.txt | sed -n '/^Latency by percentile/,/^Summary/p;/throughput summary/p' |
		sed "s/^/R mode=$mode bench /"
	stop_redis
	rm -rf $dir
	exit $fails
	) || fails=$((fails + 1))

	(
	echo $mode > /proc/self/use_odf
	out=/tmp/afl$mode
	target=/usr/bin/sqlite-fuzz
	[ "$inject" = afl ] && target=/bin/true
	AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_NO_AFFINITY=1 \
		afl-fuzz -V "$aflsec" -i /apps/seeds -o $out -- $target @@ > /tmp/afl$mode.log 2>&1
	rc=$?
	if [ $rc != 0 ] || [ ! -f $out/default/fuzzer_stats ]; then
		fail "afl-fuzz exited $rc"; tr '\r' '\n' < /tmp/afl$mode.log | tail -8
		exit $fails
	fi
	sed -n 's/^\(run_time\|execs_done\|execs_per_sec\|corpus_count\|corpus_found\|edges_found\|total_edges\|stability\|saved_crashes\) *: \(.*\)$/R mode='$mode' afl \1=\2/p' \
		$out/default/fuzzer_stats
	done_=$(sed -n 's/^execs_done *: //p' $out/default/fuzzer_stats)
	found=$(sed -n 's/^corpus_found *: //p' $out/default/fuzzer_stats)
	[ "${done_:-0}" -gt 0 ] || fail "afl-fuzz made no execs"
	[ "${found:-0}" -gt 0 ] || fail "afl-fuzz found no new corpus entry"
	exit $fails
	) || fails=$((fails + 1))
done

if dmesg | grep -E -q 'BUG|WARNING|Oops|Bad page|Bad rss|general protection'; then
	dmesg | grep -E -B2 -A20 'BUG|WARNING|Oops|Bad page|Bad rss|general protection' | head -60
	fail "kernel BUG/WARNING in dmesg"
fi
echo "R failures=$fails"
[ $fails = 0 ]
