"""What data scale does: each pose prior trained on k train subjects, tested on the same held-out clips.

    OMP_NUM_THREADS=2 python benchmarks/data_scale.py [--motions DIR] [--subjects 3,5,all] [--out DIR] [--fast]
                                                      [--sigmas 0.1,0.5] [--parts arm+hand] [--clips 6]

For every k a folder of links holds the files of k train subjects (a seeded choice, each k a superset of the
smaller ones) plus every validation and test subject's files, so the split rule
(``posekit.data.subject_split``) gives the same validation and test subjects for every k. The priors are
trained there with the same recipe (``python -m posekit.train all``; ``--fast`` for the quick recipe), then
``python -m posekit.experiments denoise`` and ``occlusion`` run with weights tuned on the validation subjects.
Prints one table per metric (error vs number of training subjects, per prior) and writes
``data_scale.csv`` (k, subjects, frames, experiment, setting, method, metric, value, std, n) and
``data_scale.png`` to ``--out``. Nothing is asserted: the numbers depend on the data and the budget.
"""
from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

import numpy as np


def subsets(motions: Path, ks, seed: int = 0) -> tuple[dict, list]:
    """{k: train subjects} (nested) and the held-out files (val + test subjects)."""
    from posekit.data.dataset import assign_splits, deduplicate, list_motion_files, trial_key

    files, _ = deduplicate(list_motion_files(motions))
    split = assign_splits([trial_key(p)[0] for p in files])
    train = sorted({trial_key(p)[0] for p in files if split[trial_key(p)[0]] == "train"})
    order = [train[i] for i in np.random.default_rng(seed).permutation(len(train))]
    out = {}
    for k in ks:
        n = len(order) if k == "all" else min(int(k), len(order))
        out[n] = order[:n]
    held = [p for p in files if split[trial_key(p)[0]] != "train"]
    return out, held


def link_folder(motions: Path, dest: Path, subjects, held) -> Path:
    """A folder of links to the motion files of ``subjects`` plus the held-out ``held`` files."""
    from posekit.data.dataset import list_motion_files, trial_key

    dest.mkdir(parents=True, exist_ok=True)
    chosen = [p for p in list_motion_files(motions) if trial_key(p)[0] in set(subjects)] + list(held)
    for p in chosen:
        for q in [Path(p)] + ([Path(p).with_suffix(".asf")] if Path(p).suffix == ".amc" else []):
            target = dest / q.relative_to(motions)
            if q.exists() and not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                os.symlink(q.resolve(), target)
    # ASF skeletons live beside their AMC files; link every .asf of the chosen subjects' folders too
    for asf in motions.rglob("*.asf"):
        target = dest / asf.relative_to(motions)
        if target.parent.exists() and not target.exists():
            os.symlink(asf.resolve(), target)
    return dest


def frames_of(folder: Path) -> int:
    from posekit.data import pose_dataset

    return int(len(pose_dataset(folder, fps=30, progress=False).body21("train")))


