"""Command line of the data layer.

``python -m posekit.data report --motions DIR``: the data card of a folder of motion files (per subject and
per format: files, frames, minutes, activities, failures, retargeting quality).
``python -m posekit.data sample --motions DIR --out DIR``: rebuild the embedded real-motion sample.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


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
    s.add_argument("--out", required=True)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    folder = Path(args.motions)
    if not folder.is_dir():
        print(f"error: --motions {folder}: not a folder of motion files", file=sys.stderr)
        return 2
    try:
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
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
