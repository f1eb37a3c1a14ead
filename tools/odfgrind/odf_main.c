/* odfgrind: a Valgrind tool that records the memory behaviour of a process tree as odf-trace v1/v2 events.

   Each process writes its own event file OUT_DIR/p<realpid>.ev with lines
       SEQ REALPID OP ARGS...          (the main thread)
       SEQ REALPID.TID OP ARGS...      (thread TID: 1, 2, ... in creation order per process, never reused)
   where SEQ comes from a counter shared by all recorded processes (an 8-byte word in the file OUT_DIR/seq,
   mapped shared and incremented atomically).  scripts/record sorts all files by SEQ and renumbers the pids
   into an odf-trace v1 file.  Extra per-process ops used only between the tool and scripts/record:
       start            a new Valgrind instance began in this process (the root process, or after an exec)
       fork CHILD       CHILD is a real pid (also vfork CHILD, and spawn CHILD for clone(CLONE_VM|CLONE_VFORK))
   and the odf-trace v2 ops clone TID, texit, run NS (before a thread's op: its guest instructions since its
   previous op x --ns-per-instr, counted inline per superblock; runs under --min-run-ns carried over), begin/end
   LABEL (--begin-at/--end-at syscalls).  scripts/record writes v2 when a process had threads or a v2 option was
   given, else drops the run lines and writes v1 exactly as before.
   Everything else is already in odf-trace syntax (addresses in hex, lengths page-aligned).

   What is recorded:
     - initial client segments (text, data, ld.so, stack incl. its growth reservation, vdso) as mmap private
       (SkShmC as shared); Valgrind's one-page initial brk segment becomes the initial heap (brk);
     - successful mmap/munmap/mprotect/madvise(MADV_DONTNEED)/mremap/brk (post-syscall);
     - fork (clone without CLONE_VM, vfork, fork), thread creation and exit (clone with CLONE_VM), exec, exit;
     - v2: wait4/waitid that reaped a child ("wait REALPID"; scripts/record keeps it for a recorded child and
       writes the child's exit first if it has none), sched_setaffinity to one CPU of a thread of this process
       ("cpu N", for another thread before its next op); SysV shmat/shmdt as a shared mmap/munmap;
     - page-granular reads and writes of loads, stores, CAS, LL/SC, dirty helpers, instruction fetches (as reads)
       and of the memory that syscalls read or write (Valgrind's pre_mem_read / post_mem_write events).
   With --first-touch=yes (default no here; scripts/record turns it on) only the first read and the first write of
   each page per epoch are kept; the epoch restarts at each fork (parent and child) and, for the pages whose
   mapping changes, at every mapping op.  Without it, consecutive accesses of one kind to the same page are merged.
   In both modes an access to the page after the last one of a run of the same kind extends the run
   ("w ADDR LEN").  */

#include "pub_tool_basics.h"
#include "pub_tool_tooliface.h"
#include "pub_tool_libcassert.h"
#include "pub_tool_libcprint.h"
#include "pub_tool_libcbase.h"
#include "pub_tool_libcfile.h"
#include "pub_tool_libcproc.h"
#include "pub_tool_mallocfree.h"
#include "pub_tool_options.h"
#include "pub_tool_machine.h"
#include "pub_tool_aspacemgr.h"
#include "pub_tool_vki.h"
#include "pub_tool_vkiscnums.h"
#include "pub_tool_threadstate.h"

/* Core symbols that the public tool headers do not declare (libcoregrind is linked statically). */
extern Int VG_(safe_fd)(Int oldfd);
extern SysRes VG_(am_shared_mmap_file_float_valgrind)(SizeT length, UInt prot, Int fd, Off64T offset);
extern Addr VG_(brk_base);
extern Addr VG_(brk_limit);
extern Addr VG_(clstk_end);
extern ThreadId VG_(lwpid_to_vgtid)(Int lwpid);

#define ODF_MADV_DONTNEED 4 /* linux/mman.h */
#define PAGE_SHIFT 12
#define PAGE_SIZE ((Addr)1 << PAGE_SHIFT)
#define PG_UP(x) (((x) + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1))
#define PG_DOWN(x) ((x) & ~(PAGE_SIZE - 1))
#define USER_TOP ((Addr)1 << 47)
#define ODF_CLONE_VM 0x00000100    /* linux/sched.h */
#define ODF_CLONE_VFORK 0x00004000
#define ODF_WUNTRACED 0x00000002 /* linux/wait.h */
#define ODF_WCONTINUED 0x00000008
#define ODF_WNOWAIT 0x01000000
#define MAX_VTID 4096              /* Valgrind ThreadIds we track (--max-threads is 500 by default) */
#define MAX_SYSNO 1024

/* ------------------------------------------------------------------ options */
static const HChar* clo_out_dir = NULL;
static Bool clo_first_touch = False;
static Double clo_ns_per_instr = 0.3; /* IPC 1 at 3.3 GHz */
static Long clo_min_run_ns = 1000;
static const HChar* clo_begin_at = NULL;
static const HChar* clo_end_at = NULL;
static const HChar* clo_req_label = "req";

static Bool odf_process_cmd_line_option(const HChar* arg)
{
   if VG_STR_CLO(arg, "--out-dir", clo_out_dir) {
   } else if VG_BOOL_CLO(arg, "--first-touch", clo_first_touch) {
   } else if VG_DBL_CLO(arg, "--ns-per-instr", clo_ns_per_instr) {
      if (!(clo_ns_per_instr > 0.0 && clo_ns_per_instr <= 1000000.0))
         VG_(fmsg_bad_option)(arg, "--ns-per-instr must be > 0 and <= 1000000\n");
   } else if VG_BINT_CLO(arg, "--min-run-ns", clo_min_run_ns, 0, 1000000000000LL) {
   } else if VG_STR_CLO(arg, "--begin-at", clo_begin_at) {
   } else if VG_STR_CLO(arg, "--end-at", clo_end_at) {
   } else if VG_STR_CLO(arg, "--request-label", clo_req_label) {
   } else
      return False;
   return True;
}

