"""The exercise checks: every worked solution passes, and typical wrong answers fail with their hint."""
import importlib.util
import math
from pathlib import Path

import pytest
import torch

import posekit.exercises as ex
from posekit.exercises import CHECKS

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("solutions", ROOT / "notebooks" / "solutions" / "solutions.py")
S = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(S)


def _stub(*args):
    raise NotImplementedError


# check name -> [(wrong answer, words its hint must contain)]
WRONG = {
    "check_paired_ci": [
        (lambda a, b: S.my_paired_ci(a, b[torch.randperm(len(b), generator=torch.Generator().manual_seed(1))]),
         "as wide as an unpaired one"),
        (lambda a, b: torch.stack([(a - b).mean(), (a - b).quantile(0.025), (a - b).quantile(0.975)]), "far too wide"),
        (lambda a, b: (lambda r: torch.stack([r[0], r[0] + 0.3 * (r[1] - r[0]), r[0] + 0.3 * (r[2] - r[0])]))(
            S.my_paired_ci(a, b)), "too narrow"),
        (lambda a, b: S.my_paired_ci(b, a), "mean of the differences a − b"),
    ],
    "check_aa_to_matrix": [
        (lambda aa: S.my_aa_to_matrix(aa).transpose(1, 2), "you built Rᵀ"),
        (lambda aa: S.my_aa_to_matrix(aa) * torch.tensor([1.0, 1.0, -1.0], dtype=aa.dtype), "reflection"),
        (lambda aa: S.my_aa_to_matrix(aa / 2), "not the rotation by |aa|"),
    ],
    "check_geodesic_angle": [
        (lambda a, b: S.my_geodesic_angle(a, b) / 2, "half the geodesic angle"),
        (lambda a, b: torch.diagonal(a.transpose(1, 2) @ b, dim1=1, dim2=2).sum(-1), "must be 0"),
    ],
    "check_lbs_vertex": [
        (lambda v, w, A: (w[:, None, None] * A).sum(0)[:3, :3] @ v, "translation part"),
        (lambda v, w, A: (w[:, None, None] * A).sum(0)[:3, :3].T @ v + (w[:, None, None] * A).sum(0)[:3, 3],
         "transposed rotation"),
        (lambda v, w, A: A[w.argmax(), :3, :3] @ v + A[w.argmax(), :3, 3], "the blend is not"),
    ],
    "check_joint_regressor": [
        (lambda J, V: torch.einsum("jv,bvc->bcj", J, V), "transposed"),
        (lambda J, V: torch.einsum("jv,bvc->bjc", J, V).mean(0, keepdim=True).expand(V.shape[0], -1, -1),
         "mixed the batch"),
        (lambda J, V: torch.einsum("jv,bvc->bjc", torch.softmax(J, 0), V), "𝒥-weighted sum"),
    ],
    "check_geman_mcclure": [
        (lambda r, s: S.geman_mcclure(r, s).sum(), "one cost per point"),
        (lambda r, s: S.geman_mcclure(r, s) / s ** 2, "saturates at 1"),
        (lambda r, s: s ** 2 * r.norm(dim=-1) / (s ** 2 + r.norm(dim=-1)), "squared norm"),
        (lambda r, s: S.geman_mcclure(r, 100.0), "ignores the σ"),
    ],
    "check_max_mixture_energy": [
        (lambda t, m, c, w: S.max_mixture_energy(t, m, c, w) + 3.0, "up to a constant"),
        (lambda t, m, c, w: S.max_mixture_energy(t, m, c, torch.ones_like(w)), "mixture weights"),
        (lambda t, m, c, w: S.max_mixture_energy(t, m, c, w * torch.exp(0.5 * torch.logdet(c))), "log det"),
        (lambda t, m, c, w: -torch.logsumexp(-torch.stack(
            [S.max_mixture_energy(t, m[k:k + 1], c[k:k + 1], w[k:k + 1])
             + 0.5 * torch.logdet(c[k]) - torch.log(w[k] / w.sum()) for k in range(len(w))], -1), -1),
         "exact −log Σ"),
    ],
    "check_neck_and_head_top": [
        (lambda s, e, a, b: S.neck_and_head_top(s, e, a, b) * torch.tensor([[1.0], [0.0]], dtype=s.dtype)
         + torch.stack([torch.zeros_like(s.mean(1)), s.mean(1) + b * (e.mean(1) - s.mean(1))], 1),
         "starts from the ears' midpoint"),
        (lambda s, e, a, b: torch.stack([s.mean(1), S.neck_and_head_top(s, e, a, b)[:, 1]], 1),
         "not the shoulder midpoint itself"),
        (lambda s, e, a, b: S.neck_and_head_top(s, e, a, -b), "the neck is right"),
        (lambda s, e, a, b: S.neck_and_head_top(s, e, 0.3, 0.7), "ignores its neck_up"),
    ],
    "check_focal_from_35mm": [
        (lambda f, w, h: f * w / 36.0, "defined on the diagonal"),
        (lambda f, w, h: f * torch.maximum(w, h) / 36.0, "long side"),
        (lambda f, w, h: S.focal_from_35mm(f, w, h) * 1.5, "36 × 24 mm"),
        (lambda f, w, h: S.focal_from_35mm(f, w, h) + 1.0, "f_px = f35"),
    ],
    "check_kl_divergence": [
        (lambda m, s: 0.5 * (s + m ** 2 - 1 - torch.log(s)).sum(-1), "variance"),
        (lambda m, s: S.kl_divergence(m, s) / m.shape[-1], "do not average"),
        (lambda m, s: 2 * S.kl_divergence(m, s), "twice"),
        (lambda m, s: S.kl_divergence(m, s).mean(), "one KL per sample"),
    ],
    "check_gram_schmidt_6d": [
        (lambda x: S.gram_schmidt_6d(x).transpose(-1, -2), "columns of R"),
        (lambda x: S.gram_schmidt_6d(x) * torch.tensor([1.0, 1.0, -1.0], dtype=x.dtype), "b1 × b2"),
        (lambda x: S.gram_schmidt_6d(x.reshape(-1, 2, 3).transpose(1, 2).reshape(-1, 6)), "3x2 matrix"),
    ],
    "check_hand_pca_pose": [
        (lambda m, P, mu: (m @ P).reshape(-1, 15, 3), "add the mean hand pose"),
        (lambda m, P, mu: (m @ P + mu).reshape(-1, 3, 15).transpose(1, 2), "15 joints × 3"),
    ],
    "check_keypoint_energy": [
        (lambda p, k, w, g, s: S.keypoint_energy(p, k, w, torch.ones_like(g), s), "part weight"),
        (lambda p, k, w, g, s: (g * w * ((p - k) ** 2).sum(-1)).sum(-1), "robustify"),
        (lambda p, k, w, g, s: S.keypoint_energy(p, k, w, g, s).sum(), "one energy per view"),
    ],
    "check_pose_ndf_distance": [
        (lambda a, b, w: torch.sqrt((w * 0.5 * torch.arccos((a * b).sum(-1).clamp(-1, 1)) ** 2).sum(-1)),
         "not symmetric in q and −q"),
        (lambda a, b, w: S.my_pose_ndf_distance(a, b, torch.ones_like(w)), "ignores the joint weights"),
        (lambda a, b, w: S.my_pose_ndf_distance(a, b, w) ** 2, "squared distance"),
    ],
    "check_projection_step": [
        (lambda q, f, g, a: S.projection_step(torch.nn.functional.normalize(q - a * f[:, None, None] * g, dim=-1),
                                              torch.zeros_like(f), g, a), "Euclidean step"),
        (lambda q, f, g, a: S.projection_step(q, -f, g, a), "uphill"),
        (lambda q, f, g, a: q - a * f[:, None, None] * g, "unit sphere"),
    ],
    "check_mpjpe": [
        (lambda X, Y: ((X - Y) ** 2).sum(-1).mean(-1), "squared"),
        (lambda X, Y: ((X - Y) ** 2).sum(-1).mean(-1).sqrt(), "root-mean-square"),
        (lambda X, Y: S.mpjpe(X, Y).mean(), "not the mean over the batch"),
    ],
    "check_procrustes_align": [
        (lambda X, Y: X - X.mean(1, keepdim=True) + Y.mean(1, keepdim=True), "scale s is wrong"),
        (lambda X, Y: X, "centroid"),
        (lambda X, Y: _reflecting_procrustes(X, Y), "reflection"),
    ],
    "check_diagonal_gaussian_kl": [
        (lambda mq, lq, mp, lp: S.my_diagonal_gaussian_kl(mp, lp, mq, lq), "not symmetric"),
        (lambda mq, lq, mp, lp: S.my_diagonal_gaussian_kl(mq, lq, mp, lp) / mq.shape[-1], "do not average"),
        (lambda mq, lq, mp, lp: S.my_diagonal_gaussian_kl(mq, lq, mp, lp).mean(), "not the batch mean"),
        (lambda mq, lq, mp, lp: S.my_diagonal_gaussian_kl(mq, 2 * lq, mp, 2 * lp), "variance terms"),
        (lambda mq, lq, mp, lp: 0.5 * ((lq.exp() + (mq - mp) ** 2) - 1 - lq).sum(-1), "itself must be 0"),
    ],
    "check_contact_labels": [
        (lambda J, fps, h, s: (J[..., 1] < h).to(J.dtype), "also be slow"),
        (lambda J, fps, h, s: torch.cat([(J[:1, :, 1] < h).to(J.dtype), S.my_contact_labels(J, fps, h, s)[1:]]),
         "frame 0 takes frame 1's"),
        (lambda J, fps, h, s: S.my_contact_labels(J, fps, h, s) * 0, "resting on the floor"),
        (lambda J, fps, h, s: S.my_contact_labels(J[:, :, [0, 2, 1]], fps, h, s), "height above the floor"),
    ],
    "check_chordal_distance": [
        (lambda a, b: torch.cdist(a.reshape(len(a), -1), b.reshape(len(b), -1)).pow(2), "axis-angle vectors"),
        (lambda a, b: S.my_chordal_distance(a, b).sqrt(), "squared Frobenius norm"),
        (lambda a, b: S.my_chordal_distance(a, b)[:, :1].expand(-1, len(b)), "for every pair"),
    ],
    "check_kde_energy": [
        (lambda x, bank, h: S.my_kde_energy(x, bank, h) - math.log(len(bank)), "average the kernels"),
        (lambda x, bank, h: -torch.log(torch.exp(-S.my_chordal_distance(x, bank) / (2 * h * h)).mean(1)),
         "torch.logsumexp"),
        (lambda x, bank, h: S.my_kde_energy(x, bank, h).mean(), "not the batch mean"),
        (lambda x, bank, h: S.my_kde_energy(x, bank, 2 * h), "chordal distance of exercise 1"),
    ],
    "check_regressor_inputs": [
        (lambda kp, c, b: torch.cat([S.my_regressor_inputs(kp, c, b)[:, :28], 2 * c], 1), "confidences, unchanged"),
        (lambda kp, c, b: torch.cat([S.my_regressor_inputs(kp, torch.ones_like(c), b)[:, :28], c], 1),
         "confidence 0 must become"),
        (lambda kp, c, b: S.my_regressor_inputs(kp + 0.5 * (b[:, None, 2:] - b[:, None, :2]), c, b), "box's centre"),
        (lambda kp, c, b: S.my_regressor_inputs(kp, c, b) * torch.cat([torch.full((28,), 0.8), torch.ones(14)]).to(kp.dtype),
         "longer side"),
    ],
    "check_weak_perspective_camera": [
        (lambda T, r, f, sz, b: S.my_weak_perspective_camera(T, r * torch.tensor([1.0, 1.0, 0.0], dtype=r.dtype), f, sz, b),
         "pelvis's depth"),
        (lambda T, r, f, sz, b: S.my_weak_perspective_camera(T, r, f, sz, b) * torch.tensor([0.5, 1.0, 1.0], dtype=T.dtype),
         "s = f / (b D)"),
        (lambda T, r, f, sz, b: torch.cat([S.my_weak_perspective_camera(T, r, f, sz, b)[:, :1], T[:, :2]], 1),
         "principal point"),
    ],
}


