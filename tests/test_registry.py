"""The registry of priors: every list of prior names derives from it, and a prior registered at run time is
in all of them (command lines, experiments, reports, expectations, file checks, the photo fit)."""
from __future__ import annotations

import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from posekit.errors import InputError
from posekit.priors import registry
from posekit.priors.registry import PriorEntry

ROOT = Path(__file__).resolve().parents[1] / "posekit"


class HalfNorm:
    """A toy pose prior: E(θ) = ½‖θ‖² (its gradient is θ: a closed form to check dispatch against)."""

    def energy(self, body21):
        return 0.5 * body21.reshape(body21.shape[0], -1).pow(2).sum(-1)


@pytest.fixture
def toy():
    e = registry.register(PriorEntry("toy", "Toy", build=HalfNorm, fit_weight=2.0, colour="C9", paper_name=None))
    yield e
    registry.unregister("toy")


def test_builtin_entries_are_complete_and_consistent():
    names = registry.prior_names()
    assert len(set(names)) == len(names) and registry.NO_PRIOR not in names
    assert registry.methods() == (registry.NO_PRIOR, *names)
    assert set(registry.pose_methods()) < set(registry.methods())
    assert all(registry.PRIORS[m].kind == "motion" for m in registry.motion_prior_names())
    # pose priors first: tables list them before motion priors
    kinds = [registry.PRIORS[n].kind for n in names]
    assert kinds == sorted(kinds, key=("pose", "motion").index)
    files = [registry.PRIORS[n].file for n in names]
    assert len(set(files)) == len(files)
    for n in names:
        e = registry.entry(n)
        assert e.file.startswith(n) and (ROOT / "train" / f"{e.trainer}.py").is_file()
        assert e.fit_weight > 0 and registry.label(n) == e.label
    assert registry.DEFAULT_POSE_PRIOR in registry.pose_prior_names()


def test_paper_names_map_to_one_prior_each():
    papers = [registry.PRIORS[n].paper_name for n in registry.prior_names() if registry.PRIORS[n].paper_name]
    assert len(set(papers)) == len(papers)
    for n in registry.prior_names():
        p = registry.PRIORS[n].paper_name
        if p:
            assert registry.from_paper(p) == n
    assert registry.from_paper("no prior") == registry.NO_PRIOR
    assert registry.from_paper("GAN-S") is None                    # a paper's method posekit does not have


@pytest.mark.parametrize("bad, match", [
    (dict(name="Bad Name", label="x", build=HalfNorm), "lower-case"),
    (dict(name="none", label="x", build=HalfNorm), "without a prior"),
    (dict(name="x", label="x", kind="video", build=HalfNorm), "kind"),
    (dict(name="x", label="x"), "module, class_name and file"),
    (dict(name="x", label="x", build=HalfNorm, fit_weight=0.0), "fit_weight"),
])
def test_bad_entries_are_refused(bad, match):
    with pytest.raises(InputError, match=match):
        PriorEntry(**bad)


def test_register_refuses_duplicates_and_keeps_builtins(toy):
    with pytest.raises(InputError, match="registered already"):
        registry.register(PriorEntry("toy", "Toy again", build=HalfNorm))
    with pytest.raises(InputError, match="cannot be removed"):
        registry.unregister(registry.prior_names()[0])
    with pytest.raises(InputError, match="unknown prior 'nope'"):
        registry.entry("nope")