static void odf_print_usage(void)
{
   VG_(printf)("    --out-dir=DIR            write per-process event files into DIR (required)\n"
               "    --first-touch=yes|no     keep only the first read/write of a page per epoch [no]\n"
               "    --ns-per-instr=X         'run' ns per guest instruction [0.3]\n"
               "    --min-run-ns=N           carry runs shorter than N ns over to the next op [1000]\n"
               "    --begin-at=SYSCALLS      'begin LABEL' when a thread returns > 0 from one of these\n"
               "    --end-at=SYSCALLS        'end LABEL' when a thread with an open request enters one of these\n"
               "    --request-label=LABEL    the label of begin/end [req]\n");
}

static void odf_print_debug_usage(void) { VG_(printf)("    (none)\n"); }

/* ------------------------------------------------------------------ sequence counter */
static volatile ULong* seq_word = NULL;
static ULong local_seq = 0;

static ULong raw_seq(void)
{
   if (seq_word)
      return __atomic_fetch_add(seq_word, 1, __ATOMIC_SEQ_CST);
   return local_seq++;
}

/* ------------------------------------------------------------------ output */
static Int out_fd = -1;
static HChar obuf[1 << 16];
static Int opos = 0;
static Int my_pid = 0;
static ULong n_events = 0;

static void flush_obuf(void)
{
   Int off = 0;
   while (off < opos && out_fd >= 0) {
      Int n = VG_(write)(out_fd, obuf + off, opos - off);
      if (n <= 0)
         break;
      off += n;
   }
   opos = 0;
}

static void put_str(const HChar* s)
{
   while (*s)
      obuf[opos++] = *s++;
}

static void put_dec(ULong v)
{
   HChar tmp[24];
   Int n = 0;
   do {
      tmp[n++] = (HChar)('0' + v % 10);
      v /= 10;
   } while (v);
   while (n)
      obuf[opos++] = tmp[--n];
}

static void put_hex(ULong v)
{
   static const HChar digits[] = "0123456789abcdef";
   HChar tmp[20];
   Int n = 0;
   do {
      tmp[n++] = digits[v & 15];
      v >>= 4;
   } while (v);
   obuf[opos++] = '0';
   obuf[opos++] = 'x';
   while (n)
      obuf[opos++] = tmp[--n];
}

/* ------------------------------------------------------------------ threads and instruction counts */
/* Valgrind runs one thread at a time.  Each Valgrind ThreadId maps to a trace TID of this process (0: the main
   thread, then 1, 2, ... in creation order, never reused).  guest_instrs counts the guest instructions of whatever
   thread runs (incremented inline by the instrumentation); on a thread switch and before every op the difference
   since instrs_mark is added to the running thread's t_instrs, which a "run NS" line turns into time. */
static UInt t_ttid[MAX_VTID];
static ULong t_instrs[MAX_VTID];
static Bool t_req_open[MAX_VTID];
static Bool t_gone[MAX_VTID]; /* after its texit (the kernel's CLONE_CHILD_CLEARTID write comes later) */
static Int t_cpu_pending[MAX_VTID]; /* a "cpu N" set by another thread's sched_setaffinity, written at its next op */
static UInt next_ttid = 1;
static ThreadId cur_vtid = 1;
static ULong guest_instrs = 0;
static ULong instrs_mark = 0;
static Bool finished = False;
static Bool begin_set[MAX_SYSNO];
static Bool end_set[MAX_SYSNO];

static void account_instrs(void)
{
   t_instrs[cur_vtid] += guest_instrs - instrs_mark;
   instrs_mark = guest_instrs;
}

/* Starts a line of thread TTID: "SEQ PID " or "SEQ PID.TTID ". */
static void line_begin_t(ULong seq, UInt ttid)
{
   if (opos > (Int)sizeof(obuf) - 256)
      flush_obuf();
   put_dec(seq);
   obuf[opos++] = ' ';
   put_dec((ULong)my_pid);
   if (ttid) {
      obuf[opos++] = '.';
      put_dec(ttid);
   }
   obuf[opos++] = ' ';
   n_events++;
}

/* Starts a line of the running thread. */
static void line_begin(ULong seq) { line_begin_t(seq, t_ttid[cur_vtid]); }

static void line_end(void) { obuf[opos++] = '\n'; }

static Double ns_factor(void) { return clo_ns_per_instr; }

/* "run NS" of the running thread for the instructions it executed since its previous op; runs shorter than
   --min-run-ns are carried over to the next op unless FORCE. */
static void emit_run(Bool force)
{
   ULong ns;
   if (t_cpu_pending[cur_vtid] >= 0) {
      line_begin_t(raw_seq(), t_ttid[cur_vtid]);
      put_str("cpu ");
      put_dec((ULong)t_cpu_pending[cur_vtid]);
      line_end();
      t_cpu_pending[cur_vtid] = -1;
   }
   account_instrs();
   ns = (ULong)((Double)t_instrs[cur_vtid] * ns_factor());
   if (ns == 0 || (!force && ns < (ULong)clo_min_run_ns))
      return;
   line_begin_t(raw_seq(), t_ttid[cur_vtid]);
   put_str("run ");
   put_dec(ns);
   line_end();
   t_instrs[cur_vtid] = 0;
}

/* The sequence number of a new op of the running thread, after its "run". */
static ULong next_seq(void)
{
   emit_run(False);
   return raw_seq();
}

static ULong next_seq_forced(void)
{
   emit_run(True);
   return raw_seq();
}

static void open_output(void)
{
   HChar path[4096];
   SysRes r;
   my_pid = VG_(getpid)();
   if (!clo_out_dir)
      return;
   VG_(snprintf)(path, sizeof(path), "%s/p%d.ev", clo_out_dir, my_pid);
   r = VG_(open)(path, VKI_O_WRONLY | VKI_O_CREAT | VKI_O_APPEND, 0644);
   if (sr_isError(r)) {
      VG_(umsg)("odfgrind: cannot open %s\n", path);
      VG_(exit)(1);
   }
   out_fd = VG_(safe_fd)((Int)sr_Res(r));
}

static void map_seq_file(void)
{
   HChar path[4096];
   SysRes r, m;
   Int fd;
   if (!clo_out_dir)
      return;
   VG_(snprintf)(path, sizeof(path), "%s/seq", clo_out_dir);
   r = VG_(open)(path, VKI_O_RDWR, 0);
   if (sr_isError(r)) {
      VG_(umsg)("odfgrind: no shared counter %s (create a 4096-byte file); using a local counter\n", path);
      return;
   }
   fd = (Int)sr_Res(r);
   m = VG_(am_shared_mmap_file_float_valgrind)(PAGE_SIZE, VKI_PROT_READ | VKI_PROT_WRITE, fd, 0);
   VG_(close)(fd);
   if (sr_isError(m)) {
      VG_(umsg)("odfgrind: cannot map %s; using a local counter\n", path);
      return;
   }
   seq_word = (volatile ULong*)sr_Res(m);
}

