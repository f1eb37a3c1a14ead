/* SPDX-License-Identifier: MIT */
/*
 * The player's own memory: recorded once in the coordinator (after all allocations), touched after every fork so
 * that no later access to it faults, and measured once in pid 1 as the baseline that is subtracted from VmPTE and
 * RssAnon (see README.md, "Baseline").
 */
#include "player.h"

#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MAX_OWN 64
#define STACK_RESERVE (256 << 10)

struct own_vma {
	uint64_t start, end;
	int writable;
};

static struct own_vma g_own[MAX_OWN];
static int g_nown;
static char g_status[8192];
long g_base_pte, g_base_rss;
uint8_t g_own_slots[NSLOTS];
/*
 * 6.1 caches a task's RSS changes in task->rss_stat and folds them into the mm only every 64 faults (and on a few
 * other paths): /proc/self/status lags behind. zap_pte_range() folds them (add_mm_rss_vec -> sync_mm_rss) for the
 * current mm, so read_status() first does MADV_DONTNEED on g_sync_hole: a never-touched page whose PTE table exists
 * (the page before it, g_sync_hole - PAGE_SZ, is touched): no page freed, no fault, counters synced.
 */
static uint64_t g_sync_hole;

static uint64_t hexnum(const char **p)
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

static void __attribute__((noinline)) grow_stack(void)
{
	volatile char buf[STACK_RESERVE];

	for (size_t i = 0; i < sizeof(buf); i += PAGE_SZ)
		buf[i] = 0;
	buf[sizeof(buf) - 1] = 0;
}

void own_memory_init(void)
{
	static char maps[1 << 16];
	int fd;
	ssize_t n = 0, got;

	grow_stack();
	char *sync = mmap(NULL, 3 * PAGE_SZ, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (sync == MAP_FAILED)
		die("mmap: cannot map the RSS sync page");
	if (((uint64_t)sync & ((2ULL << 20) - 1)) == (2ULL << 20) - PAGE_SZ)
		sync += PAGE_SZ; /* keep the touched page and the hole in one PTE table */
	sync[0] = 1;
	g_sync_hole = (uint64_t)sync + PAGE_SZ;
	fd = open("/proc/self/maps", O_RDONLY);
	if (fd < 0)
		die("/proc/self/maps: cannot open (is /proc mounted?)");
	while ((got = read(fd, maps + n, sizeof(maps) - 1 - n)) > 0)
		n += got;
	close(fd);
	maps[n] = 0;
	for (const char *p = maps; *p;) {
		const char *nl = strchr(p, '\n');
		uint64_t s = hexnum(&p);
		p++;
		uint64_t e = hexnum(&p);
		p++;
		int r = p[0] == 'r', w = p[1] == 'w';
		int special = nl ? (memmem(p, nl - p, "[vvar", 5) || memmem(p, nl - p, "[vdso]", 6) ||
				    memmem(p, nl - p, "[vsyscall]", 10))
				 : 0;

		if (s < USER_TOP)
			for (uint64_t sl = s >> SLOT_SHIFT; sl <= ((e - 1) >> SLOT_SHIFT) && sl < NSLOTS; sl++)
				g_own_slots[sl] = 1;
		if (!special && r && s < USER_TOP) {
			if (g_nown == MAX_OWN)
				die("too many own mappings");
			g_own[g_nown++] = (struct own_vma){ .start = s, .end = e, .writable = w };
		}
		if (!nl)
			break;
		p = nl + 1;
	}
}

/* Touches every page of the player's own memory: writes where writable (breaking COW and shared tables), reads
 * elsewhere (faulting in file pages a child does not inherit). */
void self_touch(void)
{
	for (int i = 0; i < g_nown; i++) {
		for (uint64_t a = g_own[i].start; a < g_own[i].end; a += PAGE_SZ) {
			volatile char *p = (volatile char *)a;

			if (a == g_sync_hole)
				continue;
			if (g_own[i].writable)
				__atomic_fetch_add(p, 0, __ATOMIC_RELAXED);
			else
				(void)*p;
		}
	}
}

static long status_field(const char *name)
{
	const char *p = strstr(g_status, name);
	long v = 0;

	if (!p)
		return -1;
	p += strlen(name);
	while (*p == ' ' || *p == '\t')
		p++;
	while (*p >= '0' && *p <= '9')
		v = v * 10 + (*p++ - '0');
	return v;
}

void rss_sync(void)
{
	madvise((void *)g_sync_hole, PAGE_SZ, MADV_DONTNEED);
}

void read_status(long *vmpte_kb, long *rss_anon_kb)
{
	int fd;
	ssize_t n = 0, got;

	rss_sync();
	/* v2: the thread's own view (the same mm counters); /proc/self/status is the group leader's, which may have
	 * ended (an exec by another thread) and then shows no memory lines. */
	fd = open(g_trace.v2 ? "/proc/thread-self/status" : "/proc/self/status", O_RDONLY);
	if (fd < 0)
		die("/proc/self/status: cannot open");
	while ((got = read(fd, g_status + n, sizeof(g_status) - 1 - n)) > 0)
		n += got;
	close(fd);
	g_status[n] = 0;
	*vmpte_kb = status_field("\nVmPTE:");
	*rss_anon_kb = status_field("\nRssAnon:");
}
