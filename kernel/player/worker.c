/* SPDX-License-Identifier: MIT */
/*
 * A worker is one trace process. It reads op indexes from its command pipe, executes them, and answers with the
 * op's observation records (docs/DIFFTEST.md) on its report pipe.
 */
#include "player.h"
#include "proto.h"
#include "odf/tag.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

struct trace g_trace;
int g_no_thp, g_mode;
const char *g_trace_path;
char g_exe[4096];

static char g_obuf_mem[1 << 16];
static struct obuf g_ob = { .p = g_obuf_mem, .cap = sizeof(g_obuf_mem) };
static struct rusage g_ru0, g_ru1;
static sigjmp_buf g_segv_env;
static volatile int g_in_access;
static volatile uint64_t g_cur_va, g_hash, g_pages;
static volatile int g_signo;
static int g_who = RUSAGE_SELF;	/* RUSAGE_THREAD for v2: minflt of the issuing thread */

/* Per-process heap emulation of brk (inherited over fork, reset by exec). */
static int g_has_heap;
static uint64_t g_heap_start, g_heap_end;

/*
 * The kernel's idea of the heap (mm->start_brk, mm->brk), which use_odf=2 keeps unshared, follows the emulated
 * heap: after every brk op and exec the worker sets it with prctl(PR_SET_MM) to the relocated [start, break), or,
 * while the trace heap is empty or unset, to the empty heap [own break, own break) (the kernel counts a heap only if
 * brk > start_brk). Inherited over fork with the mm. glibc's malloc must not grow its heap with brk() while the
 * trace heap is set (the kernel would answer with the trace's break, which glibc takes for success): the workers
 * never allocate (out.c); the coordinator sets the empty heap after its last malloc.
 */
static int g_kheap;			/* PR_SET_MM works: the kernel follows the emulated heap */
static uint64_t g_kbrk, g_own_brk;	/* the kernel's current mm->brk; the player's own break */

/* Sets mm->start_brk and mm->brk in an order that keeps start_brk <= brk after each call (prctl_set_mm()
 * validates every intermediate state). */
static int set_kernel_heap(uint64_t start, uint64_t end)
{
	int r;

	if (start <= g_kbrk)
		r = prctl(PR_SET_MM, PR_SET_MM_START_BRK, start, 0, 0) || prctl(PR_SET_MM, PR_SET_MM_BRK, end, 0, 0);
	else
		r = prctl(PR_SET_MM, PR_SET_MM_BRK, end, 0, 0) || prctl(PR_SET_MM, PR_SET_MM_START_BRK, start, 0, 0);
	if (r)
		return -1;
	g_kbrk = end;
	return 0;
}

void heap_init(int required)
{
	g_own_brk = g_kbrk = (uint64_t)syscall(SYS_brk, 0);
	if (!set_kernel_heap(g_own_brk, g_own_brk)) {
		g_kheap = 1;
		return;
	}
	if (required)
		die("--use-odf=2 needs prctl(PR_SET_MM) (CAP_SYS_RESOURCE) to tell the kernel the trace's heap: %s",
		    strerror(errno));
}

static void tell_heap(const struct op *op)
{
	uint64_t start = g_own_brk, end = g_own_brk;

	if (!g_kheap)
		return;
	if (g_has_heap && g_heap_end > g_heap_start) {
		start = reloc(g_heap_start);
		end = reloc(g_heap_end - PAGE_SZ) + PAGE_SZ;
	}
	if (set_kernel_heap(start, end))
		die("line %u: prctl(PR_SET_MM) of the heap [%#llx, %#llx): %s", op->line, (unsigned long long)start,
		    (unsigned long long)end, strerror(errno));
}

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	(void)si;
	(void)uc;
	if (!g_in_access) {
		signal(sig, SIG_DFL); /* a real crash: let it happen again, unhandled */
		return;
	}
	g_in_access = 0;
	g_signo = sig;
	siglongjmp(g_segv_env, 1);
}

