/* Test program for tests/recorder/test-record.sh: mmap, writes, mprotect, fork, child writes and exits, munmap,
   brk via malloc.  Prints the address of its mapping so that the test can find it in the trace. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGES 16
#define PG 4096

int main(void)
{
	volatile char* p = mmap(NULL, PAGES * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 2;
	printf("map %p\n", (void*)p);
	fflush(stdout);
	for (int rep = 0; rep < 3; rep++) /* every page written three times */
		for (int i = 0; i < PAGES; i++)
			p[i * PG + rep] = (char)(rep + 1);
	if (mprotect((char*)p + 8 * PG, 8 * PG, PROT_READ) != 0)
		return 3;
	pid_t c = fork();
	if (c < 0)
		return 4;
	if (c == 0) {
		int sum = 0;
		for (int rep = 0; rep < 2; rep++) {
			for (int i = 0; i < 8; i++)
				p[i * PG + 100] = 7; /* child's writes: pages 0..7, twice */
			for (int i = 8; i < PAGES; i++)
				sum += p[i * PG]; /* reads of the read-only half */
		}
		_exit(sum == 0 ? 0 : 0);
	}
	int st = 0;
	waitpid(c, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return 5;
	for (int rep = 0; rep < 2; rep++) /* after the fork: a new epoch, pages 0..3 written again */
		for (int i = 0; i < 4; i++)
			p[i * PG + 200] = 9;
	/* a mapping change restarts the epoch of pages 0..1 only */
	if (mprotect((char*)p, 2 * PG, PROT_READ) != 0 || mprotect((char*)p, 2 * PG, PROT_READ | PROT_WRITE) != 0)
		return 6;
	for (int rep = 0; rep < 2; rep++)
		for (int i = 0; i < 4; i++)
			p[i * PG + 300] = 10;
	munmap((void*)p, PAGES * PG);
	char* keep[200];
	for (int i = 0; i < 200; i++) { /* small blocks: the heap grows by brk */
		keep[i] = malloc(1000);
		keep[i][0] = (char)i;
	}
	for (int i = 0; i < 200; i++)
		free(keep[i]);
	return 0;
}
