/* SPDX-License-Identifier: MIT */
/*
 * Long-term pins: io_uring fixed buffers (IORING_REGISTER_BUFFERS pins with FOLL_WRITE | FOLL_LONGTERM and rejects
 * file-backed VMAs, shmem included). One ring per pinned range; IORING_UNREGISTER_BUFFERS unpins synchronously.
 * Raw syscalls, no liburing, no user mapping of the rings.
 */
#include "player.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#define __NR_io_uring_register 427
#endif
#define IORING_REGISTER_BUFFERS 0
#define IORING_UNREGISTER_BUFFERS 1
#define MAX_RINGS 1024
#define MAX_IOV 64
#define IOV_MAX_LEN (1ULL << 30)

struct ring {
	int fd;
	uint64_t addr, len; /* trace addresses */
};

static struct ring g_rings[MAX_RINGS];
static int g_nrings;
static struct iovec g_iov[MAX_IOV];
static char g_maps[1 << 16];
static uint32_t g_io_params[30]; /* struct io_uring_params, 120 bytes */

static int ring_pin(uint64_t a, uint64_t len)
{
	int fd, n = 0;
	uint64_t r = reloc(a);

	if (g_nrings == MAX_RINGS)
		return -EMFILE;
	memset(g_io_params, 0, sizeof(g_io_params));
	fd = (int)syscall(__NR_io_uring_setup, 1, g_io_params);
	if (fd < 0)
		return -errno;
	for (uint64_t off = 0; off < len && n < MAX_IOV; off += IOV_MAX_LEN, n++) {
		g_iov[n].iov_base = (void *)(r + off);
		g_iov[n].iov_len = len - off < IOV_MAX_LEN ? len - off : IOV_MAX_LEN;
	}
	if (syscall(__NR_io_uring_register, fd, IORING_REGISTER_BUFFERS, g_iov, n) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	g_rings[g_nrings++] = (struct ring){ .fd = fd, .addr = a, .len = len };
	return 0;
}

static uint64_t hex(const char **p)
{
	uint64_t v = 0;

	for (;; (*p)++) {
		char c = **p;

		if (c >= '0' && c <= '9')
			v = v * 16 + (c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v * 16 + (c - 'a' + 10);
		else
			return v;
	}
}

/*
 * Length of the prefix of [r, r+len) (relocated) that lies in writable private anonymous VMAs, from
 * /proc/thread-self/maps (after an exec by a non-main thread the group leader is a zombie whose /proc/self/maps is
 * empty). Checking first keeps a failing pin from faulting in pages it will reject (io_uring pins shmem
 * pages before it rejects them).
 */
static uint64_t pinnable_prefix(uint64_t r, uint64_t len)
{
	int fd = open("/proc/thread-self/maps", O_RDONLY);
	size_t n = 0;
	ssize_t got;
	uint64_t at = r;
	int done = 0;

	if (fd < 0)
		return len;
	/*
	 * Streamed a buffer at a time: a worker with a thread-stack pool has more VMAs than one buffer holds (a
	 * truncated read made every pin fail).
	 */
	while (!done && (got = read(fd, g_maps + n, sizeof(g_maps) - 1 - n)) > 0) {
		char *p = g_maps, *nl;

		n += (size_t)got;
		g_maps[n] = 0;
		while (!done && (nl = strchr(p, '\n'))) {
			const char *q = p;
			uint64_t s = hex(&q);

			q++;
			uint64_t e = hex(&q);

			q++;
			int ok = q[1] == 'w' && q[3] == 'p'; /* FOLL_WRITE needs VM_WRITE only */
			/* anonymous: inode field 0 and no path (maps: perms offset dev inode path) */
			const char *f = q;

			for (int k = 0; k < 3 && f; k++)
				f = strchr(f, ' '), f = f ? f + 1 : f;
			if (f && !(f[0] == '0' && f[1] == ' '))
				ok = 0;
			if (e > at && s <= at) {
				if (!ok)
					done = 1;
				else
					at = e;
			} else if (s > at) {
				done = 1;
			}
			if (at >= r + len)
				done = 1;
			p = nl + 1;
		}
		/* keep the partial last line */
		n -= (size_t)(p - g_maps);
		memmove(g_maps, p, n);
	}
	close(fd);
	return at - r < len ? at - r : len;
}

int pin_range(uint64_t a, uint64_t len, uint64_t *fail)
{
	uint64_t ok = pinnable_prefix(reloc(a), len);

	if (ok && ring_pin(a, ok)) {
		*fail = a;
		return -1;
	}
	if (ok < len) {
		*fail = a + ok;
		return -1;
	}
	return 0;
}

static void ring_drop(int i)
{
	syscall(__NR_io_uring_register, g_rings[i].fd, IORING_UNREGISTER_BUFFERS, NULL, 0);
	close(g_rings[i].fd);
	g_rings[i] = g_rings[--g_nrings];
}

void unpin_range(uint64_t a, uint64_t len)
{
	for (int i = g_nrings; i-- > 0;) {
		struct ring rg = g_rings[i];

		if (rg.addr >= a + len || rg.addr + rg.len <= a)
			continue;
		ring_drop(i);
		/* Re-pin the parts of that range outside [a, a+len). */
		if (rg.addr < a)
			ring_pin(rg.addr, a - rg.addr);
		if (rg.addr + rg.len > a + len)
			ring_pin(a + len, rg.addr + rg.len - (a + len));
	}
}

void unpin_all(void)
{
	while (g_nrings)
		ring_drop(g_nrings - 1);
}

void pins_close_inherited_fds(void)
{
	for (int i = 0; i < g_nrings; i++)
		close(g_rings[i].fd);
}

void pins_forget_inherited(void)
{
	for (int i = 0; i < g_nrings; i++)
		close(g_rings[i].fd);
	g_nrings = 0;
}