static long minflt(struct rusage *r)
{
	return r->ru_minflt;
}

static void warn_op(const struct op *op, const char *what)
{
	fprintf(stderr, "odf-player: line %u: %s failed: %s\n", op->line, what, strerror(errno));
}

static void thp_off(const struct op *op, uint64_t r, uint64_t len)
{
	if (g_no_thp && madvise((void *)r, len, MADV_NOHUGEPAGE))
		warn_op(op, "madvise(MADV_NOHUGEPAGE)");
}

static void do_access(const struct op *op)
{
	uint64_t first = op->addr & ~(PAGE_SZ - 1), last = (op->addr + op->len - 1) & ~(PAGE_SZ - 1);

	g_hash = 0;
	g_pages = 0;
	g_cur_va = first;
	if (sigsetjmp(g_segv_env, 0)) {
		/* SIGBUS: a shared mapping grown by mremap beyond its shmem object (not in docs/DIFFTEST.md). */
		ob_rec_head(&g_ob, g_signo == SIGBUS ? "sigbus" : "segv", op->line, op->pid, op->tid);
		ob_str(&g_ob, ",\"addr\":");
		ob_u64(&g_ob, g_cur_va);
		ob_str(&g_ob, "}\n");
		return;
	}
	for (uint64_t va = first; va <= last; va += PAGE_SZ) {
		volatile uint64_t *p = (volatile uint64_t *)reloc(va);

		g_cur_va = va;
		g_in_access = 1;
		if (op->kind == OP_W) {
			*p = odf_tag(op->line, op->pid, va);
		} else {
			uint64_t v = *p;

			g_hash = odf_fold(g_hash, v);
		}
		g_in_access = 0;
		g_pages++;
	}
}

static void emit_read(const struct op *op)
{
	/* The read record comes first: rebuild the order if a segv record was written. */
	char tmp[256];
	size_t seg_len = g_ob.len;

	memcpy(tmp, g_ob.p, seg_len < sizeof(tmp) ? seg_len : sizeof(tmp));
	g_ob.len = 0;
	ob_rec_head(&g_ob, "read", op->line, op->pid, op->tid);
	ob_str(&g_ob, ",\"hash\":");
	ob_u64(&g_ob, g_hash);
	ob_str(&g_ob, ",\"pages\":");
	ob_u64(&g_ob, g_pages);
	ob_str(&g_ob, "}\n");
	memcpy(g_ob.p + g_ob.len, tmp, seg_len);
	g_ob.len += seg_len;
}

/* readref (with its readref record) or putref, page by page; a page without a reference is a noref record and ends
 * the op (the model's order: noref, then readref). */
static void do_refs(const struct op *op)
{
	uint64_t hash = 0, pages = 0, v;

	for (uint64_t va = op->addr; va < op->addr + op->len; va += PAGE_SZ) {
		int r = op->kind == OP_READREF ? readref_page(va, &v) : putref_page(va);

		if (r) {
			ob_rec_head(&g_ob, "noref", op->line, op->pid, op->tid);
			ob_str(&g_ob, ",\"addr\":");
			ob_u64(&g_ob, va);
			ob_str(&g_ob, "}\n");
			break;
		}
		if (op->kind == OP_READREF)
			hash = odf_fold(hash, v);
		pages++;
	}
	if (op->kind == OP_READREF) {
		ob_rec_head(&g_ob, "readref", op->line, op->pid, op->tid);
		ob_str(&g_ob, ",\"hash\":");
		ob_u64(&g_ob, hash);
		ob_str(&g_ob, ",\"pages\":");
		ob_u64(&g_ob, pages);
		ob_str(&g_ob, "}\n");
	}
}

static void unmap_run(uint64_t start, uint64_t len)
{
	munmap((void *)start, len);
}

