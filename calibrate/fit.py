#!/usr/bin/python3
"""Fit the cost model's per-operation cycle costs to the measurements of scripts/calibrate.

Reads DATA/{base,vmas,sparse,zero,anon}.txt (calibrate/forklat.c output) and DATA/faults.txt (calibrate/faults.c),
writes the cost-model JSON (docs/COSTMODEL.md) and prints the fit. Plain Python 3, stdlib only.

The fork fit (docs/COSTMODEL.md, "Calibration"):
  measured fork(N pages, one VMA) = fork_base + vma_copy + N*(pte_copy + page_ref_update)
                                    + (ceil(N/512) + upper)*table_alloc + tlb_flush_all
  - fork_base: fork of the measurement process with nothing extra mapped (min of R), less vma_copy and tlb_flush_all
  - vma_copy: slope of fork time over the number of extra one-page VMAs, less the per-page cost
  - table_alloc: slope of fork time over the number of PTE tables, one written page per 2 MiB, less the per-page cost
  - pte_copy: slope over N of a fork whose N PTEs map the shared zero page (no refcount, no wrprotect), less
    table_alloc/512
  - pte_copy + page_ref_update: the per-page slope of the anonymous sweep, fitted so that the largest relative error
    over the sweep sizes >= --fit-min-gib is smallest (a minimax fit; the relative least-squares slope is printed too)
"""
import argparse
import datetime
import json
import math
import os
import platform
import subprocess
import sys

PAGES_PER_GIB = 262144
PTES_PER_TABLE = 512


def read_fork(path):
    """{size: [ms, ...]} and {size: pages} from forklat output."""
    runs, pages = {}, {}
    if not os.path.exists(path):
        return runs, pages
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) != 6:
                continue
            size, n, ms = float(parts[1]), int(parts[2]), float(parts[4])
            runs.setdefault(size, []).append(ms)
            pages[size] = n
    return runs, pages


