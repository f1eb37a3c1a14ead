/* SPDX-License-Identifier: MIT */
/*
 * Content tags shared by the model (C++) and the guest trace player (C).
 * See docs/DIFFTEST.md: a write stores odf_tag(line, pid, va) in the first word of the page; a read op folds the
 * values it read with odf_fold().
 */
#ifndef ODF_TAG_H
#define ODF_TAG_H

#include <stdint.h>

static inline uint64_t odf_mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* line: 1-based line of the w op in the text trace; pid: trace pid; va: unrelocated trace address of the page. */
static inline uint64_t odf_tag(uint64_t line, uint64_t pid, uint64_t va)
{
	uint64_t t = odf_mix64(odf_mix64(line) ^ (pid << 40) ^ (va >> 12));
	return t ? t : 1;
}

static inline uint64_t odf_fold(uint64_t h, uint64_t value)
{
	return odf_mix64(h ^ value);
}

#endif /* ODF_TAG_H */
