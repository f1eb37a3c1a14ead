// faults: per-page costs of faults, page zero/copy, unmap, syscalls and TLB misses on this machine.
//
//   faults [MIB] [REPS]     MIB of memory per measurement (default 256), min of REPS runs (default 5)
//
// Output: one "KEY NS_PER_UNIT" line per quantity (see docs/COSTMODEL.md, "Calibration", for what each one is and
// which cost-model keys are fitted from it).
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096UL
#define HUGE (2UL << 20)

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static char *map(size_t len, int advice)
{
	char *p = mmap(NULL, len + HUGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	/* 2 MiB-align so the range is whole PTE tables (and whole huge pages with MADV_HUGEPAGE) */
	char *a = (char *)(((uintptr_t)p + HUGE - 1) & ~(HUGE - 1));
	if (a != p)
		munmap(p, a - p);
	munmap(a + len, (p + len + HUGE) - (a + len));
	madvise(a, len, advice);
	return a;
}

static void touch(char *p, size_t len, size_t step)
{
	for (size_t o = 0; o < len; o += step)
		p[o] = 1;
}

static volatile char sink;

static double read_pages(char *p, size_t len, size_t step)
{
	char s = 0;
	double t = now_ns();
	for (size_t o = 0; o < len; o += step)
		s += ((volatile char *)p)[o];
	sink = s;
	return now_ns() - t;
}

static double write_pages(char *p, size_t len, size_t step)
{
	double t = now_ns();
	for (size_t o = 0; o < len; o += step)
		((volatile char *)p)[o] = 2;
	return now_ns() - t;
}

static double min2(double a, double b)
{
	return a < b ? a : b;
}
#define MIN(a, b) min2((a), (b))

struct res {
	double rfault, wfault, cow, reuse, unmap_anon, unmap_zero, zero, copy, hzero, hcopy, hfault, hcow, sys;
};

static void one_run(size_t len, struct res *r)
{
	size_t n = len / PAGE, nh = len / HUGE;
	char *p;
	double t;

	/* read fault mapping the zero page: fault entry + exit + a PTE set */
	p = map(len, MADV_NOHUGEPAGE);
	r->rfault = MIN(r->rfault, read_pages(p, len, PAGE) / n);
	t = now_ns();
	munmap(p, len);
	r->unmap_zero = MIN(r->unmap_zero, (now_ns() - t) / n);

	/* first-touch write fault: fault + page alloc + page zero (+ one PTE table per 512) */
	p = map(len, MADV_NOHUGEPAGE);
	r->wfault = MIN(r->wfault, write_pages(p, len, PAGE) / n);

	/* COW fault: a child holds the pages; the parent writes each once */
	int pfd[2];
	if (pipe(pfd))
		exit(1);
	pid_t pid = fork();
	if (pid == 0) {
		char c;
		close(pfd[1]);
		if (read(pfd[0], &c, 1) < 0)
			_exit(1);
		_exit(0);
	}
	close(pfd[0]);
	r->cow = MIN(r->cow, write_pages(p, len, PAGE) / n);
	close(pfd[1]);
	waitpid(pid, NULL, 0);

	/* write fault on a read-only PTE whose page is no longer shared: reuse, no copy */
	pid = fork();
	if (pid == 0)
		_exit(0);
	waitpid(pid, NULL, 0);
	r->reuse = MIN(r->reuse, write_pages(p, len, PAGE) / n);

	t = now_ns();
	munmap(p, len);
	r->unmap_anon = MIN(r->unmap_anon, (now_ns() - t) / n);

	/* page zero and copy bandwidth: memset/memcpy of 4 KiB pages over buffers larger than the caches */
	char *a = map(len, MADV_NOHUGEPAGE), *b = map(len, MADV_NOHUGEPAGE);
	touch(a, len, PAGE);
	touch(b, len, PAGE);
	t = now_ns();
	for (size_t o = 0; o < len; o += PAGE)
		memset(a + o, 0, PAGE);
	r->zero = MIN(r->zero, (now_ns() - t) / n);
	t = now_ns();
	for (size_t o = 0; o < len; o += PAGE)
		memcpy(b + o, a + o, PAGE);
	r->copy = MIN(r->copy, (now_ns() - t) / n);
	t = now_ns();
	for (size_t o = 0; o < len; o += HUGE)
		memset(a + o, 1, HUGE);
	r->hzero = MIN(r->hzero, (now_ns() - t) / nh);
	t = now_ns();
	for (size_t o = 0; o < len; o += HUGE)
		memcpy(b + o, a + o, HUGE);
	r->hcopy = MIN(r->hcopy, (now_ns() - t) / nh);
	sink = a[123] + b[456];
	munmap(a, len);
	munmap(b, len);

	/* THP: first-touch fault of a 2 MiB page and its COW (only if THP is available in madvise mode) */
	p = map(len, MADV_HUGEPAGE);
	r->hfault = MIN(r->hfault, write_pages(p, len, HUGE) / nh);
	if (pipe(pfd))
		exit(1);
	pid = fork();
	if (pid == 0) {
		char c;
		close(pfd[1]);
		if (read(pfd[0], &c, 1) < 0)
			_exit(1);
		_exit(0);
	}
	close(pfd[0]);
	r->hcow = MIN(r->hcow, write_pages(p, len, HUGE) / nh);
	close(pfd[1]);
	waitpid(pid, NULL, 0);
	munmap(p, len);

	/* syscall entry + exit */
	t = now_ns();
	for (int i = 0; i < 100000; i++)
		syscall(SYS_getppid);
	r->sys = MIN(r->sys, (now_ns() - t) / 100000);
}

/* TLB: a dependent chain through one cache line per page, pages in random order; ns per load. */
static double chase(char *p, size_t pages, long steps)
{
	size_t *perm = malloc(pages * sizeof(*perm));
	for (size_t i = 0; i < pages; i++)
		perm[i] = i;
	srand(42);
	for (size_t i = pages - 1; i > 0; i--) {
		size_t j = (size_t)rand() % (i + 1), x = perm[i];
		perm[i] = perm[j];
		perm[j] = x;
	}
	/* the line offset varies with the page so that the lines do not all fall in one cache set */
	for (size_t i = 0; i < pages; i++) {
		size_t from = perm[i], to = perm[(i + 1) % pages];
		*(char **)(p + from * PAGE + (from % 64) * 64) = p + to * PAGE + (to % 64) * 64;
	}
	char *q = p + perm[0] * PAGE + (perm[0] % 64) * 64;
	free(perm);
	for (long i = 0; i < steps / 4; i++)
		q = *(char **)q;
	double t = now_ns();
	for (long i = 0; i < steps; i++)
		q = *(char **)q;
	t = now_ns() - t;
	sink = *q;
	return t / steps;
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 0) : 256;
	int reps = argc > 2 ? atoi(argv[2]) : 5;
	size_t len = mib << 20;
	struct res r;
	double *f = (double *)&r;
	for (size_t i = 0; i < sizeof(r) / sizeof(double); i++)
		f[i] = 1e30;
	for (int i = 0; i < reps; i++)
		one_run(len, &r);
	printf("read_fault_ns_per_page %.2f\n", r.rfault);
	printf("write_fault_ns_per_page %.2f\n", r.wfault);
	printf("cow_fault_ns_per_page %.2f\n", r.cow);
	printf("reuse_fault_ns_per_page %.2f\n", r.reuse);
	printf("munmap_anon_ns_per_page %.2f\n", r.unmap_anon);
	printf("munmap_zero_ns_per_page %.2f\n", r.unmap_zero);
	printf("memset_4k_ns %.2f\n", r.zero);
	printf("memcpy_4k_ns %.2f\n", r.copy);
	printf("memset_2m_ns %.2f\n", r.hzero);
	printf("memcpy_2m_ns %.2f\n", r.hcopy);
	printf("thp_write_fault_ns_per_2m %.2f\n", r.hfault);
	printf("thp_cow_fault_ns_per_2m %.2f\n", r.hcow);
	printf("syscall_ns %.2f\n", r.sys);

	/* TLB: 32 pages (L1 dTLB hits), 1024 pages (L1 misses, L2 TLB hits), 65536 pages with 4 KiB pages
	 * (L2 TLB misses: page walks) and the same 65536 pages backed by THP (no walks: isolates the walk) */
	double best[4] = {1e30, 1e30, 1e30, 1e30};
	size_t np[4] = {32, 1024, 65536, 65536};
	for (int k = 0; k < 4; k++) {
		for (int i = 0; i < reps; i++) {
			size_t l = np[k] * PAGE;
			char *p = map(l < HUGE ? HUGE : l, k == 3 ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
			touch(p, l, PAGE);
			double t = chase(p, np[k], 2000000);
			best[k] = MIN(best[k], t);
			munmap(p, l < HUGE ? HUGE : l);
		}
	}
	printf("load_l1tlb_ns %.3f\n", best[0]);
	printf("load_l2tlb_ns %.3f\n", best[1]);
	printf("load_walk_4k_ns %.3f\n", best[2]);
	printf("load_walk_thp_ns %.3f\n", best[3]);
	return 0;
}
