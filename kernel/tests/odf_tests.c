// SPDX-License-Identifier: GPL-2.0
/*
 * Guest tests for the ODF (copy-on-write PTE table) kernel patch.
 * Build: make -C kernel/tests   (gcc -static -O2)
 * Run in the guest: odf_tests [-v] [NAME...]   prints "N passed, N failed".
 *
 * Every test runs in its own process. The expected minor faults, VmPTE
 * and RssAnon deltas follow docs/SEMANTICS.md, "ODF, patch-set version".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/io_uring.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/swap.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#define PR_SET_ODF 65
#define PAGE 4096UL
#define TABLE (2UL << 20) /* the range of one PTE table */
#define PPT 512UL	  /* pages per table */

static int failed_checks;
static int write_str(const char *path, const char *val);
static int verbose;

#define CHECK(cond, fmt, ...)                                                \
	do {                                                                 \
		if (!(cond)) {                                               \
			printf("    FAIL %s:%d: %s: " fmt "\n", __func__,     \
			       __LINE__, #cond, ##__VA_ARGS__);             \
			fflush(stdout);                                      \
			failed_checks++;                                     \
		}                                                            \
	} while (0)

/* /proc readers without malloc, so that they do not fault on the heap. */
static long proc_kb(const char *path, const char *key)
{
	static char buf[8192];
	size_t n = strlen(key);
	int fd = open(path, O_RDONLY);
	ssize_t len;
	char *p;

	if (fd < 0)
		return -1;
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len <= 0)
		return -1;
	buf[len] = 0;
	for (p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, key, n) && p[n] == ':')
			return strtol(p + n + 1, NULL, 10);
	return -1;
}

static long vmpte(void) { return proc_kb("/proc/self/status", "VmPTE"); }
static long rssanon(void) { return proc_kb("/proc/self/status", "RssAnon"); }
/* PageTables, with the per-cpu vmstat deltas folded in first. */
static long pagetables(void)
{
	int fd = open("/proc/sys/vm/stat_refresh", O_WRONLY);

	if (fd >= 0) {
		write(fd, "1", 1);
		close(fd);
	}
	return proc_kb("/proc/meminfo", "PageTables");
}

