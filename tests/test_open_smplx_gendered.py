"""The shipped male and female open SMPL-X-layout models (posekit/body/models/open_smplx_{male,female}.npz):
plain smplx loads them, they share everything but the template and the shape space with the neutral model,
men come out taller and broader than women, the neutral shape space spans both sexes better than either
gendered one, and (with anny installed) the builder reproduces them.

Files are read with numpy and smplx only, except where posekit's loader is the subject.
"""
from __future__ import annotations

import contextlib
import importlib.util
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch

smplx = pytest.importorskip("smplx")
from smplx.vertex_joint_selector import VertexJointSelector  # noqa: E402

MODELS = Path(__file__).resolve().parent.parent / "posekit" / "body" / "models"
GENDERS = ("neutral", "male", "female")
HAS_ANNY = importlib.util.find_spec("anny") is not None
needs_anny = pytest.mark.skipif(not HAS_ANNY, reason="anny not installed (pip install 'posekit[anny]')")
#: SMPL-X joint indices, written out here on purpose (not imported from posekit)
PELVIS, LEFT_SHOULDER, RIGHT_SHOULDER, LEFT_HIP, RIGHT_HIP = 0, 16, 17, 1, 2
#: what a gendered model changes: the template and the 10 shape directions (shapedirs[..., :10])
SHARED = ("posedirs", "J_regressor", "weights", "kintree_table", "f", "hands_componentsl", "hands_componentsr",
          "hands_meanl", "hands_meanr", "lmk_faces_idx", "lmk_bary_coords", "dynamic_lmk_faces_idx",
          "dynamic_lmk_bary_coords")


def model_file(gender: str) -> Path:
    return MODELS / f"open_smplx_{gender}.npz"


@pytest.fixture(scope="module")
def arrays() -> dict[str, dict[str, np.ndarray]]:
    out = {}
    for g in GENDERS:
        with np.load(model_file(g)) as data:
            out[g] = {k: data[k] for k in data.files}
    return out


def _shape_dirs(a: dict) -> np.ndarray:
    """(3V, 10) the shape directions, flattened."""
    return a["shapedirs"][..., :10].astype(np.float64).reshape(-1, 10)


def _residual_mm(a: dict, vertices: np.ndarray) -> np.ndarray:
    """(N,) RMS vertex distance (mm) of bodies (N, V, 3) from their least-squares projection on a model's space."""
    D = _shape_dirs(a)
    R = (vertices - a["v_template"].astype(np.float64)).reshape(len(vertices), -1).T   # (3V, N)
    coef = np.linalg.lstsq(D, R, rcond=None)[0]
    err = (D @ coef - R).T.reshape(len(vertices), -1, 3)
    return 1000 * np.sqrt((err ** 2).sum(-1).mean(-1))


def _height_and_widths(a: dict) -> tuple[float, float, float]:
    """Template height (m, head top to sole), shoulder width and hip width (m, joint to joint)."""
    v = a["v_template"].astype(np.float64)
    J = a["J_regressor"].astype(np.float64) @ v
    return (float(np.ptp(v[:, 1])), float(np.linalg.norm(J[LEFT_SHOULDER] - J[RIGHT_SHOULDER])),
            float(np.linalg.norm(J[LEFT_HIP] - J[RIGHT_HIP])))


@pytest.mark.parametrize("gender", ("male", "female"))
def test_plain_smplx_loads_the_gendered_file(arrays, gender):
    path = model_file(gender)
    assert path.stat().st_size <= 600_000
    ids = json.loads(path.with_name(path.stem + "_vertex_ids.json").read_text())
    with contextlib.redirect_stdout(io.StringIO()):
        m = smplx.SMPLX(model_path=str(path), ext="npz", gender=gender, dtype=torch.float64, use_face_contour=True,
                        use_pca=False, flat_hand_mean=True)                  # zero pose = the rest hands
    m.vertex_joint_selector = VertexJointSelector(vertex_ids=ids)
    betas = torch.tensor([[1.0, -0.5, 0.3, 0, 0, 0, 0, 0, 0, 0]], dtype=torch.float64)
    out = m(betas=betas, return_verts=True)
    a = arrays[gender]
    want = a["v_template"].astype(np.float64) + a["shapedirs"][..., :10].astype(np.float64) @ betas[0].numpy()
    np.testing.assert_allclose(out.vertices[0].detach().numpy(), want, atol=1e-6)
    assert out.joints.shape == (1, 55 + 21 + 51 + 17, 3)


def test_same_model_but_template_and_shape_space(arrays):
    n = arrays["neutral"]
    for g in ("male", "female"):
        a = arrays[g]
        assert set(a) == set(n)
        for k in SHARED:
            assert a[k].dtype == n[k].dtype and np.array_equal(a[k], n[k]), (g, k)
        np.testing.assert_array_equal(a["shapedirs"][..., 10:], n["shapedirs"][..., 10:])  # the expressions
        assert np.abs(a["v_template"] - n["v_template"]).max() > 0.01                     # a different body
        assert json.loads(model_file(g).with_name(f"open_smplx_{g}_vertex_ids.json").read_text()) == \
            json.loads(model_file("neutral").with_name("open_smplx_neutral_vertex_ids.json").read_text())


def test_shape_directions_are_principal_axes(arrays):
    """Each gendered shape space is a PCA: orthogonal directions, by decreasing length."""
    for g in ("male", "female"):
        D = _shape_dirs(arrays[g])
        G = D.T @ D
        off = G - np.diag(np.diag(G))
        assert np.abs(off).max() < 1e-4 * np.diag(G).max()
        assert np.all(np.diff(np.diag(G)) <= 1e-9)


