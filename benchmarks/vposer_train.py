"""Benchmark: train VPoser on the CMU dev train split; print wall time, epochs, final validation loss,
and the reconstruction error on the held-out test subjects (degrees per joint, mm per vertex).

    OMP_NUM_THREADS=2 python benchmarks/vposer_train.py [--motions DIR] [--fast] [--out FILE] [--seed 0]

Timings depend on the machine's load (the team machine has 2 cores shared by several workers).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--motions", default=None, help="motion folder (default: the shared CMU dev set)")
    p.add_argument("--fast", action="store_true")
    p.add_argument("--out", default=None, help="where to write vposer.pt (default: a temporary folder)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None)
    p.add_argument("--vertex-weight", type=float, default=0.0, help="optional per-vertex loss weight (default 0)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (default 1: on a shared 2-core machine 2 threads oversubscribe badly)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    from posekit.priors.vposer import VPoser, reconstruction_errors
    from posekit.train import vposer as tv
    from posekit.train.splits import load_splits
    from posekit.utils import get_device

    motions = args.motions
    if motions is None:
        from posekit.data.paths import find_motion_dir
        motions = find_motion_dir()
        if motions is None:
            print("no motion data found (set POSEKIT_DATA or pass --motions)", file=sys.stderr)
            return 2
    t0 = time.perf_counter()
    splits = load_splits(motions, seed=args.seed)
    t_data = time.perf_counter() - t0
    n = {k: (0 if splits.get(k) is None else int(splits[k].shape[0])) for k in ("train", "val", "test")}
    print(f"data: {motions}  poses train/val/test = {n['train']}/{n['val']}/{n['test']}  ({t_data:.1f} s to load)")

    out = Path(args.out) if args.out else Path(tempfile.mkdtemp()) / "vposer.pt"
    print(f"torch threads: {torch.get_num_threads()}, device: {get_device(args.device)}, load avg: {os.getloadavg()}")
    t0 = time.perf_counter()
    tv.train(motions, out, fast=args.fast, seed=args.seed, device=args.device, splits=splits, progress=False,
             vertex_weight=args.vertex_weight)
    wall = time.perf_counter() - t0
    model = VPoser.load(out)
    h = model.history
    print(f"train: {wall:.1f} s wall, {h['epochs']} epochs (best epoch {h['best_epoch']}), "
          f"final val loss {h['val'][-1]['data']:.4f}, best val loss {h['best_val']:.4f}; "
          f"val rec term first/last epoch {h['val'][0]['rec']:.3f}/{h['val'][-1]['rec']:.3f}")
    last = h["val"][-5:]
    if len(last) >= 2:
        rel = (max(v['data'] for v in last) - min(v['data'] for v in last)) / max(h['best_val'], 1e-9)
        print(f"stability: relative spread of val loss over the last {len(last)} epochs = {rel:.3%}")

    body = None
    try:
        from posekit.body import load_body_model
        body = load_body_model()
    except Exception as e:  # the body model file may be absent
        print(f"(no body model: {e}; vertex error skipped)")
    for split in ("test", "val"):
        if splits.get(split) is None or splits[split].shape[0] == 0:
            continue
        err = reconstruction_errors(model, splits[split], body_model=body)
        mm = f", {err['mm']:.1f} mm per vertex" if err["mm"] is not None else ""
        mm0 = f", {err['mm_rest']:.1f} mm" if err["mm_rest"] is not None else ""
        print(f"reconstruction on {split} ({err['n']} poses, held-out subjects): {err['deg']:.2f} deg per joint{mm}"
              f"  [rest-pose baseline {err['deg_rest']:.2f} deg{mm0}]")
    print(f"load avg after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
