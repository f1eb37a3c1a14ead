/* SPDX-License-Identifier: MIT */
/* Coordinator -> worker commands. Worker -> coordinator: uint32_t length, then that many bytes of JSON lines. */
#ifndef ODF_PLAYER_PROTO_H
#define ODF_PLAYER_PROTO_H

#include <stdint.h>

enum { CMD_OP = 0, CMD_MARK = 1 };

struct cmd {
	uint32_t op;	/* index into trace ops */
	uint8_t what;	/* CMD_* */
	uint8_t issuer;	/* CMD_MARK: this process issued the mark op (adds the op record) */
	uint8_t pad[2];
};

/* A new worker's first report ("ready"): its kernel pid and its baseline (README.md "Baseline"). Not printed. */
struct ready {
	int32_t pid;
	int32_t pad;
	int64_t base_pte, base_rss;
};

#endif
