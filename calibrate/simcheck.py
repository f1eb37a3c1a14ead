#!/usr/bin/python3
"""Check a cost model with the simulator itself: generate a fork-sweep trace of the sizes in DATA/anon.txt, replay it
with `odf-sim replay --modes classic --cost-model FILE --json`, and print the simulator's per-fork latency next to the
measured fork() latency (min of the runs). Writes DATA/simcheck.tsv. Exit status 1 if an error over sizes >= 1 GiB
exceeds --tolerance."""
import argparse
import json
import os
import subprocess
import sys
import tempfile


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--odf-sim", required=True)
    ap.add_argument("--cost-model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--tolerance", type=float, default=0.15)
    args = ap.parse_args()
    meas = {}
    with open(os.path.join(args.data, "anon.txt")) as f:
        for line in f:
            p = line.split()
            if len(p) == 6:
                s = float(p[1])
                meas[s] = min(meas.get(s, 1e30), float(p[4]))
    sizes = sorted(meas)
    with tempfile.TemporaryDirectory() as tmp:
        tr = os.path.join(tmp, "fork-sweep.odft")
        subprocess.run([args.odf_sim, "gen", "fork-sweep", "--sizes", ",".join(f"{s:g}" for s in sizes), "--binary",
                        "-o", tr], check=True)
        phys = max(64, int(max(sizes) * 1.3) + 8)
        out = subprocess.run([args.odf_sim, "replay", tr, "--modes", "classic", "--cost-model", args.cost_model,
                              "--json", "--phys-gib", str(phys)], check=True, capture_output=True, text=True).stdout
    doc = json.loads(out)
    mode = next(m for m in doc["modes"] if m["mode"] == "classic")
    ghz = doc["clock_ghz"]
    forks = mode["fork_latency_cycles"]["all"]
    if len(forks) != len(sizes):
        sys.exit(f"simcheck: {len(forks)} forks in the replay, {len(sizes)} sizes")
    print(f"odf-sim replay --cost-model {args.cost_model}: classic fork per size")
    print(f"{'GiB':>6} {'measured ms':>12} {'odf-sim ms':>11} {'error':>8}")
    worst = 0.0
    rows = []
    for s, cyc in zip(sizes, forks):
        ms = cyc / ghz / 1e6
        err = ms / meas[s] - 1
        if s >= 1 - 1e-9:
            worst = max(worst, abs(err))
        rows.append((s, meas[s], ms))
        print(f"{s:6g} {meas[s]:12.2f} {ms:11.2f} {err * 100:+7.1f}%")
    print(f"odf-sim largest relative error over sizes >= 1 GiB: {worst:.1%} "
          f"({'within' if worst <= args.tolerance else 'OUTSIDE'} +-{args.tolerance:.0%})")
    with open(os.path.join(args.data, "simcheck.tsv"), "w") as f:
        f.write("# size_gib measured_ms odfsim_ms\n")
        for r in rows:
            f.write(f"{r[0]:g}\t{r[1]:.4f}\t{r[2]:.4f}\n")
    sys.exit(0 if worst <= args.tolerance else 1)


if __name__ == "__main__":
    main()
