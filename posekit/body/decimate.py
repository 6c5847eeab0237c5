"""Mirror-symmetric mesh decimation that keeps a subset of the vertices (used to build the open SMPL-X model).

:func:`symmetric_decimate` simplifies a closed triangle mesh that is symmetric about the plane
x = 0 by quadric-error half-edge collapses (Garland & Heckbert 1997, "Surface simplification
using quadric error metrics", https://www.cs.cmu.edu/~garland/Papers/quadrics.pdf): a collapse
u -> v deletes vertex u and reconnects its triangles to v, which keeps its position. The surviving
vertices are therefore original vertices, so every per-vertex quantity of the source model
(skinning weights, blend shapes) carries over by indexing, with no interpolation.

Symmetry: only the half x >= 0 is decimated (its midline vertices may only slide along the
midline), then mirrored. Each vertex belongs to a region with its own vertex budget, so the
hands and the face can stay dense while the rest of the body is thinned out.
"""
from __future__ import annotations

import heapq

import numpy as np

__all__ = ["mirror_map", "symmetric_decimate"]


def mirror_map(vertices: np.ndarray, tol: float = 1e-6) -> np.ndarray:
    """(V,) index of each vertex's mirror image through x = 0; raises if the mesh is not symmetric."""
    from scipy.spatial import cKDTree

    d, nn = cKDTree(vertices).query(vertices * np.array([-1.0, 1.0, 1.0]))
    if d.max() > tol:
        raise ValueError(f"the mesh is not mirror-symmetric about x = 0 (largest mismatch {d.max():.2e})")
    return nn


