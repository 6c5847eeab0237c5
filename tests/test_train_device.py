"""``--device`` of ``python -m posekit.train``: every trainer receives it and hands it to its training loop; the
training steps keep every tensor on the model's device; ``--device cuda`` without a GPU is one clear error.

No GPU is needed: the device checks of the training steps run on PyTorch's ``meta`` device, which (like CUDA)
refuses to mix its tensors with CPU tensors, so a CPU constant left in a loss would fail here as it would on a GPU.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
TRAINERS = ("gmm", "vposer", "posendf", "humor")
#: two subjects only: the validation and test splits are empty, which pose_dataset says in a warning
pytestmark = pytest.mark.filterwarnings("ignore:pose_dataset. split")


class _Stop(Exception):
    """Raised by the stand-ins once they have recorded what they were given."""


@pytest.fixture
def motions(tmp_path):
    """A folder with two AMASS-layout files of different subjects (24 frames at 30 fps)."""
    d = tmp_path / "motions"
    d.mkdir()
    rng = np.random.default_rng(0)
    for trial in ("01_01", "02_01"):
        poses = np.zeros((24, 156))
        poses[:, 3:66] = 0.1 * rng.standard_normal((24, 63))
        np.savez(d / f"{trial}_poses.npz", poses=poses, trans=np.zeros((24, 3)), mocap_framerate=np.float64(30.0))
    return d


def test_train_all_gives_device_to_every_trainer(tmp_path, motions, monkeypatch, capsys):
    import importlib

    import posekit.priors.store
    import posekit.train.all
    from posekit.train.__main__ import main

    got = {}
    for name in TRAINERS:
        mod = importlib.import_module(f"posekit.train.{name}")

        def fake(motions, out, fast=False, seed=0, device=None, _name=name, **kw):
            got[_name] = device
            Path(out).write_bytes(_name.encode())
            return Path(out)
        monkeypatch.setattr(mod, "train", fake)
    monkeypatch.setattr(posekit.train.all, "validation_metrics", lambda prior, val: {})
    monkeypatch.setattr(posekit.priors.store, "load_prior_file", lambda name, path: None)
    monkeypatch.setattr(importlib.import_module("posekit.train.humor"), "validation_summary", lambda path: {})
    assert main(["all", "--motions", str(motions), "--out", str(tmp_path / "out"), "--device", "cpu"]) == 0
    assert got == {name: "cpu" for name in TRAINERS}


def test_each_trainer_hands_device_to_its_training_loop(tmp_path, monkeypatch):
    import posekit.train.humor
    import posekit.train.posendf
    import posekit.train.vposer

    seen = {}

    def stop(name):
        def f(*args, device=None, **kwargs):
            seen[name] = device
            raise _Stop
        return f

    poses = 0.1 * torch.randn(64, 21, 3, generator=torch.Generator().manual_seed(0))
    monkeypatch.setattr(posekit.train.vposer, "fit", stop("vposer"))
    with pytest.raises(_Stop):
        posekit.train.vposer.train(None, tmp_path / "v.pt", fast=True, device="cpu", progress=False,
                                   splits={"train": poses, "val": poses})
    monkeypatch.setattr(posekit.train.posendf, "build_data", lambda *a, **k: {"train": {}, "val": {}, "info": {}})
    monkeypatch.setattr(posekit.train.posendf, "fit", stop("posendf"))
    with pytest.raises(_Stop):
        posekit.train.posendf.train_from_poses(poses, poses, tmp_path / "p.pt", fast=True, device="cpu")
    monkeypatch.setattr(posekit.train.humor, "get_device", lambda device=None: stop("humor")(device=device))
    with pytest.raises(_Stop):
        posekit.train.humor.train(None, tmp_path / "h.pt", fast=True, device="cpu", data=[])
    assert seen == {"vposer": torch.device("cpu"), "posendf": "cpu", "humor": "cpu"}
    assert not list(tmp_path.iterdir())                               # nothing written by the stopped runs


def test_gmm_says_it_fits_on_the_cpu(tmp_path, motions, capsys):
    from posekit.train.gmm import train

    train(motions, tmp_path / "g.npz", fast=True, device="cuda", n_components=2)
    out = capsys.readouterr().out
    assert "fitted on the CPU (scikit-learn EM); --device cuda applies to the neural priors" in out
    assert (tmp_path / "g.npz").is_file()


def test_training_steps_keep_every_tensor_on_the_model_device():
    """One VPoser step, Pose-NDF's distance loss and one HuMoR transition with model and data on ``meta``."""
    from posekit.body import load_body_model
    from posekit.priors.humor import HumorPrior
    from posekit.priors.humor.state import STATE_DIM
    from posekit.priors.posendf import PoseNDF
    from posekit.priors.posendf.losses import loss_terms
    from posekit.priors.vposer import VPoser, VPoserConfig, vposer_loss
    from posekit.train.humor import settings as humor_settings
    from posekit.train.humor import transition_losses
    from posekit.train.posendf import settings as posendf_settings

    meta = torch.device("meta")
    vp = VPoser(VPoserConfig()).to(meta)
    R = torch.eye(3).expand(8, 21, 3, 3).contiguous().to(meta)
    R_hat, mu, sigma = vp(R, generator=torch.Generator().manual_seed(0))
    terms = vposer_loss(R, R_hat, mu, sigma, vp.parameters(), vp.config.weights, None)
    terms["total"].backward()
    assert terms["total"].device == meta and next(vp.parameters()).grad.device == meta

    ndf = PoseNDF(posendf_settings(True)["model"]).to(meta)
    loss, _ = loss_terms(ndf, torch.randn(8, 21, 4).to(meta), torch.rand(8).to(meta), eikonal_weight=0.0)
    loss.backward()
    assert loss.device == meta

    hm = HumorPrior.from_body_model(load_body_model(device="cpu"), **humor_settings(True)["config"]).to(meta)
    x = torch.randn(4, STATE_DIM).to(meta)
    out = transition_losses(hm, x, x, torch.rand(4, len(hm.contact_joints)).to(meta))
    sum(v.sum() for k, v in out.items() if k != "next").backward()
    assert out["next"].device == meta


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_train_all_device_cuda_without_gpu_is_one_error_line(tmp_path, motions):
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": ""}
    r = subprocess.run([sys.executable, "-m", "posekit.train", "all", "--motions", str(motions), "--out", str(out),
                        "--device", "cuda"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("error: --device cuda: no CUDA GPU is available") and r.stderr.count("\n") == 1
    assert r.stdout == "" and not out.exists()
