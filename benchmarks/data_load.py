"""Data-load benchmark: frames/s of parse and parse+retarget per source format on the shared CMU
dev set, and ``pose_dataset`` build time cold (empty cache) and warm (cache hit).

    OMP_NUM_THREADS=1 python benchmarks/data_load.py [--motions DIR] [--repeats N] [--fast]

Timings depend on machine load (the dev machine has 2 cores shared by several workers): read them
as orders of magnitude. Prints a table; nothing is asserted.
"""
from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

from posekit.data.asf_amc import find_asf, parse_amc, parse_asf
from posekit.data.bvh import parse_bvh
from posekit.data.dataset import detect_format, list_motion_files, pose_dataset
from posekit.data.loaders import load_motion
from posekit.data.paths import find_motion_dir
from posekit.utils import fast_mode

# one representative set of files per format (relative to the CMU dev folder)
FILES = {
    "bvh_iclone": ["bvh_iclone_cc/01_01.bvh", "bvh_iclone_cc/05_02.bvh", "bvh_iclone_cc/06_10.bvh"],
    "bvh_cgspeed": ["bvh_cgspeed_motionbuilder/01_01.bvh"],
    "bvh_secondlife": ["bvh_secondlife_scaled/60_01.bvh", "bvh_secondlife_scaled/60_05.bvh"],
    "asfamc": ["asfamc/01_01.amc", "asfamc/lambada.amc"],
}


def _parse(path: Path):
    if path.suffix.lower() == ".amc":
        return parse_amc(path, parse_asf(find_asf(path)))
    return parse_bvh(path)


def _best(fn, repeats: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def bench_formats(root: Path, repeats: int, fast: bool) -> list[dict]:
    rows = []
    for fmt, rels in FILES.items():
        paths = [root / r for r in rels if (root / r).is_file()]
        if fast:
            paths = paths[:1]
        if not paths:
            continue
        frames = bytes_ = 0
        t_parse = t_full = 0.0
        for p in paths:
            assert detect_format(p) == fmt, (p, detect_format(p))
            tp, src = _best(lambda: _parse(p), repeats)
            tf, m = _best(lambda: load_motion(p), repeats)
            frames += src.num_frames
            bytes_ += p.stat().st_size
            t_parse += tp
            t_full += tf
        rows.append({"format": fmt, "files": len(paths), "frames": frames, "MB": bytes_ / 1e6,
                     "parse_fps": frames / t_parse, "parse_retarget_fps": frames / t_full,
                     "s_per_file": t_full / len(paths)})
    return rows


def bench_dataset(root: Path, max_files: int | None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        ds = pose_dataset(root, cache=tmp, progress=False, max_files=max_files)
        cold = time.perf_counter() - t
        t = time.perf_counter()
        ds2 = pose_dataset(root, cache=tmp, progress=False, max_files=max_files)
        warm = time.perf_counter() - t
        if not ds2.from_cache:
            print("note: the second build missed the cache (loader code changed in between?)")
    return {"files": len(ds.files), "train": len(ds.train), "val": len(ds.val), "test": len(ds.test),
            "cold_s": cold, "warm_s": warm}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--motions", type=Path, default=None, help="CMU dev folder (default: find_motion_dir())")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--fast", action="store_true", help="one file per format, dataset with max_files=6")
    args = ap.parse_args(argv)
    fast = args.fast or fast_mode()
    root = args.motions or find_motion_dir()
    if root is None:
        print("no motion data found (set POSEKIT_DATA or place ../shared/data/cmu): nothing to benchmark")
        return 1
    warnings.simplefilter("ignore")
    n_all = len(list_motion_files(root))
    print(f"motion folder: {root} ({n_all} files); repeats={args.repeats}; best of repeats per file\n")
    rows = bench_formats(root, 1 if fast else args.repeats, fast)
    print(f"{'format':<16} {'files':>5} {'frames':>7} {'MB':>6} {'parse fr/s':>11} {'parse+retarget fr/s':>20} {'s/file':>7}")
    for r in rows:
        print(f"{r['format']:<16} {r['files']:>5} {r['frames']:>7} {r['MB']:>6.1f} {r['parse_fps']:>11.0f} "
              f"{r['parse_retarget_fps']:>20.0f} {r['s_per_file']:>7.2f}")
    d = bench_dataset(root, 6 if fast else None)
    print(f"\npose_dataset(fps=30) over {d['files']} files (after dedup): train/val/test = "
          f"{d['train']}/{d['val']}/{d['test']} frames; cold build {d['cold_s']:.1f} s, warm (cache hit) "
          f"{d['warm_s'] * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
