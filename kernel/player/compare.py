#!/usr/bin/env python3
"""Compares observation logs (docs/DIFFTEST.md): model vs kernel player, record by record.

usage: compare.py NAME MODEL.jsonl KERNEL.jsonl
Prints one line per disagreement: NAME line L pid P[.TID] KIND: FIELD model=X kernel=Y; exits 1 on any.
Records are matched by line, pid, tid (absent: 0, the main thread) and kind.
"""
import json
import sys

FIELDS = {
    "op": ("minflt",),
    "read": ("hash", "pages"),
    "segv": ("addr",),
    "pinfail": ("addr",),
    "sigbus": ("addr",),
    "readref": ("hash", "pages"),
    "reffail": ("addr",),
    "noref": ("addr",),
    "mark": ("label", "vmpte_kb", "rss_anon_kb"),
    "exit": ("vmpte_kb", "rss_anon_kb"),
}
MAX_SHOWN = 40


def load(path):
    recs = {}
    order = []
    with open(path) as f:
        for n, text in enumerate(f, 1):
            text = text.strip()
            if not text:
                continue
            try:
                r = json.loads(text)
            except json.JSONDecodeError as e:
                raise SystemExit(f"{path}:{n}: not JSON: {e}")
            key = (r.get("line"), r.get("pid"), r.get("tid", 0), r.get("k"))
            if key not in recs:
                recs[key] = []
                order.append(key)
            recs[key].append(r)
    return recs, order


def fmt(v):
    return "-" if v is None else json.dumps(v)


def main():
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    name, mpath, kpath = sys.argv[1:]
    model, morder = load(mpath)
    kernel, korder = load(kpath)
    keys = sorted(set(morder) | set(korder), key=lambda k: (k[0] or 0, k[1] or 0, k[2] or 0, str(k[3])))
    bad = []
    for key in keys:
        line, pid, tid, kind = key
        ms, ks = model.get(key, []), kernel.get(key, [])
        where = f"{name} line {line} pid {pid}{'.' + str(tid) if tid else ''} {kind}"
        for i in range(max(len(ms), len(ks))):
            m = ms[i] if i < len(ms) else None
            k = ks[i] if i < len(ks) else None
            if m is None or k is None:
                side = "kernel" if k is None else "model"
                bad.append(f"{where}: record missing in {side} log (model={fmt(m)} kernel={fmt(k)})")
                continue
            for f in FIELDS.get(kind, ()):
                if f in m or f in k:
                    if m.get(f) != k.get(f):
                        bad.append(f"{where}: {f} model={fmt(m.get(f))} kernel={fmt(k.get(f))}")
    for b in bad[:MAX_SHOWN]:
        print(b)
    if len(bad) > MAX_SHOWN:
        print(f"{name}: ... {len(bad) - MAX_SHOWN} more disagreements")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
