// AFL++ harness: runs the input file as SQL against an in-memory SQLite database (Debian's libsqlite3).
//   sqlite-fuzz FILE      (afl-fuzz ... -- sqlite-fuzz @@)
// The database is created and filled before __AFL_INIT(), so the fork server forks a process that already holds
// it (a deferred fork server, the usual pattern for a library harness). Built by scripts/kernel-apps with
// afl-clang-fast; only this file is instrumented (Debian ships no SQLite source), so the coverage AFL sees is the
// harness's: which statements succeed, the error codes, and the shapes of the rows returned.
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef __AFL_INIT
#define __AFL_INIT() do { } while (0)
#endif

static unsigned shape[64];

static int row(void *arg, int n, char **val, char **col)
{
	(void)arg;
	(void)col;
	shape[n & 63]++;
	for (int i = 0; i < n; i++) {
		if (!val[i])
			shape[0]++;
		else if (val[i][0] >= '0' && val[i][0] <= '9')
			shape[1]++;
		else if (val[i][0] == '-')
			shape[2]++;
		else if (strlen(val[i]) > 16)
			shape[3]++;
	}
	return 0;
}

int main(int argc, char **argv)
{
	sqlite3 *db;
	if (sqlite3_open(":memory:", &db) != SQLITE_OK)
		return 2;
	sqlite3_exec(db,
		     "CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT, c REAL, d BLOB);"
		     "CREATE INDEX tb ON t(b);"
		     "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)"
		     " INSERT INTO t SELECT i, printf('row%d', i * 7919 % 20000), i / 3.0, randomblob(32) FROM n;"
		     "CREATE TABLE u(x, y);"
		     "INSERT INTO u VALUES (1, 'one'), (2, 'two'), (NULL, 3.5);",
		     NULL, NULL, NULL);
	__AFL_INIT();

	if (argc < 2)
		return 2;
	FILE *f = fopen(argv[1], "rb");
	if (!f)
		return 2;
	static char sql[1 << 16];
	size_t len = fread(sql, 1, sizeof sql - 1, f);
	fclose(f);
	sql[len] = 0;

	sqlite3_limit(db, SQLITE_LIMIT_LENGTH, 1 << 20);
	sqlite3_limit(db, SQLITE_LIMIT_VDBE_OP, 25000);
	char *err = NULL;
	int rc = sqlite3_exec(db, sql, row, NULL, &err);
	switch (rc & 0xff) {
	case SQLITE_OK: shape[4]++; break;
	case SQLITE_ERROR:
		if (err && strstr(err, "syntax"))
			shape[5]++;
		else if (err && strstr(err, "no such"))
			shape[6]++;
		else
			shape[7]++;
		break;
	case SQLITE_CONSTRAINT: shape[8]++; break;
	case SQLITE_TOOBIG: shape[9]++; break;
	case SQLITE_MISMATCH: shape[10]++; break;
	default: shape[11]++; break;
	}
	sqlite3_free(err);
	sqlite3_close(db);
	return 0;
}
