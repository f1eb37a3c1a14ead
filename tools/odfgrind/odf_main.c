/* odfgrind: a Valgrind tool that records the memory behaviour of a process tree as odf-trace v1 events.

   Each process writes its own event file OUT_DIR/p<realpid>.ev with lines
       SEQ REALPID OP ARGS...
   where SEQ comes from a counter shared by all recorded processes (an 8-byte word in the file OUT_DIR/seq,
   mapped shared and incremented atomically).  scripts/record sorts all files by SEQ and renumbers the pids
   into an odf-trace v1 file.  Extra per-process ops used only between the tool and scripts/record:
       start            a new Valgrind instance began in this process (the root process, or after an exec)
       fork CHILD       CHILD is a real pid
   Everything else is already in odf-trace syntax (addresses in hex, lengths page-aligned).

   What is recorded:
     - initial client segments (text, data, ld.so, stack incl. its growth reservation, vdso) as mmap private
       (SkShmC as shared); Valgrind's one-page initial brk segment becomes the initial heap (brk);
     - successful mmap/munmap/mprotect/madvise(MADV_DONTNEED)/mremap/brk (post-syscall);
     - fork (clone without CLONE_VM, vfork, fork; threads are folded into their process), exec, exit;
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

/* Core symbols that the public tool headers do not declare (libcoregrind is linked statically). */
extern Int VG_(safe_fd)(Int oldfd);
extern SysRes VG_(am_shared_mmap_file_float_valgrind)(SizeT length, UInt prot, Int fd, Off64T offset);
extern Addr VG_(brk_base);
extern Addr VG_(brk_limit);
extern Addr VG_(clstk_end);

#define ODF_MADV_DONTNEED 4 /* linux/mman.h */
#define PAGE_SHIFT 12
#define PAGE_SIZE ((Addr)1 << PAGE_SHIFT)
#define PG_UP(x) (((x) + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1))
#define PG_DOWN(x) ((x) & ~(PAGE_SIZE - 1))
#define USER_TOP ((Addr)1 << 47)

/* ------------------------------------------------------------------ options */
static const HChar* clo_out_dir = NULL;
static Bool clo_first_touch = False;

static Bool odf_process_cmd_line_option(const HChar* arg)
{
   if VG_STR_CLO(arg, "--out-dir", clo_out_dir) {
   } else if VG_BOOL_CLO(arg, "--first-touch", clo_first_touch) {
   } else
      return False;
   return True;
}

static void odf_print_usage(void)
{
   VG_(printf)("    --out-dir=DIR            write per-process event files into DIR (required)\n"
               "    --first-touch=yes|no     keep only the first read/write of a page per epoch [no]\n");
}

static void odf_print_debug_usage(void) { VG_(printf)("    (none)\n"); }

/* ------------------------------------------------------------------ sequence counter */
static volatile ULong* seq_word = NULL;
static ULong local_seq = 0;

static ULong next_seq(void)
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

/* Starts a line: "SEQ PID ". */
static void line_begin(ULong seq)
{
   if (opos > (Int)sizeof(obuf) - 256)
      flush_obuf();
   put_dec(seq);
   obuf[opos++] = ' ';
   put_dec((ULong)my_pid);
   obuf[opos++] = ' ';
   n_events++;
}

static void line_end(void) { obuf[opos++] = '\n'; }

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
static Addr last_ifetch_page = ~(Addr)0;
static Bool started = False;

static void flush_pending(void)
{
   if (!pend_valid)
      return;
   line_begin(pend_seq);
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
   if (page >= (USER_TOP >> PAGE_SHIFT))
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
   line_begin(next_seq());
   put_str(op);
   line_end();
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
   ev_simple("start");
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

static void odf_pre_syscall(ThreadId tid, UInt sysno, UWord* args, UInt nArgs)
{
   (void)tid;
   (void)args;
   (void)nArgs;
   if (sysno == __NR_execve || sysno == __NR_execveat) {
      /* Valgrind performs the exec in its pre-handler: save everything now. */
      ensure_started();
      flush_pending();
      flush_obuf();
   }
}

static void odf_post_syscall(ThreadId tid, UInt sysno, UWord* args, UInt nArgs, SysRes res)
{
   (void)tid;
   (void)nArgs;
   if (sysno == __NR_clone || sysno == __NR_fork || sysno == __NR_vfork || sysno == __NR_clone3) {
      if (fork_pending && !sr_isError(res) && sr_Res(res) > 0) {
         fork_pending = False;
         line_begin(fork_seq);
         put_str("fork ");
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
   default:
      break;
   }
}

static void odf_atfork_pre(ThreadId tid)
{
   (void)tid;
   ensure_started();
   flush_pending();
   fork_seq = next_seq();
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
   (void)tid;
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

#define ADD_READ(sb, a, sz, g) add_call(sb, "odf_read", (void*)&odf_read, a, sz, g)
#define ADD_WRITE(sb, a, sz, g) add_call(sb, "odf_write", (void*)&odf_write, a, sz, g)

static IRSB* odf_instrument(VgCallbackClosure* closure, IRSB* sbIn, const VexGuestLayout* layout,
                            const VexGuestExtents* vge, const VexArchInfo* archinfo_host, IRType gWordTy,
                            IRType hWordTy)
{
   IRSB* sbOut;
   Int i;
   Addr last_page = ~(Addr)0;
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
         addStmtToIRSB(sbOut, st);
         break;
      }
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
   return sbOut;
}

/* ------------------------------------------------------------------ init / fini */
static void odf_post_clo_init(void)
{
   if (!clo_out_dir) {
      VG_(umsg)("odfgrind: --out-dir=DIR is required\n");
      VG_(exit)(1);
   }
   map_seq_file();
   open_output();
}

static void odf_fini(Int exitcode)
{
   (void)exitcode;
   ensure_started();
   ev_simple("exit");
   flush_obuf();
   if (out_fd >= 0)
      VG_(close)(out_fd);
   out_fd = -1;
}

static void odf_pre_clo_init(void)
{
   VG_(details_name)("odfgrind");
   VG_(details_version)(NULL);
   VG_(details_description)("records odf-trace v1 memory events");
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
}

VG_DETERMINE_INTERFACE_VERSION(odf_pre_clo_init)
