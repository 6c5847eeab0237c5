"""Command line of the data layer.

``python -m posekit.data report --motions DIR [--json FILE]``: the data card of a folder of motion files (per
subject and per format: files, frames, minutes, activities, failures, retargeting quality).
``python -m posekit.data sample --motions DIR --out DIR``: rebuild the embedded real-motion sample.
``python -m posekit.data download --trials all|shared|ID,ID... [--dest DIR]``: fetch CMU ASF/AMC trials
(``posekit.data.download.download_cmu``: verified, resumable; rerun the same command after an interruption).

Every argument and output path is checked before any file is read; a bad one is one line on stderr
(``error: ...``) and exit status 2 (``posekit.errors.run_cli``).

``posekit.data.checks.check_motion_folder`` (``--motions``) and ``posekit.errors.check_device`` (``--device``)
are the checks every command line of posekit shares.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from posekit.data.checks import check_motion_folder
from posekit.errors import InputError, check_output_dir, check_output_file, run_cli

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m posekit.data", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("report", help="print the data card of a folder of motion files")
    r.add_argument("--motions", required=True, help="folder searched recursively for motion files")
    r.add_argument("--no-quality", action="store_true", help="skip the retargeting-quality measurement")
    r.add_argument("--json", default=None, help="also write the per-file rows to this JSON file")
    s = sub.add_parser("sample", help="write the embedded sample (AMASS-layout clips) from a folder")
    s.add_argument("--motions", required=True)
    s.add_argument("--out", required=True, help="the sample folder (replaced as a whole)")
    d = sub.add_parser("download", help="fetch CMU ASF/AMC trials from mocap.cs.cmu.edu (resumable, verified)")
    d.add_argument("--trials", required=True,
                   help="'all' (every CMU trial, about 1.7 GB), 'shared' (the shared set) or ids such as 02_01,05_03")
    d.add_argument("--dest", default=None, help="target folder (default: POSEKIT_DATA or ~/.posekit/data, cmu/asfamc)")
    d.add_argument("--base-url", default=None, help="the CMU subjects folder URL (default: the CMU site)")
    d.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def download_trials(text: str):
    """``--trials``: "all", "shared" or a comma list of CMU ids (each checked); InputError otherwise."""
    from .download import cmu_trial_files

    text = str(text).strip()
    if text in ("all", "shared"):
        return text
    ids = [t.strip() for t in text.split(",") if t.strip()]
    if not ids:
        raise InputError("--trials: expected 'all', 'shared' or CMU ids such as 02_01,05_03")
    for t in ids:
        try:
            cmu_trial_files(t)
        except ValueError as e:
            raise InputError(f"--trials: {e}") from None
    return ids


def validate(args) -> None:
    """Every argument and output path of ``args``, before any file is read (InputError otherwise)."""
    if args.command == "download":
        download_trials(args.trials)
        if args.dest is not None:
            check_output_dir(args.dest, "--dest")
    elif args.command == "report":
        if args.json is not None:
            check_output_file(args.json, "--json")
        # a report describes unreadable files too: only the folder itself must be there
        check_motion_folder(args.motions, readable=False)
    else:
        out = check_output_dir(args.out, "--out")
        if out.is_dir() and any(out.iterdir()) and not (out / "manifest.json").is_file():
            raise InputError(f"--out {out}: the folder holds files and is not a sample folder (no manifest.json); "
                             "the sample replaces the whole folder, so choose a new or empty one")
        check_motion_folder(args.motions, require_files=True)


def _run(args) -> int:
    validate(args)
    if args.command == "download":
        from .download import DEFAULT_BASE_URL, download_cmu

        paths = download_cmu(download_trials(args.trials), dest=args.dest, base_url=args.base_url or DEFAULT_BASE_URL,
                             progress=not args.no_progress)
        dest = paths[0].parent.parent if paths else args.dest
        print(f"{len(paths)} trials in {dest} (manifest.json beside them)")
        return 0
    folder = Path(args.motions).expanduser()
    if args.command == "report":
        import json

        from .report import data_card, format_card
        card = data_card(folder, quality=not args.no_quality)
        print(format_card(card))
        if args.json:
            from posekit.utils import atomic_path
            with atomic_path(args.json, suffix=".json") as tmp:
                Path(tmp).write_text(json.dumps(card.rows, indent=1))
    else:
        from .sample import build_sample
        m = build_sample(folder, args.out)
        print(f"wrote {len(m['clips'])} clips to {args.out} (splits: {m['splits']})")
    return 0


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return run_cli(lambda: _run(args))


if __name__ == "__main__":
    sys.exit(main())