def _reflecting_procrustes(X, Y):
    """Umeyama without the det R = +1 correction."""
    mx, my = X.mean(1, keepdim=True), Y.mean(1, keepdim=True)
    x, y = X - mx, Y - my
    U, S_, Vh = torch.linalg.svd(x.transpose(1, 2) @ y)
    R = Vh.transpose(1, 2) @ U.transpose(1, 2)
    return (S_.sum(-1) / (x ** 2).sum((1, 2)))[:, None, None] * x @ R.transpose(1, 2) + my


def _all_checks():
    return {name: fn for chapter in CHECKS.values() for name, fn in chapter.items()}


def test_every_check_has_a_solution_and_wrong_answers():
    names = set(_all_checks())
    assert {"00", "01", "02", "03", "04", "05"} <= set(CHECKS)
    assert all(2 <= len(CHECKS[c]) <= 4 for c in ("00", "01", "02", "03", "04", "05"))
    assert names <= set(S.SOLUTIONS), f"checks without a solution: {sorted(names - set(S.SOLUTIONS))}"
    assert names <= set(WRONG), f"checks without a wrong answer in this test: {sorted(names - set(WRONG))}"


@pytest.mark.parametrize("name", sorted(S.SOLUTIONS))
def test_solution_passes(name, capsys):
    result = getattr(ex, name)(S.SOLUTIONS[name])
    assert isinstance(result, ex.CheckResult) and result.passed is True and bool(result)
    out = capsys.readouterr().out
    assert out.startswith(f"✓ {name}") and out.strip() == result.message


