"""Experiments benchmark: wall time of ``python -m posekit.experiments all --fast`` (target: < 10 min on 2 cores).

    OMP_NUM_THREADS=1 python benchmarks/experiments.py [--motions DIR] [--priors DIR] [--out DIR] [--full]

With no ``--priors`` the priors are trained (fast) into a temporary folder first, and that training is
part of the measured time (as for a first run); pass a folder of trained priors to time the experiments
alone. Prints the total and the per-experiment times (from ``timings.json``) and the machine load.
Timings depend on machine load (the dev machine has 2 cores shared by several workers); nothing is asserted.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import torch


def main(argv=None) -> int:
    from posekit.data.paths import find_motion_dir
    from posekit.experiments.__main__ import build_parser
    from posekit.experiments.run_all import run

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--motions", default=None, help="motion folder (default: the shared CMU dev set)")
    p.add_argument("--priors", default=None, help="folder of trained priors (default: train fast ones in a temp folder)")
    p.add_argument("--out", default=None, help="output folder (default: a temp folder)")
    p.add_argument("--full", action="store_true", help="time the full run instead of --fast")
    a = p.parse_args(argv)
    motions = a.motions or find_motion_dir()
    if motions is None:
        raise SystemExit("no motion data found: pass --motions DIR")
    with tempfile.TemporaryDirectory() as tmp:
        priors = a.priors or str(Path(tmp) / "priors")
        out = a.out or str(Path(tmp) / "out")
        argv_ = ["all", "--motions", str(motions), "--priors", priors, "--out", out] + ([] if a.full else ["--fast"])
        args = build_parser().parse_args(argv_)
        load0 = os.getloadavg()
        t0 = time.perf_counter()
        run(args)
        total = time.perf_counter() - t0
        timings = json.loads((Path(out) / "timings.json").read_text())
        print()
        print(f"python -m posekit.experiments {' '.join(argv_)}")
        print(f"machine: {platform.machine()}, {os.cpu_count()} cpus, torch {torch.__version__} "
              f"({torch.get_num_threads()} threads), load average before {load0[0]:.1f}, after {os.getloadavg()[0]:.1f}")
        print(f"{'step':<12} {'seconds':>9}")
        for k, v in timings.items():
            if k not in ("fast", "total_s"):
                print(f"{k:<12} {v:9.1f}")
        print(f"{'total':<12} {total:9.1f}   ({'fast' if not a.full else 'full'} mode; target < 600 s for --fast)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
