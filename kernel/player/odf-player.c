/* SPDX-License-Identifier: MIT */
/*
 * odf-player [--use-odf=0|1|2 | --odf] [--no-thp] TRACE > observations.jsonl
 *
 * The coordinator (this process, not part of the trace) parses the trace, creates trace pid 1 as a forked worker and
 * sends it, and every later process, one op at a time over pipes, waiting for each op's report before sending the
 * next: the run is strictly sequential. See README.md.
 */
#include "player.h"
#include "proto.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

extern uint8_t g_own_slots[NSLOTS];

static char *g_rep;
static size_t g_rep_cap = 1 << 16;
static uint8_t *g_live;

static void usage(void)
{
	fprintf(stderr, "usage: odf-player [--use-odf=0|1|2 | --odf] [--no-thp] TRACE > observations.jsonl\n");
	exit(2);
}

static int use_odf_file(const char *val)
{
	int fd = open("/proc/self/use_odf", O_WRONLY);
	int ok;

	if (fd < 0)
		return -1;
	ok = write(fd, val, strlen(val)) == (ssize_t)strlen(val);
	close(fd);
	return ok ? 0 : -1;
}

static int read_use_odf(void)
{
	char b[8] = { 0 };
	int fd = open("/proc/self/use_odf", O_RDONLY);

	if (fd < 0)
		return -1;
	if (read(fd, b, sizeof(b) - 1) <= 0)
		b[0] = '?';
	close(fd);
	return b[0] >= '0' && b[0] <= '2' ? b[0] - '0' : -1;
}

/* 0: classic fork, 1: ODF (patch-set rule), 2: ODF with the EuroSys'21 sharing rule (kernel patch 0016). */
static void set_odf(int mode)
{
	if (!mode) {
		/* Classic: make sure an inherited use_odf=1 or 2 does not leak in. */
		if (read_use_odf() > 0 && use_odf_file("0"))
			die("cannot clear /proc/self/use_odf: %s", strerror(errno));
		return;
	}
	if (mode == 2) {
		if (use_odf_file("2"))
			die("--use-odf=2: this kernel does not support it (/proc/self/use_odf: %s)", strerror(errno));
		if (read_use_odf() != 2)
			die("--use-odf=2: /proc/self/use_odf does not read 2 after writing 2");
		return;
	}
	if (prctl(65, 0, 0, 0, 0)) {
		int e = errno;

		if (use_odf_file("1"))
			die("--odf: this kernel does not support ODF (prctl(65): %s; /proc/self/use_odf: %s)",
			    strerror(e), strerror(errno));
	}
	if (read_use_odf() != 1)
		die("--odf: prctl(65) succeeded but /proc/self/use_odf does not read 1");
}

/*
 * glibc registers an rseq area in the thread's TLS; the kernel writes it (put_user) when the task is preempted or
 * migrated. Right after fork the TLS page is write-protected, so such a write faults and adds a random minflt to
 * the fork op. Run without rseq: re-exec once with the glibc tunable that disables it.
 */
static void no_rseq(char **argv)
{
	const char *t = getenv("GLIBC_TUNABLES");

	if (t && strstr(t, "glibc.pthread.rseq=0"))
		return;
	static char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	setenv("GLIBC_TUNABLES", "glibc.pthread.rseq=0", 1);
	if (n > 0) {
		exe[n] = 0;
		execv(exe, argv); /* by its name, so the processes are called odf-player, not exe */
	}
	execv("/proc/self/exe", argv);
	die("re-exec without rseq: %s", strerror(errno));
}

/* Raises the soft limit (and, as root, the hard limit) of open files to need. */
static void raise_nofile(size_t need)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return;
	if (rl.rlim_max < need) {
		struct rlimit up = { need, need };

		if (!setrlimit(RLIMIT_NOFILE, &up))
			rl = up;
	}
	if (rl.rlim_cur < need) {
		rl.rlim_cur = need < rl.rlim_max ? need : rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur < need)
		die("trace has %zu processes and up to %zu reference files per process: needs %zu file descriptors, "
		    "the limit is %llu", g_trace.nprocs, g_trace.max_ref_fds, need, (unsigned long long)rl.rlim_cur);
}

static void make_pipes(void)
{
	for (size_t i = 0; i < g_trace.nprocs; i++) {
		int c[2], r[2];

		if (pipe2(c, O_CLOEXEC) || pipe2(r, O_CLOEXEC))
			die("pipe: %s", strerror(errno));
		g_trace.procs[i].cmd_rd = c[0];
		g_trace.procs[i].cmd_wr = c[1];
		g_trace.procs[i].rep_rd = r[0];
		g_trace.procs[i].rep_wr = r[1];
	}
}

static void send_cmd(int32_t p, uint32_t op, uint8_t what, uint8_t issuer)
{
	struct cmd c = { .op = op, .what = what, .issuer = issuer };

	if (write_all(g_trace.procs[p].cmd_wr, &c, sizeof(c)))
		die("line %u: worker of pid %u is gone", g_trace.ops[op].line, g_trace.procs[p].pid);
}