static void do_brk(const struct op *op)
{
	if (!g_has_heap) {
		g_has_heap = 1;
		g_heap_start = g_heap_end = op->addr;
		tell_heap(op);
		return;
	}
	if (op->addr > g_heap_end) {
		uint64_t r = reloc(g_heap_end), len = op->addr - g_heap_end;

		/* A growth onto another mapping is refused and leaves the break (docs/SEMANTICS.md, as the model). */
		if (mmap((void *)r, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1,
			 0) == MAP_FAILED) {
			if (errno != EEXIST)
				warn_op(op, "brk (mmap)");
			return;
		}
		thp_off(op, r, len);
		g_heap_end = op->addr;
	} else if (op->addr < g_heap_end && op->addr >= g_heap_start) {
		if (munmap((void *)reloc(op->addr), g_heap_end - op->addr))
			warn_op(op, "brk (munmap)");
		g_heap_end = op->addr;
	}
	tell_heap(op);
}

static void emit_op(const struct op *op, long flt)
{
	emit_op_rec(&g_ob, op, flt);
}

static void emit_mem(const char *kind, const struct op *op, uint32_t pid, uint32_t tid)
{
	long pte, rss;

	read_status(&pte, &rss);
	ob_rec_head(&g_ob, kind, op->line, pid, tid);
	if (op->kind == OP_MARK) {
		ob_str(&g_ob, ",\"label\":");
		ob_json_str(&g_ob, g_trace.labels + op->label);
	}
	ob_str(&g_ob, ",\"vmpte_kb\":");
	ob_i64(&g_ob, pte - g_base_pte);
	ob_str(&g_ob, ",\"rss_anon_kb\":");
	ob_i64(&g_ob, rss - g_base_rss);
	ob_str(&g_ob, "}\n");
}

static void send_report(void)
{
	uint32_t len = (uint32_t)g_ob.len;
	int fd = g_trace.procs[me()->proc].rep_wr;

	/* Reset before writing: once the coordinator has the report it may start another thread of this process,
	 * which uses the same buffer. Nothing of the player's shared state is touched after the last write. */
	g_ob.len = 0;
	if (write_all(fd, &len, sizeof(len)) || write_all(fd, g_ob.p, len))
		_exit(1);
}

static void send_ready(void)
{
	struct ready r = { .pid = getpid(), .base_pte = g_base_pte, .base_rss = g_base_rss };

	if (write_all(g_trace.procs[me()->proc].rep_wr, &(uint32_t){ sizeof(r) }, sizeof(uint32_t)) ||
	    write_all(g_trace.procs[me()->proc].rep_wr, &r, sizeof(r)))
		_exit(1);
}

/* v2: fold this thread's cached RSS changes into the mm after every op (6.1 SPLIT_RSS_COUNTING), so that a mark
 * read by another thread, or by the coordinator for a blocked process, sees them. */