static long minflt(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

static int read_use_odf(pid_t pid)
{
	char path[64], buf[16] = "";
	int fd, n;

	snprintf(path, sizeof(path), "/proc/%d/use_odf", (int)pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n <= 0 ? -1 : atoi(buf);
}

static int write_use_odf(pid_t pid, const char *val)
{
	char path[64];
	int fd, n;

	snprintf(path, sizeof(path), "/proc/%d/use_odf", (int)pid);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -errno;
	n = write(fd, val, strlen(val)) < 0 ? -errno : 0;
	close(fd);
	return n;
}

static int enable_odf(void)
{
	return prctl(PR_SET_ODF, 0, 0, 0, 0);
}

/* nt * 2 MiB of private anonymous memory, 2 MiB aligned. */
static char *map_tables(int nt)
{
	size_t len = nt * TABLE;
	char *p = mmap(NULL, len + TABLE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *a;

	if (p == MAP_FAILED)
		return NULL;
	a = (char *)(((uintptr_t)p + TABLE - 1) & ~(TABLE - 1));
	if (a > p)
		munmap(p, a - p);
	if (p + len + TABLE > a + len)
		munmap(a + len, p + len + TABLE - (a + len));
	/* 4 KiB pages even when THP is enabled (kernel-run --thp) */
	madvise(a, len, MADV_NOHUGEPAGE);
	return a;
}

#define W(a, i) (*(volatile uint64_t *)((a) + (i) * PAGE))

static uint64_t tag(int gen, size_t page)
{
	return ((uint64_t)gen << 32) | (page + 1);
}

static void fill(char *a, size_t pages, int gen)
{
	for (size_t i = 0; i < pages; i++)
		W(a, i) = tag(gen, i);
}

static size_t mismatches(char *a, size_t first, size_t pages, int gen)
{
	size_t bad = 0;

	for (size_t i = first; i < first + pages; i++)
		if (W(a, i) != tag(gen, i))
			bad++;
	return bad;
}

/* Counters around one operation. */
struct snap {
	long flt, pte, rss;
};

static void snap(struct snap *s)
{
	s->pte = vmpte();
	s->rss = rssanon();
	s->flt = minflt();
}

#define EXPECT_DELTA(s, dflt, dpte, drss)                                     \
	do {                                                                  \
		long _f = minflt() - (s).flt;                                 \
		long _p = vmpte() - (s).pte, _r = rssanon() - (s).rss;        \
		CHECK(_f == (dflt), "minflt %ld, want %ld", _f, (long)(dflt)); \
		CHECK(_p == (dpte), "VmPTE %+ld kB, want %+ld", _p, (long)(dpte)); \
		CHECK(_r == (drss), "RssAnon %+ld kB, want %+ld", _r,         \
		      (long)(drss));                                          \
	} while (0)

static int wait_ok(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, 0) != pid)
		return 0;
	if (WIFSIGNALED(st))
		printf("    child killed by signal %d\n", WTERMSIG(st));
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* A pipe pair to step parent and child. */
static int p2c[2], c2p[2];

static void sync_init(void)
{
	if (pipe(p2c) || pipe(c2p))
		abort();
}

static void tell(int *p) { if (write(p[1], "x", 1) != 1) abort(); }
static void await(int *p)
{
	char c;

	if (read(p[0], &c, 1) != 1)
		_exit(3);
}

/* ---- tests ---------------------------------------------------------- */

static void t_interface(void)
{
	pid_t self = getpid(), pid;
	int st;

	CHECK(read_use_odf(self) == 0, "initial %d", read_use_odf(self));
	CHECK(prctl(PR_SET_ODF, 1, 0, 0, 0) == -1 && errno == EINVAL,
	      "prctl(65, 1) must fail");
	CHECK(enable_odf() == 0, "prctl(65) errno %d", errno);
	CHECK(read_use_odf(self) == 1, "after prctl %d", read_use_odf(self));
	CHECK(write_use_odf(self, "0") == 0, "write 0");
	CHECK(read_use_odf(self) == 0, "after write 0: %d", read_use_odf(self));
	CHECK(write_use_odf(self, "3") == -EINVAL, "write 3 must be EINVAL");
	CHECK(write_use_odf(self, "1\n") == 0, "write 1");
	CHECK(read_use_odf(self) == 1, "after write 1: %d", read_use_odf(self));

	pid = fork();
	if (pid == 0)
		_exit(read_use_odf(getpid()) == 1 ? 0 : 1);
	CHECK(wait_ok(pid), "fork child does not inherit use_odf");
	pid = fork();
	if (pid == 0) {
		execl("/proc/self/exe", "odf_tests", "--exit-use-odf", NULL);
		_exit(99);
	}
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1,
	      "exec'd child exit %d, want use_odf 1", WEXITSTATUS(st));

	write_use_odf(self, "0");
	pid = fork();
	if (pid == 0) {
		pause();
		_exit(0);
	}
	CHECK(read_use_odf(pid) == 0, "child of a classic parent");
	CHECK(write_use_odf(pid, "1") == 0, "write to another pid");
	CHECK(read_use_odf(pid) == 1, "other pid after write");
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
}

/* Reads through shared tables take no fault; writes break + COW. */
static void t_fork_read_write(void)
{
	const int nt = 5; /* the child leaves table 4 alone */
	char *a = map_tables(nt);
	struct snap s;
	pid_t pid;

	fill(a, nt * PPT, 1);
	enable_odf();
	sync_init();
	pid = fork();
	if (pid == 0) {
		vmpte(); /* warm up: stack and heap tables */
		snap(&s);
		CHECK(mismatches(a, 0, nt * PPT, 1) == 0, "child read");
		EXPECT_DELTA(s, 0, 0, 0);

		/* First write into table 0: copy + COW in one fault. */
		snap(&s);
		W(a, 5) = 0xc5;
		EXPECT_DELTA(s, 1, 4, 2048);
		/* Second write in the same table: one ordinary COW fault. */
		snap(&s);
		W(a, 6) = 0xc6;
		EXPECT_DELTA(s, 1, 0, 0);
		/* The other tables: one break each. */
		snap(&s);
		W(a, PPT) = 1;
		W(a, 2 * PPT) = 1;
		W(a, 3 * PPT) = 1;
		EXPECT_DELTA(s, 3, 12, 3 * 2048);
		CHECK(W(a, 5) == 0xc5 && W(a, 6) == 0xc6, "own writes");
		CHECK(mismatches(a, 7, PPT - 7, 1) == 0, "rest of table 0");
		_exit(failed_checks != 0);
	}
	CHECK(wait_ok(pid), "child");
	CHECK(mismatches(a, 0, nt * PPT, 1) == 0, "parent data after child");
	/* The parent is the last user: reuse the table and the page. */
	snap(&s);
	W(a, 5) = tag(2, 5);
	EXPECT_DELTA(s, 1, 0, 0);
	/* Table 4 was never broken: reuse, then its PTEs are writable. */
	snap(&s);
	W(a, 4 * PPT) = tag(2, 4 * PPT);
	EXPECT_DELTA(s, 1, 0, 0);
	snap(&s);
	W(a, 4 * PPT + 1) = tag(2, 4 * PPT + 1);
	W(a, 4 * PPT + 2) = tag(2, 4 * PPT + 2);
	EXPECT_DELTA(s, 0, 0, 0);
}

/* The owner copies and keeps its charge; the other user then reuses. */
static void t_owner_copy_then_reuse(void)
{
	char *a = map_tables(2);
	struct snap s;
	pid_t pid;

	fill(a, 2 * PPT, 1);
	enable_odf();
	sync_init();
	pid = fork();
	if (pid == 0) {
		snap(&s);
		tell(c2p);
		await(p2c); /* parent wrote page 3 of table 0 */
		/* the owner copied: the charge for the shared table passed */
		EXPECT_DELTA(s, 0, 4, 2048);
		CHECK(W(a, 3) == tag(1, 3), "child must not see parent write");
		snap(&s);
		W(a, 4) = 0xc4; /* table 0 has one user left: reuse */
		EXPECT_DELTA(s, 1, 0, 0);
		CHECK(mismatches(a, 5, 2 * PPT - 5, 1) == 0, "child data");
		_exit(failed_checks != 0);
	}
	await(c2p);
	snap(&s);
	W(a, 3) = tag(2, 3);
	EXPECT_DELTA(s, 1, 0, 0);
	tell(p2c);
	CHECK(wait_ok(pid), "child");
	CHECK(W(a, 4) == tag(1, 4), "parent must not see child write");
}

/*
 * An owner that leaves a table other processes still map passes the charge
 * for it (VmPTE) and its pages (RssAnon) to the oldest of them (patch 17):
 * by copying (a write), by unmapping the table, by exiting.
 */
static void t_owner_leaves(void)
{
	int to_a[2], from_a[2], to_b[2], from_b[2];
	char *a = map_tables(2);
	pid_t pa, pb;
	struct snap s;

	fill(a, 2 * PPT, 1);
	enable_odf();
	if (pipe(to_a) || pipe(from_a) || pipe(to_b) || pipe(from_b))
		abort();
	pa = fork();
	if (pa == 0) {
		snap(&s);
		tell(from_a);
		await(to_a); /* the parent copied table 0 */
		EXPECT_DELTA(s, 0, 4, 2048);
		tell(from_a);
		await(to_a); /* the parent unmapped table 1 */
		EXPECT_DELTA(s, 0, 8, 4096);
		CHECK(mismatches(a, 0, 2 * PPT, 1) == 0, "A data");
		tell(from_a);
		await(to_a);
		_exit(failed_checks != 0); /* B takes both */
	}
	pb = fork();
	if (pb == 0) {
		snap(&s);
		tell(from_b);
		await(to_b); /* A is older: it took both tables */
		EXPECT_DELTA(s, 0, 0, 0);
		tell(from_b);
		await(to_b); /* A exited */
		EXPECT_DELTA(s, 0, 8, 4096);
		snap(&s);
		W(a, 1) = 0xb1; /* the last user reuses table 0 */
		EXPECT_DELTA(s, 1, 0, 0);
		CHECK(mismatches(a, 2, 2 * PPT - 2, 1) == 0, "B data");
		_exit(failed_checks != 0);
	}
	await(from_a);
	await(from_b);
	snap(&s);
	W(a, 0) = tag(2, 0); /* the owner copies table 0, keeps its charge */
	EXPECT_DELTA(s, 1, 0, 0);
	tell(to_a);
	await(from_a);
	snap(&s);
	munmap(a + TABLE, TABLE);
	CHECK(rssanon() - s.rss == -2048, "RssAnon %+ld kB, want -2048",
	      rssanon() - s.rss);
	tell(to_a);
	await(from_a);
	tell(to_b);
	await(from_b);
	tell(to_a);
	CHECK(wait_ok(pa), "A");
	tell(to_b);
	CHECK(wait_ok(pb), "B");
	CHECK(W(a, 1) == tag(1, 1), "parent must not see B's write");
}

/* A read of a none PTE in a shared table installs the zero page: break. */
static void t_zero_page_read(void)
{
	char *a = map_tables(1);
	struct snap s;
	pid_t pid;

	W(a, 0) = 1; /* table exists, page 1 is none */
	enable_odf();
	pid = fork();
	if (pid == 0) {
		vmpte();
		snap(&s);
		CHECK(W(a, 1) == 0, "zero page");
		EXPECT_DELTA(s, 1, 4, 4);
		_exit(failed_checks != 0);
	}
	CHECK(wait_ok(pid), "child");
}

static void t_mprotect(void)
{
	char *a = map_tables(2);
	struct snap s;
	pid_t pid;

	fill(a, 2 * PPT, 1);
	enable_odf();
	pid = fork();
	if (pid == 0) {
		vmpte();
		snap(&s);
		/* One page in each table: both tables broken. */
		CHECK(mprotect(a + (PPT - 1) * PAGE, 2 * PAGE, PROT_READ) == 0,
		      "mprotect");
		EXPECT_DELTA(s, 0, 8, 2 * 2048);
		CHECK(mismatches(a, 0, 2 * PPT, 1) == 0, "child data");
		_exit(failed_checks != 0);
	}
	CHECK(wait_ok(pid), "child");
	snap(&s);
	W(a, PPT - 1) = 7; /* parent still writable; reuse */
	EXPECT_DELTA(s, 1, 0, 0);
}

static void t_madvise_dontneed(void)
{
	char *a = map_tables(2);
	struct snap s;
	pid_t pid;

	fill(a, 2 * PPT, 1);
	enable_odf();
	pid = fork();
	if (pid == 0) {
		vmpte();
		snap(&s);
		CHECK(madvise(a + PPT * PAGE + 10 * PAGE, PAGE,
			      MADV_DONTNEED) == 0, "madvise");
		EXPECT_DELTA(s, 0, 4, 2044);
		CHECK(W(a, PPT + 10) == 0, "zapped page reads 0");
		CHECK(mismatches(a, 0, PPT + 10, 1) == 0, "child data");
		_exit(failed_checks != 0);
	}
	CHECK(wait_ok(pid), "child");
	CHECK(mismatches(a, 0, 2 * PPT, 1) == 0, "parent data");
}

static void t_munmap(void)
{
	char *a = map_tables(3);
	struct snap s;
	pid_t pid;

	fill(a, 3 * PPT, 1);
	enable_odf();
	sync_init();
	pid = fork();
	if (pid == 0) {
		vmpte();
		/* Part of table 0: break, then zap one page. */
		snap(&s);
		CHECK(munmap(a + 7 * PAGE, PAGE) == 0, "munmap page");
		EXPECT_DELTA(s, 0, 4, 2044);
		/* All of table 1: drop the reference, no charge change. */
		snap(&s);
		CHECK(munmap(a + PPT * PAGE, TABLE) == 0, "munmap table");
		EXPECT_DELTA(s, 0, 0, 0);
		snap(&s);
		tell(c2p);
		await(p2c); /* the owner unmapped table 2: its charge passed */
		EXPECT_DELTA(s, 0, 4, 2048);
		snap(&s);
		CHECK(mismatches(a, 2 * PPT, PPT, 1) == 0, "table 2 data");
		EXPECT_DELTA(s, 0, 0, 0);
		snap(&s);
		W(a, 2 * PPT) = 5; /* last user: reuse, charged already */
		EXPECT_DELTA(s, 1, 0, 0);
		_exit(failed_checks != 0);
	}
	await(c2p);
	snap(&s);
	CHECK(munmap(a + 2 * PPT * PAGE, TABLE) == 0, "munmap table 2");
	EXPECT_DELTA(s, 0, -4, -2048);
	tell(p2c);
	CHECK(wait_ok(pid), "child");
	CHECK(mismatches(a, 0, 2 * PPT, 1) == 0, "parent data");
}

static void t_mremap(void)
{
	char *a = map_tables(2), *b = map_tables(2), *r;
	pid_t pid;

	fill(a, 2 * PPT, 1);
	enable_odf();
	pid = fork();
	if (pid == 0) {
		/* A whole aligned table (move_normal_pmd) and a part. */
		r = mremap(a, TABLE, TABLE, MREMAP_MAYMOVE | MREMAP_FIXED, b);
		CHECK(r == b, "mremap table");
		CHECK(mismatches(b, 0, PPT, 1) == 0, "moved table data");
		r = mremap(a + PPT * PAGE + 3 * PAGE, 4 * PAGE, 4 * PAGE,
			   MREMAP_MAYMOVE | MREMAP_FIXED, b + PPT * PAGE + 100 * PAGE);
		CHECK(r != MAP_FAILED, "mremap part");
		CHECK(W(b, PPT + 100) == tag(1, PPT + 3), "moved pages");
		CHECK(W(a, PPT + 7) == tag(1, PPT + 7), "unmoved page");
		_exit(failed_checks != 0);
	}
	CHECK(wait_ok(pid), "child");
	CHECK(mismatches(a, 0, 2 * PPT, 1) == 0, "parent data");
}

static int io_uring_pin(void *addr, size_t len)
{
	struct io_uring_params p;
	struct iovec iov = { .iov_base = addr, .iov_len = len };
	int fd;

	memset(&p, 0, sizeof(p));
	fd = syscall(__NR_io_uring_setup, 4, &p);
	if (fd < 0)
		return -errno;
	if (syscall(__NR_io_uring_register, fd, IORING_REGISTER_BUFFERS,
		    &iov, 1) < 0) {
		int e = -errno;

		close(fd);
		return e;
	}
	return fd;
}

/* Tables with pinned pages are copied at fork; pinning breaks sharing. */
static void t_pin(void)
{
	char *a = map_tables(3);
	struct snap s;
	int fd;
	pid_t pid;

	fill(a, 3 * PPT, 1);
	fd = io_uring_pin(a + 2 * PAGE, PAGE);
	CHECK(fd >= 0, "io_uring pin: %d", fd);
	enable_odf();
	sync_init();
	pid = fork();
	if (pid == 0) {
		vmpte();
		/* Table 0 was copied at fork: no break, only COW. */
		snap(&s);
		W(a, 4) = 0xc4;
		EXPECT_DELTA(s, 1, 0, 0);
		/* The pinned page was copied for the child at fork. */
		snap(&s);
		W(a, 2) = 0xc2;
		EXPECT_DELTA(s, 0, 0, 0);
		/* Table 1 was shared. */
		snap(&s);
		W(a, PPT) = 0xc0;
		EXPECT_DELTA(s, 1, 4, 2048);
		/* Pinning in a shared table breaks it first. */
		snap(&s);
		CHECK(io_uring_pin(a + 2 * PPT * PAGE, PAGE) >= 0, "pin in child");
		CHECK(vmpte() - s.pte == 4, "pin break VmPTE %+ld",
		      vmpte() - s.pte);
		tell(c2p);
		await(p2c);
		CHECK(W(a, 3) == tag(1, 3), "parent write leaked");
		_exit(failed_checks != 0);
	}
	await(c2p);
	/* The parent's pinned page stays writable and in place. */
	snap(&s);
	W(a, 2) = tag(2, 2);
	EXPECT_DELTA(s, 0, 0, 0);
	W(a, 3) = tag(2, 3);
	tell(p2c);
	CHECK(wait_ok(pid), "child");
	close(fd);
}

/* Three generations sharing and breaking the same tables. */
static void t_generations(void)
{
	char *a = map_tables(2);
	pid_t pid;

	fill(a, 2 * PPT, 1);
	enable_odf();
	pid = fork();
	if (pid == 0) {
		pid_t gpid;

		W(a, 1) = tag(2, 1);
		gpid = fork();
		if (gpid == 0) {
			CHECK(W(a, 1) == tag(2, 1), "grandchild sees child");
			W(a, PPT + 1) = tag(3, PPT + 1);
			CHECK(mismatches(a, 2, 2 * PPT - 2, 1) == 1, "gc data");
			_exit(failed_checks != 0);
		}
		CHECK(wait_ok(gpid), "grandchild");
		CHECK(W(a, PPT + 1) == tag(1, PPT + 1), "child data");
		CHECK(mismatches(a, 2, 2 * PPT - 2, 1) == 0, "child data");
		_exit(failed_checks != 0);
	}
	CHECK(wait_ok(pid), "child");
	CHECK(mismatches(a, 0, 2 * PPT, 1) == 0, "parent data");
}

/* Several processes writing and checking concurrently. */
static void t_stress(void)
{
	const int nt = 8, nproc = 4;
	char *a = map_tables(nt);
	pid_t pids[4];

	fill(a, nt * PPT, 1);
	enable_odf();
	for (int p = 0; p < nproc; p++) {
		pids[p] = fork();
		if (pids[p] == 0) {
			unsigned int seed = p + 1;

			for (int round = 0; round < 4; round++) {
				for (int k = 0; k < 300; k++) {
					size_t i = rand_r(&seed) % (nt * PPT);

					if (W(a, i) == tag(1, i) ||
					    W(a, i) == tag(10 + p, i))
						W(a, i) = tag(10 + p, i);
					else
						failed_checks++;
				}
				if (round == 1 && fork() == 0) {
					madvise(a, TABLE, MADV_DONTNEED);
					_exit(0);
				}
			}
			while (wait(NULL) > 0)
				;
			_exit(failed_checks != 0);
		}
	}
	for (int k = 0; k < 2000; k++)
		W(a, (k * 7) % (nt * PPT)) = tag(1, (k * 7) % (nt * PPT));
	for (int p = 0; p < nproc; p++)
		CHECK(wait_ok(pids[p]), "process %d", p);
	CHECK(mismatches(a, 0, nt * PPT, 1) == 0, "parent data");
}

/* exec and exit drop the shared tables; classic fork from shared ones. */
static void t_exec_and_classic(void)
{
	char *a = map_tables(2);
	int st;
	pid_t pid;

	fill(a, 2 * PPT, 1);
	enable_odf();
	pid = fork();
	if (pid == 0) {
		pid_t g;

		write_use_odf(getpid(), "0"); /* classic fork from shared */
		g = fork();
		if (g == 0) {
			CHECK(mismatches(a, 0, 2 * PPT, 1) == 0, "classic child");
			W(a, 9) = 9;
			_exit(failed_checks != 0);
		}
		CHECK(wait_ok(g), "classic grandchild");
		CHECK(mismatches(a, 0, 2 * PPT, 1) == 0, "child data");
		execl("/proc/self/exe", "odf_tests", "--exit-use-odf", NULL);
		_exit(99);
	}
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exec status %d",
	      WEXITSTATUS(st));
	CHECK(mismatches(a, 0, 2 * PPT, 1) == 0, "parent data");
}

