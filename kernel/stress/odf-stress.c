// SPDX-License-Identifier: MIT
/*
 * odf-stress: concurrent fork stress with content checks, for the ODF kernel (run with use_odf 1) and classic.
 *
 *   odf-stress [--odf] [--procs N] [--forks TOTAL] [--mib M] [--seed S]
 *
 * N worker processes run concurrently. Each owns a private anonymous region of M MiB (2 MiB aligned, several PTE
 * tables) and a small shared region, and keeps a shadow of what every page of it must contain. A worker loops over
 * random steps: write pages (new unique tags), read and check pages, mprotect a range read-only (a write there
 * must SIGSEGV) and back, MADV_DONTNEED a range, munmap and re-mmap a range, mremap a range away and back, and
 * fork. A forked child checks the whole region, runs its own random steps (including nested forks, depth <= 2),
 * exits (sometimes while its parent is still writing), and reports mismatches through its exit status and a shared
 * error counter. TOTAL forks are made overall. Afterwards: all children reaped, PageTables in /proc/meminfo must
 * come back to its value before the run. The script scripts/kernel-stress checks dmesg.
 * Last line: "odf-stress: PASS ..." or "odf-stress: FAIL ...".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PG 4096UL
#define TBL (2UL << 20)
#define SHARED_PAGES 16

struct shared_state {
	long forks;
	long errors;
	long checks;
	long segv_ok;
};

static struct shared_state *g_sh;
static size_t g_len, g_npages;
static char *g_mem;           /* private region */
static uint64_t *g_shadow;    /* expected first word of every private page (0: never written / zapped) */
static volatile uint64_t *g_shm; /* shared region: SHARED_PAGES pages, page i written only by worker i */
static int g_worker;
static uint64_t g_rng;
static int g_depth;