def main(argv=None) -> int:
    from posekit.data.paths import find_motion_dir
    from posekit.experiments.__main__ import run_experiment
    from posekit.train.__main__ import main as train_main

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--motions", default=None, help="motion folder (default: the shared CMU set)")
    p.add_argument("--subjects", default="3,5,all", help="numbers of train subjects (comma list; 'all')")
    p.add_argument("--out", default="build/data_scale", help="output folder")
    p.add_argument("--fast", action="store_true", help="quick training recipe and small evaluation")
    p.add_argument("--sigmas", default="0.1,0.5")
    p.add_argument("--parts", default="arm+hand,leg")
    p.add_argument("--clips", type=int, default=6, help="test clips per setting (60 frames)")
    p.add_argument("--steps", type=int, default=None, help="optimiser iterations per fit (default: the experiments')")
    p.add_argument("--val-clips", type=int, default=None, help="validation clips for tuning (default: the experiments')")
    p.add_argument("--pretrained-for-all", action="store_true",
                   help="for k = all train subjects use the pretrained priors shipped with posekit (they were trained "
                        "on exactly those subjects with the full recipe) instead of training again")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    motions = Path(a.motions or find_motion_dir() or "")
    if not motions.is_dir():
        raise SystemExit("no motion folder: pass --motions DIR")
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    sets, held = subsets(motions, [s.strip() for s in a.subjects.split(",") if s.strip()], a.seed)
    rows = []
    t_all = time.perf_counter()
    for k, subjects in sets.items():
        folder = link_folder(motions, out / f"motions_k{k}", subjects, held)
        priors = out / f"priors_k{k}"
        if a.pretrained_for_all and k == max(sets) and not a.fast:
            import shutil

            from posekit.priors.store import PRIOR_FILES, pretrained_path

            priors.mkdir(parents=True, exist_ok=True)
            for name in ("gmm", "vposer", "posendf"):
                if not (priors / PRIOR_FILES[name]).exists():
                    shutil.copy(pretrained_path(name), priors / PRIOR_FILES[name])
        t0 = time.perf_counter()
        if not all((priors / f).exists() for f in ("gmm.npz", "vposer.pt", "posendf.pt")):
            rc = train_main(["all", "--motions", str(folder), "--out", str(priors), "--priors", "gmm,vposer,posendf"]
                            + (["--fast"] if a.fast else []))
            if rc:
                return rc
        t_train = time.perf_counter() - t0
        n_frames = frames_of(folder)
        print(f"[data-scale] k={k} subjects {','.join(subjects)}: {n_frames} train frames, training {t_train:.0f} s",
              flush=True)
        common = dict(motions=folder, priors=priors, fast=a.fast, lengths="60", clips=a.clips, seed=a.seed,
                      methods="none,gmm,vposer,posendf", steps=a.steps, val_clips=a.val_clips)
        for name, extra in (("denoise", {"sigmas": a.sigmas}), ("occlusion", {"parts": a.parts})):
            res = run_experiment(name, out=out / f"{name}_k{k}", **common, **extra)
            for r in res:
                rows.append({"k": k, "subjects": " ".join(subjects), "frames": n_frames, **r})
    path = out / "data_scale.csv"
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["k", "subjects", "frames", "experiment", "setting", "method", "metric",
                                          "value", "std", "n"])
        w.writeheader()
        w.writerows(rows)
    ks = sorted(sets)
    for metric in ("v2v_cm", "surface_cm", "mpjpe_cm", "v2v_hidden_cm"):
        keys = sorted({(r["experiment"], r["setting"]) for r in rows if r["metric"] == metric})
        if not keys:
            continue
        print(f"\n{metric}: error vs number of train subjects (k = {', '.join(map(str, ks))})")
        for exp, setting in keys:
            for m in ("none", "gmm", "vposer", "posendf"):
                vals = [next((r["value"] for r in rows if (r["k"], r["experiment"], r["setting"], r["method"], r["metric"])
                              == (k, exp, setting, m, metric)), float("nan")) for k in ks]
                print(f"  {exp:9s} {setting:22s} {m:8s} " + "  ".join(f"{v:6.2f}" for v in vals))
    _plot(rows, ks, out / "data_scale.png")
    print(f"\nwrote {path} and {out / 'data_scale.png'} ({time.perf_counter() - t_all:.0f} s)")
    return 0


def _plot(rows, ks, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = sorted({(r["experiment"], r["setting"]) for r in rows if r["metric"] in ("v2v_cm",)})
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.2), squeeze=False)
    metric_of = {"denoise": "v2v_cm", "occlusion": "v2v_hidden_cm"}
    for ax, (exp, setting) in zip(axes[0], panels):
        for m in ("none", "gmm", "vposer", "posendf"):
            ys = [next((r["value"] for r in rows if (r["k"], r["experiment"], r["setting"], r["method"], r["metric"])
                        == (k, exp, setting, m, metric_of[exp])), np.nan) for k in ks]
            ax.plot(ks, ys, "o-", label=m)
        ax.set_title(f"{exp}: {setting}", fontsize=9)
        ax.set_xlabel("train subjects")
        ax.set_ylabel("per-vertex error (cm)" + (" of the hidden part" if exp == "occlusion" else ""))
        ax.set_xticks(ks)
    axes[0, -1].legend(fontsize=8)
    fig.suptitle("Error vs number of training subjects (same held-out test clips)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    sys.exit(main())
