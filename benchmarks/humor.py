"""HuMoR-like motion prior on a CPU: training time (fast mode on the embedded sample), rollout frames per
second, how 300-frame rollouts from held-out starts stay on the floor (with and without the rollout's contact
step, beside the real clips), and the test-time optimisation's time and error per 60-frame held-out clip.

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
    from posekit.priors.humor.floor import floor_stats
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
    x, _ = model.states_on_floor(m.poses[:, 0], m.poses[:, 1:22], m.trans)
    for B in (1, 16):
        with torch.no_grad():
            t = time.perf_counter()
            model.rollout(x[:1].repeat(B, 1), 300, generator_seed=0)
            dt = time.perf_counter() - t
        print(f"rollout, batch {B:>2}: {B * 300 / dt:,.0f} frames/s")
    # on the floor: every held-out (test-subject) clip of the embedded sample, its first state, 4 samples each
    held_out = [p for p in sorted(embedded_sample_dir().glob("*.npz")) if p.stem.split("_")[0] in ("12", "17", "135")]
    real = [model.states_on_floor(mo.poses[:, 0], mo.poses[:, 1:22], mo.trans)[0]
            for mo in (load_motion(p, fps=30) for p in held_out)]
    x0 = torch.stack([r[0] for r in real]).repeat(4, 1)
    rows = {"real clips": floor_stats(model, torch.cat(real))}
    for name, ground in (("rollouts, network alone", False), ("rollouts, contact step", True)):
        with torch.no_grad():
            rows[name] = floor_stats(model, model.rollout(x0, 300, generator_seed=0, ground=ground)[0])
    print(f"on the floor, {len(x0)} rollouts of 300 frames from the starts of {len(real)} held-out clips:")
    for name, f in rows.items():
        print(f"  {name:<24} on the floor {f['on_floor']:6.1%}  upright {f['upright']:6.1%}  speed {f['speed']:.2f} m/s  "
              f"lowest foot {round(f['lowest_foot_min'], 2) + 0.0:.2f} .. {f['lowest_foot_max']:.2f} m")
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