/* pagemap: no PM_MMAP_EXCLUSIVE through a shared table; clear_refs breaks. */
static void t_pagemap_clear_refs(void)
{
	char *a = map_tables(1);
	uint64_t ent = 0;
	long pte;
	int fd;
	pid_t pid;

	fill(a, PPT, 1);
	enable_odf();
	pid = fork();
	if (pid == 0) {
		fd = open("/proc/self/pagemap", O_RDONLY);
		CHECK(fd >= 0, "open pagemap");
		CHECK(pread(fd, &ent, 8, ((uintptr_t)a / PAGE) * 8) == 8, "pread");
		CHECK(ent >> 63, "page present");
		CHECK(!(ent & (1ULL << 56)), "shared page reported exclusive");
		close(fd);
		pte = vmpte();
		fd = open("/proc/self/clear_refs", O_WRONLY);
		CHECK(fd >= 0 && write(fd, "4", 1) == 1, "clear_refs 4");
		close(fd);
		CHECK(vmpte() - pte >= 4, "clear_refs did not break: %+ld",
		      vmpte() - pte);
		CHECK(mismatches(a, 0, PPT, 1) == 0, "child data");
		_exit(failed_checks != 0);
	}
	CHECK(wait_ok(pid), "child");
	CHECK(mismatches(a, 0, PPT, 1) == 0, "parent data");
}