/* ------------------------------------------------------------------ first-touch state */
/* Two bits per page (read seen, write seen) in 1 GiB chunks; a chunk is valid only for the epoch generation it
   was stamped with, so a fork clears everything by bumping the generation. */
#define CHUNK_SHIFT 18 /* pages per chunk: 2^18 = 1 GiB */
#define CHUNK_PAGES ((Addr)1 << CHUNK_SHIFT)
#define N_CHUNKS ((Addr)1 << (47 - PAGE_SHIFT - CHUNK_SHIFT))

typedef struct {
   UInt gen;
   UChar rd[CHUNK_PAGES / 8];
   UChar wr[CHUNK_PAGES / 8];
} Chunk;

static Chunk* chunks[N_CHUNKS];
static UInt cur_gen = 1;

static Chunk* get_chunk(Addr page)
{
   Addr ci = page >> CHUNK_SHIFT;
   Chunk* c = chunks[ci];
   if (!c) {
      c = VG_(malloc)("odf.chunk", sizeof(Chunk));
      VG_(memset)(c, 0, sizeof(Chunk));
      c->gen = cur_gen;
      chunks[ci] = c;
   } else if (c->gen != cur_gen) {
      VG_(memset)(c->rd, 0, sizeof(c->rd));
      VG_(memset)(c->wr, 0, sizeof(c->wr));
      c->gen = cur_gen;
   }
   return c;
}

/* Returns True when the (page, kind) was already seen in this epoch; marks it seen. */
static inline Bool seen_before(Addr page, Bool is_write)
{
   Chunk* c;
   UChar* bits;
   Addr i;
   UChar m;
   if (page >= (USER_TOP >> PAGE_SHIFT))
      return True; /* vsyscall page etc.: never recorded */
   c = get_chunk(page);
   bits = is_write ? c->wr : c->rd;
   i = page & (CHUNK_PAGES - 1);
   m = (UChar)(1u << (i & 7));
   if (bits[i >> 3] & m)
      return True;
   bits[i >> 3] |= m;
   return False;
}

/* ------------------------------------------------------------------ access runs */
static Bool pend_valid = False;
static Bool pend_write = False;
static Addr pend_start = 0; /* page number */
static Addr pend_n = 0;     /* pages */
static ULong pend_seq = 0;
static UInt pend_ttid = 0;
static Addr last_ifetch_page = ~(Addr)0;
static Bool started = False;

static void flush_pending(void)
{
   if (!pend_valid)
      return;
   line_begin_t(pend_seq, pend_ttid);
   put_str(pend_write ? "w " : "r ");
   put_hex(pend_start << PAGE_SHIFT);
   if (pend_n > 1) {
      obuf[opos++] = ' ';
      put_hex(pend_n << PAGE_SHIFT);
   }
   line_end();
   pend_valid = False;
}

static void emit_startup(void);

static inline void ensure_started(void)
{
   if (!started)
      emit_startup();
}

static void access_page(Addr page, Bool is_write)
{
   if (page >= (USER_TOP >> PAGE_SHIFT) || t_gone[cur_vtid])
      return;
   if (pend_valid && pend_write == is_write) {
      if (page == pend_start + pend_n - 1)
         return;
      if (clo_first_touch ? seen_before(page, is_write) : False)
         return;
      if (page == pend_start + pend_n) {
         pend_n++;
         return;
      }
   } else if (clo_first_touch && seen_before(page, is_write)) {
      return;
   }
   ensure_started();
   flush_pending();
   pend_valid = True;
   pend_write = is_write;
   pend_start = page;
   pend_n = 1;
   pend_seq = next_seq();
   pend_ttid = t_ttid[cur_vtid];
}

/* A mapping change: pages in the range start a new epoch. */
static void epoch_reset_range(Addr a, SizeT len)
{
   Addr p, end;
   last_ifetch_page = ~(Addr)0;
   if (!clo_first_touch || len == 0)
      return;
   p = a >> PAGE_SHIFT;
   end = (a + len + PAGE_SIZE - 1) >> PAGE_SHIFT;
   if (end > (USER_TOP >> PAGE_SHIFT))
      end = USER_TOP >> PAGE_SHIFT;
   while (p < end) {
      Addr ci = p >> CHUNK_SHIFT;
      Addr chunk_end = (ci + 1) << CHUNK_SHIFT;
      Addr stop = end < chunk_end ? end : chunk_end;
      Chunk* c = chunks[ci];
      if (c && c->gen == cur_gen) {
         Addr i;
         for (i = p; i < stop; i++) {
            Addr k = i & (CHUNK_PAGES - 1);
            if ((k & 7) == 0 && i + 8 <= stop) {
               c->rd[k >> 3] = 0;
               c->wr[k >> 3] = 0;
               i += 7;
               continue;
            }
            c->rd[k >> 3] &= (UChar)~(1u << (k & 7));
            c->wr[k >> 3] &= (UChar)~(1u << (k & 7));
         }
      }
      p = stop;
   }
}

static void epoch_reset_all(void)
{
   cur_gen++;
   last_ifetch_page = ~(Addr)0;
}

/* ------------------------------------------------------------------ helpers called from generated code */
static VG_REGPARM(2) void odf_read(Addr a, UWord size)
{
   Addr p = a >> PAGE_SHIFT;
   access_page(p, False);
   if (((a + size - 1) >> PAGE_SHIFT) != p)
      access_page(p + 1, False);
}

static VG_REGPARM(2) void odf_write(Addr a, UWord size)
{
   Addr p = a >> PAGE_SHIFT;
   access_page(p, True);
   if (((a + size - 1) >> PAGE_SHIFT) != p)
      access_page(p + 1, True);
}

static VG_REGPARM(1) void odf_ifetch(Addr page)
{
   if (page == last_ifetch_page)
      return;
   last_ifetch_page = page;
   access_page(page, False);
}

