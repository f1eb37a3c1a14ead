// SPDX-License-Identifier: MIT
/*
 * odf-mtstress: multi-threaded fork / fault / munmap stress for the ODF kernel, for 2+ CPUs and threads that
 * are not pinned to a CPU.
 *
 *   odf-mtstress [--forks N] [--tables T] [--writers W] [--readers R] [--seed S]
 *
 * The parent maps T PTE tables (2 MiB each) of private anonymous memory and runs W writer threads; writer w owns
 * the pages p with p % W == w and keeps a shadow of what each must hold (it checks the page before every write:
 * nothing but itself may change it). The main thread forks N children one after the other, while the writers
 * keep writing. A child takes a snapshot of every page right after fork, starts R reader threads that check
 * random pages against the snapshot, writes its own values into table 0 (breaking it; the parent's writers must
 * never see them), and then unmaps tables 1..T-1 one at a time in random order while the readers keep reading.
 * After each munmap it tells the parent, whose main thread at once writes new values into that table (the
 * parent is then the table's last user: it takes the table back and writes its pages, in place where nobody
 * else references them). A reader of the child may see the snapshot or SIGSEGV (the table is gone), never the
 * parent's new value: that would be a translation that outlived the munmap (a TLB flush after the reference
 * was dropped). Last line: "odf-mtstress: PASS ..." or "odf-mtstress: FAIL ...".
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define PG 4096UL
#define TBL (2UL << 20)
#define PPT (TBL / PG)
#define PR_SET_ODF 65

static char *region;
static unsigned long npages, ntables;
static int nwriters = 3, nreaders = 2;
static atomic_int stop_writers;
static atomic_long writer_errors, writes;

#define WORD(p) (*(volatile uint64_t *)(region + (p) * PG))

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void *writer(void *arg)
{
	long w = (long)arg;
	uint64_t seed = 0x9e3779b97f4a7c15ULL * (w + 1), gen = 0;
	uint64_t *shadow = calloc(npages, sizeof(*shadow));

	while (!atomic_load(&stop_writers)) {
		unsigned long p = rnd(&seed) % npages;

		p -= p % nwriters;
		p += w;
		if (p >= npages || p / PPT != 0)
			continue; /* writers own table 0; the main thread rewrites the others */
		if (WORD(p) != shadow[p]) {
			atomic_fetch_add(&writer_errors, 1);
			fprintf(stderr, "writer %ld: page %lu holds %#lx, wrote %#lx\n", w, p,
				(unsigned long)WORD(p), (unsigned long)shadow[p]);
		}
		shadow[p] = ((uint64_t)(w + 1) << 56) | ++gen;
		WORD(p) = shadow[p];
		atomic_fetch_add(&writes, 1);
	}
	free(shadow);
	return NULL;
}

/* ---- child ---- */
static uint64_t *snapshot;
static atomic_int stop_readers;
static atomic_long reader_errors, reads, segvs;
static __thread sigjmp_buf jb;
static __thread volatile int in_read;

static void on_segv(int sig)
{
	(void)sig;
	if (in_read)
		siglongjmp(jb, 1);
	_exit(99);
}

/* Reads page @p into *@v; 0 if it is unmapped (SIGSEGV). */
static int read_page(unsigned long p, uint64_t *v)
{
	if (sigsetjmp(jb, 1)) {
		in_read = 0;
		return 0;
	}
	in_read = 1;
	*v = WORD(p);
	in_read = 0;
	return 1;
}

static void *reader(void *arg)
{
	uint64_t seed = 0x2545f4914f6cdd1dULL * ((long)arg + 7);

	while (!atomic_load(&stop_readers)) {
		unsigned long p = PPT + rnd(&seed) % (npages - PPT);
		uint64_t v;

		if (!read_page(p, &v)) {
			atomic_fetch_add(&segvs, 1);
			continue;
		}
		if (v != snapshot[p]) {
			atomic_fetch_add(&reader_errors, 1);
			fprintf(stderr, "child reader: page %lu holds %#lx, snapshot %#lx\n", p,
				(unsigned long)v, (unsigned long)snapshot[p]);
		}
		atomic_fetch_add(&reads, 1);
	}
	return NULL;
}