/* MADV_FREE and writes through /proc/self/mem (FOLL_FORCE|FOLL_WRITE). */
static void t_madv_free_proc_mem(void)
{
	char *a = map_tables(2);
	uint64_t v = 0x77;
	struct snap s;
	int fd;
	pid_t pid;

	fill(a, 2 * PPT, 1);
	enable_odf();
	pid = fork();
	if (pid == 0) {
		vmpte();
		snap(&s);
		CHECK(madvise(a + 3 * PAGE, PAGE, MADV_FREE) == 0, "MADV_FREE");
		CHECK(vmpte() - s.pte == 4, "MADV_FREE VmPTE %+ld",
		      vmpte() - s.pte);
		snap(&s);
		fd = open("/proc/self/mem", O_RDWR);
		CHECK(fd >= 0, "open mem");
		CHECK(pwrite(fd, &v, 8, (uintptr_t)(a + (PPT + 2) * PAGE)) == 8,
		      "pwrite mem");
		close(fd);
		CHECK(vmpte() - s.pte == 4, "mem write VmPTE %+ld",
		      vmpte() - s.pte);
		CHECK(W(a, PPT + 2) == 0x77, "mem write visible");
		_exit(failed_checks != 0);
	}
	CHECK(wait_ok(pid), "child");
	CHECK(mismatches(a, 0, 2 * PPT, 1) == 0, "parent data");
}

/* UFFDIO_COPY into a none PTE of a shared table breaks it. */
static void t_userfaultfd(void)
{
	char *a = map_tables(1);
	static char buf[4096] __attribute__((aligned(4096)));
	pid_t pid;

	W(a, 0) = tag(1, 0);
	enable_odf();
	pid = fork();
	if (pid == 0) {
		struct uffdio_api api = { .api = UFFD_API };
		struct uffdio_register reg = {
			.range = { .start = (uintptr_t)a, .len = TABLE },
			.mode = UFFDIO_REGISTER_MODE_MISSING,
		};
		struct uffdio_copy cp = {
			.dst = (uintptr_t)(a + 5 * PAGE),
			.src = (uintptr_t)buf, .len = PAGE,
		};
		int uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
		long pte;

		CHECK(uffd >= 0, "userfaultfd errno %d", errno);
		CHECK(ioctl(uffd, UFFDIO_API, &api) == 0, "UFFDIO_API");
		CHECK(ioctl(uffd, UFFDIO_REGISTER, &reg) == 0, "UFFDIO_REGISTER");
		*(uint64_t *)buf = 0xabc;
		pte = vmpte();
		CHECK(ioctl(uffd, UFFDIO_COPY, &cp) == 0, "UFFDIO_COPY errno %d",
		      errno);
		CHECK(vmpte() - pte == 4, "UFFDIO_COPY VmPTE %+ld", vmpte() - pte);
		CHECK(W(a, 5) == 0xabc, "copied page");
		CHECK(W(a, 0) == tag(1, 0), "old page");
		_exit(failed_checks != 0);
	}
	CHECK(wait_ok(pid), "child");
	CHECK(W(a, 5) == 0, "parent sees the child's UFFDIO_COPY");
}

