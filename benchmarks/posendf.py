"""Pose-NDF figures: training-data generation speed and kNN recall; projection quality and speed.

    python benchmarks/posendf.py [--motions DIR] [--model FILE] [--samples 100000] [--threads 2]

Prints (1) seconds to generate N (pose, distance) samples against the clean train set, and the share of
kNN distances equal to brute force for both candidate embeddings; (2) with a trained model (``--model``, or the
cached ``cache_dir()/priors/full/posendf.pt``): on held-out noisy poses, the model distance f and the true
distance to the clean set after 0..T projection steps for both methods, and the time to project 1000 poses.
Timings depend on machine load; the shared 2-core machine is usually busy.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from posekit.priors.posendf import PoseNDF, brute_force_distance, knn_distance, make_samples, noisy_quats, nrdf_quats
from posekit.priors.posendf.data import body21_to_quats
from posekit.utils import cache_dir


def clean_sets(motions, max_clean: int, seed: int = 0):
    from posekit.data import pose_dataset

    ds = pose_dataset(motions, progress=False)
    g = torch.Generator().manual_seed(seed)
    tr = body21_to_quats(ds.body21("train"))
    if tr.shape[0] > max_clean:
        tr = tr[torch.randperm(tr.shape[0], generator=g)[:max_clean].sort().values]
    return tr, body21_to_quats(ds.body21("val")), ("synthetic" if ds.synthetic else str(ds.source))


def bench_generation(clean, n: int):
    g = torch.Generator().manual_seed(0)
    t0 = time.perf_counter()
    s = make_samples(clean, n, generator=g)
    dt = time.perf_counter() - t0
    print(f"generate {n} samples against {clean.shape[0]} clean poses: {dt:.1f} s "
          f"({n / dt:.0f} samples/s); distances: median {s['dist'].median():.3f}, max {s['dist'].max():.3f}")
    qn, _, _ = noisy_quats(clean, 250, generator=g)
    qr, _, _ = nrdf_quats(clean, 250, generator=g)
    q = torch.cat([qn, qr])
    db, _ = brute_force_distance(q, clean)
    for kind in ("quat", "outer"):
        for k in (8, 32):
            t0 = time.perf_counter()
            d, _ = knn_distance(q, clean, k=k, kind=kind)
            dt = time.perf_counter() - t0
            exact = ((d - db).abs() < 1e-5).float().mean().item()
            print(f"  kNN candidates={kind:<5} k={k:<3}: exact on {100 * exact:5.1f}% of 500 queries, "
                  f"max excess {(d - db).max():.4f}, {dt * 1000:.0f} ms")


def bench_projection(model: PoseNDF, clean, val, steps: int = 20):
    g = torch.Generator().manual_seed(1)
    qn, _, _ = noisy_quats(val, 500, sigmas=(0.1, 0.25), generator=g)
    qr, _, _ = nrdf_quats(val, 500, scale=0.5, generator=g)
    q = torch.cat([qn, qr])                                          # 1000 held-out noisy poses
    d_true0, _ = knn_distance(q, clean)
    for method in ("euclidean", "riemannian"):
        t0 = time.perf_counter()
        out = model.project(q, method=method, steps=10, tol=0.0)
        dt = time.perf_counter() - t0
        _, hist = model.project(q, method=method, steps=steps, tol=0.0, return_history=True)
        f = hist["distance"].mean(1)
        true = [knn_distance(hist["quats"][t], clean)[0].mean().item() for t in (0, 1, 2, 5, 10, steps)]
        print(f"{method:>10}: 1000 poses x 10 steps in {dt:.2f} s; mean f at steps 0/1/2/5/10/{steps}: "
              + " / ".join(f"{f[t]:.3f}" for t in (0, 1, 2, 5, 10, steps))
              + "; true distance: " + " / ".join(f"{v:.3f}" for v in true))
    print(f"(true distance of the noisy poses before projection: {d_true0.mean():.3f}; of the clean val poses: "
          f"{knn_distance(val[:1000], clean)[0].mean():.3f})")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--motions", default=None, help="motion folder (default: real CMU data if found, else synthetic)")
    p.add_argument("--model", default=None, help="trained posendf.pt (default: cache_dir()/priors/full/posendf.pt)")
    p.add_argument("--samples", type=int, default=100_000)
    p.add_argument("--max-clean", type=int, default=20_000)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    clean, val, source = clean_sets(a.motions, a.max_clean)
    print(f"clean set: {clean.shape[0]} train poses, {val.shape[0]} val poses ({source}); {a.threads} threads")
    bench_generation(clean, a.samples)
    path = Path(a.model) if a.model else cache_dir() / "priors" / "full" / "posendf.pt"
    if path.exists():
        model = PoseNDF.load(path, device="cpu")
        print(f"model {path}")
        bench_projection(model, clean, val)
    else:
        print(f"no trained model at {path}: skipping the projection figures")


if __name__ == "__main__":
    main()