def read_kv(path):
    out = {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 2:
                    out[parts[0]] = float(parts[1])
    return out


def linfit(xs, ys, ws=None):
    """Weighted least squares y = a + b x; returns (a, b)."""
    ws = ws or [1.0] * len(xs)
    sw = sum(ws)
    mx = sum(w * x for w, x in zip(ws, xs)) / sw
    my = sum(w * y for w, y in zip(ws, ys)) / sw
    sxx = sum(w * (x - mx) ** 2 for w, x in zip(ws, xs))
    sxy = sum(w * (x - mx) * (y - my) for w, x, y in zip(ws, xs, ys))
    b = sxy / sxx if sxx else 0.0
    return my - b * mx, b


def upper_tables(pages):
    """PMD tables (one per GiB) and the PUD table a child needs for one GiB-aligned VMA of `pages` pages."""
    return math.ceil(pages / PAGES_PER_GIB) + 1


def predict_fork_ns(c, pages):
    """The model's classic fork of `pages` populated 4 KiB pages in one VMA, in ns (c: costs in ns)."""
    tables = math.ceil(pages / PTES_PER_TABLE) + upper_tables(pages)
    return (c["fork_base"] + c["vma_copy"] + pages * (c["pte_copy"] + c["page_ref_update"]) +
            tables * c["table_alloc"] + c["tlb_flush_all"])


def minimax_slope(points, fixed_of, lo=0.0, hi=1e4):
    """Per-page ns p minimising max |pred/meas - 1| with pred = fixed_of(n) + n*p (convex in p: ternary search)."""
    def worst(p):
        return max(abs((fixed_of(n) + n * p) / m - 1.0) for n, m in points)
    for _ in range(200):
        a, b = lo + (hi - lo) / 3, hi - (hi - lo) / 3
        if worst(a) < worst(b):
            hi = b
        else:
            lo = a
    return (lo + hi) / 2


def rel_lsq_slope(points, fixed_of):
    """Per-page ns p minimising sum (pred/meas - 1)^2."""
    num = sum((n / m) * (1.0 - fixed_of(n) / m) for n, m in points)
    den = sum((n / m) ** 2 for n, m in points)
    return num / den


def cpu_info():
    model, mhz = "unknown", None
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name") and model == "unknown":
                model = line.split(":", 1)[1].strip()
            if line.startswith("cpu MHz") and mhz is None:
                mhz = float(line.split(":", 1)[1])
    return model, mhz


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--name", default="local")
    ap.add_argument("--command", default="scripts/calibrate")
    ap.add_argument("--fit-min-gib", type=float, default=1.0)
    ap.add_argument("--clock-ghz", type=float, default=None, help="default: /proc/cpuinfo cpu MHz (the TSC rate)")
    args = ap.parse_args()

    model, mhz = cpu_info()
    ghz = args.clock_ghz or (mhz / 1000.0 if mhz else 3.0)
    nproc = os.cpu_count()
    with open("/proc/meminfo") as f:
        mem_gib = int(f.readline().split()[1]) / (1 << 20)
    kernel = platform.release()
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"{model}, {nproc} vCPU, {mem_gib:.0f} GiB, Linux {kernel}"

    D = args.data
    base, _ = read_fork(os.path.join(D, "base.txt"))
    vmas, _ = read_fork(os.path.join(D, "vmas.txt"))
    sparse, sparse_pages = read_fork(os.path.join(D, "sparse.txt"))
    zero, zero_pages = read_fork(os.path.join(D, "zero.txt"))
    anon, anon_pages = read_fork(os.path.join(D, "anon.txt"))
    fl = read_kv(os.path.join(D, "faults.txt"))
    if not anon:
        sys.exit("fit: no anon.txt fork sweep in " + D)

    ns = {}  # cost name -> ns
    src = {}  # cost name -> source text
    # Not measurable from user space here; written with their reasons.
    ns["tlb_flush_all"] = 0.2e3 / ghz * 1.0  # 200 cycles
    src["tlb_flush_all"] = ("estimate, not measured: a CR3 write with PCID on Zen 2 plus the lost TLB reach, about 200 "
                            "cycles; folded into the measured fork_base anyway")
    ns["ipi"] = 3000 / ghz
    src["ipi"] = ("estimate, not measured: a TLB-shootdown IPI round trip in a VM (virtualised APIC), about 3000 cycles; "
                  "unused at remote_cpus 0")
    base_ms = min(min(v) for v in base.values()) if base else 0.06

    # Per-page slope of the anonymous sweep and the pieces that are measured apart from it, to a fixed point.
    p = 60.0
    ta = 1000.0
    vc = 1000.0
    for _ in range(5):
        if sparse:
            pts = sorted((sparse_pages[s], min(v)) for s, v in sparse.items())
            if base:
                pts = [(0, base_ms)] + pts
            _, slope = linfit([n for n, _ in pts], [m * 1e6 for _, m in pts])
            ta = max(slope - p, 0.0)
        if vmas:
            pts = sorted((s, min(v)) for s, v in vmas.items())
            if base:
                pts = [(0, base_ms)] + pts
            _, slope = linfit([n for n, _ in pts], [m * 1e6 for _, m in pts])
            vc = max(slope - p, 0.0)
        fb = max(base_ms * 1e6 - vc - ns["tlb_flush_all"], 0.0)

        def fixed_of(n, fb=fb, vc=vc, ta=ta):
            return (fb + vc + ns["tlb_flush_all"] + (n / PTES_PER_TABLE + upper_tables(n)) * ta) / 1e6

        pts = [(anon_pages[s], min(v)) for s, v in sorted(anon.items()) if s >= args.fit_min_gib - 1e-9]
        if not pts:
            pts = [(anon_pages[s], min(v)) for s, v in sorted(anon.items())]
        p_lsq = rel_lsq_slope([(n, m) for n, m in pts], fixed_of)
        p = minimax_slope(pts, fixed_of, 0.0, 1e-3)
    p_ns, p_lsq_ns = p * 1e6, p_lsq * 1e6

    # Split of the per-page cost: the zero-page sweep copies the PTEs without any struct page work.
    if zero:
        pts = sorted((zero_pages[s], min(v) * 1e6) for s, v in zero.items())
        if base:
            pts = [(0, base_ms * 1e6)] + pts
        _, zslope = linfit([n for n, _ in pts], [m for _, m in pts])
        pte = max(zslope - ta / PTES_PER_TABLE, 0.0)
        pte = min(pte, p_ns)
        split_src = (f"fork of N PTEs mapping the shared zero page (no refcount, no wrprotect): slope "
                     f"{zslope:.1f} ns/PTE over sizes {','.join(f'{s:g}' for s in sorted(zero))} GiB, less "
                     f"table_alloc/512")
    else:
        pte = 0.45 * p_ns
        split_src = "no zero-page sweep: 45% of the fitted per-page fork cost (documented default ratio)"
    ref = p_ns - pte

    ns["fork_base"] = fb
    src["fork_base"] = (f"fork() of the measurement process with nothing extra mapped: min {base_ms * 1e3:.1f} us "
                        f"(its own ~25 VMAs and pages included), less vma_copy and tlb_flush_all")
    ns["vma_copy"] = vc
    src["vma_copy"] = ("slope of fork time over the number of extra one-page VMAs "
                       f"({','.join(f'{s:g}' for s in sorted(vmas))}), less one page's copy" if vmas else "default")
    ns["table_alloc"] = ta
    src["table_alloc"] = ("slope of fork time over the number of PTE tables (one written page per 2 MiB, "
                          f"{','.join(f'{s:g}' for s in sorted(sparse))} GiB of address space), less one page's "
                          "copy: pte_alloc + the pmd loop step per table" if sparse else "default")
    ns["pte_copy"] = pte
    src["pte_copy"] = split_src
    ns["page_ref_update"] = ref
    src["page_ref_update"] = (f"per-page fork slope {p_ns:.1f} ns (minimax relative fit over the anonymous sweep "
                              f">= {args.fit_min_gib:g} GiB) less pte_copy: get_page + rmap dup + wrprotect of the "
                              f"parent PTE")
    ns["pmd_share"] = pte + ref
    src["pmd_share"] = ("estimate, not measured (needs the ODF kernel): one PMD wrprotect plus one atomic on the "
                        "table's struct page, taken equal to one page's fork work (pte_copy + page_ref_update)")

    if fl:
        fe = fl["read_fault_ns_per_page"]
        ns["fault_entry"] = fe
        src["fault_entry"] = (f"read fault mapping the shared zero page, {fe:.0f} ns/page over "
                              "fresh MADV_NOHUGEPAGE memory (exception entry/exit + handle_mm_fault + one PTE set)")
        ns["page_zero"] = fl["memset_4k_ns"]
        src["page_zero"] = "memset of 4 KiB pages over a buffer larger than the caches"
        ns["page_copy"] = fl["memcpy_4k_ns"]
        src["page_copy"] = "memcpy of 4 KiB pages between buffers larger than the caches"
        ns["huge_zero"] = fl["memset_2m_ns"]
        src["huge_zero"] = "memset of 2 MiB regions over a buffer larger than the caches"
        ns["huge_copy"] = fl["memcpy_2m_ns"]
        src["huge_copy"] = ("memcpy of 2 MiB regions (this kernel no longer copies a THP on COW, it splits the PMD: "
                            f"THP COW fault measured {fl.get('thp_cow_fault_ns_per_2m', 0) / 1e3:.1f} us)")
        pa = fl["write_fault_ns_per_page"] - fe - ns["page_zero"] - ta / PTES_PER_TABLE
        ns["page_alloc"] = max(pa, 0.0)
        src["page_alloc"] = (f"first-touch write fault {fl['write_fault_ns_per_page']:.0f} ns/page less fault_entry, "
                             "page_zero and table_alloc/512 (buddy alloc + memcg charge + LRU add + rmap)")
        fp = fl["cow_fault_ns_per_page"] - fe - ns["page_alloc"] - ns["page_copy"] - ref
        ns["tlb_flush_page"] = max(fp, 20.0)
        src["tlb_flush_page"] = (f"COW fault {fl['cow_fault_ns_per_page']:.0f} ns/page (a child holds the pages) less "
                                 "fault_entry, page_alloc, page_copy and page_ref_update")
        ns["pte_zap"] = fl["munmap_zero_ns_per_page"]
        src["pte_zap"] = "munmap of a range of zero-page PTEs, per page (zap without page work)"
        ns["page_free"] = max(fl["munmap_anon_ns_per_page"] - fl["munmap_zero_ns_per_page"] - ref, 0.0)
        src["page_free"] = (f"munmap of populated anonymous memory {fl['munmap_anon_ns_per_page']:.0f} ns/page, less "
                            "pte_zap and page_ref_update")
        ns["table_free"] = ta / 2
        src["table_free"] = "estimate: half of table_alloc (no zeroing); not separable from the munmap measurement"
        ns["syscall_entry"] = fl["syscall_ns"]
        src["syscall_entry"] = "getppid() round trip"
        l1 = fl.get("load_l1tlb_ns")
        if l1:
            ns["mem_access"] = l1
            src["mem_access"] = "dependent load chain over 32 pages (L1 dTLB and L1D hits), per load"
            ns["tlb_l2_hit"] = max(fl["load_l2tlb_ns"] - l1, 0.0)
            src["tlb_l2_hit"] = ("chain over 1024 pages (L1 dTLB misses, L2 TLB hits) less the 32-page chain; an upper "
                                 "bound: it includes L1D misses")
            walk = max(fl["load_walk_4k_ns"] - fl["load_walk_thp_ns"], 0.0)
            ns["walk_step_hit"] = l1
            src["walk_step_hit"] = "taken equal to an L1D hit (page-walk caches are that fast)"
            ns["walk_step_miss"] = max(walk - 3 * l1, l1)
            src["walk_step_miss"] = (f"chain over 65536 pages with 4 KiB pages less the same with THP: "
                                     f"{walk:.1f} ns per walk (nested paging in a VM), less 3 upper-level steps "
                                     "that hit the page-walk caches")

    cycles = {k: round(v * ghz, 1) for k, v in ns.items()}
    loads = []
    for name in ("loadavg-start.txt", "loadavg-end.txt"):
        path = os.path.join(D, name)
        if os.path.exists(path):
            loads.append(open(path).read().split()[0])
    mpath = os.path.join(D, "measured.txt")
    measured = open(mpath).read().strip() if os.path.exists(mpath) else f"{date} by `{args.command}`"
    load_note = f"; 1-min load average {' -> '.join(loads)} during the measurement" if loads else ""
    doc = {
        "name": args.name,
        "provenance": (f"calibrated on {machine}: measured {measured}, fitted {date} by `{args.command}`; "
                       f"fork sweep min of "
                       f"{min(len(v) for v in anon.values())} runs{load_note}; cycles = ns x clock_ghz (TSC rate)"),
        "clock_ghz": round(ghz, 4),
        "remote_cpus": 0,
        "tlb": {"l1_entries": 64, "l1_ways": 64, "l2_entries": 2048, "l2_ways": 8, "pwc_entries": 32},
        "costs": {k: {"cycles": cycles[k], "source": src[k]} for k in sorted(cycles)},
    }
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")

    # The fit report, and a table for plots.
    print(f"machine: {machine}; clock {ghz:.3f} GHz")
    print(f"per-page fork cost: minimax {p_ns:.2f} ns ({p_ns * ghz:.1f} cycles), relative least squares "
          f"{p_lsq_ns:.2f} ns; pte_copy {pte:.2f} ns, page_ref_update {ref:.2f} ns; table_alloc {ta:.0f} ns; "
          f"vma_copy {vc:.0f} ns; fork_base {fb / 1e3:.1f} us")
    print(f"{'GiB':>6} {'pages':>9} {'measured ms':>12} {'predicted ms':>13} {'error':>8}   (lsq slope: error)")
    worst, worst_fit = 0.0, 0.0
    rows = []
    for s in sorted(anon):
        n, m = anon_pages[s], min(anon[s])
        pred = predict_fork_ns(ns, n) / 1e6
        alt = pred + n * (p_lsq_ns - p_ns) / 1e6
        err = pred / m - 1
        worst = max(worst, abs(err))
        if s >= args.fit_min_gib - 1e-9:
            worst_fit = max(worst_fit, abs(err))
        rows.append((s, n, m, pred))
        print(f"{s:6g} {n:9d} {m:12.2f} {pred:13.2f} {err * 100:+7.1f}%   ({alt / m - 1:+.1%})")
    print(f"largest relative error: {worst_fit:.1%} over sizes >= {args.fit_min_gib:g} GiB, {worst:.1%} over all")
    refork, _ = read_fork(os.path.join(D, "refork.txt"))
    for s in sorted(refork):
        if s in anon:
            a, r = min(anon[s]), min(refork[s])
            print(f"refork {s:g} GiB (PTEs already write-protected): {r:.2f} ms vs {a:.2f} ms fresh "
                  f"({(a - r) * 1e6 / anon_pages[s]:.1f} ns/page for the parent's wrprotect, {r / a - 1:+.1%})")
    with open(os.path.join(D, "fit.tsv"), "w") as f:
        f.write("# size_gib pages measured_ms predicted_ms\n")
        for r in rows:
            f.write(f"{r[0]:g}\t{r[1]}\t{r[2]:.4f}\t{r[3]:.4f}\n")
    with open(os.path.join(D, "fit.json"), "w") as f:
        json.dump({"max_rel_error_fit": worst_fit, "max_rel_error_all": worst, "fit_min_gib": args.fit_min_gib,
                   "per_page_ns": p_ns, "per_page_lsq_ns": p_lsq_ns,
                   "rows": [{"gib": r[0], "pages": r[1], "measured_ms": r[2], "predicted_ms": r[3]} for r in rows]},
                  f, indent=1)


if __name__ == "__main__":
    main()
