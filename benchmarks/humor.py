"""HuMoR-like motion prior on a CPU: training time (fast mode on the embedded sample), rollout frames per
second, and the test-time optimisation's time and error per 60-frame held-out clip.

    OMP_NUM_THREADS=1 python benchmarks/humor.py [--full]     (--full: also the full training on the data found)

Prints the figures; no assertions.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--full", action="store_true", help="also time the full training on find_motion_dir()")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    from posekit.body import load_body_model
    from posekit.data import load_motion
    from posekit.data.paths import embedded_sample_dir, find_motion_dir
    from posekit.fitting.forward import posed_joints
    from posekit.fitting.humor import HumorFitConfig, fit_motion_humor
    from posekit.fitting.motion import Clip
    from posekit.priors.humor import HumorPrior
    from posekit.priors.humor.state import floor_height
    from posekit.priors.store import pretrained_path
    from posekit.train.humor import train

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        train(embedded_sample_dir(), Path(tmp) / "fast.pt", fast=True, progress=False)
        print(f"training (fast, embedded sample): {time.perf_counter() - t:.1f} s")
        if args.full:
            t = time.perf_counter()
            train(find_motion_dir(), Path(tmp) / "full.pt", progress=False)
            h = HumorPrior.load(Path(tmp) / "full.pt").history
            print(f"training (full, {find_motion_dir()}): {time.perf_counter() - t:.1f} s, "
                  f"val rollout loss {h['best_val_rollout']:.1f}")
    model = HumorPrior.load(pretrained_path("humor"))
    body = load_body_model(device="cpu")
    m = load_motion(embedded_sample_dir() / "12_01.npz", fps=30)
    x = model.states(m.poses[:, 0], m.poses[:, 1:22], m.trans)
    x = model.states(m.poses[:, 0], m.poses[:, 1:22], m.trans, floor=floor_height(model.fk_joints(x)))
    for B in (1, 16):
        with torch.no_grad():
            t = time.perf_counter()
            model.rollout(x[:1].repeat(B, 1), 300, generator_seed=0)
            dt = time.perf_counter() - t
        print(f"rollout, batch {B:>2}: {B * 300 / dt:,.0f} frames/s")
    g = torch.Generator().manual_seed(0)
    for name, s in (("12_01", 0), ("12_02", 0), ("17_03", 30)):
        m = load_motion(embedded_sample_dir() / f"{name}.npz", fps=30)
        clip = Clip.from_poses(name, m.poses[s:s + 60], m.trans[s:s + 60])
        J = posed_joints(body, clip.global_orient, clip.body21, clip.transl)
        obs = J + 0.03 * torch.randn(J.shape, generator=g)
        t = time.perf_counter()
        b21, info = fit_motion_humor(body, clip, obs, model, cfg=HumorFitConfig(), return_info=True)
        dt = time.perf_counter() - t

        def err(b):
            return float((posed_joints(body, clip.global_orient, b, clip.transl) - J).norm(dim=-1).mean()) * 100

        print(f"TTO {name}[{s}:{s + 60}] (3 cm joint noise): {dt:.1f} s (incl. the per-frame initial fit); "
              f"joint error {err(info['init_body21']):.2f} cm (per-frame init) -> {err(b21):.2f} cm (HuMoR TTO)")


if __name__ == "__main__":
    main()