static void op_done(void)
{
	if (g_trace.v2)
		rss_sync();
	send_report();
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Keep only the pipe ends of this process and of the processes it will fork (directly or not). */
static void close_foreign_fds(int32_t self)
{
	for (size_t j = 0; j < g_trace.nprocs; j++) {
		struct proc *p = &g_trace.procs[j];

		close_fd(&p->rep_rd);
		if (!in_subtree((int32_t)j, self))
			close_fd(&p->rep_wr);
	}
	for (size_t t = 0; t < g_trace.nthrs; t++) {
		struct thr *th = &g_trace.thrs[t];

		close_fd(&th->cmd_wr);
		if (!in_subtree(th->proc, self))
			close_fd(&th->cmd_rd);
	}
}

/* In a parent after fork, vfork or spawn: the child holds its subtree's pipe ends alone. */
static void close_child_fds(int32_t child)
{
	for (size_t j = 0; j < g_trace.nprocs; j++)
		if (in_subtree((int32_t)j, child))
			close_fd(&g_trace.procs[j].rep_wr);
	for (size_t t = 0; t < g_trace.nthrs; t++)
		if (in_subtree(g_trace.thrs[t].proc, child))
			close_fd(&g_trace.thrs[t].cmd_rd);
}

/* fork, then in the parent getrusage, with no user-memory write in between (the parent's memory is write-protected
 * now: a write would fault and count). Returns fork's result. */
static long fork_then_rusage(struct rusage *ru, long who)
{
	long ret;

	__asm__ volatile("mov $57, %%eax\n\t"	/* __NR_fork */
			 "syscall\n\t"
			 "mov %%rax, %%r12\n\t"
			 "test %%rax, %%rax\n\t"
			 "jle 1f\n\t"
			 "mov $98, %%eax\n\t"	/* __NR_getrusage */
			 "mov %2, %%rdi\n\t"	/* RUSAGE_SELF, or RUSAGE_THREAD for v2 */
			 "mov %1, %%rsi\n\t"
			 "syscall\n\t"
			 "1: mov %%r12, %%rax\n\t"
			 : "=&a"(ret)	/* early clobber: ru and who must not come in %rax */
			 : "r"(ru), "r"(who)
			 : "rcx", "r11", "rdi", "rsi", "r12", "memory");
	return ret;
}

static void do_fork(const struct op *op)
{
	long ret;

	getrusage(g_who, &g_ru0);
	ret = fork_then_rusage(&g_ru1, g_who);
	if (ret < 0) {
		fprintf(stderr, "odf-player: line %u: fork failed: %s\n", op->line, strerror((int)-ret));
		_exit(1);
	}
	if (ret == 0) {
		struct tctx *c = me();	/* the forking thread's stack: the child's only thread */

		c->proc = op->child;
		c->thr = g_trace.procs[op->child].main_thr;
		pins_forget_inherited();
		refs_forget_inherited();
		close_foreign_fds(op->child);
		self_touch();
		if (g_trace.v2)
			threads_after_fork(c);
		send_ready();
		return;
	}
	close_child_fds(op->child);
	self_touch();
	g_trace.procs[op->child].real_pid = (int32_t)ret;
	emit_op(op, minflt(&g_ru1) - minflt(&g_ru0));
	op_done();
}

static void serve(void) __attribute__((noreturn));

/* A vfork or spawn child, on its own pool stack, in the parent's address space until its exec or exit. */
static int vfork_child(void *arg)
{
	const struct op *op = arg;
	struct tctx *c = me();

	close_fds_not_in_subtree_nowrite(c->proc);
	pins_close_inherited_fds();
	refs_close_inherited_fds();
	if (op->kind == OP_SPAWN)
		exec_worker(c->proc);
	send_ready();
	serve();
}

/* vfork CHILD / spawn CHILD: clone(CLONE_VM | CLONE_VFORK) with the child on a pool stack, as vfork() and glibc's
 * posix_spawn() do inside. The parent's state of the op lives on its own stack (the child shares the rest). */
static void do_vfork(const struct op *op)
{
	struct rusage r0, r1;
	int k = slot_alloc(op);
	struct tctx *c = &g_ctx[k];
	long pid;

	c->proc = op->child;
	c->thr = g_trace.procs[op->child].main_thr;
	getrusage(g_who, &r0);
	pid = clone(vfork_child, slot_top(k), CLONE_VM | CLONE_VFORK | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID |
		    SIGCHLD, (void *)op, &c->tidword, NULL, &c->tidword);
	getrusage(g_who, &r1);
	if (pid < 0)
		die("line %u: clone(CLONE_VM|CLONE_VFORK): %s", op->line, strerror(errno));
	/* The child has exec'd or exited: its stack is free (the kernel cleared the tid word at mm_release). */
	c->tidword = 0;
	close_child_fds(op->child);
	g_trace.procs[op->child].real_pid = (int32_t)pid;
	emit_op(op, minflt(&r1) - minflt(&r0));
	op_done();
}

static int thread_main(void *arg)
{
	(void)arg;
	serve();
}

/* clone TID: a raw clone thread on a pool stack (already touched: no fault in the caller). It starts on the
 * caller's CPU (the affinity is inherited). */
static void do_clone(const struct op *op)
{
	int k = slot_alloc(op);
	struct tctx *c = &g_ctx[k];
	long tid;

	c->proc = me()->proc;
	c->thr = op->child;
	getrusage(g_who, &g_ru0);
	tid = clone(thread_main, slot_top(k), CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
		    CLONE_SYSVSEM | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID, NULL, &c->tidword, NULL, &c->tidword);
	getrusage(g_who, &g_ru1);
	if (tid < 0)
		die("line %u: clone thread: %s", op->line, strerror(errno));
	emit_op(op, minflt(&g_ru1) - minflt(&g_ru0));
	op_done();
}

/* ODF_PLAYER_DUMP_MAPS=LINE: print the process's /proc/self/maps on stderr before the op of that line (debugging;
 * addresses are relocated). */
static uint32_t g_dump_line;

static void dump_maps(const struct op *op)
{
	static char buf[1 << 16];
	int fd = open("/proc/self/maps", O_RDONLY);
	ssize_t n;

	fprintf(stderr, "odf-player: maps of pid %u before line %u:\n", op->pid, op->line);
	while (fd >= 0 && (n = read(fd, buf, sizeof(buf))) > 0)
		write_all(2, buf, (size_t)n);
	if (fd >= 0)
		close(fd);
}

static void run_op(const struct op *op)
{
	struct rusage ru0, ru1;	/* on this thread's stack: a wait's thread blocks while others run ops */
	uint64_t r = reloc(op->addr);
	uint64_t fail;

	if (op->line == g_dump_line)
		dump_maps(op);

	getrusage(g_who, &ru0);
	switch (op->kind) {
	case OP_MMAP:
		if (mmap((void *)r, op->len, op->prot,
			 MAP_FIXED | MAP_ANONYMOUS | ((op->flags & MAPF_SHARED) ? MAP_SHARED : MAP_PRIVATE), -1,
			 0) == MAP_FAILED)
			warn_op(op, "mmap");
		thp_off(op, r, op->len);
		break;
	case OP_MUNMAP:
		if (munmap((void *)r, op->len))
			warn_op(op, "munmap");
		break;
	case OP_MPROTECT:
		if (mprotect((void *)r, op->len, op->prot))
			warn_op(op, "mprotect");
		break;
	case OP_MADVISE:
		if (madvise((void *)r, op->len, MADV_DONTNEED))
			warn_op(op, "madvise");
		break;
	case OP_MREMAP:
		if (op->addr == op->new_addr) {
			if (mremap((void *)r, op->len, op->new_len, 0) == MAP_FAILED)
				warn_op(op, "mremap");
		} else if (mremap((void *)r, op->len, op->new_len, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)reloc(op->new_addr)) ==
			   MAP_FAILED) {
			warn_op(op, "mremap");
		}
		break;
	case OP_BRK:
		do_brk(op);
		break;
	case OP_PIN:
		if (pin_range(op->addr, op->len, &fail)) {
			ob_rec_head(&g_ob, "pinfail", op->line, op->pid, op->tid);
			ob_str(&g_ob, ",\"addr\":");
			ob_u64(&g_ob, fail);
			ob_str(&g_ob, "}\n");
		}
		break;
	case OP_UNPIN:
		unpin_range(op->addr, op->len);
		break;
	case OP_R:
	case OP_W:
		do_access(op);
		if (op->kind == OP_R)
			emit_read(op);
		break;
	case OP_GETREF:
		if (getref_range(op->addr, op->len, op->flags & REF_PIN, &fail)) {
			ob_rec_head(&g_ob, "reffail", op->line, op->pid, op->tid);
			ob_str(&g_ob, ",\"addr\":");
			ob_u64(&g_ob, fail);
			ob_str(&g_ob, "}\n");
		}
		break;
	case OP_READREF:
	case OP_PUTREF:
		do_refs(op);
		break;
	case OP_EXEC:
		if (op->vparent >= 0)
			break;	/* a vfork child: the real exec, below */
		if (g_trace.v2)
			end_other_threads(op);
		unpin_all();
		refs_drop_all();
		reloc_for_each_run(unmap_run);
		g_has_heap = 0;
		tell_heap(op);
		break;
	case OP_EXIT:
		emit_mem("exit", op, op->pid, op->tid);
		break;
	case OP_CPU:
		set_cpu(op, (uint32_t)op->cpu);
		break;
	case OP_WAIT: {
		int st;

		while (waitpid(g_trace.procs[op->child].real_pid, &st, 0) < 0 && errno == EINTR)
			;
		break;
	}
	default:	/* run, begin, end: no memory effect */
		break;
	}
	getrusage(g_who, &ru1);
	emit_op(op, minflt(&ru1) - minflt(&ru0));
	op_done();
	if (op->kind == OP_TEXIT)
		syscall(SYS_exit, 0);	/* this thread only; the kernel clears its tid word */
	if (op->kind == OP_EXEC && op->vparent >= 0)
		exec_worker(op->proc);	/* releases the vfork parent */
	if (op->kind == OP_EXIT && op->vparent >= 0)
		_exit(0);	/* the pins and references are the parent's */
	if (op->kind == OP_EXIT) {
		/* Before the report pipe closes: the coordinator's EOF must mean every reference is gone. */
		unpin_all();
		refs_drop_all();
		_exit(0);
	}
}

