"""Command line: train a pose prior on every motion file under a folder (train split by subject).

Every argument and the output path are checked before any data is loaded or any training runs: a bad one
is one line on stderr (``error: ...``) and exit status 2. An existing prior file is replaced only with
``--overwrite``.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from posekit.data.checks import check_motion_folder
from posekit.errors import check_device
from posekit.errors import InputError, check_finite_number, check_output_dir, check_output_file, check_positive, run_cli

#: trained models that are not priors: sub-command -> help
OTHER_MODELS: dict[str, str] = {
    "regressor": "keypoints -> body regressor (SMPL parameters from LSP-14 keypoints in one pass); writes .pt",
}
ALL_HELP = "every prior into the folder --out, with manifest.json (sha256, trials, recipe, validation)"


def commands() -> dict[str, str]:
    """Sub-command -> help: every prior of ``posekit.priors.registry`` with a trainer, the other models, ``all``."""
    from posekit.priors import registry

    out = {e.name: e.summary or f"the {e.label} prior" for e in registry.PRIORS.values() if e.trainer}
    return {**out, **OTHER_MODELS, "all": ALL_HELP}

#: options of the trainers (``add_arguments`` of posekit.train.<name>) -> (integer, allow_zero); each must be
#: a finite number > 0 (≥ 0 with allow_zero) when given
NUMERIC_OPTIONS = {
    "components": (True, False), "epochs": (True, False), "samples": (True, False),
    "thin": (False, True), "vertex_weight": (False, True), "eikonal": (False, True),
    "max_minutes": (False, False), "max_seconds": (False, False), "steps": (True, False),
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m posekit.train", description=__doc__)
    cmds = commands()
    sub = p.add_subparsers(dest="prior", required=True, metavar="{" + ",".join(cmds) + "}")
    for name, help_ in cmds.items():
        sp = sub.add_parser(name, help=help_, description=help_)
        sp.add_argument("--motions", required=True, help="folder searched recursively for motion files (BVH, ASF/AMC, AMASS npz)")
        sp.add_argument("--out", required=True, help="output folder" if name == "all" else "output file")
        if name != "all":
            sp.add_argument("--overwrite", action="store_true", help="replace --out when the file exists")
        sp.add_argument("--fast", action="store_true", help="small, quick variant (also set by POSEKIT_FAST=1)")
        sp.add_argument("--seed", type=int, default=0)
        sp.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
        mod = _module(name, required=False)
        if mod is not None and hasattr(mod, "add_arguments"):
            mod.add_arguments(sp)
    return p


def _module(name: str, required: bool = True):
    """The module of a sub-command: ``all``, another model's, or the prior's trainer (its registry entry)."""
    from posekit.priors import registry

    modname = registry.PRIORS[name].trainer if name in registry.PRIORS else name
    try:
        return importlib.import_module(f"posekit.train.{modname}")
    except ModuleNotFoundError as e:
        if required or e.name != f"posekit.train.{modname}":
            raise
        return None


def validate(args) -> None:
    """Every argument of ``args``, the output path and the motion folder, before any work (InputError)."""
    for dest, (integer, allow_zero) in NUMERIC_OPTIONS.items():
        value = getattr(args, dest, None)
        if value is not None:
            check_positive("--" + dest.replace("_", "-"), value, integer=integer, allow_zero=allow_zero)
    check_finite_number("--seed", args.seed)
    check_device(args.device)
    if args.prior == "all":
        from .all import parse_priors

        parse_priors(getattr(args, "priors", None))
        check_output_dir(args.out, "--out")
    else:
        out = Path(args.out).expanduser()
        if out.is_file() and not args.overwrite:
            raise InputError(f"--out {out}: the file exists; pass --overwrite to replace it, or choose another path")
        check_output_file(out, "--out")
        if getattr(args, "checkpoint", None):
            check_output_file(args.checkpoint, "--checkpoint")
    check_motion_folder(args.motions)


def _run(args) -> int:
    mod = _module(args.prior, required=False)
    if mod is None:
        raise InputError(f"the {args.prior!r} prior is not available in this version of posekit")
    validate(args)
    return int(mod.run(args) or 0)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return run_cli(lambda: _run(args))


if __name__ == "__main__":
    sys.exit(main())