@pytest.mark.parametrize("name,index", [(n, i) for n in sorted(WRONG) for i in range(len(WRONG[n]))])
def test_wrong_answer_fails_with_its_hint(name, index, capsys):
    wrong, hint = WRONG[name][index]
    result = getattr(ex, name)(wrong)
    assert result.passed is False and not result
    out = capsys.readouterr().out
    assert out.startswith(f"✗ {name}:") and hint in out, out
    assert out.strip() == result.message


@pytest.mark.parametrize("name", sorted(S.SOLUTIONS))
def test_stub_does_not_raise(name, capsys):
    """An unfilled exercise cell prints a hint instead of raising (so the notebook still runs)."""
    assert getattr(ex, name)(_stub).passed is False
    assert "not implemented yet" in capsys.readouterr().out


def test_detached_answer_is_caught(capsys):
    assert ex.check_kl_divergence(lambda m, s: S.kl_divergence(m, s.detach())).passed is False
    assert "no gradient" in capsys.readouterr().out


def test_not_a_function_is_reported(capsys):
    assert ex.check_mpjpe(S.mpjpe(torch.zeros(1, 2, 3), torch.zeros(1, 2, 3))).passed is False
    assert "pass your function itself" in capsys.readouterr().out


def test_a_check_cell_shows_only_the_printed_line():
    """In IPython/Jupyter the returned result displays nothing: no stray True/False under the check cell."""
    IPython = pytest.importorskip("IPython")
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    shell = InteractiveShell.instance()
    shell.user_ns.update(check_mpjpe=ex.check_mpjpe, good=S.mpjpe, stub=_stub)
    for line, printed in (("check_mpjpe(stub)", "✗ check_mpjpe: not implemented yet"),
                          ("check_mpjpe(good)", "✓ check_mpjpe: passed")):
        with capture_output() as cap:
            shell.run_cell(line, store_history=False)
        assert cap.stdout.startswith(printed), cap.stdout
        assert not cap.outputs and "True" not in cap.stdout and "False" not in cap.stdout, (cap.stdout, cap.outputs)
    assert repr(ex.check_mpjpe(_stub)) == "CheckResult(passed=False)"


def test_checks_leave_the_global_rng_alone():
    torch.manual_seed(123)
    a = torch.rand(1)
    torch.manual_seed(123)
    ex.check_mpjpe(S.mpjpe)
    assert torch.equal(torch.rand(1), a)
    assert math.isfinite(float(a))


def test_every_exercise_has_a_prompt_a_stub_and_a_solution_of_the_same_name():
    from posekit.exercises import EXERCISES
    for chapter, items in EXERCISES.items():
        assert {e["check"] for e in items} == set(CHECKS[chapter]), chapter
        for e in items:
            ns = {}
            exec(e["stub"], ns)
            assert callable(ns[e["function"]]) and S.SOLUTIONS[e["check"]].__name__ == e["function"]
