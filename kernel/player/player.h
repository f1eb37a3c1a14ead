/* SPDX-License-Identifier: MIT */
/*
 * odf-player: executes an odf-trace v1 or v2 for real (see README.md).
 * Shared declarations of the parser, the coordinator and the workers.
 */
#ifndef ODF_PLAYER_H
#define ODF_PLAYER_H

#include <stdint.h>
#include <stddef.h>

#define PAGE_SZ 4096ULL
#define SLOT_SHIFT 39 /* one PGD entry: 512 GiB */
#define NSLOTS 256    /* 47-bit user address space */
#define USER_TOP (1ULL << 47)

enum op_kind {
	OP_MMAP, OP_MUNMAP, OP_MPROTECT, OP_MADVISE, OP_MREMAP, OP_BRK, OP_PIN, OP_UNPIN,
	OP_R, OP_W, OP_FORK, OP_EXEC, OP_EXIT, OP_MARK, OP_GETREF, OP_READREF, OP_PUTREF,
	/* v2 */
	OP_CLONE, OP_TEXIT, OP_CPU, OP_RUN, OP_WAIT, OP_VFORK, OP_SPAWN, OP_BEGIN, OP_END,
};

#define MAPF_SHARED 1
#define REF_PIN 1	/* getref: flags */

struct op {
	union {
		uint64_t addr;	/* range ops, brk: the (first) address */
		uint64_t cpu;	/* cpu N */
		uint64_t ns;	/* run NS (parsed, not executed: the guest runs at its own speed) */
		uint64_t at;	/* begin LABEL AT: the arrival time */
	};
	uint64_t len;		/* range ops: bytes */
	uint64_t new_addr;	/* mremap */
	uint64_t new_len;	/* mremap */
	uint32_t line;
	uint32_t pid;		/* trace pid */
	uint32_t tid;		/* trace thread (0: the main thread) */
	uint32_t child_pid;	/* fork, vfork, spawn, wait: that pid; clone: the new TID */
	int32_t proc;		/* process (incarnation) index executing the op */
	int32_t thr;		/* thread index executing the op (its command pipe) */
	int32_t child;		/* fork, vfork, spawn: the new process; wait: the waited process; clone: the new thread */
	int32_t vparent;	/* exec/exit of a vfork child before its exec: the blocked thread of the parent, else -1 */
	uint32_t label;		/* mark, begin, end: offset into labels */
	uint8_t kind;
	uint8_t prot;		/* PROT_* bits */
	uint8_t flags;		/* MAPF_*, or REF_PIN for getref */
};

/* One process incarnation of the trace (a pid number can be reused after exit). */
struct proc {
	uint32_t pid;
	int32_t parent;		/* index of the forking process, -1 for pid 1 */
	int32_t main_thr;	/* its first main thread (tid 0) */
	int32_t real_pid;	/* in the worker of the parent: the kernel pid (for wait) */
	int rep_rd, rep_wr;	/* worker -> coordinator (shared by the process's threads) */
};

/* One thread of a process incarnation (v2: PID.TID); every process has its main thread (tid 0). */
struct thr {
	int32_t proc;
	uint32_t tid;
	uint8_t real;		/* a thread that runs (not a placeholder for a TID ended by exec) */
	int cmd_rd, cmd_wr;	/* coordinator -> thread */
};

struct trace {
	struct op *ops;
	size_t nops;
	struct proc *procs;
	size_t nprocs;
	struct thr *thrs;
	size_t nthrs;
	int v2;			/* header '# odf-trace v2' */
	/* Stacks the player needs for clone threads and vfork/spawn children in one address space at once (0: none,
	 * the trace has no clone, vfork or spawn). */
	size_t pool_slots;
	uint32_t max_cpu;	/* highest CPU a cpu op names */
	char *labels;
	size_t labels_len;
	uint8_t slot_used[NSLOTS];
	/* Upper bounds over every process incarnation of the GUP references it holds at once (pages taken since it
	 * started or exec'd), and of the file descriptors they need (get: 2, a pipe; pin: 1, a gup_test file). */
	size_t max_refs, max_ref_fds;
};

/* parse.c: parses the file or exits 2 with "file:line: reason". */
void parse_trace(const char *path, struct trace *t);

/* reloc.c */
void reloc_init(const struct trace *t, const uint8_t own_slots[NSLOTS]);
uint64_t reloc(uint64_t trace_addr);
/* Calls fn(start, len) for every relocated run of trace slots. */
void reloc_for_each_run(void (*fn)(uint64_t start, uint64_t len));

