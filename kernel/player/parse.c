/* SPDX-License-Identifier: MIT */
/* odf-trace v1/v2 text parser: the whole trace is parsed and checked before anything runs. */
#include "player.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static const char *g_file;
static uint32_t g_line;

static void __attribute__((noreturn, format(printf, 1, 2))) bad(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s:%u: ", g_file, g_line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		die("out of memory");
	return p;
}

static int parse_num(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	int base = 10, any = 0;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	for (; *s; s++) {
		int d;

		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = *s - 'A' + 10;
		else
			return -1;
		if (v > (UINT64_MAX - d) / base)
			return -1;
		v = v * base + d;
		any = 1;
	}
	if (!any)
		return -1;
	*out = v;
	return 0;
}

static uint64_t num_arg(char **tok, int i, const char *what)
{
	uint64_t v;

	if (parse_num(tok[i], &v))
		bad("bad number '%s'", tok[i]);
	return v;
}

static uint8_t parse_prot(const char *s)
{
	uint8_t p = 0;

	if (!strcmp(s, "none"))
		return 0;
	for (; *s; s++) {
		uint8_t bit = *s == 'r' ? PROT_READ : *s == 'w' ? PROT_WRITE : *s == 'x' ? PROT_EXEC : 0;

		if (!bit || (p & bit))
			bad("bad prot '%s' (letters from r, w, x, each once, or 'none')", s);
		p |= bit;
	}
	return p;
}

static void mark_slots(struct trace *t, uint64_t a, uint64_t len)
{
	if (!len)
		len = 1;
	if (a >= USER_TOP || len > USER_TOP - a)
		bad("range 0x%llx+0x%llx beyond user space (0x800000000000)",
		    (unsigned long long)a, (unsigned long long)len);
	for (uint64_t s = a >> SLOT_SHIFT; s <= (a + len - 1) >> SLOT_SHIFT; s++)
		t->slot_used[s] = 1;
}

static void check_aligned(uint64_t a, uint64_t len, int need_len)
{
	if (a & (PAGE_SZ - 1))
		bad("address 0x%llx not 4 KiB aligned", (unsigned long long)a);
	if (len & (PAGE_SZ - 1))
		bad("length 0x%llx not 4 KiB aligned", (unsigned long long)len);
	if (need_len && !len)
		bad("zero length");
}

/* Per-incarnation parse state. */
struct pstate {
	int live;
	int has_brk;
	uint64_t brk_lo, brk_hi;
	size_t refs, ref_fds;	/* references taken since the start or the last exec (an upper bound of those held) */
	int32_t heap_of;	/* whose heap brk changes: itself, or for a vfork child before exec its parent's */
	int32_t main_thr;	/* current main thread (the thread that exec'd takes over) */
	int32_t vparent;	/* vfork child before its exec: the blocked thread of its parent, else -1 */
	int waited;
	size_t nthreads, nvfork;	/* live threads, live vfork children in its address space */
};

enum { TB_NONE, TB_WAIT, TB_VFORK };

struct tstate {
	int live;
	int blocked;		/* TB_* */
	int32_t on;		/* the process it waits for */
};

static struct pstate *g_ps;
static struct tstate *g_ts;
static struct trace *g_t;
/* Open begin intervals: (thread, label offset). */
static struct open_iv {
	int32_t thr;
	uint32_t label;
} *g_iv;
static size_t g_niv, g_cap_iv;
static int g_any_stack;	/* a clone, vfork or spawn: the player needs its stack pool */
static size_t g_max_conc;

static int32_t find_live(struct trace *t, uint32_t pid)
{
	for (size_t i = t->nprocs; i-- > 0;)
		if (t->procs[i].pid == pid)
			return g_ps[i].live ? (int32_t)i : -1;
	return -1;
}

static int ever_used(struct trace *t, uint32_t pid)
{
	for (size_t i = 0; i < t->nprocs; i++)
		if (t->procs[i].pid == pid)
			return 1;
	return 0;
}

static int32_t new_thr(struct trace *t, int32_t proc, uint32_t tid, int real)
{
	size_t i = t->nthrs++;

	t->thrs = xrealloc(t->thrs, t->nthrs * sizeof(*t->thrs));
	g_ts = xrealloc(g_ts, t->nthrs * sizeof(*g_ts));
	t->thrs[i] = (struct thr){ .proc = proc, .tid = tid, .real = (uint8_t)real, .cmd_rd = -1, .cmd_wr = -1 };
	g_ts[i] = (struct tstate){ .live = real, .on = -1 };
	if (real)
		g_ps[proc].nthreads++;
	return (int32_t)i;
}

