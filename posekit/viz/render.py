"""A z-buffer triangle rasteriser in NumPy: a camera-frame mesh drawn shaded, at pixel accuracy, over a photo.

Camera (OpenCV, as ``posekit.fitting.camera``): x right, y down, z forward, the camera at the origin;
pinhole intrinsics f (px) and principal point c = (cx, cy); a point projects to u = f x / z + cx,
v = f y / z + cy. Pixel (row i, column j) covers [j, j+1) × [i, i+1); it is sampled at its centre
(j + ½, i + ½), so c = (W/2, H/2) is the middle of the image.

Per pixel, the nearest covering triangle wins (a true z-buffer, not a painter's sort): depth is
interpolated as 1/z, linear in screen space, and the barycentric weights are made perspective-correct
(w_k / z_k normalised) before normals are interpolated. Shading is Lambertian with a light at the
camera plus ambient; both sides of a triangle are lit (no back-face culling).

Vectorised over all (triangle, pixel-in-its-bounding-box) candidates, chunked to bound memory:
a 1.2k-vertex body filling a 1000 px image renders in tens of milliseconds.
"""
from __future__ import annotations

import numpy as np

__all__ = ["project_points", "rasterize", "vertex_normals", "shade", "render_mesh_image", "overlay_mesh",
           "plot_overlay", "BODY_COLOR", "BACKGROUND"]

#: default mesh colour (RGB in [0, 1]) and background of :func:`render_mesh_image`
BODY_COLOR = (0.80, 0.62, 0.50)
BACKGROUND = (0.93, 0.93, 0.91)
#: candidate (triangle, pixel) pairs tested per chunk
_CHUNK = 2_000_000


def _np(x, dtype=np.float64) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)


def _check_mesh(vertices, faces) -> tuple[np.ndarray, np.ndarray]:
    v, f = _np(vertices), _np(faces, np.int64)
    if v.ndim == 3 and v.shape[0] == 1:
        v = v[0]
    if v.ndim != 2 or v.shape[1] != 3:
        raise ValueError(f"vertices must have shape (V, 3) in the camera frame (metres), got {v.shape}")
    if f.ndim != 2 or f.shape[1] != 3 or (f.size and (f.min() < 0 or f.max() >= len(v))):
        raise ValueError(f"faces must have shape (F, 3) with indices into the {len(v)} vertices, got {f.shape}")
    return v, f


def _check_size(size) -> tuple[int, int]:
    W, H = (int(s) for s in size)
    if W <= 0 or H <= 0:
        raise ValueError(f"image size must be (width, height) > 0 px, got {size}")
    return W, H


def project_points(points, focal_length: float, center) -> tuple[np.ndarray, np.ndarray]:
    """Pinhole projection: points (N,3) camera frame -> pixels (N,2) and depth z (N,)."""
    p = _np(points)
    z = p[:, 2]
    uv = float(focal_length) * p[:, :2] / np.where(np.abs(z) < 1e-12, 1e-12, z)[:, None] + _np(center)[None]
    return uv, z


def _edge(ax, ay, bx, by, px, py):
    """Twice the signed area of (a, b, p): (b − a) × (p − a)."""
    return (bx - ax) * (py - ay) - (by - ay) * (px - ax)


