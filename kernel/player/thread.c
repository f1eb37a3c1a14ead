/* SPDX-License-Identifier: MIT */
/*
 * Threads (clone TID), vfork and spawn children of odf-trace v2 (README.md "Threads, vfork, spawn").
 *
 * Every thread the player creates runs on a stack of one pool, allocated by the coordinator before it records its own
 * memory: the pool is the player's own memory (touched after every fork, in the baseline, in the player's slots).
 * Threads are raw clone() threads (no glibc pthread_create: it would allocate a DTV with malloc, and write a thread
 * descriptor that would count as faults); they share the main thread's TLS and only call plain system call
 * wrappers. The run is strictly sequential, so they never run player code at the same time.
 *
 * A thread finds its identity from its stack pointer (me()): g_ctx[1 + k] for pool stack k, g_ctx[0] for the
 * native stack. A vfork child shares the parent's memory, so it must not write what the parent owns: it runs on its
 * own pool stack with its own g_ctx entry, closes its copies of foreign file descriptors without touching the
 * tables, and leaves the parent's pin and reference tables alone.
 */
#include "player.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct tctx *g_ctx;
char *g_pool;
static char *g_fdarg;
static size_t g_fdarg_cap;
static int g_ncpus;

void pool_init(void)
{
	g_ctx = calloc(g_trace.pool_slots + 1, sizeof(*g_ctx));
	if (!g_ctx)
		die("out of memory");
	g_ncpus = (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (g_ncpus < 1)
		g_ncpus = 1;
	if (!g_trace.pool_slots)
		return;
	g_pool = mmap(NULL, g_trace.pool_slots * STK_SZ, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (g_pool == MAP_FAILED)
		die("mmap of %zu thread stacks: %s", g_trace.pool_slots, strerror(errno));
	/* exec_worker()'s argument, built in a vfork child that must not allocate. */
	g_fdarg_cap = (g_trace.nprocs + g_trace.nthrs) * 12 + 16;
	g_fdarg = malloc(g_fdarg_cap);
	if (!g_fdarg)
		die("out of memory");
}

int in_subtree(int32_t j, int32_t root)
{
	for (; j >= 0; j = g_trace.procs[j].parent)
		if (j == root)
			return 1;
	return 0;
}

/* cpu N: the calling thread runs on CPU N from now on (N modulo the online CPUs, for hosts with fewer). */
void set_cpu(const struct op *op, uint32_t cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu % (uint32_t)g_ncpus, &set);
	if (sched_setaffinity(0, sizeof(set), &set) && op)
		fprintf(stderr, "odf-player: line %u: sched_setaffinity(cpu %u): %s\n", op->line, cpu, strerror(errno));
}

static void futex_wait_zero(volatile int *w, const struct op *op)
{
	for (int i = 0; i < 100; i++) {
		int v = *w;
		struct timespec ts = { 0, 100 * 1000 * 1000 };

		if (!v)
			return;
		syscall(SYS_futex, w, FUTEX_WAIT, v, &ts, NULL, 0);
	}
	die("line %u: a thread of the player did not end within 10 s", op ? op->line : 0);
}

/* A free pool stack (its last thread has ended: the kernel cleared the tid word); returns its g_ctx index. */
int slot_alloc(const struct op *op)
{
	for (int round = 0; round < 1000; round++) {
		for (size_t k = 1; k <= g_trace.pool_slots; k++)
			if (!g_ctx[k].tidword)
				return (int)k;
		/* A thread that did texit may still be on its way out. */
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	die("line %u: no free thread stack (pool of %zu)", op->line, g_trace.pool_slots);
}

void *slot_top(int k)
{
	return g_pool + (size_t)k * STK_SZ; /* the top of pool stack k - 1 */
}

/* The thread on this stack is its process's main thread: the kernel clears its tid word when it exits. */
void threads_register_main(struct tctx *self)
{
	self->tidword = (int)syscall(SYS_gettid);
	syscall(SYS_set_tid_address, &self->tidword);
}

/* In a fork child: the only thread is the caller; every other stack is free. */
void threads_after_fork(struct tctx *self)
{
	for (size_t k = 0; k <= g_trace.pool_slots; k++)
		if (&g_ctx[k] != self)
			g_ctx[k].tidword = 0;
	threads_register_main(self);
}

/* exec (emulated) ends every other thread of the process: SIGUSR1, whose handler is SYS_exit, then wait until the
 * kernel has cleared its tid word (it no longer runs on its stack). */
void end_other_threads(const struct op *op)
{
	struct tctx *self = me();
	pid_t pid = getpid();

	for (size_t k = 0; k <= g_trace.pool_slots; k++) {
		struct tctx *c = &g_ctx[k];
		int tid = c->tidword;

		if (c == self || !tid)
			continue;
		syscall(SYS_tgkill, pid, tid, SIGUSR1);
		futex_wait_zero(&c->tidword, op);
	}
}

/* A vfork child closes its copies of every pipe end that is not its own or of its future descendants, without
 * writing the tables (they are the parent's memory). */
void close_fds_not_in_subtree_nowrite(int32_t root)
{
	for (size_t j = 0; j < g_trace.nprocs; j++)
		if (!in_subtree((int32_t)j, root) && g_trace.procs[j].rep_wr >= 0)
			close(g_trace.procs[j].rep_wr);
	for (size_t t = 0; t < g_trace.nthrs; t++)
		if (!in_subtree(g_trace.thrs[t].proc, root) && g_trace.thrs[t].cmd_rd >= 0)
			close(g_trace.thrs[t].cmd_rd);
}

static void fdarg_num(size_t *n, int v)
{
	char tmp[16];
	int len = snprintf(tmp, sizeof(tmp), "%d,", v);

	if (*n + (size_t)len + 1 < g_fdarg_cap) {
		memcpy(g_fdarg + *n, tmp, (size_t)len);
		*n += (size_t)len;
	}
}

/*
 * The real exec of a vfork or spawn child: the player re-execs itself as an empty worker of process proc
 * (odf-player --worker=PROC --fds=LIST ... TRACE). It keeps the pipe ends of proc and of its future descendants
 * (FD_CLOEXEC cleared; the list gives their numbers in process, then thread index order); everything else is
 * close-on-exec.
 */
void exec_worker(int32_t proc)
{
	static char worker[32], mode[16];
	static char *argv[8];
	size_t n = 0;
	int a = 0;

	memcpy(g_fdarg, "--fds=", 6);
	n = 6;
	for (size_t j = 0; j < g_trace.nprocs; j++)
		if (in_subtree((int32_t)j, proc)) {
			fdarg_num(&n, g_trace.procs[j].rep_wr);
			if (g_trace.procs[j].rep_wr >= 0)
				fcntl(g_trace.procs[j].rep_wr, F_SETFD, 0);
		}
	for (size_t t = 0; t < g_trace.nthrs; t++)
		if (g_trace.thrs[t].real && in_subtree(g_trace.thrs[t].proc, proc)) {
			fdarg_num(&n, g_trace.thrs[t].cmd_rd);
			if (g_trace.thrs[t].cmd_rd >= 0)
				fcntl(g_trace.thrs[t].cmd_rd, F_SETFD, 0);
		}
	g_fdarg[n] = 0;
	snprintf(worker, sizeof(worker), "--worker=%d", proc);
	snprintf(mode, sizeof(mode), "--use-odf=%d", g_mode);
	argv[a++] = g_exe;
	argv[a++] = worker;
	argv[a++] = g_fdarg;
	argv[a++] = mode;
	if (g_no_thp)
		argv[a++] = "--no-thp";
	argv[a++] = (char *)g_trace_path;
	argv[a] = NULL;
	execv(g_exe, argv);
	die("exec of %s as the worker of pid %u: %s", g_exe, g_trace.procs[proc].pid, strerror(errno));
}
