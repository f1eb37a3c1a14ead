#!/usr/bin/env python3
"""Shrinks a trace while the model and the kernel still disagree on it (delta debugging over trace lines).

usage: kernel/player/ddmin.py TRACE [--upto LINE] [--mode classic|odf|odf-paper] [--guest] [--odf-only]

--mode classic (default) runs odf-player on the host (classic fork only); --guest runs it in the guest (one boot
per round: all candidates of a round are tried in the same boot), needed for --mode odf (use_odf=1) and odf-paper
(use_odf=2). --odf-only keeps only candidates whose classic run agrees with the model (an ODF-specific
disagreement). Prints the minimal trace.
"""
import argparse
import os
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SIM = os.environ.get("ODF_SIM", os.path.join(ROOT, "build/sim/cli/odf-sim"))
PLAYER = os.path.join(ROOT, "build/kernel/odf-player")
COMPARE = os.path.join(ROOT, "kernel/player/compare.py")
USE_ODF = {"classic": 0, "odf": 1, "odf-paper": 2}


def model(trace, out):
    r = subprocess.run([SIM, "replay", trace, "--modes", "classic,odf,odf-paper", "--observe", out],
                       capture_output=True)
    return r.returncode == 0


def disagree(mlog, klog):
    r = subprocess.run(["python3", COMPARE, "x", mlog, klog], capture_output=True)
    return r.returncode != 0


def evaluate(cands, args, work):
    """Returns a list of booleans: candidate is interesting."""
    n = len(cands)
    for i, ls in enumerate(cands):
        d = os.path.join(work, str(i))
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "t.trace"), "w") as f:
            f.write("# odf-trace v1\n" + "\n".join(ls) + "\n")
    modes = [args.mode]
    if args.odf_only and args.mode != "classic":
        modes = ["classic", args.mode]
    ok_model = [model(os.path.join(work, str(i), "t.trace"), os.path.join(work, str(i), "m")) for i in range(n)]
    if args.guest:
        g = os.path.join(work, "guest")
        os.makedirs(g, exist_ok=True)
        subprocess.run(["cp", PLAYER, g])
        with open(os.path.join(g, "run.sh"), "w") as f:
            f.write("#!/bin/sh\ncd /root/dd\n")
            for i in range(n):
                if not ok_model[i]:
                    continue
                subprocess.run(["cp", os.path.join(work, str(i), "t.trace"), os.path.join(g, f"{i}.trace")])
                for m in modes:
                    f.write(f'echo "@@B {i} {m}"\n./odf-player --use-odf={USE_ODF[m]} --no-thp {i}.trace 2>/dev/null\n'
                            f'echo "@@E {i} {m} $?"\n')
        os.chmod(os.path.join(g, "run.sh"), 0o755)
        r = subprocess.run([os.path.join(ROOT, "scripts/kernel-run"), "--timeout", "600", "--add", g + ":/root/dd",
                            "--", "/root/dd/run.sh"], capture_output=True, text=True)
        logs, cur, rcs = {}, None, {}
        for line in r.stdout.splitlines():
            if line.startswith("@@B "):
                _, i, m = line.split()
                cur = (int(i), m)
                logs[cur] = []
            elif line.startswith("@@E "):
                _, i, m, rc = line.split()
                rcs[(int(i), m)] = rc
                cur = None
            elif cur and line.startswith("{"):
                logs[cur].append(line)
        for (i, m), ls in logs.items():
            with open(os.path.join(work, str(i), f"k.{m}"), "w") as f:
                f.write("\n".join(ls) + "\n")
    else:
        rcs = {}
        for i in range(n):
            if ok_model[i]:
                with open(os.path.join(work, str(i), "k.classic"), "w") as f:
                    rcs[(i, "classic")] = str(subprocess.run([PLAYER, "--no-thp", os.path.join(work, str(i),
                                                 "t.trace")], stdout=f, stderr=subprocess.DEVNULL).returncode)
    res = []
    for i in range(n):
        if not ok_model[i] or any(rcs.get((i, m)) != "0" for m in modes):
            res.append(False)
            continue
        d = os.path.join(work, str(i))
        target = args.mode
        bad = disagree(os.path.join(d, "m", f"{target}.jsonl"), os.path.join(d, f"k.{target}"))
        if bad and args.odf_only:
            bad = not disagree(os.path.join(d, "m", "classic.jsonl"), os.path.join(d, "k.classic"))
        res.append(bad)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("trace")
    ap.add_argument("--upto", type=int, default=0)
    ap.add_argument("--mode", default="classic", choices=["classic", "odf", "odf-paper"])
    ap.add_argument("--guest", action="store_true")
    ap.add_argument("--odf-only", action="store_true")
    args = ap.parse_args()
    if args.mode != "classic" and not args.guest:
        sys.exit(f"ddmin: --mode {args.mode} needs --guest")
    lines = [l for l in open(args.trace).read().split("\n")[1:]]
    if args.upto:
        lines = lines[:args.upto - 1]
    lines = [l for l in lines if l.split("#")[0].strip()]
    work = tempfile.mkdtemp(prefix="ddmin.")
    if not evaluate([lines], args, os.path.join(work, "r0"))[0]:
        sys.exit("ddmin: the trace does not show the disagreement")
    n, rnd = 2, 0
    while len(lines) >= 2:
        rnd += 1
        chunk = max(1, len(lines) // n)
        cands = [lines[:i] + lines[i + chunk:] for i in range(0, len(lines), chunk)]
        res = evaluate(cands, args, os.path.join(work, f"r{rnd}"))
        print(f"ddmin: round {rnd}: {len(lines)} lines, {len(cands)} candidates", file=sys.stderr)
        if any(res):
            lines = cands[res.index(True)]
            n = max(n - 1, 2)
        elif chunk == 1:
            break
        else:
            n = min(len(lines), n * 2)
    print("# odf-trace v1")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
