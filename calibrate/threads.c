// Costs of threads, vfork/posix_spawn and TLB shootdowns on this machine, for the cost model (docs/COSTMODEL.md):
//   cc -O2 -pthread calibrate/threads.c -o threads && ./threads
// Prints one line per measurement: name, median ns over the repetitions.
//  - thread_create: pthread_create + pthread_join of a thread that returns at once (clone of a task sharing the mm).
//  - vfork_exit: vfork() in a process with little memory, the child _exit()s, waitpid.
//  - fork_exit: fork() of the same process, the child _exit()s, waitpid (for comparison with the model's fork_base).
//  - vfork_exec: vfork() + execve("/bin/true") + waitpid, less vfork_exit: execve of a small static-free program,
//    its run and its exit (an upper bound of what exec costs before the vfork parent is released).
//  - mprotect_1cpu / mprotect_ipi: mprotect() of one populated page to PROT_READ and back (two calls) while no other
//    thread of the process runs, and while another thread spins on the other CPU: each call's flush_tlb_mm_range()
//    then sends one shootdown IPI; half the difference is the IPI round trip seen by the initiator.
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define REPS 2000

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t median(uint64_t *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp);
	return v[n / 2];
}

static void *nothing(void *arg) { return arg; }

static atomic_int spin_stop;
static void *spinner(void *arg)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(1, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	while (!atomic_load(&spin_stop))
		;
	return arg;
}

static void pin_self(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static uint64_t mprotect_ns(char *page)
{
	static uint64_t v[REPS];

	for (int i = 0; i < REPS; i++) {
		page[0] = 1;
		uint64_t t0 = now_ns();
		mprotect(page, 4096, PROT_READ);
		mprotect(page, 4096, PROT_READ | PROT_WRITE);
		v[i] = now_ns() - t0;
	}
	return median(v, REPS);
}

int main(void)
{
	static uint64_t v[REPS];
	char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	pthread_t t;

	pin_self(0);
	for (int i = 0; i < REPS; i++) {
		uint64_t t0 = now_ns();
		pthread_create(&t, NULL, nothing, NULL);
		pthread_join(t, NULL);
		v[i] = now_ns() - t0;
	}
	printf("thread_create %llu\n", (unsigned long long)median(v, REPS));
	for (int i = 0; i < REPS / 4; i++) {
		uint64_t t0 = now_ns();
		pid_t p = vfork();

		if (p == 0)
			_exit(0);
		waitpid(p, NULL, 0);
		v[i] = now_ns() - t0;
	}
	printf("vfork_exit %llu\n", (unsigned long long)median(v, REPS / 4));
	for (int i = 0; i < REPS / 4; i++) {
		uint64_t t0 = now_ns();
		pid_t p = fork();

		if (p == 0)
			_exit(0);
		waitpid(p, NULL, 0);
		v[i] = now_ns() - t0;
	}
	printf("fork_exit %llu\n", (unsigned long long)median(v, REPS / 4));
	for (int i = 0; i < REPS / 4; i++) {
		char *argv[] = { "true", NULL };
		uint64_t t0 = now_ns();
		pid_t p = vfork();

		if (p == 0) {
			execve("/bin/true", argv, environ);
			_exit(127);
		}
		waitpid(p, NULL, 0);
		v[i] = now_ns() - t0;
	}
	printf("vfork_exec %llu\n", (unsigned long long)median(v, REPS / 4));
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2) {
		printf("mprotect_ipi skipped: one CPU\n");
		return 0;
	}
	uint64_t one = mprotect_ns(page);

	pthread_create(&t, NULL, spinner, NULL);
	usleep(10000);
	uint64_t two = mprotect_ns(page);

	atomic_store(&spin_stop, 1);
	pthread_join(t, NULL);
	printf("mprotect_1cpu %llu\nmprotect_ipi %llu\nipi_round_trip %llu\n", (unsigned long long)one,
	       (unsigned long long)two, (unsigned long long)(two > one ? (two - one) / 2 : 0));
	return 0;
}