static uint64_t rnd(void)
{
	uint64_t x = (g_rng += 0x9e3779b97f4a7c15ULL);

	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static void error(const char *what, size_t page, uint64_t want, uint64_t got)
{
	__atomic_fetch_add(&g_sh->errors, 1, __ATOMIC_RELAXED);
	fprintf(stderr, "odf-stress: pid %d worker %d depth %d: %s: page %zu want %#llx got %#llx\n", getpid(),
		g_worker, g_depth, what, page, (unsigned long long)want, (unsigned long long)got);
}

static int check_pages(size_t first, size_t n)
{
	int bad = 0;

	for (size_t i = first; i < first + n && i < g_npages; i++) {
		uint64_t got = *(volatile uint64_t *)(g_mem + i * PG);

		if (got != g_shadow[i]) {
			if (bad < 3)
				error("content", i, g_shadow[i], got);
			bad++;
		}
	}
	__atomic_fetch_add(&g_sh->checks, (long)n, __ATOMIC_RELAXED);
	return bad;
}

static void write_pages(size_t first, size_t n)
{
	for (size_t i = first; i < first + n && i < g_npages; i++) {
		uint64_t tag = rnd() | 1;

		*(volatile uint64_t *)(g_mem + i * PG) = tag;
		g_shadow[i] = tag;
	}
}

static sigjmp_buf g_segv_env;
static volatile int g_expect_segv;

static void on_segv(int sig)
{
	if (!g_expect_segv) {
		signal(sig, SIG_DFL);
		return;
	}
	siglongjmp(g_segv_env, 1);
}

static void range(size_t *first, size_t *n)
{
	*first = rnd() % g_npages;
	*n = 1 + rnd() % (rnd() % 4 == 0 ? 1024 : 16);
	if (*first + *n > g_npages)
		*n = g_npages - *first;
}

static void step_fork(void);

static void step(void)
{
	size_t first, n;
	int r = (int)(rnd() % 85);

	range(&first, &n);
	if (r < 30) {
		write_pages(first, n);
	} else if (r < 55) {
		check_pages(first, n);
	} else if (r < 62) {
		/* mprotect read-only: content readable, a write traps; then back. */
		if (mprotect(g_mem + first * PG, n * PG, PROT_READ)) {
			error("mprotect", first, 0, (uint64_t)errno);
			return;
		}
		check_pages(first, n);
		g_expect_segv = 1;
		if (sigsetjmp(g_segv_env, 1) == 0) {
			*(volatile uint64_t *)(g_mem + first * PG) = 42;
			g_expect_segv = 0;
			error("write to read-only page did not fault", first, 0, 0);
		} else {
			g_expect_segv = 0;
			__atomic_fetch_add(&g_sh->segv_ok, 1, __ATOMIC_RELAXED);
		}
		mprotect(g_mem + first * PG, n * PG, PROT_READ | PROT_WRITE);
		check_pages(first, n);
	} else if (r < 70) {
		madvise(g_mem + first * PG, n * PG, MADV_DONTNEED);
		memset(g_shadow + first, 0, n * sizeof(*g_shadow));
		check_pages(first, n);
	} else if (r < 76) {
		if (munmap(g_mem + first * PG, n * PG) ||
		    mmap(g_mem + first * PG, n * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
			 -1, 0) == MAP_FAILED)
			error("munmap/mmap", first, 0, (uint64_t)errno);
		memset(g_shadow + first, 0, n * sizeof(*g_shadow));
		check_pages(first, n);
	} else if (r < 80) {
		/* mremap the range past the end of the region and back. */
		char *away = g_mem + g_len + TBL;
		/* EFAULT: the range spans several VMAs (after munmap/mmap), mremap refuses that; nothing moved. */
		if (mremap(g_mem + first * PG, n * PG, n * PG, MREMAP_MAYMOVE | MREMAP_FIXED, away) == MAP_FAILED) {
			if (errno != EFAULT)
				error("mremap", first, 0, (uint64_t)errno);
		} else if (mremap(away, n * PG, n * PG, MREMAP_MAYMOVE | MREMAP_FIXED, g_mem + first * PG) ==
			   MAP_FAILED) {
			error("mremap back", first, 0, (uint64_t)errno);
		}
		check_pages(first, n);
	} else {
		uint64_t v = rnd() | 1;
		g_shm[g_worker * (PG / 8)] = v;
		if (g_shm[g_worker * (PG / 8)] != v)
			error("shared", (size_t)g_worker, v, g_shm[g_worker * (PG / 8)]);
	}
}

static void child_body(void)
{
	int steps = 5 + (int)(rnd() % 40);

	g_depth++;
	g_rng ^= (uint64_t)getpid() << 32;
	check_pages(0, g_npages);
	for (int i = 0; i < steps; i++) {
		int r = (int)(rnd() % 100);

		if (r < 8 && g_depth < 3)
			step_fork();
		else if (r >= 8)
			step();
	}
	_exit(0);
}

static void step_fork(void)
{
	pid_t pid;
	int st, steps;

	if (g_depth > 0 && rnd() % 2)
		return;
	__atomic_fetch_add(&g_sh->forks, 1, __ATOMIC_RELAXED);
	pid = fork();
	if (pid < 0) {
		error("fork", 0, 0, (uint64_t)errno);
		return;
	}
	if (pid == 0)
		child_body();
	/* The parent keeps working while the child runs, sometimes. */
	steps = (int)(rnd() % 4);
	for (int i = 0; i < steps; i++) {
		size_t first, n;

		range(&first, &n);
		if (rnd() % 2)
			write_pages(first, n);
		else
			check_pages(first, n);
	}
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st)) {
		error("child died", 0, (uint64_t)st, 0);
	}
	{
		size_t first, n;

		range(&first, &n);
		check_pages(first, n);
	}
}

static long meminfo_kb(const char *key)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	long v = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)) && line[strlen(key)] == ':')
			v = strtol(line + strlen(key) + 1, NULL, 10);
	fclose(f);
	return v;
}