/* ------------------------------------------------------------------ mapping events */
static void put_prot(UWord prot)
{
   if ((prot & (VKI_PROT_READ | VKI_PROT_WRITE | VKI_PROT_EXEC)) == 0) {
      put_str("none");
      return;
   }
   /* PROT_WRITE and PROT_EXEC imply readable on x86. */
   if (prot & (VKI_PROT_READ | VKI_PROT_WRITE | VKI_PROT_EXEC))
      obuf[opos++] = 'r';
   if (prot & VKI_PROT_WRITE)
      obuf[opos++] = 'w';
   if (prot & VKI_PROT_EXEC)
      obuf[opos++] = 'x';
}

static Addr cur_brk = 0;
static Bool have_brk = False;

static void ev_mmap(Addr a, SizeT len, UWord prot, Bool shared)
{
   if (len == 0)
      return;
   flush_pending();
   line_begin(next_seq());
   put_str("mmap ");
   put_hex(a);
   obuf[opos++] = ' ';
   put_hex(len);
   obuf[opos++] = ' ';
   put_prot(prot);
   put_str(shared ? " shared" : " private");
   line_end();
   epoch_reset_range(a, len);
}

static void ev_range(const HChar* op, Addr a, SizeT len, const HChar* suffix)
{
   if (len == 0)
      return;
   flush_pending();
   line_begin(next_seq());
   put_str(op);
   obuf[opos++] = ' ';
   put_hex(a);
   obuf[opos++] = ' ';
   put_hex(len);
   if (suffix)
      put_str(suffix);
   line_end();
   epoch_reset_range(a, len);
}

static void ev_simple(const HChar* op)
{
   flush_pending();
   line_begin(next_seq_forced());
   put_str(op);
   line_end();
}

/* The running thread now is TID (Valgrind's): close the previous thread's access run and instruction count. */
static void switch_to(ThreadId tid)
{
   if (tid == cur_vtid || tid == VG_INVALID_THREADID)
      return;
   if (tid >= MAX_VTID)
      VG_(tool_panic)("odfgrind: Valgrind ThreadId beyond MAX_VTID");
   account_instrs();
   flush_pending();
   last_ifetch_page = ~(Addr)0;
   cur_vtid = tid;
}

static void odf_start_client_code(ThreadId tid, ULong blocks)
{
   (void)blocks;
   switch_to(tid);
}

/* Thread creation, in the creator's context before the new thread exists: "clone TTID". */
static void odf_thread_create(ThreadId parent, ThreadId child)
{
   if (child >= MAX_VTID)
      VG_(tool_panic)("odfgrind: Valgrind ThreadId beyond MAX_VTID");
   t_instrs[child] = 0;
   t_req_open[child] = False;
   t_gone[child] = False;
   t_cpu_pending[child] = -1;
   if (parent == VG_INVALID_THREADID) {
      t_ttid[child] = 0; /* the main thread */
      return;
   }
   switch_to(parent);
   ensure_started();
   flush_pending();
   t_ttid[child] = next_ttid++;
   line_begin(next_seq_forced());
   put_str("clone ");
   put_dec(t_ttid[child]);
   line_end();
}

/* Thread exit, in the exiting thread's context after its last instruction: "texit" (not for the main thread). */
static void odf_thread_exit(ThreadId tid)
{
   if (finished || tid >= MAX_VTID)
      return;
   switch_to(tid);
   if (t_ttid[tid] == 0)
      return;
   ensure_started();
   ev_simple("texit");
   t_req_open[tid] = False;
   t_gone[tid] = True;
}

static void ev_brk(Addr b)
{
   Addr old = cur_brk;
   b = PG_UP(b);
   if (have_brk && b == cur_brk)
      return;
   flush_pending();
   line_begin(next_seq());
   put_str("brk ");
   put_hex(b);
   line_end();
   if (have_brk) {
      if (b > old)
         epoch_reset_range(old, b - old);
      else
         epoch_reset_range(b, old - b);
   }
   cur_brk = b;
   have_brk = True;
}

/* The client's segments at startup (or right after an exec). */
static void emit_startup(void)
{
   Addr* starts;
   Int n, i;
   Addr brk_page = VG_(brk_base) ? PG_DOWN(VG_(brk_base)) : 0;
   Addr stack_top = VG_(clstk_end);
   started = True;
   flush_pending();
   line_begin_t(raw_seq(), 0);
   put_str("start");
   line_end();
   {
      Int cap = 256;
      for (;;) {
         starts = VG_(malloc)("odf.starts", cap * sizeof(Addr));
         n = VG_(am_get_segment_starts)(SkFileC | SkAnonC | SkShmC, starts, cap);
         if (n >= 0)
            break;
         VG_(free)(starts);
         cap = -n + 16;
      }
   }
   for (i = 0; i < n; i++) {
      NSegment const* seg = VG_(am_find_nsegment)(starts[i]);
      Addr s, e;
      UWord prot = 0;
      if (!seg || seg->start >= USER_TOP)
         continue;
      s = seg->start;
      e = seg->end + 1;
      if (seg->kind == SkAnonC && brk_page && s == brk_page)
         continue; /* the initial heap: recorded as the first brk below */
      if (seg->hasR)
         prot |= VKI_PROT_READ;
      if (seg->hasW)
         prot |= VKI_PROT_WRITE;
      if (seg->hasX)
         prot |= VKI_PROT_EXEC;
      if (seg->kind == SkAnonC && stack_top && s <= stack_top && stack_top < e && s > 0) {
         /* The main stack: include the growth reservation below it, as the kernel's stack VMA can grow. */
         NSegment const* below = VG_(am_find_nsegment)(s - 1);
         if (below && below->kind == SkResvn && below->end + 1 == s)
            s = below->start + PAGE_SIZE; /* keep one guard page */
      }
      ev_mmap(s, e - s, prot, seg->kind == SkShmC);
   }
   VG_(free)(starts);
   if (brk_page)
      ev_brk(VG_(brk_limit) > brk_page ? VG_(brk_limit) : brk_page);
}

/* ------------------------------------------------------------------ syscalls, fork, exec */
static ULong fork_seq = 0;
static Bool fork_pending = False;
static const HChar* fork_op = "fork";

/* Request boundaries: "end LABEL" when a thread with an open request enters an --end-at syscall, "begin LABEL"
   when a thread without one returns > 0 from a --begin-at syscall. */