/* ---- GUP references through shared tables (vmsplice) ---------------- */

/* A pipe that holds a FOLL_GET reference to the first word of @page. */
static int splice_ref(int *pfd, void *page)
{
	struct iovec iov = { .iov_base = page, .iov_len = sizeof(uint64_t) };

	if (pipe(pfd))
		return -1;
	return vmsplice(pfd[1], &iov, 1, 0) == (ssize_t)sizeof(uint64_t) ? 0 : -1;
}

static uint64_t pipe_word(int *pfd)
{
	uint64_t v = 0;

	if (read(pfd[0], &v, sizeof(v)) != (ssize_t)sizeof(v))
		return ~0ULL;
	return v;
}

/*
 * The child takes a reference through the shared table and unmaps; the
 * parent, now the table's last user, writes: the write must copy the page
 * (mm "cow" selftest: "vmsplice() + unmap in child", base page, with and
 * without the mprotect() optimization). Before the fix the parent reused
 * the table and wrote the page in place, into the child's pipe.
 */
static void vmsplice_child_unmap(int with_mprotect)
{
	char *a = map_tables(1);
	int pfd[2], st;
	struct snap s;
	pid_t pid;

	fill(a, PPT, 1);
	enable_odf();
	sync_init();
	pid = fork();
	if (pid == 0) {
		if (splice_ref(pfd, a + 5 * PAGE))
			_exit(2);
		munmap(a, TABLE);
		tell(c2p);
		await(p2c);
		_exit(pipe_word(pfd) == tag(1, 5) ? 0 : 4);
	}
	await(c2p);
	if (with_mprotect) {
		/* 6.1 makes exclusive pages writable again without a fault */
		mprotect(a, TABLE, PROT_READ);
		mprotect(a, TABLE, PROT_READ | PROT_WRITE);
	}
	snap(&s);
	W(a, 5) = tag(2, 5);
	/* break (reuse) and the COW of the referenced page: one fault */
	EXPECT_DELTA(s, 1, 0, 0);
	tell(p2c);
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	      "child's pipe saw the parent's write (status %d)", st);
	CHECK(W(a, 5) == tag(2, 5) && mismatches(a, 6, PPT - 6, 1) == 0,
	      "parent data");
}

static void t_vmsplice_child_unmap(void) { vmsplice_child_unmap(0); }
static void t_vmsplice_child_unmap_mprotect(void) { vmsplice_child_unmap(1); }

/*
 * The parent's reference is taken before fork (vmsplice() before fork(),
 * unmap in parent after fork()) or through the shared table after it
 * (vmsplice() + unmap in parent after fork()); the parent unmaps and the
 * child, the last user, writes. The pipe must keep the old data.
 */
static void vmsplice_parent(int before_fork)
{
	char *a = map_tables(1);
	int pfd[2];
	struct snap s;
	pid_t pid;

	fill(a, PPT, 1);
	enable_odf();
	sync_init();
	if (before_fork)
		CHECK(splice_ref(pfd, a + 5 * PAGE) == 0, "vmsplice");
	pid = fork();
	if (pid == 0) {
		snap(&s);
		tell(c2p);
		await(p2c);
		/* the owner unmapped the table: its charge passed */
		EXPECT_DELTA(s, 0, 4, 2048);
		snap(&s);
		W(a, 5) = tag(3, 5);
		/* reuse and the COW copy in one fault */
		EXPECT_DELTA(s, 1, 0, 0);
		CHECK(mismatches(a, 6, PPT - 6, 1) == 0, "child data");
		_exit(failed_checks != 0);
	}
	if (!before_fork)
		CHECK(splice_ref(pfd, a + 5 * PAGE) == 0, "vmsplice");
	await(c2p);
	munmap(a, TABLE);
	tell(p2c);
	CHECK(wait_ok(pid), "child");
	CHECK(pipe_word(pfd) == tag(1, 5), "the parent's pipe saw the child's write");
}

static void t_vmsplice_before_fork(void) { vmsplice_parent(1); }
static void t_vmsplice_parent_after_fork(void) { vmsplice_parent(0); }

/* ---- swap (zram) ----------------------------------------------------- */

#define ZRAM "/dev/zram0"

static long vmswap(void) { return proc_kb("/proc/self/status", "VmSwap"); }

/* Swap on zram, once per boot (kernel/config/odf.config has ZRAM). */
static int swap_on(void)
{
	char buf[4096];
	int fd = open("/proc/swaps", O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);

	if (fd >= 0)
		close(fd);
	if (n < 0)
		return -1;
	buf[n] = 0;
	if (strstr(buf, ZRAM))
		return 0;
	/* the disk size can only be set once; EBUSY later is fine */
	write_str("/sys/block/zram0/disksize", "64M");
	if (system("mkswap " ZRAM " > /dev/null 2>&1"))
		return -1;
	return swapon(ZRAM, 0);
}

/*
 * The child exits: the parent is the last user of a read-only table.
 * MADV_PAGEOUT (and every rmap walker) must take the table back and
 * reclaim its pages instead of skipping it for good.
 */
static void t_pageout_last_user(void)
{
	char *a = map_tables(1);
	long swap0, rss0;
	pid_t pid;

	CHECK(swap_on() == 0, "swap on zram: errno %d", errno);
	fill(a, PPT, 1);
	enable_odf();
	pid = fork();
	if (pid == 0)
		_exit(0);
	CHECK(wait_ok(pid), "child");
	swap0 = vmswap();
	rss0 = rssanon();
	CHECK(madvise(a, TABLE, MADV_PAGEOUT) == 0, "MADV_PAGEOUT errno %d", errno);
	CHECK(vmswap() - swap0 == 2048, "VmSwap %+ld kB, want +2048",
	      vmswap() - swap0);
	CHECK(rssanon() - rss0 == -2048, "RssAnon %+ld kB, want -2048",
	      rssanon() - rss0);
	CHECK(mismatches(a, 0, PPT, 1) == 0, "data after swap-in");
	CHECK(vmswap() == swap0 && rssanon() == rss0, "counters after swap-in");
}

/*
 * Pages swapped out before fork sit in a shared table as swap entries.
 * swapoff must swap them in for both processes, each charged for its own
 * table afterwards (no rss-counter left on the swap side).
 */