static void worker(int idx, long total_forks, uint64_t seed)
{

	g_worker = idx;
	g_rng = seed * 1000003 + (uint64_t)idx;
	/* Region: 2 MiB aligned, with room after it for mremap. */
	char *raw = mmap(NULL, g_len + 8 * TBL, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED) {
		perror("mmap");
		_exit(2);
	}
	g_mem = (char *)(((uintptr_t)raw + TBL - 1) & ~(TBL - 1));
	madvise(raw, g_len + 8 * TBL, MADV_NOHUGEPAGE);
	g_shadow = calloc(g_npages, sizeof(*g_shadow));
	write_pages(0, g_npages / 2);
	while (__atomic_load_n(&g_sh->forks, __ATOMIC_RELAXED) < total_forks) {
		if (rnd() % 100 < 20)
			step_fork();
		else
			step();
	}
	check_pages(0, g_npages);
	_exit(0);
}

int main(int argc, char **argv)
{
	int procs = 4, mib = 4, odf = 0;
	long total = 10000;
	uint64_t seed = (uint64_t)time(NULL);

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--odf"))
			odf = 1;
		else if (!strcmp(argv[i], "--procs") && i + 1 < argc)
			procs = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--forks") && i + 1 < argc)
			total = atol(argv[++i]);
		else if (!strcmp(argv[i], "--mib") && i + 1 < argc)
			mib = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			seed = strtoull(argv[++i], NULL, 0);
		else {
			fprintf(stderr, "usage: odf-stress [--odf] [--procs N] [--forks TOTAL] [--mib M] [--seed S]\n");
			return 2;
		}
	}
	if (odf && prctl(65, 0, 0, 0, 0)) {
		printf("odf-stress: FAIL: --odf: prctl(65) failed: %s (kernel without ODF)\n", strerror(errno));
		return 1;
	}
	FILE *f = fopen("/proc/self/use_odf", "r");
	int use_odf = -1;
	if (f) {
		if (fscanf(f, "%d", &use_odf) != 1)
			use_odf = -1;
		fclose(f);
	}
	g_len = (size_t)mib << 20;
	g_npages = g_len / PG;
	g_sh = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	g_shm = mmap(NULL, SHARED_PAGES * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (g_sh == MAP_FAILED || g_shm == MAP_FAILED)
		return 2;
	if (procs > SHARED_PAGES)
		procs = SHARED_PAGES;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_segv;
	sa.sa_flags = SA_NODEFER;
	sigaction(SIGSEGV, &sa, NULL);

	sleep(1);
	long pt0 = meminfo_kb("PageTables");
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	printf("odf-stress: use_odf=%d procs=%d forks>=%ld region=%d MiB seed=%llu PageTables=%ld kB\n", use_odf,
	       procs, total, mib, (unsigned long long)seed, pt0);
	fflush(stdout);
	pid_t pids[SHARED_PAGES];
	for (int i = 0; i < procs; i++) {
		pids[i] = fork();
		if (pids[i] == 0)
			worker(i, total, seed);
	}
	int bad_exit = 0;
	for (int i = 0; i < procs; i++) {
		int st;

		if (waitpid(pids[i], &st, 0) != pids[i] || !WIFEXITED(st) || WEXITSTATUS(st)) {
			fprintf(stderr, "odf-stress: worker %d ended with status %#x\n", i, st);
			bad_exit++;
		}
	}
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* Let deferred frees settle (RCU table freeing): poll up to 10 s. */
	long pt1 = meminfo_kb("PageTables");
	for (int i = 0; i < 100 && pt1 != pt0; i++) {
		usleep(100000);
		pt1 = meminfo_kb("PageTables");
	}
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	int ok = g_sh->errors == 0 && bad_exit == 0 && pt1 == pt0 && g_sh->forks >= total;
	printf("odf-stress: %s: %ld forks in %.1f s, %ld page checks, %ld expected SIGSEGVs, %ld errors, "
	       "%d bad worker exits, PageTables %ld kB before, %ld kB after\n",
	       ok ? "PASS" : "FAIL", g_sh->forks, secs, g_sh->checks, g_sh->segv_ok, g_sh->errors, bad_exit, pt0, pt1);
	return ok ? 0 : 1;
}