static void track_conc(int32_t p)
{
	size_t n = g_ps[p].nthreads + g_ps[p].nvfork;

	if (n > g_max_conc)
		g_max_conc = n;
}

static int32_t new_proc(struct trace *t, uint32_t pid, int32_t parent)
{
	size_t i = t->nprocs++;

	t->procs = xrealloc(t->procs, t->nprocs * sizeof(*t->procs));
	g_ps = xrealloc(g_ps, t->nprocs * sizeof(*g_ps));
	t->procs[i] = (struct proc){ .pid = pid, .parent = parent, .real_pid = -1, .rep_rd = -1, .rep_wr = -1 };
	g_ps[i] = parent >= 0 ? g_ps[parent] : (struct pstate){ 0 };
	g_ps[i].live = 1;
	g_ps[i].refs = g_ps[i].ref_fds = 0;	/* references are not inherited */
	g_ps[i].heap_of = (int32_t)i;
	if (parent >= 0 && g_ps[parent].heap_of != parent) {	/* the heap state of the parent's address space */
		g_ps[i].has_brk = g_ps[g_ps[parent].heap_of].has_brk;
		g_ps[i].brk_lo = g_ps[g_ps[parent].heap_of].brk_lo;
		g_ps[i].brk_hi = g_ps[g_ps[parent].heap_of].brk_hi;
	}
	g_ps[i].vparent = -1;
	g_ps[i].waited = 0;
	g_ps[i].nthreads = g_ps[i].nvfork = 0;
	g_ps[i].main_thr = t->procs[i].main_thr = new_thr(t, (int32_t)i, 0, 1);
	track_conc((int32_t)i);
	return (int32_t)i;
}

/* The thread (pid, tid) of the live process p, or -1 with the reason in *why. */
/* "PID" or "PID.TID" for messages. */
static const char *tname(uint32_t pid, uint32_t tid)
{
	static char b[32];

	if (tid)
		snprintf(b, sizeof(b), "%u.%u", pid, tid);
	else
		snprintf(b, sizeof(b), "%u", pid);
	return b;
}

static int32_t tr_proc(int32_t th)
{
	return g_t->thrs[th].proc;
}

static int32_t find_thr(struct trace *t, int32_t p, uint32_t tid)
{
	if (!tid)
		return g_ps[p].main_thr;
	for (size_t i = t->nthrs; i-- > 0;)
		if (t->thrs[i].proc == p && t->thrs[i].tid == tid)
			return (int32_t)i;
	return -1;
}

/* A thread's open intervals are dropped when it ends or execs (traces/FORMAT.md). */
static void drop_ivs(int32_t th)
{
	for (size_t k = g_niv; k-- > 0;)
		if (g_iv[k].thr == th)
			g_iv[k] = g_iv[--g_niv];
}

static void end_thread(int32_t th)
{
	drop_ivs(th);
	if (g_ts[th].live && g_ps[tr_proc(th)].nthreads)
		g_ps[tr_proc(th)].nthreads--;
	g_ts[th].live = 0;
	g_ts[th].blocked = TB_NONE;
}

/* Unblocks every thread that waits for process c (it has exited). */
static void child_gone(struct trace *t, int32_t c)
{
	for (size_t i = 0; i < t->nthrs; i++)
		if (g_ts[i].live && g_ts[i].blocked == TB_WAIT && g_ts[i].on == c)
			g_ts[i].blocked = TB_NONE;
}

/* A vfork child execs or exits: its parent's thread runs again; the heap it changed is the parent's. */
static void vfork_done(struct trace *t, int32_t c, struct op *op)
{
	int32_t vp = g_ps[c].vparent, parent = t->procs[c].parent;

	if (vp < 0)
		return;
	op->vparent = vp;
	if (g_ts[vp].blocked == TB_VFORK && g_ts[vp].on == c)
		g_ts[vp].blocked = TB_NONE;
	if (g_ps[parent].nvfork)
		g_ps[parent].nvfork--;
	g_ps[c].vparent = -1;
	g_ps[c].heap_of = c;
}