def rasterize(uv, z, faces, size, near: float = 1e-3) -> dict:
    """Z-buffer rasterisation of triangles given in screen space.

    uv (V,2) pixel coordinates, z (V,) camera depth (> ``near`` to be drawn; triangles with a vertex
    nearer are skipped), faces (F,3), size = (width, height).
    Returns {"face": (H,W) int64 nearest triangle id or -1, "bary": (H,W,3) perspective-correct
    barycentric weights, "depth": (H,W) z of the nearest surface (inf where empty), "mask": (H,W) bool}.
    """
    uv, z, f = _np(uv), _np(z), _np(faces, np.int64)
    W, H = _check_size(size)
    face_buf = np.full(H * W, -1, dtype=np.int64)
    depth_buf = np.full(H * W, np.inf)
    bary_buf = np.zeros((H * W, 3))
    keep = (z[f] > near).all(1)
    f = f[keep]
    fid_all = np.nonzero(keep)[0]
    P = uv[f]                                                               # (F,3,2)
    area = _edge(P[:, 0, 0], P[:, 0, 1], P[:, 1, 0], P[:, 1, 1], P[:, 2, 0], P[:, 2, 1])   # (F,)
    # pixel columns j with j + 1/2 inside [min u, max u], clipped to the image
    j0 = np.clip(np.ceil(P[..., 0].min(1) - 0.5), 0, W).astype(np.int64)
    j1 = np.clip(np.floor(P[..., 0].max(1) - 0.5), -1, W - 1).astype(np.int64)
    i0 = np.clip(np.ceil(P[..., 1].min(1) - 0.5), 0, H).astype(np.int64)
    i1 = np.clip(np.floor(P[..., 1].max(1) - 0.5), -1, H - 1).astype(np.int64)
    nx, ny = np.maximum(j1 - j0 + 1, 0), np.maximum(i1 - i0 + 1, 0)
    ok = (nx > 0) & (ny > 0) & (np.abs(area) > 1e-12)
    idx = np.nonzero(ok)[0]
    counts = (nx * ny)[idx]
    hits_pix, hits_z, hits_face, hits_w = [], [], [], []
    start = 0
    cum = np.cumsum(counts)
    while start < len(idx):
        # faces idx[start:stop] give at most _CHUNK candidates (at least one face per chunk)
        base = cum[start - 1] if start else 0
        stop = max(start + 1, int(np.searchsorted(cum, base + _CHUNK, side="right")))
        sel = idx[start:stop]
        c = counts[start:stop]
        rep = np.repeat(np.arange(len(sel)), c)                             # candidate -> local face
        off = np.arange(int(c.sum())) - np.repeat(np.cumsum(c) - c, c)      # offset inside its box
        fi = sel[rep]
        px = j0[fi] + off % nx[fi] + 0.5
        py = i0[fi] + off // nx[fi] + 0.5
        Q = P[fi]                                                           # (C,3,2)
        a = area[fi]
        w0 = _edge(Q[:, 1, 0], Q[:, 1, 1], Q[:, 2, 0], Q[:, 2, 1], px, py) / a
        w1 = _edge(Q[:, 2, 0], Q[:, 2, 1], Q[:, 0, 0], Q[:, 0, 1], px, py) / a
        w2 = 1.0 - w0 - w1
        inside = (w0 >= 0) & (w1 >= 0) & (w2 >= 0)
        w = np.stack([w0, w1, w2], 1)[inside]                                # (C',3) screen-space weights
        fi = fi[inside]
        zk = z[f[fi]]                                                       # (C',3)
        inv_z = (w / zk).sum(1)                                             # 1/z is linear on screen
        hits_pix.append((py[inside] - 0.5).astype(np.int64) * W + (px[inside] - 0.5).astype(np.int64))
        hits_z.append(1.0 / inv_z)
        hits_face.append(fi)
        hits_w.append((w / zk) / inv_z[:, None])                            # perspective-correct weights
        start = stop
    if hits_pix:
        pix, zz = np.concatenate(hits_pix), np.concatenate(hits_z)
        fi, ww = np.concatenate(hits_face), np.concatenate(hits_w)
        order = np.lexsort((zz, pix))                                       # by pixel, then nearest first
        first = np.unique(pix[order], return_index=True)[1]
        win = order[first]
        face_buf[pix[win]] = fid_all[fi[win]]
        depth_buf[pix[win]] = zz[win]
        bary_buf[pix[win]] = ww[win]
    face_buf = face_buf.reshape(H, W)
    return {"face": face_buf, "bary": bary_buf.reshape(H, W, 3), "depth": depth_buf.reshape(H, W),
            "mask": face_buf >= 0}


def vertex_normals(vertices, faces) -> np.ndarray:
    """Area-weighted unit vertex normals (V,3) of a mesh (V,3), (F,3)."""
    v, f = _check_mesh(vertices, faces)
    fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])         # (F,3), |fn| = 2 area
    n = np.zeros_like(v)
    for k in range(3):
        np.add.at(n, f[:, k], fn)
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)


