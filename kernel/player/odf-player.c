/* SPDX-License-Identifier: MIT */
/*
 * odf-player [--use-odf=0|1|2 | --odf] [--no-thp] TRACE > observations.jsonl
 *
 * The coordinator (this process, not part of the trace) parses the trace, creates trace pid 1 as a forked worker and
 * sends it, and every later process and thread, one op at a time over pipes, waiting for each op's report before
 * sending the next: the run is strictly sequential. See README.md.
 * (odf-player --worker=PROC --fds=LIST ... TRACE is the exec of a vfork or spawn child: thread.c.)
 */
#include <dirent.h>
#include <sys/syscall.h>
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
/* Per process: its kernel pid and baseline (from its ready report). */
static struct ready *g_ready;
/* Per thread: live; blocked with its op's report pending (a wait for a live child, a vfork until the child's exec
 * or exit). */
enum { CB_NONE, CB_WAIT, CB_VFORK };
static struct cthr {
	uint8_t live, blocked;
	uint32_t op;
} *g_cthr;

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
		struct thr *m = &g_trace.thrs[g_trace.procs[i].main_thr];

		if (pipe2(c, O_CLOEXEC) || pipe2(r, O_CLOEXEC))
			die("pipe: %s", strerror(errno));
		m->cmd_rd = c[0];
		m->cmd_wr = c[1];
		g_trace.procs[i].rep_rd = r[0];
		g_trace.procs[i].rep_wr = r[1];
	}
	for (size_t t = 0; t < g_trace.nthrs; t++) {
		struct thr *th = &g_trace.thrs[t];
		int c[2];

		if (!th->real || th->cmd_rd >= 0)
			continue;
		if (pipe2(c, O_CLOEXEC))
			die("pipe: %s", strerror(errno));
		th->cmd_rd = c[0];
		th->cmd_wr = c[1];
	}
}