static int child(int tell_fd, int ack_fd, uint64_t seed)
{
	pthread_t th[16];
	unsigned long order[64], i, j;
	struct sigaction sa = { .sa_handler = on_segv, .sa_flags = SA_NODEFER };
	char c = 0;

	sigaction(SIGSEGV, &sa, NULL);
	snapshot = malloc(npages * sizeof(*snapshot));
	for (i = 0; i < npages; i++)
		snapshot[i] = WORD(i);
	for (i = 0; i < (unsigned long)nreaders; i++)
		pthread_create(&th[i], NULL, reader, (void *)i);
	/* the child's own writes, in table 0: never visible to the parent */
	for (i = 0; i < PPT; i += 7)
		WORD(i) = 0xc0ffee0000000000ULL | i;
	for (i = 1; i < ntables; i++)
		order[i - 1] = i;
	for (i = ntables - 2; i > 0; i--) {
		unsigned long t;

		j = rnd(&seed) % (i + 1);
		t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	for (i = 0; i + 1 < ntables; i++) {
		unsigned long t = order[i];

		usleep(rnd(&seed) % 2000);
		if (munmap(region + t * PG * PPT, TBL))
			return 2;
		c = (char)t;
		if (write(tell_fd, &c, 1) != 1 || read(ack_fd, &c, 1) != 1)
			return 3;
	}
	usleep(2000);
	atomic_store(&stop_readers, 1);
	for (i = 0; i < (unsigned long)nreaders; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < PPT; i++)
		if (i % 7 && WORD(i) != snapshot[i])
			atomic_fetch_add(&reader_errors, 1);
	return atomic_load(&reader_errors) ? 1 : 0;
}

int main(int argc, char **argv)
{
	long forks = 100, f, errors = 0;
	uint64_t seed = 1, gen = 0;
	pthread_t th[16];
	char *raw;
	int i;

	ntables = 4;
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--forks") && i + 1 < argc)
			forks = atol(argv[++i]);
		else if (!strcmp(argv[i], "--tables") && i + 1 < argc)
			ntables = strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--writers") && i + 1 < argc)
			nwriters = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--readers") && i + 1 < argc)
			nreaders = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			seed = strtoull(argv[++i], NULL, 0) | 1;
		else {
			fprintf(stderr, "usage: odf-mtstress [--forks N] [--tables T] [--writers W] "
					"[--readers R] [--seed S]\n");
			return 2;
		}
	}
	if (ntables < 2 || ntables > 64 || nwriters < 1 || nwriters > 16 || nreaders < 1 || nreaders > 16) {
		fprintf(stderr, "odf-mtstress: tables 2..64, writers and readers 1..16\n");
		return 2;
	}
	npages = ntables * PPT;
	raw = mmap(NULL, (ntables + 1) * TBL, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED)
		return 2;
	region = (char *)(((uintptr_t)raw + TBL - 1) & ~(TBL - 1));
	madvise(region, ntables * TBL, MADV_NOHUGEPAGE);
	memset(region, 0, ntables * TBL);
	for (i = 0; i < nwriters; i++)
		pthread_create(&th[i], NULL, writer, (void *)(long)i);

	for (f = 0; f < forks; f++) {
		int c2p[2], p2c[2], st;
		unsigned long t, p;
		pid_t pid;
		char c;

		/* tables 1.. are mapped and hold the main thread's values */
		for (t = 1; t < ntables; t++) {
			if (mmap(region + t * TBL, TBL, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
				return 2;
			madvise(region + t * TBL, TBL, MADV_NOHUGEPAGE);
			for (p = t * PPT; p < (t + 1) * PPT; p++)
				WORD(p) = (0xaaULL << 56) | (gen << 20) | p;
		}
		gen++;
		if (pipe(c2p) || pipe(p2c))
			return 2;
		pid = fork();
		if (pid == 0) {
			close(c2p[0]);
			close(p2c[1]);
			_exit(child(c2p[1], p2c[0], seed + f));
		}
		close(c2p[1]);
		close(p2c[0]);
		/* each table the child unmapped: take it back and write it at once */
		while (read(c2p[0], &c, 1) == 1) {
			t = (unsigned char)c;
			for (p = t * PPT; p < (t + 1) * PPT; p++)
				WORD(p) = (0xbbULL << 56) | (gen << 20) | p;
			if (write(p2c[1], &c, 1) != 1)
				break;
		}
		close(c2p[0]);
		close(p2c[1]);
		if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st)) {
			errors++;
			fprintf(stderr, "child %ld: status %#x\n", f, st);
		}
	}
	atomic_store(&stop_writers, 1);
	for (i = 0; i < nwriters; i++)
		pthread_join(th[i], NULL);
	errors += atomic_load(&writer_errors);
	printf("odf-mtstress: %s: %ld forks, %d writers, %d readers per child, %lu tables, %ld parent writes, "
	       "%ld errors\n",
	       errors ? "FAIL" : "PASS", forks, nwriters, nreaders, ntables, atomic_load(&writes), errors);
	return errors ? 1 : 0;
}
