-- sqlite3 workload for traces/real/sqlite3-workload.trace.zst (run in a temporary directory)
PRAGMA journal_mode = WAL;
PRAGMA cache_size = -100000;
PRAGMA mmap_size = 268435456;
CREATE TABLE t (id INTEGER PRIMARY KEY, k INTEGER, name TEXT, payload BLOB);
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000)
INSERT INTO t (id, k, name, payload) SELECT i, (i * 7919) % 10007, 'name-' || i, randomblob(64) FROM n;
COMMIT;
CREATE INDEX t_k ON t (k);
SELECT count(*), sum(k), max(length(name)) FROM t;
SELECT k, count(*) FROM t GROUP BY k ORDER BY count(*) DESC, k LIMIT 5;
BEGIN;
UPDATE t SET payload = randomblob(80) WHERE id % 3 = 0;
DELETE FROM t WHERE k < 1000;
COMMIT;
SELECT count(*) FROM t WHERE k BETWEEN 2000 AND 3000;
SELECT a.id, b.id FROM t a JOIN t b ON a.k = b.k AND a.id < b.id ORDER BY a.id LIMIT 3;
VACUUM;
SELECT count(*) FROM t;
