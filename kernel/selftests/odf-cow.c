// SPDX-License-Identifier: MIT
/*
 * odf-cow: COW-after-fork checks of private anonymous memory, for kernels with and without ODF (the 6.1 vm
 * selftests have no `cow` test). Run it with use_odf 0 and 1; every case must pass both ways.
 * Output: kselftest style ("ok N name" / "not ok N name"); exit 0 all pass, 1 any fail.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/io_uring.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#define PG 4096UL
#define TABLE (2UL << 20)
#define SIZE (3 * TABLE) /* three PTE tables, aligned */

static int n_test, n_fail;

static void result(const char *name, int ok, const char *why)
{
	n_test++;
	if (!ok)
		n_fail++;
	printf("%sok %d %s%s%s\n", ok ? "" : "not ", n_test, name, ok ? "" : ": ", ok ? "" : why);
	fflush(stdout);
}

static char *map_aligned(void)
{
	char *p = mmap(NULL, SIZE + TABLE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uintptr_t a;

	if (p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	a = ((uintptr_t)p + TABLE - 1) & ~(TABLE - 1);
	madvise((void *)a, SIZE, MADV_NOHUGEPAGE);
	return (char *)a;
}

static void fill(char *p, size_t len, char tag)
{
	for (size_t i = 0; i < len; i += PG)
		p[i] = tag;
}

static int check(const char *p, size_t len, char tag)
{
	for (size_t i = 0; i < len; i += PG)
		if (p[i] != tag)
			return 0;
	return 1;
}

/* Runs fn in a child; returns 1 if the child exited 0. */
static int in_child(int (*fn)(char *), char *p)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return 0;
	if (pid == 0)
		_exit(fn(p) ? 0 : 1);
	if (waitpid(pid, &st, 0) != pid)
		return 0;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* 1: child sees the parent's data; child writes do not reach the parent. */
static int child_writes(char *p)
{
	if (!check(p, SIZE, 'a'))
		return 0;
	fill(p, SIZE, 'c');
	return check(p, SIZE, 'c');
}

/* 2: the parent writes while the child still shares; the child must keep the old data. */
static int pipe_fd[2];
static int child_waits_then_checks(char *p)
{
	char c;

	if (read(pipe_fd[0], &c, 1) != 1)
		return 0;
	return check(p, SIZE, 'a');
}

static sigjmp_buf segv_env;
static void on_segv(int sig)
{
	siglongjmp(segv_env, 1);
}

/* 3: mprotect in the child: read-only traps, the parent stays writable. */
static int child_mprotect(char *p)
{
	volatile int trapped = 0;

	if (mprotect(p + TABLE, TABLE, PROT_READ))
		return 0;
	signal(SIGSEGV, on_segv);
	if (sigsetjmp(segv_env, 1) == 0)
		p[TABLE + PG] = 'x';
	else
		trapped = 1;
	signal(SIGSEGV, SIG_DFL);
	if (!trapped || !check(p, SIZE, 'a'))
		return 0;
	if (mprotect(p + TABLE, TABLE, PROT_READ | PROT_WRITE))
		return 0;
	p[TABLE + PG] = 'x';
	return p[TABLE + PG] == 'x' && p[TABLE] == 'a';
}

/* 4: MADV_DONTNEED, munmap of part of a table, mremap in the child. */
static int child_zap(char *p)
{
	if (madvise(p, TABLE, MADV_DONTNEED) || p[0] != 0 || p[PG] != 0)
		return 0;
	if (munmap(p + TABLE + TABLE / 2, PG * 4))
		return 0;
	char *q = mremap(p + 2 * TABLE, TABLE, TABLE, MREMAP_MAYMOVE | MREMAP_FIXED, p);
	if (q != p)
		return 0;
	return check(p, TABLE, 'a') && p[TABLE] == 'a';
}

static int grandchild_checks(char *p)
{
	if (!check(p, TABLE, 'a') || !check(p + TABLE, TABLE, 'g'))
		return 0;
	fill(p, SIZE, 'z');
	return check(p, SIZE, 'z');
}

static int grandchild(char *p)
{
	if (!check(p, SIZE, 'a'))
		return 0;
	fill(p + TABLE, TABLE, 'g');
	return in_child(grandchild_checks, p) && check(p + TABLE, TABLE, 'g') && check(p, TABLE, 'a') &&
	       check(p + 2 * TABLE, TABLE, 'a');
}

/* 5: nested fork: a child forks again after writing part of the memory. */
static int child_forks(char *p)
{
	fill(p, TABLE, 'b');
	if (!check(p + TABLE, 2 * TABLE, 'a'))
		return 0;
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		if (!check(p, TABLE, 'b') || !check(p + TABLE, 2 * TABLE, 'a'))
			_exit(1);
		fill(p, SIZE, 'g');
		_exit(check(p, SIZE, 'g') ? 0 : 1);
	}
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
		return 0;
	return check(p, TABLE, 'b') && check(p + TABLE, 2 * TABLE, 'a');
}

/* --- 6: long-term pin (io_uring fixed buffer) survives fork: DMA lands in the page the parent maps. --- */
struct ring {
	int fd;
	unsigned *sq_tail, *sq_mask, *sq_array, *cq_head, *cq_tail, *cq_mask;
	struct io_uring_sqe *sqes;
	struct io_uring_cqe *cqes;
};

static int ring_init(struct ring *r)
{
	struct io_uring_params par;
	char *sq, *cq;

	memset(&par, 0, sizeof(par));
	r->fd = (int)syscall(__NR_io_uring_setup, 4, &par);
	if (r->fd < 0)
		return -1;
	sq = mmap(NULL, par.sq_off.array + par.sq_entries * 4, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
		  r->fd, IORING_OFF_SQ_RING);
	cq = mmap(NULL, par.cq_off.cqes + par.cq_entries * sizeof(struct io_uring_cqe), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_CQ_RING);
	r->sqes = mmap(NULL, par.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQES);
	if (sq == MAP_FAILED || cq == MAP_FAILED || r->sqes == MAP_FAILED)
		return -1;
	r->sq_tail = (unsigned *)(sq + par.sq_off.tail);
	r->sq_mask = (unsigned *)(sq + par.sq_off.ring_mask);
	r->sq_array = (unsigned *)(sq + par.sq_off.array);
	r->cq_head = (unsigned *)(cq + par.cq_off.head);
	r->cq_tail = (unsigned *)(cq + par.cq_off.tail);
	r->cq_mask = (unsigned *)(cq + par.cq_off.ring_mask);
	r->cqes = (struct io_uring_cqe *)(cq + par.cq_off.cqes);
	return 0;
}

static int read_fixed(struct ring *r, int fd, void *buf, unsigned len)
{
	unsigned tail = *r->sq_tail, idx = tail & *r->sq_mask;
	struct io_uring_sqe *sqe = &r->sqes[idx];

	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = IORING_OP_READ_FIXED;
	sqe->fd = fd;
	sqe->addr = (uintptr_t)buf;
	sqe->len = len;
	sqe->off = -1;
	sqe->buf_index = 0;
	r->sq_array[idx] = idx;
	__atomic_store_n(r->sq_tail, tail + 1, __ATOMIC_RELEASE);
	if (syscall(__NR_io_uring_enter, r->fd, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0)
		return -errno;
	unsigned head = *r->cq_head;
	if (head == __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE))
		return -EAGAIN;
	int res = r->cqes[head & *r->cq_mask].res;
	__atomic_store_n(r->cq_head, head + 1, __ATOMIC_RELEASE);
	return res;
}

static void test_pin(char *p, int parent_writes_first)
{
	const char *name = parent_writes_first ? "pinned page: parent writes after fork, then DMA"
					       : "pinned page: child writes after fork, then DMA";
	struct ring r;
	struct iovec iov = { .iov_base = p + PG, .iov_len = PG };
	static char data[PG];
	int pp[2];
	pid_t pid;
	int st;

	fill(p, SIZE, 'a');
	if (ring_init(&r) || syscall(__NR_io_uring_register, r.fd, IORING_REGISTER_BUFFERS, &iov, 1)) {
		printf("# io_uring unavailable: %s\n", strerror(errno));
		result(name, 1, "");
		return;
	}
	if (pipe(pp))
		exit(1);
	pid = fork();
	if (pid == 0) {
		/* The child has its own copy: writes to it must not reach the parent or the pinned page. */
		if (!check(p, SIZE, 'a'))
			_exit(1);
		fill(p, SIZE, 'c');
		_exit(check(p, SIZE, 'c') ? 0 : 1);
	}
	if (parent_writes_first)
		p[PG + 8] = 'w';
	waitpid(pid, &st, 0);
	memset(data, 'x', sizeof(data));
	if (write(pp[1], data, PG) != (ssize_t)PG)
		exit(1);
	int res = read_fixed(&r, pp[0], p + PG, PG);
	int ok = WIFEXITED(st) && WEXITSTATUS(st) == 0 && res == (int)PG && p[PG] == 'x' && p[PG + 8] == 'x' &&
		 p[0] == 'a' && check(p + TABLE, 2 * TABLE, 'a');
	result(name, ok, res != (int)PG ? "READ_FIXED failed" : p[PG] != 'x' ? "DMA went to a page the parent "
		"no longer maps (COW broke the pin)" : "child failed or parent's other pages changed");
	close(pp[0]);
	close(pp[1]);
	close(r.fd);
}

int main(void)
{
	char *p = map_aligned();
	int st;
	pid_t pid;

	printf("TAP version 13\n1..9\n");

	fill(p, SIZE, 'a');
	result("child reads parent data, child writes stay private",
	       in_child(child_writes, p) && check(p, SIZE, 'a'), "content leaked");

	fill(p, SIZE, 'a');
	if (pipe(pipe_fd))
		return 1;
	pid = fork();
	if (pid == 0)
		_exit(child_waits_then_checks(p) ? 0 : 1);
	fill(p, SIZE, 'p');
	if (write(pipe_fd[1], "g", 1) != 1)
		return 1;
	waitpid(pid, &st, 0);
	result("parent writes while shared, child keeps old data",
	       WIFEXITED(st) && WEXITSTATUS(st) == 0 && check(p, SIZE, 'p'), "content leaked");

	fill(p, SIZE, 'a');
	result("child exited, parent writes (reuse)", in_child(child_writes, p) && check(p, SIZE, 'a') &&
	       (fill(p, SIZE, 'r'), check(p, SIZE, 'r')), "content wrong");

	fill(p, SIZE, 'a');
	result("mprotect in child", in_child(child_mprotect, p) && check(p, SIZE, 'a'), "wrong");

	fill(p, SIZE, 'a');
	result("madvise/munmap/mremap in child", in_child(child_zap, p) && check(p, SIZE, 'a'), "wrong");

	fill(p, SIZE, 'a');
	result("nested fork", in_child(child_forks, p) && check(p, SIZE, 'a'), "wrong");

	fill(p, SIZE, 'a');
	result("grandchild after child wrote", in_child(grandchild, p) && check(p, SIZE, 'a'), "wrong");

	test_pin(p, 0);
	test_pin(p, 1);

	printf("# Totals: pass:%d fail:%d xfail:0 xpass:0 skip:0 error:0\n", n_test - n_fail, n_fail);
	return n_fail ? 1 : 0;
}
