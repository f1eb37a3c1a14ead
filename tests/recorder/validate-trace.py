#!/usr/bin/env python3
"""Checks an odf-trace v1 file (plain or .zst) without the project's C++ parser.

    validate-trace.py TRACE [--max-errors N] [--stats]

Checks: the header; pid lifetimes (pid 1 exists at the start, fork children are new, nothing after exit);
4 KiB alignment of mapping ops; that every page read or written lies in a mapping of the process that allows the
access (PROT none denies reads, writes need w), which the model would otherwise report as SIGSEGV.
Exits 0 when no error was found, 1 otherwise; prints a summary line.
"""
import subprocess
import sys

PAGE = 4096


def parse_num(s):
    return int(s, 0)


class AddressSpace:
    """Sorted list of non-overlapping [start, end, prot] ranges, plus the heap."""

    def __init__(self):
        self.vmas = []  # list of [start, end, prot(str)]
        self.brk_start = None
        self.brk = None

    def copy(self):
        a = AddressSpace()
        a.vmas = [list(v) for v in self.vmas]
        a.brk_start, a.brk = self.brk_start, self.brk
        return a

    def remove(self, start, end):
        out = []
        for s, e, p in self.vmas:
            if e <= start or s >= end:
                out.append([s, e, p])
                continue
            if s < start:
                out.append([s, start, p])
            if e > end:
                out.append([end, e, p])
        self.vmas = out

    def add(self, start, end, prot):
        self.remove(start, end)
        self.vmas.append([start, end, prot])
        self.vmas.sort()

    def protect(self, start, end, prot):
        pieces = []
        for s, e, p in self.vmas:
            lo, hi = max(s, start), min(e, end)
            if lo < hi:
                pieces.append((lo, hi))
        for lo, hi in pieces:
            self.add(lo, hi, prot)

    def find(self, addr):
        if self.brk_start is not None and self.brk_start <= addr < self.brk:
            return "rw"
        lo, hi = 0, len(self.vmas)
        while lo < hi:
            mid = (lo + hi) // 2
            if self.vmas[mid][1] <= addr:
                lo = mid + 1
            else:
                hi = mid
        if lo < len(self.vmas) and self.vmas[lo][0] <= addr < self.vmas[lo][1]:
            return self.vmas[lo][2]
        return None

    def get_prot(self, start, end):
        for s, e, p in self.vmas:
            if s <= start < e:
                return p
        return "rw"


def open_trace(path):
    if path.endswith(".zst"):
        p = subprocess.Popen(["zstd", "-dc", path], stdout=subprocess.PIPE, text=True)
        return p.stdout
    return open(path)


def main():
    args = sys.argv[1:]
    if not args:
        print(__doc__)
        return 2
    path = args[0]
    max_errors = 20
    if "--max-errors" in args:
        max_errors = int(args[args.index("--max-errors") + 1])
    errors = []
    counts = {}
    pages = {"r": 0, "w": 0}
    f = open_trace(path)
    first = f.readline().rstrip("\n")
    if first != "# odf-trace v1":
        errors.append("line 1: header is %r, not '# odf-trace v1'" % first)
    spaces = {1: AddressSpace()}
    seen = {1}
    bad_access = 0

    def err(lineno, msg):
        if len(errors) < max_errors:
            errors.append("line %d: %s" % (lineno, msg))

    for lineno, line in enumerate(f, start=2):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        t = line.split()
        try:
            pid = int(t[0], 0)
            op = t[1]
            nums = [parse_num(x) for x in t[2:] if x[0].isdigit()]
        except (ValueError, IndexError):
            err(lineno, "malformed: %s" % line)
            continue
        counts[op] = counts.get(op, 0) + 1
        if pid not in spaces:
            err(lineno, "pid %d does not exist (never forked or already exited)" % pid)
            continue
        a = spaces[pid]
        if op in ("mmap", "munmap", "mprotect", "madvise", "pin", "unpin", "mremap"):
            for n in nums:
                if n % PAGE:
                    err(lineno, "not 4 KiB aligned: %s" % line)
                    break
        if op == "mmap":
            prot = t[4]
            if prot == "none":
                prot = ""
            if t[5] not in ("private", "shared"):
                err(lineno, "bad mmap flags %s" % t[5])
            a.add(nums[0], nums[0] + nums[1], prot)
        elif op == "munmap":
            a.remove(nums[0], nums[0] + nums[1])
        elif op == "mprotect":
            prot = t[4] if t[4] != "none" else ""
            a.protect(nums[0], nums[0] + nums[1], prot)
        elif op == "madvise":
            if t[4] != "dontneed":
                err(lineno, "madvise advice %s" % t[4])
        elif op == "mremap":
            old, oldlen, new, newlen = nums
            prot = a.get_prot(old, old + oldlen)
            a.remove(old, old + oldlen)
            a.add(new, new + newlen, prot)
        elif op == "brk":
            b = nums[0]
            if a.brk_start is None:
                a.brk_start = a.brk = b
            else:
                a.brk = max(b, a.brk_start)
        elif op in ("r", "w"):
            addr = nums[0]
            length = nums[1] if len(nums) > 1 else PAGE
            p = addr - addr % PAGE
            while p < addr + length:
                pages[op] += 1
                prot = a.find(p)
                if prot is None or prot == "" or (op == "w" and "w" not in prot):
                    bad_access += 1
                    err(lineno, "%s of page 0x%x outside a mapping allowing it (%s)" % (op, p, prot))
                p += PAGE
        elif op == "fork":
            child = nums[0]
            if child in seen:
                err(lineno, "fork child %d is not new" % child)
            seen.add(child)
            spaces[child] = a.copy()
        elif op == "exec":
            spaces[pid] = AddressSpace()
        elif op == "exit":
            del spaces[pid]
        elif op in ("pin", "unpin", "mark"):
            pass
        else:
            err(lineno, "unknown op %s" % op)
    if spaces:
        errors.append("processes never exited: %s" % sorted(spaces))
    ops = sum(counts.values())
    print("validate: %d ops, %d processes, %d r pages, %d w pages, %d bad accesses; %s" % (
        ops, len(seen), pages["r"], pages["w"], bad_access,
        " ".join("%s=%d" % kv for kv in sorted(counts.items()))))
    for e in errors:
        print("validate: error: " + e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
