"""posekit.experiments.coverage: distances of unseen poses to a training set, checked on constructed sets
against the closed-form pose distance."""
import math

import numpy as np
import pytest
import torch

from posekit.errors import InputError
from posekit.experiments.coverage import coverage_curve, field_at_rest, power_law, summarise
from posekit.rotations import aa_to_quat, pose_ndf_distance


def _pose(angle: float) -> torch.Tensor:
    """(21, 3): every joint rotated by ``angle`` about x."""
    p = torch.zeros(21, 3)
    p[:, 0] = angle
    return p


def _exact(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(pose_ndf_distance(aa_to_quat(a[None]), aa_to_quat(b[None]))[0])


def test_distances_follow_the_subjects_chosen():
    """Subject A holds poses at 0.2 rad, subject B at 1.0 rad; validation poses sit at 1.0 rad. With both
    subjects the validation poses are on the training set (distance 0); with one subject the median is 0 or
    the A-to-B distance, whichever subject was drawn; the rest pose's distance is its distance to A's pose."""
    train = torch.stack([_pose(0.2)] * 5 + [_pose(1.0)] * 5)
    subjects = ["A"] * 5 + ["B"] * 5
    val = torch.stack([_pose(1.0)] * 7)
    rows = coverage_curve(train, subjects, val, ks=[1, 2], draws=6, n_val=7, seed=3)
    both = [r for r in rows if r["train_subjects"] == 2]
    assert len(both) == 2 and {r["draw"] for r in both} == {0}          # all subjects: one draw
    assert next(r for r in both if r["quantity"] == "val_to_train")["median"] == pytest.approx(0.0, abs=1e-3)
    rest_all = next(r for r in both if r["quantity"] == "rest_to_train")["median"]
    assert rest_all == pytest.approx(_exact(torch.zeros(21, 3), _pose(0.2)), rel=1e-4)
    one = [r for r in rows if r["train_subjects"] == 1 and r["quantity"] == "val_to_train"]
    assert len(one) == 6
    far = _exact(_pose(1.0), _pose(0.2))
    for r in one:
        assert r["median"] == pytest.approx(0.0, abs=1e-3) or r["median"] == pytest.approx(far, rel=1e-4)
        assert r["n_train_poses"] == 5 and r["n_val_poses"] == 7
    mean, lo, hi = summarise(rows)[1]
    assert lo <= mean <= hi


def test_training_poses_are_capped():
    train = torch.stack([_pose(0.01 * i) for i in range(50)])
    rows = coverage_curve(train, ["A"] * 50, train[:3], ks=[1], max_train=20, n_val=3)
    assert {r["n_train_poses"] for r in rows} == {20}


def test_field_at_rest_reads_a_field_against_the_exact_distance():
    """A 'field' that is twice the exact distance ranks the poses like it (Spearman 1) and reports 2× at rest."""
    train = torch.stack([_pose(0.3)] * 4)

    class Doubled:
        def distance(self, body21):
            return torch.stack([2 * pose_ndf_distance(aa_to_quat(b[None]), aa_to_quat(_pose(0.3)[None]))[0]
                                for b in body21])

    val = torch.stack([_pose(a) for a in (0.5, 0.9, 1.4, 0.0, 2.0)])
    rows = {r["quantity"]: r for r in field_at_rest(Doubled(), val, train, n_val=5)}
    assert rows["val_f_spearman"]["median"] == pytest.approx(1.0)
    assert rows["rest_f"]["median"] == pytest.approx(2 * rows["rest_exact"]["median"], rel=1e-4)
    assert rows["rest_exact"]["median"] == pytest.approx(_exact(torch.zeros(21, 3), _pose(0.3)), rel=1e-4)


def test_power_law_recovers_its_parameters():
    ks = np.array([1, 2, 3, 5, 8, 13])
    a, b = power_law(ks, 0.9 * ks ** -0.25)
    assert a == pytest.approx(0.9) and b == pytest.approx(0.25)
    with pytest.raises(InputError):
        power_law([3, 3], [0.5, 0.4])


def test_bad_shapes_are_refused():
    with pytest.raises(InputError, match="train must be"):
        coverage_curve(torch.zeros(4, 24, 3), ["A"] * 4, torch.zeros(2, 21, 3), ks=[1])
    with pytest.raises(InputError, match="val must be"):
        coverage_curve(torch.zeros(4, 21, 3), ["A"] * 4, torch.zeros(0, 21, 3), ks=[1])
    with pytest.raises(InputError, match="ks must be"):
        coverage_curve(torch.zeros(4, 21, 3), ["A"] * 4, torch.zeros(2, 21, 3), ks=[0])
