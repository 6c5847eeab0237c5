"""posekit.body.decimate: mirror-symmetric half-edge collapses on a sphere (closed, x-symmetric)."""
from __future__ import annotations

import numpy as np
import pytest

trimesh = pytest.importorskip("trimesh")
from posekit.body.decimate import mirror_map, symmetric_decimate  # noqa: E402


@pytest.fixture(scope="module")
def sphere():
    m = trimesh.creation.uv_sphere(radius=1.0, count=[24, 24])
    return np.where(np.abs(m.vertices) < 1e-12, 0.0, m.vertices), np.asarray(m.faces)


def test_keeps_a_symmetric_closed_vertex_subset(sphere):
    v, f = sphere
    # two regions: the cap y > 0.5 keeps many vertices, the rest few
    region = (v[:, 1] > 0.5).astype(int)
    half0 = v[:, 0] >= -1e-12
    budget = {0: 60, 1: int((half0 & (region == 1)).sum()) // 2}
    keep, faces = symmetric_decimate(v, f, region, budget)
    assert np.all(np.diff(keep) > 0) and faces.max() == len(keep) - 1
    kv = v[keep]
    mesh = trimesh.Trimesh(kv, faces, process=False)
    assert mesh.is_watertight and mesh.is_winding_consistent and mesh.volume > 0
    assert 0.8 * (4 / 3 * np.pi) < mesh.volume < 4 / 3 * np.pi  # still a sphere, inscribed
    np.testing.assert_allclose(np.linalg.norm(kv, axis=1), 1.0, atol=1e-9)  # original vertices, not moved
    mirror_map(kv)  # the kept set is mirror-symmetric (raises otherwise)
    # budgets: the half x >= 0 holds about the requested count per region
    half = kv[:, 0] >= -1e-12
    kr = region[keep]
    for r in (0, 1):
        assert abs((half & (kr == r)).sum() - budget[r]) <= 3, r
    # the denser region is denser per unit area: shorter edges
    e = mesh.edges_unique
    length = mesh.edges_unique_length
    cap = (kr[e] == 1).all(1)
    rest = (kr[e] == 0).all(1)
    assert length[cap].mean() < 0.7 * length[rest].mean()


def test_deterministic_and_refuses_asymmetric_input(sphere):
    v, f = sphere
    region = np.zeros(len(v), int)
    a = symmetric_decimate(v, f, region, {0: 100})
    b = symmetric_decimate(v, f, region, {0: 100})
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    skew = v.copy()
    skew[np.argmax(skew[:, 0])] += 0.01
    with pytest.raises(ValueError, match="mirror-symmetric"):
        symmetric_decimate(skew, f, region, {0: 100})
    with pytest.raises(ValueError, match="mirror-symmetric"):
        symmetric_decimate(v, f, (v[:, 0] > 0.3).astype(int), {0: 100, 1: 10})