def test_a_registered_prior_is_in_every_list(toy):
    from posekit.experiments import common, image_fit, paper_numbers, report
    from posekit.fitting import tune
    from posekit.photo import fit as photo_fit
    from posekit.priors import files

    assert "toy" in registry.methods() and "toy" in common.METHODS and "toy" in common.POSE_METHODS
    assert "toy" in image_fit.METHODS and "toy" in report.METHODS and "toy" in photo_fit.PRIOR_NAMES
    assert tune.default_prior_weights()["toy"] == 2.0 and tune.prior_base("toy") == 2.0
    assert paper_numbers.METHOD_NAMES["toy"] == "Toy" and registry.colour("toy") == "C9"
    assert common.parse_methods("none,toy") == ["none", "toy"]
    helps = [e for e in paper_numbers.expectations() if e.lower == "toy"]
    assert {e.experiment for e in helps} == {"denoise", "occlusion", "image-fit"}
    assert all(e.higher == registry.NO_PRIOR and e.source == "every prior helps" for e in helps)
    assert "toy" not in files.KINDS                                # built in memory: no file to check
    report._check_row({"experiment": "denoise", "setting": "s", "method": "toy", "metric": "v2v_cm",
                       "value": 1.0, "std": 0.0, "n": 1})
    registry.unregister("toy")
    assert "toy" not in common.METHODS
    with pytest.raises(ValueError, match="method must be one of"):
        report._check_row({"experiment": "denoise", "setting": "s", "method": "toy", "metric": "v2v_cm",
                           "value": 1.0, "std": 0.0, "n": 1})


def test_a_built_prior_is_loaded_by_name_and_dispatched(toy, tmp_path):
    from posekit.priors.base import prior_energy
    from posekit.priors.store import load_prior
    from posekit.train import load_or_train

    p = load_prior("toy", tmp_path)
    assert isinstance(p, HalfNorm) and isinstance(load_or_train("toy", tmp_path), HalfNorm)
    x = torch.randn(4, 21, 3, dtype=torch.float64, requires_grad=True)
    e = prior_energy(p, x)
    (g,) = torch.autograd.grad(e.sum(), x)
    torch.testing.assert_close(g, x.detach())                     # ∇ ½‖θ‖² = θ


def test_a_file_prior_registered_at_run_time_is_read_and_checked(tmp_path):
    from posekit.priors import files
    from posekit.priors.store import load_prior, pretrained_path

    first = registry.pose_prior_names()[0]
    e = registry.entry(first)
    twin = registry.register(replace(e, name=f"{first}-twin", file=f"{first}-twin.{e.file_format}",
                                     paper_name=None, label=f"{e.label} twin"))
    try:
        shutil.copy(pretrained_path(first), tmp_path / twin.file)
        assert files.KINDS[twin.name] == f"{twin.label} prior file"
        prior = load_prior(twin.name, tmp_path)
        ref = load_prior(first, tmp_path, verbose=False)
        x = 0.3 * torch.randn(5, 21, 3)
        torch.testing.assert_close(prior.energy(x), ref.energy(x))
        (tmp_path / twin.file).write_bytes(b"not a prior")
        with pytest.raises(InputError, match=re.escape(twin.file)):         # a damaged file: refused, named
            load_prior(twin.name, tmp_path)
    finally:
        registry.unregister(twin.name)


def test_a_missing_prior_names_the_command_that_trains_it(tmp_path):
    from posekit.priors.store import load_prior

    name = registry.prior_names()[0]
    with pytest.raises(FileNotFoundError, match=f"python -m posekit.train {registry.entry(name).trainer}"):
        load_prior(name, tmp_path, pretrained=False)


def test_the_train_command_line_lists_every_prior_with_a_trainer():
    from posekit.train.__main__ import build_parser, commands

    cmds = commands()
    assert list(cmds)[-1] == "all"
    assert set(registry.prior_names()) <= set(cmds)
    parser = build_parser()
    for n in registry.prior_names():
        args = parser.parse_args([n, "--motions", "m", "--out", "o"])
        assert args.prior == n


def test_prior_names_are_written_only_in_their_own_modules_and_the_registry():
    """The done-when of the registry: a prior's quoted name appears only in its own package/module, its
    trainer, the registry and the shipped manifest (exercise prompts quote names for students: course text)."""
    offenders = []
    for name in registry.prior_names():
        allowed = {f"priors/{name}.py", f"train/{name}.py", "priors/registry.py"}
        for path in ROOT.rglob("*.py"):
            rel = path.relative_to(ROOT).as_posix()
            if rel in allowed or rel.startswith((f"priors/{name}/", "exercises/")):
                continue
            if re.search(rf"[\"']{re.escape(name)}[\"']", path.read_text(encoding="utf-8")):
                offenders.append(f"{rel}: {name!r}")
    assert offenders == []
