"""The pretrained priors shipped in posekit/priors/pretrained: checksums, safe loading, store behaviour."""
import hashlib
import zipfile

import pytest
import torch

from posekit.data.dataset import subject_split, trial_key
from posekit.priors import store

MANIFEST = store.pretrained_manifest()
NAMES = sorted(MANIFEST.get("priors", {}))


def test_manifest_lists_the_pose_priors_with_their_recipe():
    assert {"gmm", "vposer", "posendf"} <= set(NAMES)
    for name in NAMES:
        e = MANIFEST["priors"][name]
        assert e["command"].startswith(f"python -m posekit.train {name} ")
        assert e["bytes"] < 4e6, f"{name}: the shipped file should stay small"
    tr = MANIFEST["trials"]
    assert tr["train"] and tr["val"] and tr["test"]
    assert all(subject_split(trial_key(t)[0]) == "train" for t in tr["train"] if trial_key(t)[0].isdigit())
    assert all(subject_split(trial_key(t)[0]) == s for s in ("val", "test") for t in tr[s])


@pytest.mark.parametrize("name", NAMES)
def test_files_match_their_sha256_and_load_without_pickle(name):
    e = MANIFEST["priors"][name]
    path = store.pretrained_dir() / e["file"]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == e["sha256"]
    if path.suffix == ".pt":
        obj = torch.load(path, map_location="cpu", weights_only=True)     # raises on any pickled object
        assert obj
    else:
        import numpy as np
        with np.load(path, allow_pickle=False) as z:
            assert z.files
    if name in ("gmm", "vposer", "posendf"):
        prior = store.load_prior_file(name, path)
        x = torch.zeros(3, 21, 3)
        e0 = prior.energy(x)
        assert e0.shape == (3,) and torch.isfinite(e0).all()
        v = e["validation"]
        assert v["val_rank_accuracy"] > 0.8, "a pretrained prior should score perturbed poses worse"


def test_load_prior_uses_the_pretrained_file_and_says_so(tmp_path, capsys):
    store._ANNOUNCED.discard("gmm")
    p = store.load_prior("gmm", tmp_path, train_if_missing=False)
    assert "pretrained" in capsys.readouterr().out
    assert not (tmp_path / "gmm.npz").exists()                              # nothing trained or copied
    ref = store.load_prior_file("gmm", store.pretrained_dir() / "gmm.npz")
    x = 0.2 * torch.randn(4, 21, 3, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(p.energy(x), ref.energy(x))
    with pytest.raises(FileNotFoundError, match="python -m posekit.train gmm"):
        store.load_prior("gmm", tmp_path, pretrained=False, train_if_missing=False)


def test_a_damaged_pretrained_file_is_refused(tmp_path, monkeypatch):
    src = store.pretrained_dir()
    fake = tmp_path / "pretrained"
    fake.mkdir()
    (fake / "manifest.json").write_text((src / "manifest.json").read_text())
    data = bytearray((src / "gmm.npz").read_bytes())
    data[-1] ^= 0xFF
    (fake / "gmm.npz").write_bytes(bytes(data))
    monkeypatch.setattr(store, "pretrained_dir", lambda: fake)
    with pytest.raises(ValueError, match="sha256"):
        store.load_prior("gmm", tmp_path / "priors", train_if_missing=False)


def test_load_or_train_without_a_folder_takes_the_shipped_file_and_never_trains(monkeypatch):
    """``posekit.train.load_or_train(name)`` with no priors folder: the shipped file (the same weights as
    ``load_prior``); it trains nothing (a trainer call would fail the test)."""
    import posekit.train
    from posekit.priors.registry import pose_prior_names

    monkeypatch.setattr(posekit.train, "trainer", lambda name: pytest.fail(f"trained {name}"))
    name = next(n for n in pose_prior_names() if store.pretrained_path(n, verify=False) is not None)
    got = posekit.train.load_or_train(name, verbose=False)
    ref = store.load_prior(name, verbose=False)
    x = 0.1 * torch.randn(4, 21, 3, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(got.energy(x), ref.energy(x))
