/* SPDX-License-Identifier: MIT */
/*
 * Relocation of trace memory by whole 512 GiB slots (PGD entries). Every maximal run of consecutive trace slots is
 * placed at a run of consecutive slots that the player's own memory does not touch, keeping the offset inside the
 * slot, so the trace's PTE/PMD/PUD tables are the same in number and never shared with the player's own tables.
 */
#include "player.h"

static int64_t g_delta[NSLOTS];	/* relocated = trace + delta[slot] */
static uint64_t g_run_start[NSLOTS], g_run_len[NSLOTS];
static int g_nruns;

void reloc_init(const struct trace *t, const uint8_t own[NSLOTS])
{
	uint8_t taken[NSLOTS];

	/* Slot 0 holds the low 64 KiB that mmap_min_addr forbids: never a destination unless it is the source. */
	for (int s = 0; s < NSLOTS; s++)
		taken[s] = own[s];
	for (int s = 0; s < NSLOTS;) {
		if (!t->slot_used[s]) {
			s++;
			continue;
		}
		int e = s;
		while (e < NSLOTS && t->slot_used[e])
			e++;
		int n = e - s, dst = -1;
		/* Prefer the identity, then the highest free run (away from the player's low binary). */
		int ok = 1;
		for (int i = s; i < e; i++)
			ok &= !taken[i];
		if (ok) {
			dst = s;
		} else {
			for (int d = NSLOTS - n; d >= 1 && dst < 0; d--) {
				ok = 1;
				for (int i = d; i < d + n; i++)
					ok &= !taken[i];
				if (ok)
					dst = d;
			}
		}
		if (dst < 0)
			die("no free run of %d PGD slots to relocate trace slots %d..%d", n, s, e - 1);
		for (int i = 0; i < n; i++) {
			taken[dst + i] = 1;
			g_delta[s + i] = ((int64_t)dst - s) << SLOT_SHIFT;
		}
		g_run_start[g_nruns] = (uint64_t)dst << SLOT_SHIFT;
		g_run_len[g_nruns] = (uint64_t)n << SLOT_SHIFT;
		if (dst + n == NSLOTS) /* the last page of the user address space is not mappable */
			g_run_len[g_nruns] -= PAGE_SZ;
		g_nruns++;
		s = e;
	}
}

uint64_t reloc(uint64_t a)
{
	return a + g_delta[(a >> SLOT_SHIFT) & (NSLOTS - 1)];
}

void reloc_for_each_run(void (*fn)(uint64_t start, uint64_t len))
{
	for (int i = 0; i < g_nruns; i++)
		fn(g_run_start[i], g_run_len[i]);
}