static void t_swapoff_shared(void)
{
	char *a = map_tables(1);
	struct snap s;
	long swap0;
	pid_t pid;

	CHECK(swap_on() == 0, "swap on zram: errno %d", errno);
	fill(a, PPT, 1);
	swap0 = vmswap();
	CHECK(madvise(a, TABLE, MADV_PAGEOUT) == 0, "MADV_PAGEOUT errno %d", errno);
	CHECK(vmswap() - swap0 == 2048, "VmSwap %+ld kB before fork",
	      vmswap() - swap0);
	enable_odf();
	sync_init();
	pid = fork();
	if (pid == 0) {
		long cswap;

		vmpte();
		snap(&s);
		cswap = vmswap();
		tell(c2p);
		await(p2c); /* swapoff done */
		EXPECT_DELTA(s, 0, 4, 2048);
		CHECK(vmswap() == cswap, "child VmSwap %ld -> %ld", cswap, vmswap());
		CHECK(mismatches(a, 0, PPT, 1) == 0, "child data");
		_exit(failed_checks != 0);
	}
	await(c2p);
	snap(&s);
	CHECK(swapoff(ZRAM) == 0, "swapoff errno %d", errno);
	EXPECT_DELTA(s, 0, 0, 2048);
	CHECK(vmswap() == swap0, "parent VmSwap %+ld kB after swapoff",
	      vmswap() - swap0);
	tell(p2c);
	CHECK(wait_ok(pid), "child");
	CHECK(mismatches(a, 0, PPT, 1) == 0, "parent data");
	CHECK(swap_on() == 0, "swap on again: errno %d", errno);
}

/* A field ("Pss", "Private_Dirty", ...) of the smaps entry of @addr, in kB. */
static long smaps_kb(void *addr, const char *field)
{
	static char buf[1 << 16];
	char head[32], key[64], *p, *line;
	int fd = open("/proc/self/smaps", O_RDONLY);
	ssize_t n, len = 0;

	if (fd < 0)
		return -1;
	while ((n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += n;
	close(fd);
	buf[len] = 0;
	snprintf(head, sizeof(head), "%lx-", (unsigned long)addr);
	snprintf(key, sizeof(key), "\n%s:", field);
	for (line = buf; line && strncmp(line, head, strlen(head));) {
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	if (!line)
		return -1;
	p = strstr(line, key);
	return p ? atol(p + strlen(key)) : -1;
}

/*
 * A shared table maps each page once for all its users: smaps must show
 * the pages as shared and divide Pss among the users, as after a classic
 * fork, not count them as private memory of every process.
 */
static void t_smaps_pss(void)
{
	char *a = map_tables(1);
	pid_t pid;

	fill(a, PPT, 1);
	CHECK(smaps_kb(a, "Pss") == 2048, "Pss before fork %ld",
	      smaps_kb(a, "Pss"));
	enable_odf();
	sync_init();
	pid = fork();
	if (pid == 0) {
		CHECK(smaps_kb(a, "Pss") == 1024, "child Pss %ld kB, want 1024",
		      smaps_kb(a, "Pss"));
		CHECK(smaps_kb(a, "Private_Dirty") == 0, "child Private_Dirty %ld",
		      smaps_kb(a, "Private_Dirty"));
		CHECK(smaps_kb(a, "Rss") == 2048, "child Rss %ld",
		      smaps_kb(a, "Rss"));
		tell(c2p);
		await(p2c);
		_exit(failed_checks != 0);
	}
	await(c2p);
	CHECK(smaps_kb(a, "Pss") == 1024, "parent Pss %ld kB, want 1024",
	      smaps_kb(a, "Pss"));
	CHECK(smaps_kb(a, "Shared_Dirty") == 2048, "parent Shared_Dirty %ld",
	      smaps_kb(a, "Shared_Dirty"));
	tell(p2c);
	CHECK(wait_ok(pid), "child");
	/* the parent is the only user again (the table is still read-only) */
	CHECK(smaps_kb(a, "Pss") == 2048, "Pss after the child exited %ld",
	      smaps_kb(a, "Pss"));
}

/* ---- mlock -------------------------------------------------------------- */

static long mlocked(void)
{
	pagetables(); /* folds the per-cpu counters (vm/stat_refresh) */
	return proc_kb("/proc/meminfo", "Mlocked");
}

/*
 * Unmapping a shared table in one process does not munlock its pages, so
 * locked pages must never sit in a shared table: fork() copies the tables
 * of a VM_LOCKED VMA, and mlock() of a range gives it its own tables
 * (here on a read-only mapping, whose population does not write-fault).
 * Mlocked must go back to where it was once the locking process unmaps.
 */
static void t_mlock_drop(void)
{
	char *a = map_tables(1), *b = map_tables(1);
	long base;
	struct snap s;
	pid_t pid;

	fill(a, PPT, 1);
	fill(b, PPT, 1);
	CHECK(mprotect(b, TABLE, PROT_READ) == 0, "mprotect");
	base = mlocked();
	CHECK(mlock(a, TABLE) == 0, "mlock errno %d", errno);
	CHECK(mlocked() - base == 2048, "Mlocked %+ld", mlocked() - base);
	enable_odf();
	sync_init();
	pid = fork();
	if (pid == 0) {
		await(p2c);
		CHECK(mismatches(a, 0, PPT, 1) == 0 && mismatches(b, 0, PPT, 1) == 0,
		      "child data");
		_exit(failed_checks != 0);
	}
	/* locked before fork: the child got a copy, the parent unlocks */
	CHECK(munmap(a, TABLE) == 0, "munmap");
	CHECK(mlocked() == base, "Mlocked %+ld kB after munmap of a locked "
	      "range shared with a child", mlocked() - base);
	/* locked after fork, read-only: mlock() breaks the table */
	snap(&s);
	CHECK(mlock(b, TABLE) == 0, "mlock errno %d", errno);
	EXPECT_DELTA(s, 0, 0, 0);
	CHECK(mlocked() - base == 2048, "Mlocked %+ld", mlocked() - base);
	CHECK(munmap(b, TABLE) == 0, "munmap");
	CHECK(mlocked() == base, "Mlocked %+ld kB after munmap of a range "
	      "locked while shared", mlocked() - base);
	tell(p2c);
	CHECK(wait_ok(pid), "child");
}

/* ---- use_odf=2: the EuroSys'21 prototype's sharing rule ------------ */

/*
 * With use_odf=2 a table is shared only if one private anonymous VMA that
 * is not the heap covers its whole 2 MiB: a table split between two VMAs
 * and the heap's tables are copied at fork (the child's first write is a
 * plain COW fault, no VmPTE change); with use_odf=1 both would be shared.
 */
static void t_paper_mode(void)
{
	char *a = map_tables(1), *b = map_tables(1), *h;
	uintptr_t top = (uintptr_t)sbrk(0);
	struct snap s;
	pid_t pid;

	h = (char *)((top + TABLE - 1) & ~(TABLE - 1));
	CHECK(brk(h + TABLE) == 0, "brk errno %d", errno);
	fill(a, PPT, 1);
	fill(b, PPT, 1);
	fill(h, PPT, 1);
	CHECK(mprotect(b + TABLE / 2, TABLE / 2, PROT_READ) == 0, "mprotect");
	CHECK(write_use_odf(getpid(), "2") == 0, "write 2");
	CHECK(read_use_odf(getpid()) == 2, "use_odf reads %d", read_use_odf(getpid()));
	pid = fork();
	if (pid == 0) {
		CHECK(read_use_odf(getpid()) == 2, "inherited %d", read_use_odf(getpid()));
		vmpte();
		snap(&s);
		W(a, 3) = 0xa3; /* one VMA covers the table: shared, break */
		EXPECT_DELTA(s, 1, 4, 2048);
		snap(&s);
		W(b, 3) = 0xb3; /* two VMAs in the table: copied at fork */
		EXPECT_DELTA(s, 1, 0, 0);
		snap(&s);
		W(h, 3) = 0xc3; /* the heap: copied at fork */
		EXPECT_DELTA(s, 1, 0, 0);
		CHECK(mismatches(a, 4, PPT - 4, 1) == 0 && mismatches(b, 4, PPT - 4, 1) == 0 &&
		      mismatches(h, 4, PPT - 4, 1) == 0, "child data");
		_exit(failed_checks != 0);
	}
	CHECK(wait_ok(pid), "child");
	CHECK(W(a, 3) == tag(1, 3) && W(b, 3) == tag(1, 3) && W(h, 3) == tag(1, 3),
	      "parent data");
	/* prctl(PR_SET_ODF) selects the series' rule again */
	CHECK(enable_odf() == 0 && read_use_odf(getpid()) == 1, "prctl after 2");
}

/* ---- privilege boundaries of the switch ----------------------------- */

#define SUID_PROBE "/odf_suid_probe"

/* Become uid/gid 65534; keep the permitted capabilities effective if @keep. */
static int drop_to_nobody(int keep)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];

	if (keep && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0))
		return -1;
	if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
		return -1;
	if (keep) {
		if (syscall(SYS_capget, &h, d))
			return -1;
		d[0].effective = d[0].permitted;
		d[1].effective = d[1].permitted;
		if (syscall(SYS_capset, &h, d))
			return -1;
	}
	/* /proc/<pid> files belong to the user again (setuid cleared it) */
	return prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
}