def _plane_quadrics(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(V, 4, 4) sum over incident triangles of area * p p^T, p = (n, -n.x0) the triangle's plane."""
    a, b, c = (vertices[faces[:, k]] for k in range(3))
    n = np.cross(b - a, c - a)
    area = np.linalg.norm(n, axis=1) / 2
    n = n / np.maximum(2 * area, 1e-20)[:, None]
    p = np.concatenate([n, -(n * a).sum(1, keepdims=True)], 1)
    K = area[:, None, None] * p[:, :, None] * p[:, None, :]
    Q = np.zeros((len(vertices), 4, 4))
    for k in range(3):
        np.add.at(Q, faces[:, k], K)
    return Q


def symmetric_decimate(vertices: np.ndarray, faces: np.ndarray, region: np.ndarray, budget: dict[int, int],
                       weight: dict[int, float] | None = None, length_weight: float = 0.05,
                       max_normal_turn: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Decimate a closed, x-symmetric triangle mesh to about ``budget`` vertices per region.

    Args:
        vertices: (V, 3); faces: (F, 3) int, none crossing the plane x = 0.
        region: (V,) int region of every vertex (symmetric: a vertex and its mirror share it).
        budget: region -> how many vertices of that region to keep in the half x >= 0 (midline
            included); a region missing from it is not decimated.
        weight: region -> multiplier of the collapse cost (default 1).
        length_weight: adds ``length_weight * |u - v|^2 * (area around u)`` to the quadric cost, so
            that flat regions are not collapsed into long slivers.
        max_normal_turn: a collapse is refused if a triangle's normal turns by more than this
            (cosine below ``1 - max_normal_turn``) or if it becomes degenerate.

    Returns:
        keep (K,) the sorted indices of the surviving vertices, faces (F', 3) indexing ``keep``.
    """
    V = len(vertices)
    mir = mirror_map(vertices)
    if np.any(region[mir] != region):
        raise ValueError("region labels must be mirror-symmetric")
    weight = weight or {}
    x = vertices[:, 0]
    mid = np.abs(x) < 1e-9
    fx = x[faces]
    if ((fx > 1e-9).any(1) & (fx < -1e-9).any(1)).any():
        raise ValueError("faces must not cross the plane x = 0")
    half = faces[(fx >= -1e-9).all(1)]
    alive_v = np.zeros(V, bool)
    alive_v[np.unique(half)] = True
    Q = _plane_quadrics(vertices, half)
    w_v = np.array([weight.get(int(r), 1.0) for r in region])
    Q *= w_v[:, None, None]
    area_v = np.zeros(V)
    a, b, c = (vertices[half[:, k]] for k in range(3))
    fa = np.linalg.norm(np.cross(b - a, c - a), axis=1) / 2
    for k in range(3):
        np.add.at(area_v, half[:, k], fa / 3)

    F = [list(map(int, t)) for t in half]
    f_alive = [True] * len(F)
    vf: list[set[int]] = [set() for _ in range(V)]
    for i, t in enumerate(F):
        for u in t:
            vf[u].add(i)

    def nbrs(u):
        return {w for i in vf[u] for w in F[i] if w != u}

    def boundary_edge(u, v):  # a midline edge of the half mesh has a single triangle
        return sum(1 for i in vf[u] if v in F[i]) == 1

    count = {r: int(np.sum(alive_v & (region == r))) for r in np.unique(region).tolist()}
    version = np.zeros(V, np.int64)
    heap: list[tuple[float, int, int, int, int]] = []
    ph = np.concatenate([vertices, np.ones((V, 1))], 1)

    def cost(u, v):
        q = ph[v] @ (Q[u] + Q[v]) @ ph[v]
        return float(q + length_weight * w_v[u] * area_v[u] * np.sum((vertices[u] - vertices[v]) ** 2))

    def push_edge(u, v):
        if int(region[u]) not in budget or (mid[u] and not (mid[v] and boundary_edge(u, v))):
            return  # not decimated; midline vertices only slide along the midline
        heapq.heappush(heap, (cost(u, v), u, v, int(version[u]), int(version[v])))

    def push(u):
        for v in nbrs(u):
            push_edge(u, v)

    def valid(u, v):
        Nu, Nv = nbrs(u), nbrs(v)
        shared = [i for i in vf[u] if v in F[i]]
        opposite = {w for i in shared for w in F[i] if w not in (u, v)}
        if (Nu & Nv) != opposite or len(Nu) < 3:
            return False
        for i in vf[u]:
            if v in F[i]:
                continue
            t = F[i]
            p0 = vertices[t]
            n0 = np.cross(p0[1] - p0[0], p0[2] - p0[0])
            p1 = p0.copy()
            p1[t.index(u)] = vertices[v]
            n1 = np.cross(p1[1] - p1[0], p1[2] - p1[0])
            l0, l1 = np.linalg.norm(n0), np.linalg.norm(n1)
            if l1 < 1e-12 or l1 < 1e-3 * l0 or n0 @ n1 < (1 - max_normal_turn) * l0 * l1:
                return False
        return True

    for u in range(V):
        if alive_v[u]:
            push(u)
    while heap:
        _, u, v, vu, vv = heapq.heappop(heap)
        if not (alive_v[u] and alive_v[v]) or version[u] != vu or version[v] != vv:
            continue
        r = int(region[u])
        if count[r] <= budget[r] or not valid(u, v):
            continue
        ring = nbrs(u)
        for i in list(vf[u]):
            t = F[i]
            if v in t:
                f_alive[i] = False
                for w in t:
                    if w != u:
                        vf[w].discard(i)
            else:
                t[t.index(u)] = v
                vf[v].add(i)
        vf[u] = set()
        alive_v[u] = False
        count[r] -= 1
        Q[v] += Q[u]
        area_v[v] += area_v[u]
        for w in ring | {v}:
            version[w] += 1
        for w in ring | {v}:
            push(w)
            for z in nbrs(w):
                if z not in ring and z != v:
                    push_edge(z, w)  # w's quadric or version changed: its incoming edges too
    half_faces = np.array([t for t, a in zip(F, f_alive) if a], dtype=np.int64)
    # mirror: the other half's triangles are the mirror images, with reversed orientation
    other = mir[half_faces][:, ::-1]
    both = np.concatenate([half_faces, other])
    keep_mask = np.zeros(V, bool)
    keep_mask[both.ravel()] = True
    keep = np.flatnonzero(keep_mask)
    remap = -np.ones(V, np.int64)
    remap[keep] = np.arange(len(keep))
    return keep, remap[both]
