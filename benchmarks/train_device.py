"""Benchmark: one training epoch of VPoser and of Pose-NDF on the CPU and, when there is one, on the GPU.

    OMP_NUM_THREADS=2 python benchmarks/train_device.py [--motions DIR] [--poses 20000] [--fast] [--threads 1]

The models are the full-size ones of ``python -m posekit.train vposer|posendf`` (``--fast``: the small ones), trained
on ``--poses`` poses of the train split of ``--motions`` (default: the shared CMU dev set or the embedded sample);
Pose-NDF on as many generated samples with their distance targets (made once, on the CPU, before the timings).
Each run is two epochs: the first includes the start-up of the device (CUDA context, kernels), the second is the
figure to compare. Data loading stays on the CPU in both; the GMM prior (scikit-learn) always fits on the CPU and
is not timed here. Without a CUDA GPU the script says so and prints the CPU figures only.
Timings depend on the machine's load (the team machine has 2 cores shared by several workers).
"""
from __future__ import annotations

import argparse
import sys
import time

import torch


def _poses(motions, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, str]:
    """(train, val) body-21 axis-angle poses, at most ``n`` / ``n // 10``, and where they came from."""
    from posekit.data.paths import find_motion_dir
    from posekit.train.splits import load_splits, val_or_train

    motions = motions or find_motion_dir()
    if motions is None:
        from posekit.data import sample_synthetic_poses
        x = torch.as_tensor(sample_synthetic_poses(n + n // 10, seed=seed))[:, 1:22]
        return x[:n], x[n:], "SYNTHETIC poses (no motion folder found)"
    s = load_splits(motions, seed=seed)
    g = torch.Generator().manual_seed(seed)
    tr, va = s["train"], val_or_train(s)
    tr = tr[torch.randperm(len(tr), generator=g)[:n]]
    va = va[torch.randperm(len(va), generator=g)[:max(n // 10, 2)]]
    return tr, va, str(motions)


def time_vposer(train, val, device: str, fast: bool, seed: int) -> list[float]:
    """Seconds of epochs 1 and 2 of VPoser (``posekit.train.vposer.fit``)."""
    from posekit.train.vposer import fit
    from posekit.train.vposer import settings

    s = settings(fast)
    m = fit(train, val, epochs=2, batch_size=s["batch_size"], lr=s["lr"], patience=10, seed=seed, device=device,
            config=s["config"], progress=False)
    sec = m.history["seconds"]
    return [sec[0], sec[1] - sec[0]]


def time_posendf(data: dict, device: str, fast: bool, seed: int) -> list[float]:
    """Seconds of epochs 1 and 2 of Pose-NDF (``posekit.train.posendf.fit``) on already generated samples."""
    from posekit.priors.posendf import PoseNDF
    from posekit.train.posendf import fit, settings

    s = settings(fast)
    torch.manual_seed(seed)
    model = PoseNDF(s["model"])
    hist = fit(model, data["train"], data["val"], {**s["fit"], "epochs": 2, "patience": 10, "max_minutes": 1e9},
               seed=seed, device=device, progress=False)
    sec = hist["seconds"]
    return [sec[0], sec[1] - sec[0]]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--motions", default=None, help="motion folder (default: the shared CMU dev set)")
    p.add_argument("--poses", type=int, default=20000, help="training poses of VPoser and samples of Pose-NDF")
    p.add_argument("--fast", action="store_true", help="the small models of --fast training")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (default 1: on a shared 2-core machine 2 threads oversubscribe badly)")
    args = p.parse_args(argv)
    if args.poses < 2:
        p.error(f"--poses must be at least 2, got {args.poses}")
    torch.set_num_threads(args.threads)

    from posekit.train.posendf import build_data, settings

    t0 = time.perf_counter()
    train, val, source = _poses(args.motions, args.poses, args.seed)
    cfg = {**settings(args.fast)["data"], "n_train": args.poses, "n_val": max(args.poses // 10, 100)}
    data = build_data(train, val, cfg, args.seed)
    print(f"data: {len(train)} train / {len(val)} val poses from {source}; Pose-NDF samples "
          f"{data['info']['n_train']} train / {data['info']['n_val']} val; prepared on the CPU in "
          f"{time.perf_counter() - t0:.1f} s ({'fast' if args.fast else 'full-size'} models, "
          f"{torch.get_num_threads()} CPU thread(s))")

    devices = ["cpu"]
    if torch.cuda.is_available():
        devices.append("cuda")
        print(f"cuda: {torch.cuda.get_device_name(0)}")
    else:
        print(f"cuda: unavailable (torch {torch.__version__}, no CUDA GPU here): CPU figures only")

    print(f"{'prior':9s} {'device':6s} {'epoch 1 (s, with start-up)':>28s} {'epoch 2 (s)':>12s} {'poses/s':>10s}")
    rows = {}
    for name in ("vposer", "posendf"):
        for dev in devices:
            sec = time_vposer(train, val, dev, args.fast, args.seed) if name == "vposer" else \
                time_posendf(data, dev, args.fast, args.seed)
            n = len(train) if name == "vposer" else data["info"]["n_train"]
            rows[name, dev] = sec[1]
            print(f"{name:9s} {dev:6s} {sec[0]:28.2f} {sec[1]:12.2f} {n / max(sec[1], 1e-9):10.0f}", flush=True)
    for name in ("vposer", "posendf"):
        if (name, "cuda") in rows:
            print(f"{name}: cuda is {rows[name, 'cpu'] / max(rows[name, 'cuda'], 1e-9):.1f}x the CPU speed "
                  "(epoch 2; epoch times include the validation pass)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