static void t_use_odf_privilege(void)
{
	char buf[8] = "";
	int pfd[2], st;
	pid_t self = getpid(), target, pid;

	/*
	 * A process of the same user that holds capabilities the writer
	 * lacks may not be ptraced by it, so its fork mode may not be
	 * changed by it either (the file's owner and mode allow the open).
	 */
	sync_init();
	target = fork();
	if (target == 0) {
		if (drop_to_nobody(1))
			_exit(2);
		tell(c2p);
		pause();
		_exit(0);
	}
	await(c2p);
	pid = fork();
	if (pid == 0) {
		if (drop_to_nobody(0))
			_exit(2);
		_exit(write_use_odf(target, "1") == -EACCES ? 0 : 1);
	}
	CHECK(wait_ok(pid), "a process wrote use_odf of a process it may not ptrace");
	CHECK(read_use_odf(target) == 0, "target's use_odf %d", read_use_odf(target));
	kill(target, SIGKILL);
	waitpid(target, &st, 0);
	/* ... but a process may change its own. */
	pid = fork();
	if (pid == 0) {
		if (drop_to_nobody(0))
			_exit(2);
		_exit(write_use_odf(getpid(), "1") == 0 &&
		      read_use_odf(getpid()) == 1 ? 0 : 1);
	}
	CHECK(wait_ok(pid), "a process could not write its own use_odf");

	/* A setuid exec starts with use_odf 0; the program chooses. */
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd),
			 "cp /proc/%d/exe " SUID_PROBE " && chmod 4755 " SUID_PROBE,
			 (int)self);
		CHECK(system(cmd) == 0, "%s", cmd);
	}
	CHECK(pipe(pfd) == 0, "pipe");
	pid = fork();
	if (pid == 0) {
		dup2(pfd[1], 1);
		enable_odf();
		if (drop_to_nobody(0))
			_exit(2);
		execl(SUID_PROBE, "odf_tests", "--print-use-odf", NULL);
		_exit(3);
	}
	close(pfd[1]);
	CHECK(read(pfd[0], buf, sizeof(buf) - 1) > 0, "probe output");
	waitpid(pid, &st, 0);
	CHECK(buf[0] == '0', "use_odf after a setuid exec: %s", buf);
	unlink(SUID_PROBE);
}

static int write_str(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY), ok;

	if (fd < 0)
		return -1;
	ok = write(fd, val, strlen(val)) == (ssize_t)strlen(val);
	close(fd);
	return ok ? 0 : -1;
}

/*
 * Out of memory while breaking: mprotect() fails with ENOMEM and nothing
 * changes (needs CONFIG_FAIL_PAGE_ALLOC and debugfs).
 */