static char *read_file(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY);
	size_t cap = 1 << 16, n = 0;
	char *buf;

	if (fd < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		exit(2);
	}
	buf = xrealloc(NULL, cap);
	for (;;) {
		ssize_t r;

		if (n + 1 >= cap)
			buf = xrealloc(buf, cap *= 2);
		r = read(fd, buf + n, cap - n - 1);
		if (r < 0)
			die("%s: %s", path, strerror(errno));
		if (!r)
			break;
		n += r;
	}
	close(fd);
	buf[n] = 0;
	*len = n;
	return buf;
}

static void parse_line(struct trace *t, char *s, size_t *cap)
{
	char *tok[8];
	int n = 0;
	struct op op = { .line = g_line, .child = -1, .vparent = -1 };
	char *hash = strchr(s, '#');

	if (hash)
		*hash = 0;
	for (char *p = strtok(s, " \t\r"); p; p = strtok(NULL, " \t\r")) {
		if (n == 8)
			bad("too many fields");
		tok[n++] = p;
	}
	if (!n)
		return;
	if (n < 2)
		bad("missing op after the pid");
	char *dot = strchr(tok[0], '.');
	uint64_t tid = 0;

	if (dot) {
		if (!t->v2)
			bad("a thread 'PID.TID' needs the header '# odf-trace v2'");
		*dot = 0;
		if (parse_num(dot + 1, &tid) || !tid || tid > UINT32_MAX)
			bad("bad thread '%s' (PID.TID, TID >= 1)", dot + 1);
	}
	uint64_t pid = num_arg(tok, 0, "pid");
	if (!pid || pid > UINT32_MAX)
		bad("bad pid '%s'", tok[0]);
	op.pid = (uint32_t)pid;
	op.tid = (uint32_t)tid;
	op.proc = find_live(t, op.pid);
	if (op.proc < 0)
		bad(ever_used(t, op.pid) ? "dead pid %u (it has exited)" : "unknown pid %u", op.pid);
	op.thr = find_thr(t, op.proc, op.tid);
	if (op.thr < 0)
		bad("unknown thread %u.%u", op.pid, op.tid);
	if (!g_ts[op.thr].live)
		bad("ended thread %u.%u", op.pid, op.tid);
	if (g_ts[op.thr].blocked == TB_WAIT)
		bad("thread %s is blocked in wait for pid %u", tname(op.pid, op.tid), t->procs[g_ts[op.thr].on].pid);
	if (g_ts[op.thr].blocked == TB_VFORK)
		bad("thread %s is blocked in vfork until pid %u execs or exits", tname(op.pid, op.tid),
		    t->procs[g_ts[op.thr].on].pid);
	struct pstate *ps = &g_ps[op.proc];
	struct pstate *hs = &g_ps[ps->heap_of];
	const char *name = tok[1];
	int nargs = n - 2;
	static const char *const v2ops[] = { "clone", "texit", "cpu", "run", "wait", "vfork", "spawn", "begin", "end" };
	static const char *const no_vfork[] = { "fork", "vfork", "spawn", "clone", "wait", "pin", "unpin", "getref",
						 "readref", "putref" };

	for (size_t i = 0; i < sizeof(v2ops) / sizeof(v2ops[0]); i++)
		if (!strcmp(name, v2ops[i]) && !t->v2)
			bad("op '%s' needs the header '# odf-trace v2'", name);
	if (ps->vparent >= 0)
		for (size_t i = 0; i < sizeof(no_vfork) / sizeof(no_vfork[0]); i++)
			if (!strcmp(name, no_vfork[i]))
				bad("%s in a vfork child before its exec or exit: not supported by the player", name);

#define NARGS(lo, hi)                                                                      \
	do {                                                                               \
		if (nargs < (lo) || nargs > (hi))                                          \
			bad("wrong number of arguments for %s: expected %s, got %d", name,  \
			    (hi) > (lo) ? "1 or 2" : #lo, nargs);                          \
	} while (0)

	if (!strcmp(name, "mmap")) {
		NARGS(4, 4);
		op.kind = OP_MMAP;
		op.addr = num_arg(tok, 2, "address");
		op.len = num_arg(tok, 3, "length");
		op.prot = parse_prot(tok[4]);
		if (!strcmp(tok[5], "shared"))
			op.flags = MAPF_SHARED;
		else if (strcmp(tok[5], "private"))
			bad("bad flags '%s' (private or shared)", tok[5]);
		check_aligned(op.addr, op.len, 1);
		mark_slots(t, op.addr, op.len);
	} else if (!strcmp(name, "munmap") || !strcmp(name, "pin") || !strcmp(name, "unpin")) {
		NARGS(2, 2);
		op.kind = name[0] == 'm' ? OP_MUNMAP : name[0] == 'p' ? OP_PIN : OP_UNPIN;
		op.addr = num_arg(tok, 2, "address");
		op.len = num_arg(tok, 3, "length");
		check_aligned(op.addr, op.len, 1);
		mark_slots(t, op.addr, op.len);
	} else if (!strcmp(name, "mprotect")) {
		NARGS(3, 3);
		op.kind = OP_MPROTECT;
		op.addr = num_arg(tok, 2, "address");
		op.len = num_arg(tok, 3, "length");
		op.prot = parse_prot(tok[4]);
		check_aligned(op.addr, op.len, 1);
		mark_slots(t, op.addr, op.len);
	} else if (!strcmp(name, "madvise")) {
		NARGS(3, 3);
		op.kind = OP_MADVISE;
		op.addr = num_arg(tok, 2, "address");
		op.len = num_arg(tok, 3, "length");
		if (strcmp(tok[4], "dontneed"))
			bad("bad advice '%s' (only dontneed)", tok[4]);
		check_aligned(op.addr, op.len, 1);
		mark_slots(t, op.addr, op.len);
	} else if (!strcmp(name, "mremap")) {
		NARGS(4, 4);
		op.kind = OP_MREMAP;
		op.addr = num_arg(tok, 2, "address");
		op.len = num_arg(tok, 3, "length");
		op.new_addr = num_arg(tok, 4, "new address");
		op.new_len = num_arg(tok, 5, "new length");
		check_aligned(op.addr, op.len, 1);
		check_aligned(op.new_addr, op.new_len, 1);
		if (op.addr < op.new_addr + op.new_len && op.new_addr < op.addr + op.len)
			bad("mremap ranges overlap");
		mark_slots(t, op.addr, op.len);
		mark_slots(t, op.new_addr, op.new_len);
	} else if (!strcmp(name, "brk")) {
		NARGS(1, 1);
		op.kind = OP_BRK;
		op.addr = num_arg(tok, 2, "address");
		if (op.addr & (PAGE_SZ - 1))
			bad("address 0x%llx not 4 KiB aligned", (unsigned long long)op.addr);
		if (op.addr > USER_TOP)
			bad("range 0x%llx+0x0 beyond user space (0x800000000000)", (unsigned long long)op.addr);
		if (!hs->has_brk) {
			hs->has_brk = 1;
			hs->brk_lo = hs->brk_hi = op.addr;
		}
		if (op.addr > hs->brk_hi)
			hs->brk_hi = op.addr;
		if (op.addr >= hs->brk_lo)
			mark_slots(t, hs->brk_lo, hs->brk_hi - hs->brk_lo);
	} else if (!strcmp(name, "r") || !strcmp(name, "w")) {
		NARGS(1, 2);
		op.kind = name[0] == 'r' ? OP_R : OP_W;
		op.addr = num_arg(tok, 2, "address");
		op.len = nargs == 2 ? num_arg(tok, 3, "length") : PAGE_SZ - (op.addr & (PAGE_SZ - 1));
		if (!op.len)
			bad("zero length");
		mark_slots(t, op.addr, op.len);
	} else if (!strcmp(name, "getref")) {
		NARGS(3, 3);
		op.kind = OP_GETREF;
		op.addr = num_arg(tok, 2, "address");
		op.len = num_arg(tok, 3, "length");
		if (!strcmp(tok[4], "pin"))
			op.flags = REF_PIN;
		else if (strcmp(tok[4], "get"))
			bad("bad getref kind '%s' (get or pin)", tok[4]);
		check_aligned(op.addr, op.len, 1);
		mark_slots(t, op.addr, op.len);
		ps->refs += op.len / PAGE_SZ;
		ps->ref_fds += op.len / PAGE_SZ * (op.flags == REF_PIN ? 1 : 2);
		if (ps->refs > t->max_refs)
			t->max_refs = ps->refs;
		if (ps->ref_fds > t->max_ref_fds)
			t->max_ref_fds = ps->ref_fds;
	} else if (!strcmp(name, "readref") || !strcmp(name, "putref")) {
		NARGS(2, 2);
		op.kind = name[0] == 'r' ? OP_READREF : OP_PUTREF;
		op.addr = num_arg(tok, 2, "address");
		op.len = num_arg(tok, 3, "length");
		check_aligned(op.addr, op.len, 1);
		mark_slots(t, op.addr, op.len);
	} else if (!strcmp(name, "fork") || !strcmp(name, "vfork") || !strcmp(name, "spawn")) {
		NARGS(1, 1);
		op.kind = name[0] == 'f' ? OP_FORK : name[0] == 'v' ? OP_VFORK : OP_SPAWN;
		uint64_t c = num_arg(tok, 2, "child pid");
		if (!c || c > UINT32_MAX)
			bad("bad child pid '%s'", tok[2]);
		if (ever_used(t, (uint32_t)c))
			bad("reused child pid %llu", (unsigned long long)c);
		op.child_pid = (uint32_t)c;
		op.child = new_proc(t, op.child_pid, op.proc);
		ps = &g_ps[op.proc];	/* g_ps moved */
		if (op.kind != OP_FORK)
			g_any_stack = 1;
		if (op.kind == OP_SPAWN) {
			g_ps[op.child].has_brk = 0;	/* an empty address space */
			ps->nvfork++;	/* its stack, until the exec */
			track_conc(op.proc);
			ps->nvfork--;
		} else if (op.kind == OP_VFORK) {
			g_ps[op.child].vparent = op.thr;
			g_ps[op.child].heap_of = ps->heap_of;
			g_ts[op.thr].blocked = TB_VFORK;
			g_ts[op.thr].on = op.child;
			ps->nvfork++;
			track_conc(op.proc);
		}
	} else if (!strcmp(name, "exec")) {
		NARGS(0, 0);
		op.kind = OP_EXEC;
		for (size_t i = 0; i < t->nthrs; i++)
			if (t->thrs[i].proc == op.proc && (int32_t)i != op.thr && g_ts[i].blocked == TB_VFORK)
				bad("exec while thread %s is blocked in vfork: not supported by the player",
				    tname(op.pid, t->thrs[i].tid));
		vfork_done(t, op.proc, &op);
		ps = &g_ps[op.proc];
		ps->has_brk = 0;
		ps->refs = ps->ref_fds = 0;
		/* The other threads end; the caller goes on as the main thread. */
		for (size_t i = 0; i < t->nthrs; i++)
			if (t->thrs[i].proc == op.proc && (int32_t)i != op.thr)
				end_thread((int32_t)i);
		drop_ivs(op.thr);
		if (op.tid) {
			new_thr(t, op.proc, op.tid, 0);	/* TID stays used, ended */
			t->thrs[op.thr].tid = 0;
			g_ps[op.proc].main_thr = op.thr;
		}
	} else if (!strcmp(name, "exit")) {
		NARGS(0, 0);
		op.kind = OP_EXIT;
		vfork_done(t, op.proc, &op);
		ps = &g_ps[op.proc];
		ps->live = 0;
		for (size_t i = 0; i < t->nthrs; i++)
			if (t->thrs[i].proc == op.proc)
				end_thread((int32_t)i);
		child_gone(t, op.proc);
	} else if (!strcmp(name, "clone")) {
		NARGS(1, 1);
		op.kind = OP_CLONE;
		uint64_t c = num_arg(tok, 2, "tid");
		if (!c || c > UINT32_MAX)
			bad("bad tid '%s' (>= 1)", tok[2]);
		for (size_t i = 0; i < t->nthrs; i++)
			if (t->thrs[i].proc == op.proc && t->thrs[i].tid == c)
				bad("reused tid %llu in pid %u", (unsigned long long)c, op.pid);
		op.child_pid = (uint32_t)c;
		op.child = new_thr(t, op.proc, (uint32_t)c, 1);
		g_any_stack = 1;
		track_conc(op.proc);
	} else if (!strcmp(name, "texit")) {
		NARGS(0, 0);
		op.kind = OP_TEXIT;
		if (op.thr == ps->main_thr)
			bad("texit of the main thread (use exit)");
		end_thread(op.thr);
	} else if (!strcmp(name, "cpu")) {
		NARGS(1, 1);
		op.kind = OP_CPU;
		op.cpu = num_arg(tok, 2, "cpu");
		if (op.cpu > 4095)
			bad("cpu %llu out of range", (unsigned long long)op.cpu);
		if (op.cpu > t->max_cpu)
			t->max_cpu = (uint32_t)op.cpu;
	} else if (!strcmp(name, "run")) {
		NARGS(1, 1);
		op.kind = OP_RUN;
		op.ns = num_arg(tok, 2, "ns");
	} else if (!strcmp(name, "wait")) {
		NARGS(1, 1);
		op.kind = OP_WAIT;
		uint64_t c = num_arg(tok, 2, "pid");
		int32_t ci = -1;
		for (size_t i = t->nprocs; i-- > 0;)
			if (t->procs[i].pid == c) {
				ci = (int32_t)i;
				break;
			}
		if (ci < 0 || t->procs[ci].parent != op.proc)
			bad("wait on pid %llu: not a child of pid %u", (unsigned long long)c, op.pid);
		if (g_ps[ci].waited)
			bad("wait on pid %llu: already waited for", (unsigned long long)c);
		g_ps[ci].waited = 1;
		op.child = ci;
		op.child_pid = (uint32_t)c;
		if (g_ps[ci].live) {
			g_ts[op.thr].blocked = TB_WAIT;
			g_ts[op.thr].on = ci;
		}
	} else if (!strcmp(name, "begin") || !strcmp(name, "end")) {
		int begin = name[0] == 'b';
		size_t k;

		if (begin)
			NARGS(1, 2);
		else
			NARGS(1, 1);
		op.kind = begin ? OP_BEGIN : OP_END;
		if (begin && nargs == 2)
			op.at = num_arg(tok, 3, "time");
		for (k = 0; k < g_niv; k++)
			if (g_iv[k].thr == op.thr && !strcmp(t->labels + g_iv[k].label, tok[2]))
				break;
		if (begin && k < g_niv)
			bad("begin %s: an interval %s of this thread is open (they do not nest)", tok[2], tok[2]);
		if (!begin && k == g_niv)
			bad("end %s without begin", tok[2]);
		if (!begin) {
			op.label = g_iv[k].label;
			g_iv[k] = g_iv[--g_niv];
		} else {
			size_t l = strlen(tok[2]) + 1;
			t->labels = xrealloc(t->labels, t->labels_len + l);
			memcpy(t->labels + t->labels_len, tok[2], l);
			op.label = (uint32_t)t->labels_len;
			t->labels_len += l;
			if (g_niv == g_cap_iv)
				g_iv = xrealloc(g_iv, (g_cap_iv = g_cap_iv ? 2 * g_cap_iv : 16) * sizeof(*g_iv));
			g_iv[g_niv++] = (struct open_iv){ .thr = op.thr, .label = op.label };
		}
	} else if (!strcmp(name, "mark")) {
		NARGS(1, 1);
		op.kind = OP_MARK;
		size_t l = strlen(tok[2]) + 1;
		t->labels = xrealloc(t->labels, t->labels_len + l);
		memcpy(t->labels + t->labels_len, tok[2], l);
		op.label = (uint32_t)t->labels_len;
		t->labels_len += l;
	} else {
		bad("unknown op '%s'", name);
	}
	if (t->nops == *cap)
		t->ops = xrealloc(t->ops, (*cap = *cap ? *cap * 2 : 1024) * sizeof(*t->ops));
	t->ops[t->nops++] = op;
}

void parse_trace(const char *path, struct trace *t)
{
	size_t len, cap = 0;
	char *buf = read_file(path, &len);
	char *s = buf, *nl;

	g_file = path;
	memset(t, 0, sizeof(*t));
	g_t = t;
	g_line = 1;
	nl = strchr(s, '\n');
	if (nl)
		*nl = 0;
	if (!strncmp(s, "# odf-trace v2", 14) && (!s[14] || s[14] == ' ' || s[14] == '\r'))
		t->v2 = 1;
	else if (strncmp(s, "# odf-trace v1", 14) || (s[14] && s[14] != ' ' && s[14] != '\r'))
		bad("missing header '# odf-trace v1'");
	new_proc(t, 1, -1);
	while (nl) {
		s = nl + 1;
		g_line++;
		nl = strchr(s, '\n');
		if (nl)
			*nl = 0;
		parse_line(t, s, &cap);
	}
	if (g_any_stack)
		t->pool_slots = g_max_conc + 2;
	free(buf);
	free(g_ps);
	free(g_ts);
	free(g_iv);
	g_ps = NULL;
	g_ts = NULL;
	g_iv = NULL;
}
