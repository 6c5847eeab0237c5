"""Command line: train a pose prior on every motion file under a folder (train split by subject)."""
from __future__ import annotations

import argparse
import importlib
import sys

from posekit.data.motion import MotionFormatError

USER_ERRORS = (FileNotFoundError, NotADirectoryError, MotionFormatError)

PRIORS = {
    "gmm": "8-component GMM over body-joint axis-angle (SMPLify's prior); writes .npz",
    "vposer": "VPoser variational pose prior; writes .pt",
    "posendf": "Pose-NDF neural distance field on SO(3)^K; writes .pt",
    "humor": "HuMoR-like motion prior (CVAE over state transitions, with contacts); writes .pt",
    "all": "every prior into the folder --out, with manifest.json (sha256, trials, recipe, validation)",
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m posekit.train", description=__doc__)
    sub = p.add_subparsers(dest="prior", required=True, metavar="{" + ",".join(PRIORS) + "}")
    for name, help_ in PRIORS.items():
        sp = sub.add_parser(name, help=help_, description=help_)
        sp.add_argument("--motions", required=True, help="folder searched recursively for motion files (BVH, ASF/AMC, AMASS npz)")
        sp.add_argument("--out", required=True, help="output folder" if name == "all" else "output file")
        sp.add_argument("--fast", action="store_true", help="small, quick variant (also set by POSEKIT_FAST=1)")
        sp.add_argument("--seed", type=int, default=0)
        sp.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
        mod = _module(name, required=False)
        if mod is not None and hasattr(mod, "add_arguments"):
            mod.add_arguments(sp)
    return p


def _module(name: str, required: bool = True):
    try:
        return importlib.import_module(f"posekit.train.{name}")
    except ModuleNotFoundError as e:
        if required or e.name != f"posekit.train.{name}":
            raise
        return None


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    mod = _module(args.prior, required=False)
    if mod is None:
        print(f"error: the {args.prior!r} prior is not available in this version of posekit", file=sys.stderr)
        return 2
    try:
        return int(mod.run(args) or 0)
    except USER_ERRORS as e:          # bad paths or files: a message, not a traceback
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
