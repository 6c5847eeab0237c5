"""Data-load benchmark: frames/s of parse and parse+retarget per source format on the shared CMU
set, and ``pose_dataset`` build time and peak memory: cold (raw files, empty cache), warm (cache hit),
and after adding files (only the new files are loaded).

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
    "bvh_cgspeed": ["bvh_cgspeed_motionbuilder/01_01.bvh", "bvh_cgspeed_motionbuilder/08_01.bvh"],
    "bvh_secondlife": ["bvh_secondlife_scaled/60_01.bvh", "bvh_secondlife_scaled/60_05.bvh",
                       "bvh_secondlife_unscaled/12_01.bvh"],
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


def _build_in_child(root: str, cache: str, max_files, q) -> None:
    import resource
    t = time.perf_counter()
    ds = pose_dataset(root, cache=cache, progress=False, max_files=max_files)
    q.put({"s": time.perf_counter() - t, "from_cache": ds.from_cache, "files": len(ds.files),
           "train": len(ds.train), "val": len(ds.val), "test": len(ds.test),
           "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})


def _timed_build(root: Path, cache: str, max_files) -> dict:
    """One ``pose_dataset`` build in a fresh process: seconds, and that process's peak resident memory."""
    import multiprocessing as mp
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_build_in_child, args=(str(root), cache, max_files, q))
    p.start()
    out = q.get()
    p.join()
    return out


def bench_dataset(root: Path, max_files: int | None) -> dict:
    """Cold build (raw files, empty cache), warm build (cache hit), and an incremental build after files
    are added (a folder of links to all files but the last 10, built, then completed)."""
    with tempfile.TemporaryDirectory() as tmp:
        cold = _timed_build(root, tmp, max_files)
        warm = _timed_build(root, tmp, max_files)
        if not warm["from_cache"]:
            print("note: the second build missed the cache (loader code changed in between?)")
    files = list_motion_files(root)
    with tempfile.TemporaryDirectory() as tmp:
        part = Path(tmp) / "motions"
        for f in files:
            (part / f.relative_to(root)).parent.mkdir(parents=True, exist_ok=True)
        for f in [*root.glob("*.csv"), *[q for q in root.rglob("*.asf")], *files[:-10]]:
            (part / f.relative_to(root)).symlink_to(f)
        _timed_build(part, tmp + "/c", max_files)
        for f in files[-10:]:
            (part / f.relative_to(root)).symlink_to(f)
        added = _timed_build(part, tmp + "/c", max_files)
    return {"files": cold["files"], "train": cold["train"], "val": cold["val"], "test": cold["test"],
            "cold_s": cold["s"], "warm_s": warm["s"], "added_s": added["s"], "cold_peak_mb": cold["peak_mb"],
            "warm_peak_mb": warm["peak_mb"]}


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
          f"{d['train']}/{d['val']}/{d['test']} frames")
    print(f"  cold build from raw files {d['cold_s']:.1f} s (peak memory {d['cold_peak_mb']:.0f} MB); "
          f"warm (cache hit) {d['warm_s']:.2f} s (peak {d['warm_peak_mb']:.0f} MB, including the interpreter); "
          f"after adding 10 files {d['added_s']:.1f} s (only those are loaded)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