def shade(raster: dict, normals, faces, color=BODY_COLOR, ambient: float = 0.35,
          light=(0.3, -0.4, 1.0)) -> np.ndarray:
    """Lambert shading of a rasterised mesh -> RGB (H,W,3) in [0,1] (0 where empty).

    normals (V,3) camera frame; ``light``: direction the light travels (camera frame; the default comes
    from above-left of the camera); intensity = ambient + (1 − ambient) |n · light|.
    """
    f = _np(faces, np.int64)
    nrm = _np(normals)
    mask = raster["mask"]
    out = np.zeros((*mask.shape, 3))
    if not mask.any():
        return out
    tri = f[raster["face"][mask]]                                           # (M,3)
    n = (raster["bary"][mask][..., None] * nrm[tri]).sum(1)                 # (M,3)
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    d = np.asarray(light, dtype=np.float64)
    d = d / np.linalg.norm(d)
    inten = ambient + (1.0 - ambient) * np.abs(n @ d)                       # (M,)
    out[mask] = inten[:, None] * np.asarray(color, dtype=np.float64)[None]
    return out


def render_mesh_image(vertices, faces, focal_length: float, center, size, color=BODY_COLOR,
                      background=BACKGROUND, ambient: float = 0.35) -> tuple[np.ndarray, np.ndarray]:
    """A camera-frame mesh rendered alone -> (RGB uint8 (H,W,3), mask (H,W) bool).

    ``background``: an RGB triple in [0,1] (flat) or an (H,W,3) array in [0,1] or uint8.
    """
    v, f = _check_mesh(vertices, faces)
    W, H = _check_size(size)
    uv, z = project_points(v, focal_length, center)
    r = rasterize(uv, z, f, (W, H))
    rgb = shade(r, vertex_normals(v, f), f, color=color, ambient=ambient)
    bg = np.asarray(background)
    if bg.ndim == 1:
        bg = np.broadcast_to(bg.astype(np.float64), (H, W, 3))
    elif bg.dtype == np.uint8:
        bg = bg / 255.0
    if bg.shape != (H, W, 3):
        raise ValueError(f"background must be an RGB triple or an ({H}, {W}, 3) image, got {bg.shape}")
    img = np.where(r["mask"][..., None], rgb, bg)
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8), r["mask"]


def overlay_mesh(image, vertices, faces, focal_length: float, center, alpha: float = 0.7,
                 color=(0.55, 0.70, 0.95)) -> tuple[np.ndarray, np.ndarray]:
    """The mesh shaded and alpha-blended over ``image`` (H,W,3) uint8 -> (uint8 (H,W,3), mask (H,W))."""
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"image must be an (H, W, 3) uint8 RGB array, got {img.shape} {img.dtype}")
    H, W = img.shape[:2]
    render, mask = render_mesh_image(vertices, faces, focal_length, center, (W, H), color=color,
                                     background=img)
    out = img.astype(np.float64)
    out[mask] = (1 - alpha) * out[mask] + alpha * render[mask]
    return (out + 0.5).astype(np.uint8), mask


def plot_overlay(ax, image, vertices, faces, focal_length: float, center, keypoints=None, confidence=None,
                 projected=None, title: str = "fitted body over the photo", alpha: float = 0.7, limbs=None):
    """The fitted mesh blended over the photo on a matplotlib axis, with the 2D keypoints (dots, the
    detector's; zero-confidence ones hidden) and the fitted body's projected keypoints (crosses).

    ``limbs``: keypoint index pairs drawn as lines (e.g. ``posekit.skeleton.LIMB_PAIRS``). -> the mask.
    """
    img, mask = overlay_mesh(image, vertices, faces, focal_length, center, alpha=alpha)
    H, W = img.shape[:2]
    ax.imshow(img, extent=(0, W, H, 0), interpolation="antialiased")
    if keypoints is not None:
        kp = _np(keypoints)
        conf = np.ones(len(kp)) if confidence is None else _np(confidence)
        vis = conf > 0
        for a, b in limbs or ():
            if vis[a] and vis[b]:
                ax.plot(kp[[a, b], 0], kp[[a, b], 1], color="#ff7f0e", lw=1.5, alpha=0.9)
        ax.scatter(kp[vis, 0], kp[vis, 1], s=18, c="#ff7f0e", edgecolors="k", linewidths=0.5,
                   label="detected keypoints", zorder=3)
    if projected is not None:
        pr = _np(projected)
        ax.scatter(pr[:, 0], pr[:, 1], s=22, c="#1f77b4", marker="x", label="fitted body's keypoints", zorder=4)
    ax.set_xlim(0, W)
    ax.set_ylim(H, 0)
    ax.set_title(title)
    ax.set_xlabel("u (px)")
    ax.set_ylabel("v (px)")
    if keypoints is not None or projected is not None:
        ax.legend(loc="lower right", fontsize=7)
    return mask
