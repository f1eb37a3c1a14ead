// forklat: real fork() latency vs populated anonymous memory (the paper's Figure 1 program, with the memory touched).
//
//   forklat anon   SIZES_GIB REPS   every page written (anon pages: PTE copy + refcount/mapcount + wrprotect)
//   forklat zero   SIZES_GIB REPS   every page read (shared zero page: PTE copy only, no per-page refcount)
//   forklat sparse SIZES_GIB REPS   one page written per 2 MiB (one PTE table per page: isolates table_alloc)
//   forklat vmas   COUNTS    REPS   COUNT separate one-page VMAs (isolates vma_copy)
//   forklat base   0         REPS   nothing extra (fork_base of this small process)
//   forklat refork SIZES_GIB REPS   as anon, but the memory is mapped and written once per size and forked REPS
//                                    times: from the second fork on, the parent's PTEs are already write-protected
//
// Each rep maps fresh memory (MADV_NOHUGEPAGE: THP off for the range), touches it, times fork() in the parent with
// CLOCK_MONOTONIC, the child _exit(0)s, the parent waitpid()s and unmaps. Output, one line per rep:
//   MODE SIZE PAGES REP FORK_MS VMPTE_KB
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096UL
#define HUGE (2UL << 20)

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static long vmpte_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmPTE: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static double time_fork(void)
{
	double t0 = now_ms();
	pid_t pid = fork();
	double t1 = now_ms();
	if (pid < 0) {
		perror("fork");
		exit(1);
	}
	if (pid == 0)
		_exit(0);
	waitpid(pid, NULL, 0);
	return t1 - t0;
}

static void *map(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	madvise(p, len, MADV_NOHUGEPAGE);
	return p;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: forklat anon|zero|sparse|vmas|base SIZES REPS\n");
		return 2;
	}
	const char *mode = argv[1];
	int reps = atoi(argv[3]);
	char *list = strdup(argv[2]);
	for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
		double size = atof(tok);
		int refork = !strcmp(mode, "refork");
		char *keep = NULL;
		for (int r = 0; r < reps; r++) {
			size_t len = 0, pages = 0;
			char *p = NULL;
			if (refork) {
				len = ((size_t)(size * (1UL << 30)) + HUGE - 1) & ~(HUGE - 1);
				pages = len / PAGE;
				if (!keep) {
					keep = map(len);
					for (size_t o = 0; o < len; o += PAGE)
						keep[o] = 1;
				}
			}
			char **vmas = NULL;
			long nv = 0;
			volatile char sink = 0;
			if (!strcmp(mode, "anon") || !strcmp(mode, "zero") || !strcmp(mode, "sparse")) {
				len = (size_t)(size * (1UL << 30));
				len = (len + HUGE - 1) & ~(HUGE - 1);
				p = map(len);
				if (!strcmp(mode, "anon")) {
					for (size_t o = 0; o < len; o += PAGE)
						p[o] = 1;
					pages = len / PAGE;
				} else if (!strcmp(mode, "zero")) {
					p[0] = 1; /* gives the VMA an anon_vma, so fork copies its page tables */
					for (size_t o = PAGE; o < len; o += PAGE)
						sink += p[o];
					pages = len / PAGE;
				} else {
					for (size_t o = 0; o < len; o += HUGE)
						p[o] = 1;
					pages = len / HUGE;
				}
			} else if (!strcmp(mode, "vmas")) {
				nv = (long)size;
				vmas = calloc(nv + 1, sizeof(*vmas));
				for (long i = 0; i < nv; i++) {
					/* alternate protections so neighbours never merge */
					vmas[i] = mmap(NULL, PAGE, (i & 1) ? PROT_READ | PROT_WRITE : PROT_READ | PROT_WRITE | PROT_EXEC,
						       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
					if (vmas[i] == MAP_FAILED) {
						perror("mmap");
						return 1;
					}
					vmas[i][0] = 1;
				}
				pages = nv;
			}
			long pte = vmpte_kb();
			double ms = time_fork();
			printf("%s %g %zu %d %.4f %ld\n", mode, size, pages, r, ms, pte);
			fflush(stdout);
			if (p)
				munmap(p, len);
			if (keep && r == reps - 1) {
				munmap(keep, len);
				keep = NULL;
			}
			for (long i = 0; i < nv; i++)
				munmap(vmas[i], PAGE);
			free(vmas);
			(void)sink;
		}
	}
	return 0;
}