/* pin.c: long-term pins with io_uring fixed buffers. */
/* Pins [addr, addr+len) (relocated addresses); returns 0 or, on failure, sets *fail to the trace page. */
int pin_range(uint64_t trace_addr, uint64_t len, uint64_t *fail_trace_addr);
void unpin_range(uint64_t trace_addr, uint64_t len);
void unpin_all(void);
void pins_forget_inherited(void); /* in a new child: close the parent's rings, pins are not inherited */

/* ref.c: read-only GUP references (getref get/pin, readref, putref), see README.md. */
void refs_init(size_t max_refs);	/* in the coordinator, before own_memory_init() */
/* References [a, a+len) (trace addresses) page by page; returns 0 or, on failure, sets *fail to the trace page. */
int getref_range(uint64_t trace_addr, uint64_t len, int pin, uint64_t *fail_trace_addr);
/* The first word of the page through the most recent reference to trace page va: 0, or -1 if there is none. */
int readref_page(uint64_t va, uint64_t *val);
int putref_page(uint64_t va);	/* drops that reference: 0, or -1 if there is none */
void refs_drop_all(void);
void refs_forget_inherited(void);	/* in a new child: close the parent's references (not inherited) */

/* worker.c */
extern struct trace g_trace;
extern int g_no_thp, g_mode;
extern const char *g_trace_path;
extern char g_exe[4096];
/* Worker start: pid 1 (forked by the coordinator) or an exec'd worker (--worker=PROC). */
void worker_main(int32_t proc) __attribute__((noreturn));
void rss_sync(void);
void self_touch(void);
void read_status(long *vmpte_kb, long *rss_anon_kb);
void own_memory_init(void);
/* In the coordinator after its last malloc: the kernel's heap follows the emulated one if prctl(PR_SET_MM) works
 * (required: or exit 1). */
void heap_init(int required);
extern long g_base_pte, g_base_rss;

/* out.c: tiny JSON-lines formatting without malloc. */
struct obuf {
	char *p;
	size_t len, cap;
};
void ob_str(struct obuf *o, const char *s);
void ob_u64(struct obuf *o, uint64_t v);
void ob_i64(struct obuf *o, int64_t v);
void ob_json_str(struct obuf *o, const char *s);
/* "tid" only when it is not 0 (v1 logs are unchanged). */
void ob_rec_head(struct obuf *o, const char *kind, uint32_t line, uint32_t pid, uint32_t tid);
void emit_op_rec(struct obuf *o, const struct op *op, long minflt);	/* {"k":"op",...,"minflt":N} */

/* thread.c: stacks and identities of clone threads and vfork/spawn children (README.md "Threads"). */
#define STK_SZ (128ULL << 10)
struct tctx {
	int32_t proc, thr;	/* the process and trace thread this stack's thread serves */
	volatile int tidword;	/* kernel tid while the thread lives (CLONE_PARENT_SETTID), 0 after (CLEARTID) */
};
extern struct tctx *g_ctx;	/* [0]: the native stack, [1 + k]: pool stack k */
extern char *g_pool;
void pool_init(void);		/* before own_memory_init(): the stacks are the player's own memory */
static inline struct tctx *me(void)
{
	uintptr_t sp = (uintptr_t)__builtin_frame_address(0);

	if (g_pool && sp >= (uintptr_t)g_pool && sp < (uintptr_t)g_pool + g_trace.pool_slots * STK_SZ)
		return &g_ctx[1 + (sp - (uintptr_t)g_pool) / STK_SZ];
	return &g_ctx[0];
}
int in_subtree(int32_t j, int32_t root);
void set_cpu(const struct op *op, uint32_t cpu);
int slot_alloc(const struct op *op);
void *slot_top(int k);
void threads_after_fork(struct tctx *self);	/* in a fork child: only the calling thread is left */
void threads_register_main(struct tctx *self);
void end_other_threads(const struct op *op);
void exec_worker(int32_t proc) __attribute__((noreturn));
void close_fds_not_in_subtree_nowrite(int32_t root);
void pins_close_inherited_fds(void);	/* pin.c: a vfork child closes its copies, tables untouched */
void refs_close_inherited_fds(void);	/* ref.c: same */

void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
int write_all(int fd, const void *buf, size_t len);
int read_all(int fd, void *buf, size_t len);

#endif