static void req_event(Bool begin)
{
   ensure_started();
   flush_pending();
   line_begin(next_seq_forced());
   put_str(begin ? "begin " : "end ");
   put_str(clo_req_label);
   line_end();
   t_req_open[cur_vtid] = begin;
}

/* wait4/waitid that reaped CHILD (a real pid): "wait CHILD" of the running thread; scripts/record keeps it only in
   a v2 trace and only for a recorded child of this process. */
static void ev_wait(Int child)
{
   flush_pending();
   line_begin(next_seq_forced());
   put_str("wait ");
   put_dec((ULong)child);
   line_end();
}

/* The one CPU of a sched_setaffinity mask (LEN bytes at MASK), or -1 when it names several (or none). */
static Int single_cpu(Addr mask, SizeT len)
{
   Int cpu = -1;
   SizeT i;
   if (len > 512)
      len = 512; /* CPUs 0 to 4095, odf-trace's range */
   if (!mask || len == 0 || !VG_(am_is_valid_for_client)(mask, len, VKI_PROT_READ))
      return -1;
   for (i = 0; i < len; i++) {
      UChar b = ((const UChar*)mask)[i];
      if (b == 0)
         continue;
      if (cpu >= 0 || (b & (b - 1)) != 0)
         return -1;
      cpu = (Int)(i * 8) + __builtin_ctz(b);
   }
   return cpu;
}

/* sched_setaffinity(PID, ...) to one CPU: "cpu N" of the thread it names (0: the caller) if it is a thread of this
   process; of another thread, written before that thread's next op.  Other processes and masks of several CPUs are
   not recorded (the model's thread stays on the CPU it had). */
static void ev_setaffinity(Int pid, Int cpu)
{
   ThreadId t;
   if (cpu < 0)
      return;
   if (pid == 0 || pid == VG_(gettid)())
      t = cur_vtid;
   else
      t = VG_(lwpid_to_vgtid)(pid);
   if (t == VG_INVALID_THREADID || t >= MAX_VTID || t_gone[t])
      return;
   if (t != cur_vtid) {
      t_cpu_pending[t] = cpu;
      return;
   }
   flush_pending();
   line_begin(next_seq_forced());
   put_str("cpu ");
   put_dec((ULong)cpu);
   line_end();
}

/* shmdt: the attached segment, looked up before the syscall removes it. */
static Addr shmdt_start = 0;
static SizeT shmdt_len = 0;

static void odf_pre_syscall(ThreadId tid, UInt sysno, UWord* args, UInt nArgs)
{
   (void)nArgs;
   switch_to(tid);
   if (sysno < MAX_SYSNO && end_set[sysno] && t_req_open[cur_vtid])
      req_event(False);
   if (sysno == __NR_vfork) {
      fork_op = "vfork";
   } else if (sysno == __NR_clone) {
      /* glibc's posix_spawn: clone(CLONE_VM|CLONE_VFORK) (Valgrind runs it as a fork). */
      fork_op = (args[0] & (ODF_CLONE_VM | ODF_CLONE_VFORK)) == (ODF_CLONE_VM | ODF_CLONE_VFORK) ? "spawn" : "fork";
   } else if (sysno == __NR_clone3) {
      fork_op = "fork";
      if (args[0] && VG_(am_is_valid_for_client)(args[0], 8, VKI_PROT_READ)) {
         ULong flags = *(ULong*)args[0];
         if ((flags & (ODF_CLONE_VM | ODF_CLONE_VFORK)) == (ODF_CLONE_VM | ODF_CLONE_VFORK))
            fork_op = "spawn";
      }
   } else if (sysno == __NR_fork) {
      fork_op = "fork";
   }
   if (sysno == __NR_shmdt) {
      NSegment const* seg = VG_(am_find_nsegment)(args[0]);
      shmdt_len = 0;
      if (seg && seg->kind == SkShmC && seg->start == args[0]) {
         shmdt_start = seg->start;
         shmdt_len = seg->end + 1 - seg->start;
      }
   }
   if (sysno == __NR_execve || sysno == __NR_execveat) {
      /* Valgrind performs the exec in its pre-handler: save everything now. */
      ensure_started();
      flush_pending();
      flush_obuf();
   }
}