static void send_cmd(int32_t t, uint32_t op, uint8_t what, uint8_t issuer)
{
	struct cmd c = { .op = op, .what = what, .issuer = issuer };

	if (write_all(g_trace.thrs[t].cmd_wr, &c, sizeof(c)))
		die("line %u: worker of pid %u is gone", g_trace.ops[op].line, g_trace.procs[g_trace.thrs[t].proc].pid);
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

/* A new worker's first report: its kernel pid and baseline. */
static void read_ready(int32_t p, uint32_t op)
{
	if (get_report(p, op) != sizeof(struct ready))
		die("line %u: pid %u: bad start", g_trace.ops[op].line, g_trace.procs[p].pid);
	memcpy(&g_ready[p], g_rep, sizeof(struct ready));
	g_live[p] = 1;
	g_cthr[g_trace.procs[p].main_thr].live = 1;
}

/* The pending report of a blocked thread (its wait or vfork has returned). */
static void finish_blocked(int32_t t, uint32_t op)
{
	if (!g_cthr[t].live || g_cthr[t].blocked == CB_NONE)
		return;
	g_cthr[t].blocked = CB_NONE;
	out(g_rep, get_report(g_trace.thrs[t].proc, op));
}

static long status_num(const char *buf, const char *name)
{
	const char *p = strstr(buf, name);
	long v = 0;

	if (!p)
		return -1;
	for (p += strlen(name); *p == ' ' || *p == '\t'; p++)
		;
	while (*p >= '0' && *p <= '9')
		v = v * 10 + (*p++ - '0');
	return v;
}

static int read_status_file(const char *path, long *pte, long *rss)
{
	static char buf[8192];
	int fd = open(path, O_RDONLY);
	ssize_t n = 0, got;

	if (fd < 0)
		return -1;
	while ((got = read(fd, buf + n, sizeof(buf) - 1 - n)) > 0)
		n += got;
	close(fd);
	buf[n] = 0;
	*pte = status_num(buf, "\nVmPTE:");
	*rss = status_num(buf, "\nRssAnon:");
	return *pte < 0 || *rss < 0 ? -1 : 0;
}

/* VmPTE and RssAnon of a process whose threads are all blocked (wait, vfork), read by the coordinator: the mm's
 * counters (its threads folded their RSS caches at the end of their last op). The group leader may have ended (an
 * exec by another thread): then any of its tasks. */
static void blocked_status(int32_t p, uint32_t op, long *pte, long *rss)
{
	char path[320];
	static char dents[4096];
	int fd;
	long n;

	snprintf(path, sizeof(path), "/proc/%d/status", g_ready[p].pid);
	if (!read_status_file(path, pte, rss))
		return;
	snprintf(path, sizeof(path), "/proc/%d/task", g_ready[p].pid);
	fd = open(path, O_RDONLY | O_DIRECTORY);
	while (fd >= 0 && (n = syscall(SYS_getdents64, fd, dents, sizeof(dents))) > 0) {
		for (long off = 0; off < n;) {
			struct dirent64 *d = (struct dirent64 *)(dents + off);

			off += d->d_reclen;
			if (d->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "/proc/%d/task/%s/status", g_ready[p].pid, d->d_name);
			if (!read_status_file(path, pte, rss)) {
				close(fd);
				return;
			}
		}
	}
	die("line %u: cannot read the memory of pid %u (kernel pid %d)", g_trace.ops[op].line, g_trace.procs[p].pid,
	    g_ready[p].pid);
}

/* Thread t of process p ends (exec or exit of another thread) while blocked in a wait or vfork: it took no fault
 * in the op (it was in the system call) and never reports; its op record is written here, minflt 0. */
static void end_thread(int32_t t)
{
	if (g_cthr[t].live && g_cthr[t].blocked != CB_NONE) {
		static char rec[256];
		struct obuf o = { .p = rec, .cap = sizeof(rec) };
		const struct op *op = &g_trace.ops[g_cthr[t].op];

		emit_op_rec(&o, op, 0);
		out(rec, o.len);
	}
	g_cthr[t].live = 0;
	g_cthr[t].blocked = CB_NONE;
}

/* The thread of process p that answers a mark: the issuer, else its first live thread that is not blocked; -1 if
 * there is none. */
static int32_t mark_thread(int32_t p, const struct op *op)
{
	if (p == op->proc)
		return op->thr;
	for (size_t t = 0; t < g_trace.nthrs; t++)
		if (g_trace.thrs[t].proc == p && g_cthr[t].live && g_cthr[t].blocked == CB_NONE)
			return (int32_t)t;
	return -1;
}

/* Waits until every writer of p's report pipe is gone: the process has exited and its mm is torn down. */
static void wait_gone(int32_t p)
{
	char c;

	while (read(g_trace.procs[p].rep_rd, &c, 1) > 0)
		;
	close(g_trace.procs[p].rep_rd);
	g_trace.procs[p].rep_rd = -1;
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
		int32_t t = mark_thread(best, op);
		size_t len;

		if (t < 0) {
			static char rec[512];
			struct obuf o = { .p = rec, .cap = sizeof(rec) };
			long pte, rss;

			blocked_status(best, i, &pte, &rss);
			ob_rec_head(&o, "mark", op->line, done_pid, 0);
			ob_str(&o, ",\"label\":");
			ob_json_str(&o, g_trace.labels + op->label);
			ob_str(&o, ",\"vmpte_kb\":");
			ob_i64(&o, pte - g_ready[best].base_pte);
			ob_str(&o, ",\"rss_anon_kb\":");
			ob_i64(&o, rss - g_ready[best].base_rss);
			ob_str(&o, "}\n");
			out(rec, o.len);
			continue;
		}
		send_cmd(t, i, CMD_MARK, best == op->proc);
		len = get_report(best, i);
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
	read_ready(0, 0);
	for (uint32_t i = 0; i < g_trace.nops; i++) {
		const struct op *op = &g_trace.ops[i];

		if (op->kind == OP_MARK) {
			run_mark(i);
			continue;
		}
		send_cmd(op->thr, i, CMD_OP, 0);
		switch (op->kind) {
		case OP_WAIT:
			if (g_live[op->child]) {	/* its report comes after the child's exit */
				g_cthr[op->thr].blocked = CB_WAIT;
				g_cthr[op->thr].op = i;
				continue;
			}
			break;
		case OP_VFORK:	/* its report comes after the child's exec or exit */
			read_ready(op->child, i);
			g_cthr[op->thr].blocked = CB_VFORK;
			g_cthr[op->thr].op = i;
			continue;
		default:
			break;
		}
		out(g_rep, get_report(op->proc, i));
		switch (op->kind) {
		case OP_FORK:
		case OP_SPAWN:
			read_ready(op->child, i);
			break;
		case OP_CLONE:
			g_cthr[op->child].live = 1;
			break;
		case OP_TEXIT:
			g_cthr[op->thr].live = 0;
			break;
		case OP_EXEC:
			for (size_t t = 0; t < g_trace.nthrs; t++)
				if (g_trace.thrs[t].proc == op->proc && (int32_t)t != op->thr)
					end_thread((int32_t)t);
			if (op->vparent >= 0) {
				read_ready(op->proc, i);	/* the exec'd worker */
				finish_blocked(op->vparent, i);
			}
			break;
		case OP_EXIT:
			for (size_t t = 0; t < g_trace.nthrs; t++)
				if (g_trace.thrs[t].proc == op->proc)
					end_thread((int32_t)t);
			wait_gone(op->proc);
			if (op->vparent >= 0)
				finish_blocked(op->vparent, i);
			for (size_t t = 0; t < g_trace.nthrs; t++)
				if (g_cthr[t].blocked == CB_WAIT && g_trace.ops[g_cthr[t].op].child == op->proc)
					finish_blocked((int32_t)t, i);
			break;
		default:
			break;
		}
	}
	/* End of trace: every thread reads EOF (all at once: a vfork parent waits for its child). */
	for (size_t t = 0; t < g_trace.nthrs; t++) {
		if (g_trace.thrs[t].cmd_wr >= 0)
			close(g_trace.thrs[t].cmd_wr);
		g_trace.thrs[t].cmd_wr = -1;
	}
	for (size_t p = 0; p < g_trace.nprocs; p++)
		if (g_live[p])
			wait_gone((int32_t)p);
}

/* --fds=LIST of an exec'd worker (thread.c exec_worker()). */
static void take_fds(int32_t proc, const char *list)
{
	const char *s = list;

	for (size_t j = 0; j < g_trace.nprocs; j++)
		if (in_subtree((int32_t)j, proc))
			g_trace.procs[j].rep_wr = (int)strtol(s, (char **)&s, 10), s += *s == ',';
	for (size_t t = 0; t < g_trace.nthrs; t++)
		if (g_trace.thrs[t].real && in_subtree(g_trace.thrs[t].proc, proc)) {
			g_trace.thrs[t].cmd_rd = (int)strtol(s, (char **)&s, 10);
			s += *s == ',';
		}
}

int main(int argc, char **argv)
{
	int odf = 0, worker = -1;
	const char *path = NULL, *fds = NULL;
	pid_t pid1;
	ssize_t n;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--odf"))
			odf = 1;
		else if (!strncmp(argv[i], "--use-odf=", 10) && argv[i][10] >= '0' && argv[i][10] <= '2' &&
			 !argv[i][11])
			odf = argv[i][10] - '0';
		else if (!strcmp(argv[i], "--no-thp"))
			g_no_thp = 1;
		else if (!strncmp(argv[i], "--worker=", 9))
			worker = atoi(argv[i] + 9);
		else if (!strncmp(argv[i], "--fds=", 6))
			fds = argv[i] + 6;
		else if (argv[i][0] == '-' || path)
			usage();
		else
			path = argv[i];
	}
	if (!path)
		usage();
	no_rseq(argv);
	g_mode = odf;
	g_trace_path = path;
	n = readlink("/proc/self/exe", g_exe, sizeof(g_exe) - 1);
	if (n <= 0)
		die("readlink /proc/self/exe: %s", strerror(errno));
	g_exe[n] = 0;
	parse_trace(path, &g_trace);
	if (worker >= 0) {
		/* The exec of a vfork or spawn child: a fresh image, set up like the coordinator (same allocations),
		 * then the worker of that process with the inherited pipe ends. use_odf is inherited over exec. */
		if ((size_t)worker >= g_trace.nprocs || !fds)
			usage();
		pool_init();
		refs_init(g_trace.max_refs);
		own_memory_init();
		reloc_init(&g_trace, g_own_slots);
		heap_init(odf == 2);
		take_fds(worker, fds);
		worker_main(worker);
	}
	/* 2 pipe ends per process and per thread, the references of one worker, the scratch pipe and a few more */
	raise_nofile(g_trace.nprocs * 2 + g_trace.nthrs * 2 + g_trace.max_ref_fds + 32);
	g_rep = malloc(g_rep_cap);
	g_live = calloc(g_trace.nprocs, 1);
	g_ready = calloc(g_trace.nprocs, sizeof(*g_ready));
	g_cthr = calloc(g_trace.nthrs, sizeof(*g_cthr));
	if (!g_rep || !g_live || !g_ready || !g_cthr)
		die("out of memory");
	make_pipes();
	pool_init();
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
		close(g_trace.procs[p].rep_wr);
		g_trace.procs[p].rep_wr = -1;
	}
	for (size_t t = 0; t < g_trace.nthrs; t++) {
		if (g_trace.thrs[t].cmd_rd >= 0)
			close(g_trace.thrs[t].cmd_rd);
		g_trace.thrs[t].cmd_rd = -1;
	}
	coordinate();
	return 0;
}
