/* SPDX-License-Identifier: MIT */
/* odf-trace v1 text parser: the whole trace is parsed and checked before anything runs. */
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
};

static struct pstate *g_ps;

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

static int32_t new_proc(struct trace *t, uint32_t pid, int32_t parent)
{
	size_t i = t->nprocs++;

	t->procs = xrealloc(t->procs, t->nprocs * sizeof(*t->procs));
	g_ps = xrealloc(g_ps, t->nprocs * sizeof(*g_ps));
	t->procs[i] = (struct proc){ .pid = pid, .parent = parent, .cmd_rd = -1, .cmd_wr = -1,
				     .rep_rd = -1, .rep_wr = -1 };
	g_ps[i] = parent >= 0 ? g_ps[parent] : (struct pstate){ 0 };
	g_ps[i].live = 1;
	g_ps[i].refs = g_ps[i].ref_fds = 0;	/* references are not inherited */
	return (int32_t)i;
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
	struct op op = { .line = g_line, .child = -1 };
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
	uint64_t pid = num_arg(tok, 0, "pid");
	if (!pid || pid > UINT32_MAX)
		bad("bad pid '%s'", tok[0]);
	op.pid = (uint32_t)pid;
	op.proc = find_live(t, op.pid);
	if (op.proc < 0)
		bad(ever_used(t, op.pid) ? "dead pid %u (it has exited)" : "unknown pid %u", op.pid);
	struct pstate *ps = &g_ps[op.proc];
	const char *name = tok[1];
	int nargs = n - 2;

#define NARGS(lo, hi)                                                                      \
	do {                                                                               \
		if (nargs < (lo) || nargs > (hi))                                          \
			bad("wrong number of arguments for %s: expected %s, got %d", name,  \
			    (hi) > (lo) ? "1 or 2" : #lo, nargs);                          \
	} while (0)

	if (!strcmp(name, "mmap")) {
		NARGS(4, 4);
		op.kind = OP_MMAP;
		op.a = num_arg(tok, 2, "address");
		op.b = num_arg(tok, 3, "length");
		op.prot = parse_prot(tok[4]);
		if (!strcmp(tok[5], "shared"))
			op.flags = MAPF_SHARED;
		else if (strcmp(tok[5], "private"))
			bad("bad flags '%s' (private or shared)", tok[5]);
		check_aligned(op.a, op.b, 1);
		mark_slots(t, op.a, op.b);
	} else if (!strcmp(name, "munmap") || !strcmp(name, "pin") || !strcmp(name, "unpin")) {
		NARGS(2, 2);
		op.kind = name[0] == 'm' ? OP_MUNMAP : name[0] == 'p' ? OP_PIN : OP_UNPIN;
		op.a = num_arg(tok, 2, "address");
		op.b = num_arg(tok, 3, "length");
		check_aligned(op.a, op.b, 1);
		mark_slots(t, op.a, op.b);
	} else if (!strcmp(name, "mprotect")) {
		NARGS(3, 3);
		op.kind = OP_MPROTECT;
		op.a = num_arg(tok, 2, "address");
		op.b = num_arg(tok, 3, "length");
		op.prot = parse_prot(tok[4]);
		check_aligned(op.a, op.b, 1);
		mark_slots(t, op.a, op.b);
	} else if (!strcmp(name, "madvise")) {
		NARGS(3, 3);
		op.kind = OP_MADVISE;
		op.a = num_arg(tok, 2, "address");
		op.b = num_arg(tok, 3, "length");
		if (strcmp(tok[4], "dontneed"))
			bad("bad advice '%s' (only dontneed)", tok[4]);
		check_aligned(op.a, op.b, 1);
		mark_slots(t, op.a, op.b);
	} else if (!strcmp(name, "mremap")) {
		NARGS(4, 4);
		op.kind = OP_MREMAP;
		op.a = num_arg(tok, 2, "address");
		op.b = num_arg(tok, 3, "length");
		op.c = num_arg(tok, 4, "new address");
		op.d = num_arg(tok, 5, "new length");
		check_aligned(op.a, op.b, 1);
		check_aligned(op.c, op.d, 1);
		if (op.a < op.c + op.d && op.c < op.a + op.b)
			bad("mremap ranges overlap");
		mark_slots(t, op.a, op.b);
		mark_slots(t, op.c, op.d);
	} else if (!strcmp(name, "brk")) {
		NARGS(1, 1);
		op.kind = OP_BRK;
		op.a = num_arg(tok, 2, "address");
		if (op.a & (PAGE_SZ - 1))
			bad("address 0x%llx not 4 KiB aligned", (unsigned long long)op.a);
		if (op.a > USER_TOP)
			bad("range 0x%llx+0x0 beyond user space (0x800000000000)", (unsigned long long)op.a);
		if (!ps->has_brk) {
			ps->has_brk = 1;
			ps->brk_lo = ps->brk_hi = op.a;
		}
		if (op.a > ps->brk_hi)
			ps->brk_hi = op.a;
		if (op.a >= ps->brk_lo)
			mark_slots(t, ps->brk_lo, ps->brk_hi - ps->brk_lo);
	} else if (!strcmp(name, "r") || !strcmp(name, "w")) {
		NARGS(1, 2);
		op.kind = name[0] == 'r' ? OP_R : OP_W;
		op.a = num_arg(tok, 2, "address");
		op.b = nargs == 2 ? num_arg(tok, 3, "length") : PAGE_SZ - (op.a & (PAGE_SZ - 1));
		if (!op.b)
			bad("zero length");
		mark_slots(t, op.a, op.b);
	} else if (!strcmp(name, "getref")) {
		NARGS(3, 3);
		op.kind = OP_GETREF;
		op.a = num_arg(tok, 2, "address");
		op.b = num_arg(tok, 3, "length");
		if (!strcmp(tok[4], "pin"))
			op.flags = REF_PIN;
		else if (strcmp(tok[4], "get"))
			bad("bad getref kind '%s' (get or pin)", tok[4]);
		check_aligned(op.a, op.b, 1);
		mark_slots(t, op.a, op.b);
		ps->refs += op.b / PAGE_SZ;
		ps->ref_fds += op.b / PAGE_SZ * (op.flags == REF_PIN ? 1 : 2);
		if (ps->refs > t->max_refs)
			t->max_refs = ps->refs;
		if (ps->ref_fds > t->max_ref_fds)
			t->max_ref_fds = ps->ref_fds;
	} else if (!strcmp(name, "readref") || !strcmp(name, "putref")) {
		NARGS(2, 2);
		op.kind = name[0] == 'r' ? OP_READREF : OP_PUTREF;
		op.a = num_arg(tok, 2, "address");
		op.b = num_arg(tok, 3, "length");
		check_aligned(op.a, op.b, 1);
		mark_slots(t, op.a, op.b);
	} else if (!strcmp(name, "fork")) {
		NARGS(1, 1);
		op.kind = OP_FORK;
		uint64_t c = num_arg(tok, 2, "child pid");
		if (!c || c > UINT32_MAX)
			bad("bad child pid '%s'", tok[2]);
		if (ever_used(t, (uint32_t)c))
			bad("reused child pid %llu", (unsigned long long)c);
		op.child_pid = (uint32_t)c;
		op.child = new_proc(t, op.child_pid, op.proc);
	} else if (!strcmp(name, "exec")) {
		NARGS(0, 0);
		op.kind = OP_EXEC;
		ps->has_brk = 0;
		ps->refs = ps->ref_fds = 0;
	} else if (!strcmp(name, "exit")) {
		NARGS(0, 0);
		op.kind = OP_EXIT;
		ps->live = 0;
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
	new_proc(t, 1, -1);
	g_line = 1;
	nl = strchr(s, '\n');
	if (nl)
		*nl = 0;
	if (strncmp(s, "# odf-trace v1", 14) || (s[14] && s[14] != ' ' && s[14] != '\r'))
		bad("missing header '# odf-trace v1'");
	while (nl) {
		s = nl + 1;
		g_line++;
		nl = strchr(s, '\n');
		if (nl)
			*nl = 0;
		parse_line(t, s, &cap);
	}
	free(buf);
	free(g_ps);
	g_ps = NULL;
}