static void odf_post_syscall(ThreadId tid, UInt sysno, UWord* args, UInt nArgs, SysRes res)
{
   (void)nArgs;
   switch_to(tid);
   if (sysno < MAX_SYSNO && begin_set[sysno] && !t_req_open[cur_vtid] && !sr_isError(res) && sr_Res(res) > 0)
      req_event(True);
   if (sysno == __NR_clone || sysno == __NR_fork || sysno == __NR_vfork || sysno == __NR_clone3) {
      if (fork_pending && !sr_isError(res) && sr_Res(res) > 0) {
         fork_pending = False;
         line_begin(fork_seq);
         put_str(fork_op);
         obuf[opos++] = ' ';
         put_dec(sr_Res(res));
         line_end();
         flush_obuf();
      }
      fork_pending = False;
      return;
   }
   if (sr_isError(res))
      return;
   ensure_started();
   switch (sysno) {
   case __NR_mmap:
      ev_mmap(sr_Res(res), PG_UP(args[1]), args[2], (args[3] & VKI_MAP_SHARED) != 0);
      break;
   case __NR_munmap:
      ev_range("munmap", PG_DOWN(args[0]), PG_UP(args[1]), NULL);
      break;
   case __NR_mprotect: {
      SizeT len = PG_UP(args[1]);
      if (len == 0)
         break;
      flush_pending();
      line_begin(next_seq());
      put_str("mprotect ");
      put_hex(PG_DOWN(args[0]));
      obuf[opos++] = ' ';
      put_hex(len);
      obuf[opos++] = ' ';
      put_prot(args[2]);
      line_end();
      epoch_reset_range(args[0], len);
      break;
   }
   case __NR_madvise:
      if (args[2] == ODF_MADV_DONTNEED)
         ev_range("madvise", PG_DOWN(args[0]), PG_UP(args[1]), " dontneed");
      break;
   case __NR_mremap: {
      Addr old = PG_DOWN(args[0]);
      SizeT oldlen = PG_UP(args[1]);
      SizeT newlen = PG_UP(args[2]);
      Addr nw = sr_Res(res);
      if (nw == old) {
         /* Resized in place: odf-trace's mremap needs disjoint ranges, so a shrink is an munmap of the tail and
            a growth an mmap of the tail with the mapping's protection (contents of the head stay). */
         if (newlen < oldlen) {
            ev_range("munmap", old + newlen, oldlen - newlen, NULL);
         } else if (newlen > oldlen) {
            NSegment const* seg = VG_(am_find_nsegment)(old);
            UWord prot = VKI_PROT_READ | VKI_PROT_WRITE;
            Bool shared = False;
            if (seg) {
               prot = (seg->hasR ? VKI_PROT_READ : 0) | (seg->hasW ? VKI_PROT_WRITE : 0) |
                      (seg->hasX ? VKI_PROT_EXEC : 0);
               shared = seg->kind == SkShmC;
            }
            ev_mmap(old + oldlen, newlen - oldlen, prot, shared);
         }
         break;
      }
      if (nw < old + oldlen && old < nw + newlen) {
         /* Overlapping move (not expected from Linux): unmap and map anew; contents are lost. */
         ev_range("munmap", old, oldlen, NULL);
         ev_mmap(nw, newlen, VKI_PROT_READ | VKI_PROT_WRITE, False);
         break;
      }
      if (oldlen == 0 || newlen == 0)
         break;
      flush_pending();
      line_begin(next_seq());
      put_str("mremap ");
      put_hex(old);
      obuf[opos++] = ' ';
      put_hex(oldlen);
      obuf[opos++] = ' ';
      put_hex(nw);
      obuf[opos++] = ' ';
      put_hex(newlen);
      line_end();
      epoch_reset_range(old, oldlen);
      epoch_reset_range(nw, newlen);
      break;
   }
   case __NR_brk:
      ev_brk(sr_Res(res));
      break;
   case __NR_wait4: {
      /* Reaped unless the status says stopped (0x..7f) or continued (0xffff); without a status, WUNTRACED or
         WCONTINUED leave it unknown: not recorded. */
      Int child = (Int)sr_Res(res);
      if (child <= 0)
         break;
      if (args[1] && VG_(am_is_valid_for_client)(args[1], sizeof(Int), VKI_PROT_READ)) {
         Int st = *(const Int*)args[1];
         if ((st & 0xff) == 0x7f || st == 0xffff)
            break;
      } else if (args[2] & (ODF_WUNTRACED | ODF_WCONTINUED)) {
         break;
      }
      ev_wait(child);
      break;
   }
   case __NR_waitid: {
      /* siginfo_t: si_code at byte 8, si_pid at byte 16; CLD_EXITED, CLD_KILLED, CLD_DUMPED reap (not WNOWAIT). */
      Int code, child;
      if ((args[3] & ODF_WNOWAIT) || !args[2] || !VG_(am_is_valid_for_client)(args[2], 24, VKI_PROT_READ))
         break;
      code = *(const Int*)(args[2] + 8);
      child = *(const Int*)(args[2] + 16);
      if (child > 0 && code >= 1 && code <= 3)
         ev_wait(child);
      break;
   }
   case __NR_sched_setaffinity:
      ev_setaffinity((Int)args[0], single_cpu(args[2], args[1]));
      break;
   case __NR_shmat: {
      /* SysV shared memory (e.g. AFL's coverage map): a shared mapping of the segment Valgrind attached. */
      NSegment const* seg = VG_(am_find_nsegment)(sr_Res(res));
      if (seg && seg->kind == SkShmC && seg->start == sr_Res(res))
         ev_mmap(seg->start, seg->end + 1 - seg->start,
                 (seg->hasR ? VKI_PROT_READ : 0) | (seg->hasW ? VKI_PROT_WRITE : 0) |
                    (seg->hasX ? VKI_PROT_EXEC : 0),
                 True);
      break;
   }
   case __NR_shmdt:
      if (shmdt_len)
         ev_range("munmap", shmdt_start, shmdt_len, NULL);
      shmdt_len = 0;
      break;
   default:
      break;
   }
}

static void odf_atfork_pre(ThreadId tid)
{
   switch_to(tid);
   ensure_started();
   flush_pending();
   fork_seq = next_seq_forced();
   fork_pending = True;
   flush_obuf();
}

static void odf_atfork_parent(ThreadId tid)
{
   (void)tid;
   epoch_reset_all();
}

static void odf_atfork_child(ThreadId tid)
{
   Int i;
   /* The child has one thread, the caller, which is its main thread; its TIDs start again at 1. */
   for (i = 0; i < MAX_VTID; i++) {
      t_ttid[i] = 0;
      t_instrs[i] = 0;
      t_req_open[i] = False;
      t_gone[i] = False;
      t_cpu_pending[i] = -1;
   }
   next_ttid = 1;
   cur_vtid = tid < MAX_VTID ? tid : 1;
   instrs_mark = guest_instrs;
   fork_pending = False;
   if (out_fd >= 0)
      VG_(close)(out_fd);
   out_fd = -1;
   opos = 0;
   pend_valid = False;
   n_events = 0;
   open_output();
   epoch_reset_all();
}

/* ------------------------------------------------------------------ memory touched by the kernel */
static void odf_pre_mem_read(CorePart part, ThreadId tid, const HChar* s, Addr a, SizeT size)
{
   Addr p, last;
   (void)part;
   (void)tid;
   (void)s;
   if (size == 0)
      return;
   /* Only pages the client can access: syscalls are allowed to be handed bad pointers. */
   last = (a + size - 1) >> PAGE_SHIFT;
   for (p = a >> PAGE_SHIFT; p <= last; p++)
      if (VG_(am_is_valid_for_client)(p << PAGE_SHIFT, PAGE_SIZE, VKI_PROT_READ))
         access_page(p, False);
}

static void odf_pre_mem_read_asciiz(CorePart part, ThreadId tid, const HChar* s, Addr a)
{
   odf_pre_mem_read(part, tid, s, a, 1);
}

static void odf_post_mem_write(CorePart part, ThreadId tid, Addr a, SizeT size)
{
   Addr p, last;
   (void)part;
   (void)tid;
   if (size == 0)
      return;
   last = (a + size - 1) >> PAGE_SHIFT;
   for (p = a >> PAGE_SHIFT; p <= last; p++)
      if (VG_(am_is_valid_for_client)(p << PAGE_SHIFT, PAGE_SIZE, VKI_PROT_WRITE))
         access_page(p, True);
}

