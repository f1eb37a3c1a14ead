/* SPDX-License-Identifier: MIT */
/* JSON-lines output into fixed buffers: no malloc, no stdio in the workers. */
#include "player.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void ob_putc(struct obuf *o, char c)
{
	if (o->len + 1 < o->cap)
		o->p[o->len++] = c;
}

void ob_str(struct obuf *o, const char *s)
{
	while (*s)
		ob_putc(o, *s++);
}

void ob_u64(struct obuf *o, uint64_t v)
{
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		ob_putc(o, tmp[--n]);
}

void ob_i64(struct obuf *o, int64_t v)
{
	if (v < 0) {
		ob_putc(o, '-');
		ob_u64(o, (uint64_t)(-(v + 1)) + 1);
	} else {
		ob_u64(o, (uint64_t)v);
	}
}

void ob_json_str(struct obuf *o, const char *s)
{
	static const char hexd[] = "0123456789abcdef";

	ob_putc(o, '"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			ob_putc(o, '\\');
			ob_putc(o, (char)c);
		} else if (c < 0x20) {
			ob_str(o, "\\u00");
			ob_putc(o, hexd[c >> 4]);
			ob_putc(o, hexd[c & 15]);
		} else {
			ob_putc(o, (char)c);
		}
	}
	ob_putc(o, '"');
}

void ob_rec_head(struct obuf *o, const char *kind, uint32_t line, uint32_t pid, uint32_t tid)
{
	ob_str(o, "{\"k\":\"");
	ob_str(o, kind);
	ob_str(o, "\",\"line\":");
	ob_u64(o, line);
	ob_str(o, ",\"pid\":");
	ob_u64(o, pid);
	if (tid) {
		ob_str(o, ",\"tid\":");
		ob_u64(o, tid);
	}
}

void emit_op_rec(struct obuf *o, const struct op *op, long minflt)
{
	ob_rec_head(o, "op", op->line, op->pid, op->tid);
	ob_str(o, ",\"minflt\":");
	ob_i64(o, minflt);
	ob_str(o, "}\n");
}

void die(const char *fmt, ...)
{
	va_list ap;

	fputs("odf-player: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* 0: all read; 1: EOF before anything; -1: error or short read. */
int read_all(int fd, void *buf, size_t len)
{
	char *p = buf;
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, p + got, len - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 && got == 0)
			return 1;
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}
