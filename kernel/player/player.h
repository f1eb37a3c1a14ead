/* SPDX-License-Identifier: MIT */
/*
 * odf-player: executes an odf-trace v1 for real (see README.md).
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
};

#define MAPF_SHARED 1
#define REF_PIN 1	/* getref: flags */

struct op {
	uint64_t a, b, c, d;	/* addr, len, (mremap) new addr, new len */
	uint32_t line;
	uint32_t pid;		/* trace pid */
	uint32_t child_pid;	/* fork */
	int32_t proc;		/* process (incarnation) index executing the op */
	int32_t child;		/* fork: index of the new process */
	uint32_t label;		/* mark: offset into labels */
	uint8_t kind;
	uint8_t prot;		/* PROT_* bits */
	uint8_t flags;		/* MAPF_*, or REF_PIN for getref */
};

/* One process incarnation of the trace (a pid number can be reused after exit). */
struct proc {
	uint32_t pid;
	int32_t parent;		/* index of the forking process, -1 for pid 1 */
	int cmd_rd, cmd_wr;	/* coordinator -> worker */
	int rep_rd, rep_wr;	/* worker -> coordinator */
};

struct trace {
	struct op *ops;
	size_t nops;
	struct proc *procs;
	size_t nprocs;
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
extern int g_no_thp;
void worker_main(int self) __attribute__((noreturn));
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
void ob_rec_head(struct obuf *o, const char *kind, uint32_t line, uint32_t pid);

void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
int write_all(int fd, const void *buf, size_t len);
int read_all(int fd, void *buf, size_t len);

#endif
