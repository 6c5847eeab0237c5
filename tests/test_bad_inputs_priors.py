"""Bad prior files and training checkpoints: one InputError naming the file and what was expected.

The bad files are built in tmp_path from the shipped pretrained priors (``posekit/priors/pretrained``):
empty, truncated and random files, one prior's file given as another, a GMM that is not a mixture, weights
holding NaN, and damaged resumable training checkpoints.
"""
import itertools
import re
import shutil

import numpy as np
import pytest
import torch

from posekit.errors import InputError, NonFiniteError
from posekit.priors import registry, store
from posekit.priors.files import KINDS

#: every prior read from a file (posekit.priors.registry), the .pt ones apart
ALL_PRIORS = tuple(registry.kinds())
TORCH_PRIORS = tuple(n for n in ALL_PRIORS if registry.PRIORS[n].file_format == "pt")


def shipped(name):
    path = store.pretrained_dir() / store.PRIOR_FILES[name]
    if not path.is_file():
        pytest.skip(f"no pretrained {name} prior shipped")
    return path


def refuses(exc, *fragments):
    """A pytest.raises whose message must contain every fragment (regexes); checks after the block too."""
    return pytest.raises(exc, match="(?s)" + "".join(f"(?=.*{f})" for f in fragments))


def one_line(excinfo):
    assert "\n" not in str(excinfo.value), str(excinfo.value)