/* ------------------------------------------------------------------ instrumentation */
static void add_call(IRSB* sb, const HChar* name, void* fn, IRExpr* addr, Int size, IRExpr* guard)
{
   IRExpr** argv = mkIRExprVec_2(addr, mkIRExpr_HWord((HWord)size));
   IRDirty* di = unsafeIRDirty_0_N(2, name, VG_(fnptr_to_fnentry)(fn), argv);
   if (guard)
      di->guard = guard;
   addStmtToIRSB(sb, IRStmt_Dirty(di));
}

/* guest_instrs += N, inline (as lackey counts instructions). */
static void add_count(IRSB* sb, ULong n)
{
   IRTemp t1, t2;
   IRExpr* addr;
   if (n == 0)
      return;
   t1 = newIRTemp(sb->tyenv, Ity_I64);
   t2 = newIRTemp(sb->tyenv, Ity_I64);
   addr = mkIRExpr_HWord((HWord)&guest_instrs);
   addStmtToIRSB(sb, IRStmt_WrTmp(t1, IRExpr_Load(Iend_LE, Ity_I64, addr)));
   addStmtToIRSB(sb, IRStmt_WrTmp(t2, IRExpr_Binop(Iop_Add64, IRExpr_RdTmp(t1), IRExpr_Const(IRConst_U64(n)))));
   addStmtToIRSB(sb, IRStmt_Store(Iend_LE, addr, IRExpr_RdTmp(t2)));
}

#define ADD_READ(sb, a, sz, g) add_call(sb, "odf_read", (void*)&odf_read, a, sz, g)
#define ADD_WRITE(sb, a, sz, g) add_call(sb, "odf_write", (void*)&odf_write, a, sz, g)

static IRSB* odf_instrument(VgCallbackClosure* closure, IRSB* sbIn, const VexGuestLayout* layout,
                            const VexGuestExtents* vge, const VexArchInfo* archinfo_host, IRType gWordTy,
                            IRType hWordTy)
{
   IRSB* sbOut;
   Int i;
   Addr last_page = ~(Addr)0;
   ULong n_instrs = 0; /* instructions since the last add_count: counted before each side exit and at the end */
   (void)closure;
   (void)layout;
   (void)vge;
   (void)archinfo_host;
   (void)hWordTy;

   if (gWordTy != Ity_I64)
      VG_(tool_panic)("odfgrind: only 64-bit guests are supported");

   sbOut = deepCopyIRSBExceptStmts(sbIn);
   i = 0;
   while (i < sbIn->stmts_used && sbIn->stmts[i]->tag != Ist_IMark) {
      addStmtToIRSB(sbOut, sbIn->stmts[i]);
      i++;
   }
   for (; i < sbIn->stmts_used; i++) {
      IRStmt* st = sbIn->stmts[i];
      if (!st || st->tag == Ist_NoOp)
         continue;
      switch (st->tag) {
      case Ist_IMark: {
         Addr a = st->Ist.IMark.addr;
         Addr len = st->Ist.IMark.len ? st->Ist.IMark.len : 1;
         Addr p0 = a >> PAGE_SHIFT, p1 = (a + len - 1) >> PAGE_SHIFT;
         Addr p;
         for (p = p0; p <= p1; p++) {
            if (p != last_page) {
               IRExpr** argv = mkIRExprVec_1(mkIRExpr_HWord((HWord)p));
               IRDirty* di = unsafeIRDirty_0_N(1, "odf_ifetch", VG_(fnptr_to_fnentry)((void*)&odf_ifetch), argv);
               addStmtToIRSB(sbOut, IRStmt_Dirty(di));
               last_page = p;
            }
         }
         n_instrs++;
         addStmtToIRSB(sbOut, st);
         break;
      }
      case Ist_Exit:
         add_count(sbOut, n_instrs);
         n_instrs = 0;
         addStmtToIRSB(sbOut, st);
         break;
      case Ist_WrTmp: {
         IRExpr* data = st->Ist.WrTmp.data;
         if (data->tag == Iex_Load)
            ADD_READ(sbOut, data->Iex.Load.addr, sizeofIRType(data->Iex.Load.ty), NULL);
         addStmtToIRSB(sbOut, st);
         break;
      }
      case Ist_Store: {
         IRExpr* data = st->Ist.Store.data;
         ADD_WRITE(sbOut, st->Ist.Store.addr, sizeofIRType(typeOfIRExpr(sbIn->tyenv, data)), NULL);
         addStmtToIRSB(sbOut, st);
         break;
      }
      case Ist_StoreG: {
         IRStoreG* sg = st->Ist.StoreG.details;
         ADD_WRITE(sbOut, sg->addr, sizeofIRType(typeOfIRExpr(sbIn->tyenv, sg->data)), sg->guard);
         addStmtToIRSB(sbOut, st);
         break;
      }
      case Ist_LoadG: {
         IRLoadG* lg = st->Ist.LoadG.details;
         IRType ty = Ity_INVALID, tyArg = Ity_INVALID;
         typeOfIRLoadGOp(lg->cvt, &ty, &tyArg);
         ADD_READ(sbOut, lg->addr, sizeofIRType(tyArg), lg->guard);
         addStmtToIRSB(sbOut, st);
         break;
      }
      case Ist_Dirty: {
         IRDirty* d = st->Ist.Dirty.details;
         if (d->mFx != Ifx_None && d->mAddr) {
            if (d->mFx == Ifx_Read || d->mFx == Ifx_Modify)
               ADD_READ(sbOut, d->mAddr, d->mSize, NULL);
            if (d->mFx == Ifx_Write || d->mFx == Ifx_Modify)
               ADD_WRITE(sbOut, d->mAddr, d->mSize, NULL);
         }
         addStmtToIRSB(sbOut, st);
         break;
      }
      case Ist_CAS: {
         IRCAS* cas = st->Ist.CAS.details;
         Int sz = sizeofIRType(typeOfIRExpr(sbIn->tyenv, cas->dataLo));
         if (cas->dataHi)
            sz *= 2;
         ADD_READ(sbOut, cas->addr, sz, NULL);
         ADD_WRITE(sbOut, cas->addr, sz, NULL);
         addStmtToIRSB(sbOut, st);
         break;
      }
      case Ist_LLSC: {
         if (st->Ist.LLSC.storedata == NULL) {
            IRType ty = typeOfIRTemp(sbIn->tyenv, st->Ist.LLSC.result);
            ADD_READ(sbOut, st->Ist.LLSC.addr, sizeofIRType(ty), NULL);
         } else {
            ADD_WRITE(sbOut, st->Ist.LLSC.addr,
                      sizeofIRType(typeOfIRExpr(sbIn->tyenv, st->Ist.LLSC.storedata)), NULL);
         }
         addStmtToIRSB(sbOut, st);
         break;
      }
      default:
         addStmtToIRSB(sbOut, st);
         break;
      }
   }
   add_count(sbOut, n_instrs);
   return sbOut;
}