/* fail_page_alloc: the next allocation of a make-it-fail task fails. */
static int fail_setup(void)
{
	const char *fa = "/sys/kernel/debug/fail_page_alloc/";
	static const char *const cfg[][2] = {
		/* task-filter first: only make-it-fail tasks may fail */
		{ "task-filter", "Y" }, { "verbose", "0" }, { "times", "1" },
		{ "interval", "1" }, { "ignore-gfp-wait", "N" },
		{ "ignore-gfp-highmem", "N" }, { "min-order", "0" },
		{ "probability", "100" },
	};
	char path[128];

	snprintf(path, sizeof(path), "%sprobability", fa);
	if (access(path, W_OK)) {
		printf("    (no fail_page_alloc: test not run)\n");
		return -1;
	}
	for (unsigned int i = 0; i < sizeof(cfg) / sizeof(cfg[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", fa, cfg[i][0]);
		CHECK(write_str(path, cfg[i][1]) == 0, "%s", path);
	}
	return 0;
}

static void fail_off(void)
{
	write_str("/sys/kernel/debug/fail_page_alloc/probability", "0");
}

static void t_oom_break(void)
{
	char *a = map_tables(2);
	struct snap s;
	pid_t pid;
	int r, e;

	if (fail_setup())
		return;
	fill(a, 2 * PPT, 1);
	enable_odf();
	pid = fork();
	if (pid == 0) {
		vmpte();
		write_str("/proc/self/make-it-fail", "0");
		snap(&s);
		write_str("/proc/self/make-it-fail", "1");
		r = mprotect(a, TABLE, PROT_READ);
		e = errno;
		write_str("/proc/self/make-it-fail", "0");
		CHECK(r == -1 && e == ENOMEM, "mprotect %d errno %d", r, e);
		EXPECT_DELTA(s, 0, 0, 0);
		CHECK(mismatches(a, 0, 2 * PPT, 1) == 0, "data after ENOMEM");
		snap(&s);
		W(a, 1) = 0xc1; /* still writable, and still shared */
		EXPECT_DELTA(s, 1, 4, 2048);
		snap(&s);
		CHECK(mprotect(a + PPT * PAGE, TABLE, PROT_READ) == 0, "mprotect");
		EXPECT_DELTA(s, 0, 4, 2048);
		_exit(failed_checks != 0);
	}
	CHECK(wait_ok(pid), "child");
	CHECK(mismatches(a, 0, 2 * PPT, 1) == 0, "parent data");
	fail_off();
}

/* pagemap bit 57: the PTE is userfaultfd write-protected */
static int uffd_wp_bit(void *addr)
{
	uint64_t e = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	if (fd < 0)
		return -1;
	if (pread(fd, &e, sizeof(e), (uintptr_t)addr / PAGE * sizeof(e)) !=
	    (ssize_t)sizeof(e))
		e = 0;
	close(fd);
	return (e >> 57) & 1;
}

/*
 * Freeing memory (MADV_DONTNEED, MADV_FREE) and userfaultfd write
 * protection must not fail, or be skipped, when breaking a shared table
 * cannot allocate: the first allocation of the break fails here.
 */
static void t_oom_nofail(void)
{
	char *a = map_tables(3);
	pid_t pid;

	if (fail_setup())
		return;
	fill(a, 3 * PPT, 1);
	enable_odf();
	pid = fork();
	if (pid == 0) {
		struct uffdio_api api = { .api = UFFD_API };
		struct uffdio_register reg = {
			.range = { .start = (uintptr_t)(a + 2 * TABLE),
				   .len = TABLE },
			.mode = UFFDIO_REGISTER_MODE_WP,
		};
		struct uffdio_writeprotect wp = {
			.range = reg.range, .mode = UFFDIO_WRITEPROTECT_MODE_WP,
		};
		int uffd, r, e;

		vmpte();
		write_str("/proc/self/make-it-fail", "1");
		r = madvise(a + PAGE, PAGE, MADV_DONTNEED);
		e = errno;
		write_str("/proc/self/make-it-fail", "0");
		CHECK(r == 0, "MADV_DONTNEED %d errno %d", r, e);
		CHECK(W(a, 1) == 0 && W(a, 2) == tag(1, 2), "after DONTNEED");

		write_str("/proc/self/make-it-fail", "1");
		r = madvise(a + TABLE + PAGE, PAGE, MADV_FREE);
		e = errno;
		write_str("/proc/self/make-it-fail", "0");
		CHECK(r == 0, "MADV_FREE %d errno %d", r, e);

		uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
		CHECK(uffd >= 0, "userfaultfd errno %d", errno);
		CHECK(ioctl(uffd, UFFDIO_API, &api) == 0, "UFFDIO_API");
		CHECK(ioctl(uffd, UFFDIO_REGISTER, &reg) == 0,
		      "UFFDIO_REGISTER errno %d", errno);
		write_str("/proc/self/make-it-fail", "1");
		r = ioctl(uffd, UFFDIO_WRITEPROTECT, &wp);
		write_str("/proc/self/make-it-fail", "0");
		CHECK(r == 0, "UFFDIO_WRITEPROTECT errno %d", errno);
		CHECK(uffd_wp_bit(a + 2 * TABLE + 7 * PAGE) == 1,
		      "page not write-protected after UFFDIO_WRITEPROTECT");
		_exit(failed_checks != 0);
	}
	CHECK(wait_ok(pid), "child");
	CHECK(mismatches(a, 0, 3 * PPT, 1) == 0, "parent data");
	fail_off();
}

struct test {
	const char *name;
	void (*fn)(void);
};

static const struct test tests[] = {
	{ "interface", t_interface },
	{ "fork_read_write", t_fork_read_write },
	{ "owner_copy_then_reuse", t_owner_copy_then_reuse },
	{ "owner_leaves", t_owner_leaves },
	{ "zero_page_read", t_zero_page_read },
	{ "mprotect", t_mprotect },
	{ "madvise_dontneed", t_madvise_dontneed },
	{ "munmap", t_munmap },
	{ "mremap", t_mremap },
	{ "pin_io_uring", t_pin },
	{ "generations", t_generations },
	{ "exec_and_classic", t_exec_and_classic },
	{ "pagemap_clear_refs", t_pagemap_clear_refs },
	{ "madv_free_proc_mem", t_madv_free_proc_mem },
	{ "userfaultfd", t_userfaultfd },
	{ "oom_break", t_oom_break },
	{ "oom_nofail", t_oom_nofail },
	{ "vmsplice_child_unmap", t_vmsplice_child_unmap },
	{ "vmsplice_child_unmap_mprotect", t_vmsplice_child_unmap_mprotect },
	{ "vmsplice_before_fork", t_vmsplice_before_fork },
	{ "vmsplice_parent_after_fork", t_vmsplice_parent_after_fork },
	{ "use_odf_privilege", t_use_odf_privilege },
	{ "pageout_last_user", t_pageout_last_user },
	{ "swapoff_shared", t_swapoff_shared },
	{ "smaps_pss", t_smaps_pss },
	{ "mlock_drop", t_mlock_drop },
	{ "paper_mode", t_paper_mode },
	{ "stress", t_stress },
};

static long settled_pagetables(long want)
{
	long pt = pagetables();

	for (int i = 0; i < 10 && pt != want; i++) {
		usleep(50000);
		pt = pagetables();
	}
	return pt;
}

static int run(const struct test *t)
{
	long pt0 = pagetables(), pt1;
	int ok;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		failed_checks = 0;
		t->fn();
		fflush(stdout);
		_exit(failed_checks != 0);
	}
	ok = wait_ok(pid);
	pt1 = settled_pagetables(pt0);
	if (pt1 != pt0) {
		printf("    FAIL %s leaked page tables: PageTables %ld -> %ld kB\n",
		       t->name, pt0, pt1);
		ok = 0;
	}
	return ok;
}

int main(int argc, char **argv)
{
	int passed = 0, failed = 0, i, j, any = 0;
	long pt0, pt1 = -1;

	if (argc > 1 && !strcmp(argv[1], "--exit-use-odf"))
		return read_use_odf(getpid());
	if (argc > 1 && !strcmp(argv[1], "--print-use-odf")) {
		printf("%d\n", read_use_odf(getpid()));
		return 0;
	}
	if (argc > 1 && !strcmp(argv[1], "-v")) {
		verbose = 1;
		argv++;
		argc--;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	/*
	 * One CPU: a process that migrates can take a spurious fault on a
	 * stale read-only TLB entry of the other CPU (after a COW reuse, in
	 * classic fork as well), which counts as a minor fault.
	 */
	if (!getenv("ODF_TESTS_NO_PIN")) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(0, &set);
		sched_setaffinity(0, sizeof(set), &set);
	}
	pt0 = pagetables();
	for (i = 0; i < (int)(sizeof(tests) / sizeof(tests[0])); i++) {
		if (argc > 1) {
			for (j = 1; j < argc; j++)
				if (!strcmp(argv[j], tests[i].name))
					break;
			if (j == argc)
				continue;
		}
		any = 1;
		if (run(&tests[i])) {
			printf("PASS %s\n", tests[i].name);
			passed++;
		} else {
			printf("FAIL %s\n", tests[i].name);
			failed++;
		}
	}
	/* No page table may leak (allow for deferred frees). */
	for (i = 0; i < 20 && any; i++) {
		pt1 = pagetables();
		if (pt1 == pt0)
			break;
		usleep(100000);
	}
	if (any) {
		if (pt1 == pt0) {
			printf("PASS pagetables_no_leak (%ld kB)\n", pt0);
			passed++;
		} else {
			printf("FAIL pagetables_no_leak: %ld kB before, %ld kB after\n",
			       pt0, pt1);
			failed++;
		}
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