static void on_end(int sig)
{
	(void)sig;
	syscall(SYS_exit, 0);
}

/* Every thread of a worker: reads its command pipe and executes what it gets. */
static void serve(void)
{
	struct cmd c;

	for (;;) {
		struct tctx *self = me();
		int r = read_all(g_trace.thrs[self->thr].cmd_rd, &c, sizeof(c));

		if (r)
			_exit(r < 0 ? 1 : 0); /* EOF: end of trace (the whole process) */
		const struct op *op = &g_trace.ops[c.op];

		if (c.what == CMD_MARK) {
			getrusage(g_who, &g_ru0);
			emit_mem("mark", op, g_trace.procs[self->proc].pid, 0);
			getrusage(g_who, &g_ru1);
			if (c.issuer)
				emit_op(op, minflt(&g_ru1) - minflt(&g_ru0));
			op_done();
		} else if (op->kind == OP_FORK) {
			do_fork(op);
		} else if (op->kind == OP_VFORK || op->kind == OP_SPAWN) {
			do_vfork(op);
		} else if (op->kind == OP_CLONE) {
			do_clone(op);
		} else {
			run_op(op);
		}
	}
}

void worker_main(int32_t proc)
{
	struct sigaction sa;
	struct tctx *self = me();

	self->proc = proc;
	self->thr = g_trace.procs[proc].main_thr;
	if (getenv("ODF_PLAYER_DUMP_MAPS"))
		g_dump_line = (uint32_t)strtoul(getenv("ODF_PLAYER_DUMP_MAPS"), NULL, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	signal(SIGPIPE, SIG_DFL);
	if (g_trace.v2) {
		g_who = RUSAGE_THREAD;
		signal(SIGCHLD, SIG_DFL);	/* children stay waitable (wait) */
		signal(SIGUSR1, on_end);	/* exec ends the other threads */
		if (proc == 0)
			set_cpu(NULL, 0);	/* processes start on CPU 0; exec'd workers keep their creator's */
	} else {
		signal(SIGCHLD, SIG_IGN);
	}
	close_foreign_fds(proc);
	self_touch();
	read_status(&g_base_pte, &g_base_rss);
	if (g_trace.v2)
		threads_register_main(self);
	send_ready();
	serve();
}
