// SPDX-License-Identifier: MIT
/*
 * odf-forkbench: fork latency of a process with SIZE MiB of populated private anonymous memory (4 KiB pages,
 * MADV_NOHUGEPAGE). The latency is the time fork() takes in the parent; the child exits at once.
 *   odf-forkbench [--runs N] SIZE_MIB...
 * Prints one line per size: "forkbench size_mib=S use_odf=U min_us=... median_us=... runs=N".
 * Run it under use_odf 0 and 1 (scripts/kernel-forkbench does). Under QEMU TCG the times are emulated.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	int runs = 7, use_odf = -1;
	FILE *f = fopen("/proc/self/use_odf", "r");

	if (f) {
		if (fscanf(f, "%d", &use_odf) != 1)
			use_odf = -1;
		fclose(f);
	}
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--runs") && i + 1 < argc) {
			runs = atoi(argv[++i]);
			continue;
		}
		size_t mib = strtoul(argv[i], NULL, 0), len = mib << 20;
		char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		double t[64];

		if (p == MAP_FAILED) {
			printf("forkbench size_mib=%zu: mmap failed\n", mib);
			continue;
		}
		madvise(p, len, MADV_NOHUGEPAGE);
		for (size_t o = 0; o < len; o += 4096)
			p[o] = (char)o;
		if (runs > 64)
			runs = 64;
		for (int r = 0; r < runs; r++) {
			double t0 = now_us();
			pid_t pid = fork();

			if (pid == 0)
				_exit(0);
			t[r] = now_us() - t0;
			waitpid(pid, NULL, 0);
			/* Re-dirty so every run starts from exclusive, writable PTEs (as after the first fork). */
			for (size_t o = 0; o < len; o += 4096)
				p[o]++;
		}
		qsort(t, runs, sizeof(t[0]), cmp);
		printf("forkbench size_mib=%zu use_odf=%d min_us=%.0f median_us=%.0f runs=%d\n", mib, use_odf, t[0],
		       t[runs / 2], runs);
		fflush(stdout);
		munmap(p, len);
	}
	return 0;
}
