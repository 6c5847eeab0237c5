"""posekit.experiments.__main__.run_experiment: keywords become the command line's options."""
import types

import pytest

from posekit.experiments import __main__ as cli


def test_keywords_become_options(monkeypatch):
    fake = types.SimpleNamespace(run=lambda args: [vars(args)])
    monkeypatch.setattr(cli, "_module", lambda modname: fake)
    (args,) = cli.run_experiment("image-fit", motions="M", priors="P", out="O", fast=True, seed=None)
    assert (args["motions"], args["priors"], args["out"], args["fast"], args["seed"]) == ("M", "P", "O", True, 0)
    (args,) = cli.run_experiment("image-fit", motions="M", priors="P", out="O", fast=False)
    assert args["fast"] is False


def test_unknown_experiment_is_refused():
    with pytest.raises(ValueError, match="unknown experiment"):
        cli.run_experiment("nope")


def test_quiet_keeps_the_progress_log_out(monkeypatch, capsys):
    def run(args):
        print("[denoise] sigma=0.1: tuning ...")
        return [vars(args)]

    monkeypatch.setattr(cli, "_module", lambda modname: types.SimpleNamespace(run=run))
    (args,) = cli.run_experiment("image-fit", motions="M", priors="P", out="O", quiet=True)
    assert capsys.readouterr().out == "" and "quiet" not in args
    cli.run_experiment("image-fit", motions="M", priors="P", out="O")
    assert "[denoise]" in capsys.readouterr().out
