/* SPDX-License-Identifier: MIT */
/*
 * Read-only GUP references (getref, readref, putref; docs/SEMANTICS.md "Read-only GUP references"), one real
 * kernel object per referenced page:
 * - get: a pipe holding the page, as vmsplice() leaves it: vmsplice(8 bytes of the page, flags 0) takes a FOLL_GET
 *   reference (GUP-fast, or the slow path that faults a none PTE in for read). readref tee()s the pipe's buffer
 *   into a scratch pipe and reads that (the reference's pipe keeps its data).
 * - pin: an open file of /sys/kernel/debug/gup_test with PIN_LONGTERM_TEST_START of that one page (read-only,
 *   FOLL_PIN | FOLL_LONGTERM, slow GUP; the patched kernel keeps one pinned range per open file). readref copies
 *   the pinned page out with PIN_LONGTERM_TEST_READ.
 * Closing the file descriptors drops the reference. The bookkeeping is allocated once in the coordinator, before
 * the player records its own memory, so it is touched after every fork and never faults while measuring.
 */
#include "player.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <linux/types.h>

/* mm/gup_test.h of the patched kernel (the numbers and structure of Linux 6.12); not in the host's headers. */
struct pin_longterm_test {
	__u64 addr;
	__u64 size;
	__u32 flags;
};

#define PIN_LONGTERM_TEST_START _IOW('g', 7, struct pin_longterm_test)
#define PIN_LONGTERM_TEST_STOP _IO('g', 8)
#define PIN_LONGTERM_TEST_READ _IOW('g', 9, __u64)

#define GUP_TEST_PATH "/sys/kernel/debug/gup_test"

struct gref {
	uint64_t va;	/* trace page address at take time */
	int fd;		/* get: the pipe's read end; pin: the gup_test file */
	int fd_w;	/* get: the pipe's write end; pin: -1 */
};

static struct gref *g_refs;	/* in take order: the most recent reference to a page is the last one */
static size_t g_nrefs, g_max_refs;
static int g_scratch[2] = { -1, -1 };	/* readref of a get reference: tee target */
static char g_page[PAGE_SZ] __attribute__((aligned(4096)));	/* readref of a pin: PIN_LONGTERM_TEST_READ target */
static struct pin_longterm_test g_plt;
static __u64 g_read_addr;
static struct iovec g_iov;

void refs_init(size_t max_refs)
{
	g_max_refs = max_refs;
	if (!max_refs)
		return;
	g_refs = calloc(max_refs, sizeof(*g_refs));
	if (!g_refs)
		die("out of memory");
	if (pipe2(g_scratch, O_CLOEXEC))
		die("pipe: %s", strerror(errno));
	g_read_addr = (uint64_t)(uintptr_t)g_page;
}

static void close_ref(struct gref *r)
{
	close(r->fd);
	if (r->fd_w >= 0)
		close(r->fd_w);
}

static int take_get(uint64_t va, struct gref *r)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC))
		return -errno;
	g_iov.iov_base = (void *)reloc(va);
	g_iov.iov_len = 8;
	if (vmsplice(p[1], &g_iov, 1, 0) != 8) {
		int e = errno;

		close(p[0]);
		close(p[1]);
		return -e;
	}
	*r = (struct gref){ .va = va, .fd = p[0], .fd_w = p[1] };
	return 0;
}

static int take_pin(uint64_t va, struct gref *r)
{
	int fd = open(GUP_TEST_PATH, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		die("getref pin: %s: %s (needs the patched kernel with CONFIG_GUP_TEST and debugfs)", GUP_TEST_PATH,
		    strerror(errno));
	g_plt = (struct pin_longterm_test){ .addr = reloc(va), .size = PAGE_SZ, .flags = 0 };
	if (ioctl(fd, PIN_LONGTERM_TEST_START, &g_plt)) {
		int e = errno;

		close(fd);
		return -e;
	}
	*r = (struct gref){ .va = va, .fd = fd, .fd_w = -1 };
	return 0;
}

/*
 * Page by page, as the model does: a page that cannot be referenced (EFAULT: outside any VMA, no VM_READ, SIGBUS
 * beyond a shmem object) ends the op and the pages before it keep their references. Each page is one system call,
 * so a failing page never faults in or references another one: no /proc/self/maps check is needed (unlike the
 * io_uring pins of pin.c, which pin a whole range in one call).
 */
int getref_range(uint64_t a, uint64_t len, int pin, uint64_t *fail)
{
	for (uint64_t va = a; va < a + len; va += PAGE_SZ) {
		int e;

		if (g_nrefs == g_max_refs)
			die("getref: more references than the trace's bound (%zu)", g_max_refs);
		e = pin ? take_pin(va, &g_refs[g_nrefs]) : take_get(va, &g_refs[g_nrefs]);
		if (e) {
			if (e != -EFAULT)
				die("getref %s of 0x%llx: %s", pin ? "pin" : "get", (unsigned long long)va, strerror(-e));
			*fail = va;
			return -1;
		}
		g_nrefs++;
	}
	return 0;
}

static struct gref *find_ref(uint64_t va)
{
	for (size_t i = g_nrefs; i-- > 0;)
		if (g_refs[i].va == va)
			return &g_refs[i];
	return NULL;
}

int readref_page(uint64_t va, uint64_t *val)
{
	struct gref *r = find_ref(va);

	if (!r)
		return -1;
	if (r->fd_w < 0) {
		if (ioctl(r->fd, PIN_LONGTERM_TEST_READ, &g_read_addr))
			die("readref: PIN_LONGTERM_TEST_READ: %s", strerror(errno));
		memcpy(val, g_page, sizeof(*val));
		return 0;
	}
	if (tee(r->fd, g_scratch[1], 8, 0) != 8)
		die("readref: tee: %s", strerror(errno));
	if (read_all(g_scratch[0], val, sizeof(*val)))
		die("readref: read of the scratch pipe failed");
	return 0;
}

int putref_page(uint64_t va)
{
	struct gref *r = find_ref(va);

	if (!r)
		return -1;
	close_ref(r);
	memmove(r, r + 1, (size_t)(g_refs + g_nrefs - (r + 1)) * sizeof(*r));
	g_nrefs--;
	return 0;
}

void refs_drop_all(void)
{
	while (g_nrefs)
		close_ref(&g_refs[--g_nrefs]);
}

void refs_close_inherited_fds(void)
{
	for (size_t i = 0; i < g_nrefs; i++) {
		close(g_refs[i].fd);
		if (g_refs[i].fd_w >= 0)
			close(g_refs[i].fd_w);
	}
}

void refs_forget_inherited(void)
{
	refs_drop_all(); /* the parent's files stay open in the parent: closing ours drops no reference */
}