/* ------------------------------------------------------------------ init / fini */
/* Syscalls that --begin-at/--end-at may name (amd64 numbers); a decimal number names any syscall. */
static const struct {
   const HChar* name;
   Int nr;
} syscall_names[] = {
   {"read", __NR_read}, {"write", __NR_write}, {"readv", __NR_readv}, {"writev", __NR_writev},
   {"pread64", __NR_pread64}, {"pwrite64", __NR_pwrite64}, {"recvfrom", __NR_recvfrom}, {"sendto", __NR_sendto},
   {"recvmsg", __NR_recvmsg}, {"sendmsg", __NR_sendmsg}, {"recvmmsg", __NR_recvmmsg}, {"sendmmsg", __NR_sendmmsg},
   {"accept", __NR_accept}, {"accept4", __NR_accept4}, {"connect", __NR_connect}, {"sendfile", __NR_sendfile},
   {"epoll_wait", __NR_epoll_wait}, {"epoll_pwait", __NR_epoll_pwait}, {"poll", __NR_poll}, {"ppoll", __NR_ppoll},
   {"select", __NR_select}, {"pselect6", __NR_pselect6}, {"nanosleep", __NR_nanosleep},
   {"clock_nanosleep", __NR_clock_nanosleep}, {"futex", __NR_futex}, {"openat", __NR_openat},
   {"close", __NR_close}, {"wait4", __NR_wait4}, {"shutdown", __NR_shutdown},
};

/* Parses "NAME,NAME,..." into SET; an unknown name is a fatal option error. */
static void parse_syscalls(const HChar* opt, const HChar* list, Bool* set)
{
   HChar name[64];
   const HChar* p = list;
   while (*p) {
      Int n = 0, nr = -1;
      UInt k;
      while (*p && *p != ',') {
         if (n < (Int)sizeof(name) - 1)
            name[n++] = *p;
         p++;
      }
      name[n] = 0;
      if (*p == ',')
         p++;
      if (n == 0)
         continue;
      for (k = 0; k < sizeof(syscall_names) / sizeof(syscall_names[0]); k++)
         if (VG_(strcmp)(name, syscall_names[k].name) == 0)
            nr = syscall_names[k].nr;
      if (nr < 0 && VG_(isdigit)(name[0])) {
         HChar* e;
         Long v = VG_(strtoll10)(name, &e);
         if (*e == 0 && v >= 0 && v < MAX_SYSNO)
            nr = (Int)v;
      }
      if (nr < 0) {
         VG_(fmsg)("%s: unknown system call '%s' (a number below %d or one of:", opt, name, MAX_SYSNO);
         for (k = 0; k < sizeof(syscall_names) / sizeof(syscall_names[0]); k++)
            VG_(message)(Vg_FailMsg, " %s", syscall_names[k].name);
         VG_(message)(Vg_FailMsg, ")\n");
         VG_(exit)(1);
      }
      set[nr] = True;
   }
}

static void odf_post_clo_init(void)
{
   const HChar* c;
   Int i;
   if (!clo_out_dir) {
      VG_(umsg)("odfgrind: --out-dir=DIR is required\n");
      VG_(exit)(1);
   }
   if (clo_begin_at)
      parse_syscalls("--begin-at", clo_begin_at, begin_set);
   if (clo_end_at)
      parse_syscalls("--end-at", clo_end_at, end_set);
   if ((clo_begin_at != NULL) != (clo_end_at != NULL)) {
      VG_(fmsg)("--begin-at and --end-at go together\n");
      VG_(exit)(1);
   }
   for (c = clo_req_label; *c; c++)
      if (*c == ' ' || *c == '\t' || *c == '#' || *c == '\n')
         break;
   if (!clo_req_label[0] || *c) {
      VG_(fmsg)("--request-label: one word without blanks or '#'\n");
      VG_(exit)(1);
   }
   for (i = 0; i < MAX_VTID; i++)
      t_cpu_pending[i] = -1;
   map_seq_file();
   open_output();
}

static void odf_fini(Int exitcode)
{
   (void)exitcode;
   ensure_started();
   flush_pending();
   emit_run(True);
   line_begin_t(raw_seq(), 0); /* exit_group: the process's op */
   put_str("exit");
   line_end();
   finished = True;
   flush_obuf();
   if (out_fd >= 0)
      VG_(close)(out_fd);
   out_fd = -1;
}

static void odf_pre_clo_init(void)
{
   VG_(details_name)("odfgrind");
   VG_(details_version)(NULL);
   VG_(details_description)("records odf-trace v1/v2 memory events");
   VG_(details_copyright_author)("odf project");
   VG_(details_bug_reports_to)("odf project");
   VG_(details_avg_translation_sizeB)(275);

   VG_(basic_tool_funcs)(odf_post_clo_init, odf_instrument, odf_fini);
   VG_(needs_command_line_options)(odf_process_cmd_line_option, odf_print_usage, odf_print_debug_usage);
   VG_(needs_syscall_wrapper)(odf_pre_syscall, odf_post_syscall);
   VG_(track_pre_mem_read)(odf_pre_mem_read);
   VG_(track_pre_mem_read_asciiz)(odf_pre_mem_read_asciiz);
   VG_(track_post_mem_write)(odf_post_mem_write);
   VG_(atfork)(odf_atfork_pre, odf_atfork_parent, odf_atfork_child);
   VG_(track_start_client_code)(odf_start_client_code);
   VG_(track_pre_thread_ll_create)(odf_thread_create);
   VG_(track_pre_thread_ll_exit)(odf_thread_exit);
}

VG_DETERMINE_INTERFACE_VERSION(odf_pre_clo_init)
