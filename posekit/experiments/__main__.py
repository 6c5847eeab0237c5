"""Command line for the experiments: each writes ``results.csv`` and a markdown table to ``--out``.

Every option, the output folders and the motion folder are checked before any prior is loaded or any fit
runs (:func:`validate`); a bad one is one line on stderr (``error: ...``) and exit status 2.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from posekit.data.checks import check_motion_folder
from posekit.errors import check_device
from posekit.errors import InputError, check_output_dir, check_output_file, run_cli

from .report import write_results

EXPERIMENTS = {
    "image-fit": ("image_fit", "SMPLify on 2D keypoints of held-out posed bodies (Table 5 / SMPLify-X Table 2)"),
    "denoise": ("denoise", "motion denoising (Pose-NDF Table 3)"),
    "occlusion": ("occlusion", "completion of occluded body parts (Pose-NDF Table 4)"),
    "generate": ("generate", "pose generation: diversity and distance to data (Pose-NDF Fig. 9)"),
    "table1": ("table1", "SMPLify-X with and without hands and face keypoints / parameters (SMPLify-X Table 1)"),
    "all": ("run_all", "every experiment into one report"),
}


#: the files each experiment writes into --out (besides results.csv and results.md)
OUTPUTS = {
    "image-fit": ("weights_image_fit.json",),
    "denoise": ("denoise_example.npz", "weights_denoise.json", "denoise.png"),
    "occlusion": ("occlusion_example.npz", "weights_occlusion.json", "occlusion.png"),
    "generate": ("generate_grid.png", "generate_reference.json"),
    "table1": (),
}
OUTPUTS["all"] = (*(f for name in ("denoise", "occlusion", "image-fit", "generate") for f in OUTPUTS[name]),
                  "denoise_before_after.png", "occlusion_before_after.png", "report.md", "timings.json")


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


def run_experiment(name: str, quiet: bool = False, **options) -> list[dict]:
    """Run one experiment from Python with the command line's options as keywords -> its result rows.

    ``run_experiment("image-fit", motions=..., priors=..., out=..., methods="gmm,vposer", fast=True)`` is
    ``python -m posekit.experiments image-fit --motions ... --fast``: ``True`` sets a flag, ``False`` and
    ``None`` leave an option at its default, ``snake_case`` keywords are ``--kebab-case`` options.
    ``quiet``: keep the experiment's progress log (tuning, per-setting lines) out of the output; warnings
    and errors still show.
    """
    if name not in EXPERIMENTS:
        raise InputError(f"unknown experiment {name!r}; expected one of {sorted(EXPERIMENTS)}")
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
    validate(args, mod, motions=False)
    if not quiet:
        return mod.run(args)
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        return mod.run(args)


def validate(args, mod, motions: bool = True) -> None:
    """Every option of ``args`` (the experiment's own ones through its ``settings_from_args``), ``--device``,
    the output folders ``--out`` and ``--priors`` and (``motions``) the motion folder: InputError otherwise.
    Nothing is loaded but, for the motion folder, one of its files."""
    check_device(getattr(args, "device", None))
    if hasattr(mod, "settings_from_args"):
        mod.settings_from_args(args)
    out = check_output_dir(args.out, "--out")
    for name in ("results.csv", "results.md", *OUTPUTS.get(args.experiment, ())):
        check_output_file(out / name, "--out")
    check_output_dir(args.priors, "--priors")
    if motions:
        check_motion_folder(args.motions)


def _run(args) -> int:
    mod = _module(EXPERIMENTS[args.experiment][0])
    if mod is None:
        raise InputError(f"the {args.experiment!r} experiment is not available in this version of posekit")
    validate(args, mod)
    rows = mod.run(args)
    if rows is not None and args.experiment != "all":
        path = write_results(rows, Path(args.out))
        print(f"wrote {path} and {path.with_suffix('.md')}")
    return 0


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return run_cli(lambda: _run(args))


if __name__ == "__main__":
    sys.exit(main())