def test_men_taller_and_broader_than_women(arrays):
    """anny's phenotypes: the male template is taller, with broader shoulders, than the female one, and the
    neutral one lies between them in height."""
    hm, sm, _ = _height_and_widths(arrays["male"])
    hf, sf, _ = _height_and_widths(arrays["female"])
    hn, _, _ = _height_and_widths(arrays["neutral"])
    assert hm > hf + 0.05, (hm, hf)
    assert sm > sf + 0.02, (sm, sf)
    assert hf < hn < hm


def test_pelvis_at_origin(arrays):
    for g in ("male", "female"):
        a = arrays[g]
        J = a["J_regressor"].astype(np.float64) @ a["v_template"].astype(np.float64)
        assert np.abs(J[PELVIS]).max() < 0.005, g


def test_neutral_space_spans_both_sexes_better(arrays):
    """Bodies of both sexes (drawn in each gendered model's space, 200 each): the neutral space's projection
    error is lower than either gendered space's on the union (each gendered space misses the other sex)."""
    rng = np.random.default_rng(0)
    bodies = []
    for g in ("male", "female"):
        a = arrays[g]
        b = rng.standard_normal((200, 10))
        bodies.append(a["v_template"][None].astype(np.float64) + np.einsum("vck,nk->nvc", a["shapedirs"][..., :10], b))
    both = np.concatenate(bodies)
    err = {m: _residual_mm(arrays[m], both).mean() for m in GENDERS}
    assert err["neutral"] < 0.5 * err["male"] and err["neutral"] < 0.5 * err["female"], err


# ---------------------------------------------------------------------------------------------
# loader
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("gender", ("male", "female", "neutral"))
def test_loader_gives_the_gendered_file(arrays, gender):
    from posekit.body import forward, load_body_model

    m = load_body_model("open", model_type="smplx", gender=gender, device="cpu", use_pca=False, flat_hand_mean=True)
    assert isinstance(m, smplx.SMPLX) and Path(m.model_file).name == f"open_smplx_{gender}.npz"
    out = forward(m)
    np.testing.assert_allclose(out.vertices[0].detach().numpy(), arrays[gender]["v_template"], atol=1e-5)
    assert out.joints.shape[1] == 55 + 21 + 51


def test_loader_rejects_unknown_gender():
    from posekit.body import load_body_model
    from posekit.errors import InputError

    with pytest.raises(InputError, match="'neutral', 'male' or 'female'.*'woman'"):
        load_body_model("open", model_type="smplx", gender="woman")
    with pytest.raises(ValueError, match="gender-neutral"):       # the open SMPL-layout model has no sexes
        load_body_model("open", gender="female")


# ---------------------------------------------------------------------------------------------
# against anny (skipped without it)
# ---------------------------------------------------------------------------------------------

@needs_anny
def test_neutral_space_spans_anny_bodies_of_both_sexes(arrays):
    """Unseen anny bodies of each sex (phenotypes with gender fixed, another seed): the neutral space fits
    both; each gendered space fits its own sex better than the other."""
    from scipy.spatial import cKDTree

    from posekit.body import build_open_model as bom
    from posekit.body import build_open_smplx as bx

    model = bx.load_anny()
    train = bx.tpose_bodies(model, bom.sample_phenotypes(400, seed=0)[:300])           # the build's shapes
    _, keep = cKDTree(train["vertices"].mean(0)).query(arrays["neutral"]["v_template"].astype(np.float64))
    err = {}
    for sex, g in (("male", 0.0), ("female", 1.0)):
        v = bx.tpose_bodies(model, bom.sample_phenotypes(12, seed=97531, gender=g))["vertices"][:, keep]
        err[sex] = {m: float(_residual_mm(arrays[m], v).mean()) for m in GENDERS}
    print(f"\nprojection error (mm) of unseen anny bodies, by sex then model: {err}")
    assert err["male"]["male"] < err["male"]["female"] and err["female"]["female"] < err["female"]["male"]
    union = {m: err["male"][m] + err["female"][m] for m in GENDERS}
    assert union["neutral"] < union["male"] and union["neutral"] < union["female"], union


@needs_anny
def test_rebuild_matches_shipped_male(arrays, tmp_path):
    """Rebuilding gives the shipped file. A PCA direction's sign is a convention (its largest entry positive),
    and on a left-right symmetric body two entries can tie, so rounding may flip it: each shape or expression
    direction is compared up to its sign (the same space, the same betas up to that sign), all else exactly."""
    from posekit.body import build_open_smplx as bx

    out = tmp_path / "open_smplx_male.npz"
    bx.build_open_smplx(out=out, seed=0, gender="male")
    with np.load(out) as rebuilt:
        assert set(rebuilt.files) == set(arrays["male"])
        for k in arrays["male"]:
            got, want = rebuilt[k], arrays["male"][k]
            if k == "shapedirs":                                         # (V, 3, K): one sign per direction
                signs = np.sign(np.einsum("vck,vck->k", got, want))
                assert np.all(signs != 0), signs
                got = got * signs
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-5, err_msg=k)


def test_builder_rejects_unknown_gender():
    from posekit.body import build_open_smplx as bx

    with pytest.raises(ValueError, match="gender must be one of neutral, male, female"):
        bx.build_open_smplx(gender="other")
    with pytest.raises(ValueError, match="gender must be one of"):
        bx.shipped_path("other")
