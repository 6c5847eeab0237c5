"""Command line for the experiments: each writes ``results.csv`` and a markdown table to ``--out``."""
from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from posekit.data.motion import MotionFormatError

from .report import write_results

USER_ERRORS = (FileNotFoundError, NotADirectoryError, MotionFormatError)

EXPERIMENTS = {
    "image-fit": ("image_fit", "SMPLify on 2D keypoints of held-out posed bodies (Table 5 / SMPLify-X Table 2)"),
    "denoise": ("denoise", "motion denoising (Pose-NDF Table 3)"),
    "occlusion": ("occlusion", "completion of occluded body parts (Pose-NDF Table 4)"),
    "generate": ("generate", "pose generation: diversity and distance to data (Pose-NDF Fig. 9)"),
    "all": ("run_all", "every experiment into one report"),
}


def _module(modname: str):
    try:
        return importlib.import_module(f"posekit.experiments.{modname}")
    except ModuleNotFoundError as e:
        if e.name != f"posekit.experiments.{modname}":
            raise
        return None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m posekit.experiments", description=__doc__)
    sub = p.add_subparsers(dest="experiment", required=True, metavar="{" + ",".join(EXPERIMENTS) + "}")
    for name, (modname, help_) in EXPERIMENTS.items():
        sp = sub.add_parser(name, help=help_, description=help_)
        sp.add_argument("--motions", required=True, help="folder of motion files (held-out subjects are used)")
        sp.add_argument("--priors", required=True, help="folder with gmm.npz / vposer.pt / posendf.pt (trained there when absent)")
        sp.add_argument("--out", required=True, help="output folder for results.csv, results.md and figures")
        sp.add_argument("--fast", action="store_true", help="small quick variant (also set by POSEKIT_FAST=1)")
        sp.add_argument("--seed", type=int, default=0)
        sp.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
        mod = _module(modname)
        if mod is not None and hasattr(mod, "add_arguments"):
            mod.add_arguments(sp)
    return p


def run_experiment(name: str, **options) -> list[dict]:
    """Run one experiment from Python with the command line's options as keywords -> its result rows.

    ``run_experiment("image-fit", motions=..., priors=..., out=..., methods="gmm,vposer", fast=True)`` is
    ``python -m posekit.experiments image-fit --motions ... --fast``: ``True`` sets a flag, ``False`` and
    ``None`` leave an option at its default, ``snake_case`` keywords are ``--kebab-case`` options.
    """
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; expected one of {sorted(EXPERIMENTS)}")
    argv = [name]
    for key, value in options.items():
        if value is None or value is False:
            continue
        argv.append("--" + key.replace("_", "-"))
        if value is not True:
            argv.append(str(value))
    args = build_parser().parse_args(argv)
    mod = _module(EXPERIMENTS[name][0])
    if mod is None:
        raise ModuleNotFoundError(f"the {name!r} experiment is not available in this version of posekit")
    return mod.run(args)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    modname = EXPERIMENTS[args.experiment][0]
    mod = _module(modname)
    if mod is None:
        print(f"error: the {args.experiment!r} experiment is not available in this version of posekit", file=sys.stderr)
        return 2
    try:
        rows = mod.run(args)
    except USER_ERRORS as e:          # bad paths or files: a message, not a traceback
        print(f"error: {e}", file=sys.stderr)
        return 2
    if rows is not None and args.experiment != "all":
        path = write_results(rows, Path(args.out))
        print(f"wrote {path} and {path.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