/* Reads one report of process p into g_rep; returns its length. */
static size_t get_report(int32_t p, uint32_t op)
{
	uint32_t len;

	if (read_all(g_trace.procs[p].rep_rd, &len, sizeof(len)))
		die("line %u: worker of pid %u died", g_trace.ops[op].line, g_trace.procs[p].pid);
	if (len >= g_rep_cap)
		die("report too long");
	if (len && read_all(g_trace.procs[p].rep_rd, g_rep, len))
		die("line %u: worker of pid %u died", g_trace.ops[op].line, g_trace.procs[p].pid);
	return len;
}

static void out(const char *s, size_t len)
{
	if (write_all(1, s, len))
		die("stdout: %s", strerror(errno));
}

/* Waits until every writer of p's report pipe is gone: the process has exited and its mm is torn down. */
static void wait_gone(int32_t p)
{
	char c;

	while (read(g_trace.procs[p].rep_rd, &c, 1) > 0)
		;
	close(g_trace.procs[p].rep_rd);
	close(g_trace.procs[p].cmd_wr);
	g_trace.procs[p].rep_rd = g_trace.procs[p].cmd_wr = -1;
	g_live[p] = 0;
}

static void run_mark(uint32_t i)
{
	const struct op *op = &g_trace.ops[i];
	static char held[4096];
	size_t nheld = 0;
	uint32_t done_pid = 0;

	/* Live processes in ascending pid order. */
	for (;;) {
		int32_t best = -1;

		for (size_t q = 0; q < g_trace.nprocs; q++)
			if (g_live[q] && g_trace.procs[q].pid > done_pid &&
			    (best < 0 || g_trace.procs[q].pid < g_trace.procs[best].pid))
				best = (int32_t)q;
		if (best < 0)
			break;
		done_pid = g_trace.procs[best].pid;
		send_cmd(best, i, CMD_MARK, best == op->proc);
		size_t len = get_report(best, i);
		char *nl = memchr(g_rep, '\n', len);
		size_t first = nl ? (size_t)(nl - g_rep) + 1 : len;

		out(g_rep, first);
		if (len - first < sizeof(held) - nheld) {
			memcpy(held + nheld, g_rep + first, len - first);
			nheld += len - first;
		}
	}
	out(held, nheld);
}

static void coordinate(void)
{
	g_live[0] = 1;
	if (get_report(0, 0))
		die("pid 1: bad start");
	for (uint32_t i = 0; i < g_trace.nops; i++) {
		const struct op *op = &g_trace.ops[i];

		if (op->kind == OP_MARK) {
			run_mark(i);
			continue;
		}
		send_cmd(op->proc, i, CMD_OP, 0);
		out(g_rep, get_report(op->proc, i));
		if (op->kind == OP_FORK) {
			g_live[op->child] = 1;
			if (get_report(op->child, i))
				die("line %u: child %u: bad start", op->line, op->child_pid);
		} else if (op->kind == OP_EXIT) {
			wait_gone(op->proc);
		}
	}
	for (size_t p = 0; p < g_trace.nprocs; p++) {
		if (g_live[p]) {
			close(g_trace.procs[p].cmd_wr);
			g_trace.procs[p].cmd_wr = -1;
			wait_gone((int32_t)p);
		}
	}
}

int main(int argc, char **argv)
{
	int odf = 0;
	const char *path = NULL;
	pid_t pid1;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--odf"))
			odf = 1;
		else if (!strncmp(argv[i], "--use-odf=", 10) && argv[i][10] >= '0' && argv[i][10] <= '2' &&
			 !argv[i][11])
			odf = argv[i][10] - '0';
		else if (!strcmp(argv[i], "--no-thp"))
			g_no_thp = 1;
		else if (argv[i][0] == '-' || path)
			usage();
		else
			path = argv[i];
	}
	if (!path)
		usage();
	no_rseq(argv);
	parse_trace(path, &g_trace);
	/* 4 pipe ends per process, the references of one worker, the scratch pipe and a few more */
	raise_nofile(g_trace.nprocs * 4 + g_trace.max_ref_fds + 32);
	g_rep = malloc(g_rep_cap);
	g_live = calloc(g_trace.nprocs, 1);
	if (!g_rep || !g_live)
		die("out of memory");
	make_pipes();
	refs_init(g_trace.max_refs);
	own_memory_init();
	reloc_init(&g_trace, g_own_slots);
	set_odf(odf);
	/* After the last malloc of the coordinator (see heap_init()). */
	heap_init(odf == 2);
	signal(SIGCHLD, SIG_IGN);	/* workers are reaped automatically */
	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	pid1 = fork();
	if (pid1 < 0)
		die("fork: %s", strerror(errno));
	if (pid1 == 0)
		worker_main(0);
	/* Only the workers hold the worker ends. */
	for (size_t p = 0; p < g_trace.nprocs; p++) {
		close(g_trace.procs[p].cmd_rd);
		close(g_trace.procs[p].rep_wr);
		g_trace.procs[p].cmd_rd = g_trace.procs[p].rep_wr = -1;
	}
	coordinate();
	return 0;
}
