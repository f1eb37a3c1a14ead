#!/usr/bin/env python3
"""Checks an observation log of the player against what the trace says it must contain.

usage: selfcheck.py TRACE LOG.jsonl
A trace states its expectations in comment lines `# check: EXPR`, each a Python expression that must be true, over
  r(line, pid, kind, tid=0)   the record (a dict) of that op line, pid, thread and kind; KeyError if missing
  has(line, pid, kind, tid=0) whether that record exists
  tag(line, pid, va)          the tag a `w` of that line and pid stores in page va (include/odf/tag.h)
  fold(v1, v2, ...)           the hash of a read of pages holding v1, v2, ... (docs/DIFFTEST.md)
  log                         all records, in log order
Prints each failing check with its trace line; exits 1 on any failure, 2 on a malformed check.
"""
import json
import sys

M64 = (1 << 64) - 1


def mix64(x):
    x = (x + 0x9E3779B97F4A7C15) & M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def tag(line, pid, va):
    t = mix64(mix64(line) ^ ((pid << 40) & M64) ^ (va >> 12))
    return t or 1


def fold(*vals):
    h = 0
    for v in vals:
        h = mix64(h ^ v)
    return h


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    trace, logpath = sys.argv[1:]
    log = []
    with open(logpath) as f:
        for text in f:
            if text.strip():
                log.append(json.loads(text))
    index = {}
    for rec in log:
        index.setdefault((rec.get("line"), rec.get("pid"), rec.get("tid", 0), rec.get("k")), rec)

    def r(line, pid, kind, tid=0):
        return index[(line, pid, tid, kind)]

    def has(line, pid, kind, tid=0):
        return (line, pid, tid, kind) in index

    env = {"r": r, "has": has, "tag": tag, "fold": fold, "log": log, "__builtins__": {"len": len, "all": all, "range": range,
                                                                                       "any": any, "sum": sum}}
    bad = 0
    checks = 0
    with open(trace) as f:
        for n, text in enumerate(f, 1):
            text = text.strip()
            if not text.startswith("# check:"):
                continue
            expr = text[len("# check:"):].strip()
            checks += 1
            try:
                ok = eval(expr, env)  # noqa: S307 - expressions from the repository's own traces
            except (KeyError, ValueError) as e:
                ok, why = False, f"no record {e}"
            except SyntaxError as e:
                print(f"{trace}:{n}: bad check: {e}")
                return 2
            else:
                why = "false"
            if not ok:
                bad += 1
                print(f"{trace}:{n}: check failed ({why}): {expr}")
    print(f"{trace}: {checks - bad}/{checks} checks hold")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