def damaged_copy(src, dst, how):
    data = src.read_bytes()
    dst.write_bytes({"empty": b"",
                     "truncated": data[: len(data) // 2],
                     "random": np.random.default_rng(0).bytes(4096)}[how])
    return dst


# ---------------------------------------------------------------------------------- 1. damaged prior files
@pytest.mark.parametrize("how", ["empty", "truncated", "random"])
@pytest.mark.parametrize("name", ALL_PRIORS)
def test_a_damaged_prior_file_names_the_file(name, how, tmp_path):
    bad = damaged_copy(shipped(name), tmp_path / f"{how}-{store.PRIOR_FILES[name]}", how)
    reason = {"empty": r"the file is empty", "truncated": r"truncated or damaged", "random": r"damaged or not"}[how]
    with refuses(InputError, re.escape(str(bad)), reason, re.escape(f"expected a {KINDS[name]}"),
                 re.escape(f"python -m posekit.train {name}")) as e:
        store.load_prior_file(name, bad)
    one_line(e)


class NotAllowed:
    """A class torch's weights_only unpickler does not allow."""


def test_a_file_holding_pickled_objects_is_refused_without_unpickling(tmp_path):
    bad = tmp_path / "vposer.pt"
    torch.save({"config": NotAllowed(), "state_dict": {}}, bad)
    with refuses(InputError, re.escape(str(bad)), "pickled Python object", "NotAllowed", "weights_only=True") as e:
        store.load_prior_file("vposer", bad)
    one_line(e)


def test_a_missing_prior_file_says_how_to_train_one(tmp_path):
    with refuses(FileNotFoundError, "not found", re.escape("python -m posekit.train humor")):
        store.load_prior_file("humor", tmp_path / "humor.pt")
    with refuses(InputError, "is a folder", "expected a GMM prior file"):
        store.load_prior_file("gmm", tmp_path)


# ---------------------------------------------------------------------------------- 2. the wrong kind of file
@pytest.mark.parametrize("given, expected", list(itertools.permutations(ALL_PRIORS, 2)))
def test_another_priors_file_is_recognised(given, expected, tmp_path):
    bad = tmp_path / store.PRIOR_FILES[expected]            # named like the expected file, holding another
    shutil.copyfile(shipped(given), bad)
    with refuses(InputError, re.escape(str(bad)),
                 re.escape(f"this file is a {KINDS[given]}"), re.escape(f"expected a {KINDS[expected]}")) as e:
        store.load_prior_file(expected, bad)
    one_line(e)


def test_a_training_checkpoint_given_as_a_prior_is_recognised(tmp_path):
    bad = tmp_path / "vposer.pt"
    torch.save({k: {} for k in ("settings", "config", "model", "best_model", "optimizer", "scheduler", "state")}, bad)
    with refuses(InputError, "this file is a VPoser training checkpoint", "expected a VPoser prior file"):
        store.load_prior_file("vposer", bad)


def test_weights_that_do_not_fit_the_config_name_the_file(tmp_path):
    obj = torch.load(shipped("vposer"), weights_only=True)
    obj["config"]["hidden"] = obj["config"]["hidden"] // 2
    bad = tmp_path / "vposer.pt"
    torch.save(obj, bad)
    with refuses(InputError, re.escape(str(bad)), "not a valid VPoser prior file", "size mismatch") as e:
        store.load_prior_file("vposer", bad)
    one_line(e)
    obj = torch.load(shipped("humor"), weights_only=True)
    del obj["state_dict"]["rest_joints"]
    torch.save(obj, bad := tmp_path / "humor.pt")
    with refuses(InputError, re.escape(str(bad)), "not a valid HuMoR prior file", "rest_joints"):
        store.load_prior_file("humor", bad)


# ---------------------------------------------------------------------------------- 3. a GMM that is no mixture
def gmm_file(tmp_path, **changes):
    with np.load(shipped("gmm"), allow_pickle=False) as z:
        arrays = {k: z[k].copy() for k in z.files}
    for k, f in changes.items():
        arrays[k] = f(arrays[k])
    path = tmp_path / "gmm.npz"
    np.savez(path, **arrays)
    return path


def _not_psd(c):
    c[2] -= 10.0 * np.eye(63)
    return c


def _asymmetric(c):
    c[1, 0, 5] += 1.0
    return c


def _negative(w):
    w[3] = -0.1
    return w


@pytest.mark.parametrize("change, fragments", [
    ({"covariances": _not_psd}, ["covariance 2", "not positive definite", "symmetric positive definite"]),
    ({"covariances": _asymmetric}, ["covariance 1", "not symmetric"]),
    ({"weights": _negative}, ["weights", "-0.1", "expected positive mixture weights"]),
    ({"weights": lambda w: 2 * w}, ["weights", "sum to 2", "expected mixture weights summing to 1"]),
    ({"means": lambda m: m[:, :60]}, [re.escape("means (8, 60)"), re.escape("expected means (K,63)")]),
    ({"weights": lambda w: w[:5]}, [re.escape("weights (5,)"), re.escape("weights (K,)")]),
], ids=["not-psd", "asymmetric", "negative-weight", "weights-sum-2", "means-shape", "weights-shape"])
def test_a_gmm_file_that_is_not_a_mixture_is_refused(change, fragments, tmp_path):
    bad = gmm_file(tmp_path, **change)
    with refuses(InputError, re.escape(str(bad)), *fragments) as e:
        store.load_prior_file("gmm", bad)
    one_line(e)


def test_a_gmm_file_missing_an_array_or_holding_one_array(tmp_path):
    bad = tmp_path / "gmm.npz"
    np.savez(bad, means=np.zeros((2, 63)))
    with refuses(InputError, re.escape(str(bad)), "not a GMM file", "missing arrays", "covariances"):
        store.load_prior_file("gmm", bad)
    np.save(one := tmp_path / "means.npy", np.zeros((2, 63)))
    with refuses(InputError, re.escape(str(one)), "single .npy array", "expected a GMM prior file"):
        store.load_prior_file("gmm", one)


# ---------------------------------------------------------------------------------- 4. NaN weights
def _poison_torch(src, dst, value):
    obj = torch.load(src, weights_only=True)
    key = next(k for k, v in obj["state_dict"].items() if v.is_floating_point() and v.numel() > 1)
    obj["state_dict"][key].view(-1)[1] = value
    torch.save(obj, dst)
    return key


@pytest.mark.parametrize("name", TORCH_PRIORS)
@pytest.mark.parametrize("value, word", [(float("nan"), "1 NaN"), (float("inf"), "1 infinite")])
def test_a_prior_with_one_nan_weight_is_refused_at_load(name, value, word, tmp_path):
    bad = tmp_path / store.PRIOR_FILES[name]
    key = _poison_torch(shipped(name), bad, value)
    with refuses(NonFiniteError, re.escape(f"parameter '{key}'"), re.escape(f"{KINDS[name]} {bad}"), word,
                 "expected finite numbers") as e:
        store.load_prior_file(name, bad)
    one_line(e)


def test_a_gmm_with_a_nan_mean_is_refused_at_load(tmp_path):
    def poison(m):
        m[0, 0] = np.nan
        return m

    bad = gmm_file(tmp_path, means=poison)
    with refuses(NonFiniteError, "parameter 'means'", re.escape(str(bad)), "1 NaN", "expected finite numbers"):
        store.load_prior_file("gmm", bad)


def test_the_shipped_priors_still_load(tmp_path):
    for name in ALL_PRIORS:
        copy = tmp_path / store.PRIOR_FILES[name]
        shutil.copyfile(shipped(name), copy)
        assert store.load_prior_file(name, copy) is not None


# ---------------------------------------------------------------------------------- 5. damaged checkpoints
def _vposer_fit(ckpt):
    from posekit.train.vposer import fit

    poses = 0.3 * torch.randn(96, 21, 3, generator=torch.Generator().manual_seed(0))
    return fit(poses[:64], poses[64:], epochs=1, batch_size=32, seed=0, config={"hidden": 16, "latent_dim": 4},
               checkpoint=ckpt, progress=False)


@pytest.fixture(scope="module")
def vposer_ckpt(tmp_path_factory):
    ckpt = tmp_path_factory.mktemp("vposer") / "vposer.pt.ckpt"
    _vposer_fit(ckpt)
    assert ckpt.is_file()
    return ckpt


DELETE = re.escape("delete it to restart training from the start")


@pytest.mark.parametrize("how", ["empty", "truncated", "random"])
def test_a_damaged_vposer_checkpoint_says_delete_it(vposer_ckpt, how, tmp_path):
    bad = damaged_copy(vposer_ckpt, tmp_path / "vposer.pt.ckpt", how)
    with refuses(InputError, re.escape(str(bad)), "VPoser training checkpoint is damaged", DELETE) as e:
        _vposer_fit(bad)
    one_line(e)


def test_a_vposer_checkpoint_with_nan_or_of_another_kind_says_delete_it(vposer_ckpt, tmp_path):
    obj = torch.load(vposer_ckpt, weights_only=True)
    key = next(k for k, v in obj["model"].items() if v.is_floating_point())
    obj["model"][key].view(-1)[0] = float("nan")
    torch.save(obj, bad := tmp_path / "nan.ckpt")
    with refuses(NonFiniteError, re.escape(str(bad)), "damaged", re.escape(f"model.{key}"), "1 NaN", DELETE):
        _vposer_fit(bad)
    shutil.copyfile(shipped("vposer"), other := tmp_path / "other.ckpt")
    with refuses(InputError, "damaged", "it is a VPoser prior file, not a VPoser training checkpoint", DELETE):
        _vposer_fit(other)
    del obj["state"]["epoch"]
    obj["model"][key].view(-1)[0] = 0.0
    torch.save(obj, bad)
    with refuses(InputError, "damaged", "state.epoch", DELETE):
        _vposer_fit(bad)


def _posendf_train(out, stop_after=None):
    from posekit.train.posendf import train_from_poses

    poses = 0.3 * torch.randn(120, 21, 3, generator=torch.Generator().manual_seed(1))
    over = {"data": {"n_train": 200, "n_val": 50, "max_clean": 80}, "model": {"head_dims": [8]},
            "fit": {"epochs": 2, "patience": 5, "batch_size": 100}}
    return train_from_poses(poses[:80], poses[80:], out, fast=True, overrides=over, progress=False,
                            stop_after=stop_after)


@pytest.mark.parametrize("how", ["empty", "truncated"])
def test_a_damaged_posendf_checkpoint_says_delete_it(how, tmp_path):
    out = tmp_path / "posendf.pt"
    ckpt = _posendf_train(out, stop_after=1)                # an interrupted run leaves out.ckpt
    assert ckpt == tmp_path / "posendf.pt.ckpt" and ckpt.is_file()
    damaged_copy(ckpt, ckpt, how)
    with refuses(InputError, re.escape(str(ckpt)), "Pose-NDF training checkpoint is damaged", DELETE) as e:
        _posendf_train(out)
    one_line(e)
    ckpt.unlink()                                           # as the message says: training starts afresh
    assert _posendf_train(out) == out and out.is_file()
