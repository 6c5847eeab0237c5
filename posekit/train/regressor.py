"""``python -m posekit.train regressor --motions DIR --out FILE [--fast]``: train the keypoints -> body regressor.

Data: body poses of the TRAIN subjects of ``DIR`` (``posekit.data.pose_dataset``, split by subject) seen as the
image-fit experiment sees its views (``posekit.fitting.synthetic_views.make_views``: random shapes, a random
yaw and pitch, random perspective cameras, 2 px keypoint noise, 10 % dropped keypoints), drawn anew every epoch.
Validation: fixed views of the validation subjects; the weights with the lowest validation error are kept
(the error: MPJPE of the 14 LSP keypoints in 3D after aligning the pelvis, mm).

Loss per view (:func:`regressor_loss`): ‖R − R*‖²_F over the 22 rotations + 0.1 ‖β − β*‖² + ‖cam − cam*‖²
+ 20 · mean ‖K3 − K3*‖² (the LSP keypoints in 3D, pelvis-relative, m) + 10 · mean ‖Π(K3) − k*‖² (the clean 2D
keypoints in box units, by the weak-perspective camera). The time limit counts this process's CPU seconds
(``time.process_time``), so a busy machine trains the same model, only later. Fast mode (``--fast`` or ``POSEKIT_FAST=1``): a small
network for ~20 s on a subset of poses.
"""
from __future__ import annotations

import copy
import math
import time
from pathlib import Path

import roma
import torch

from posekit.utils import fast_mode, get_device, seed_everything

__all__ = ["train", "run", "add_arguments", "settings", "FULL", "FAST", "view_batch", "regressor_loss",
           "validation_error", "LOSS_WEIGHTS"]

FULL = {"config": {"hidden": 512, "blocks": 2}, "epochs": 200, "views_per_epoch": 8192, "batch_size": 256,
        "lr": 1e-3, "weight_decay": 1e-4, "max_seconds": 240.0, "max_poses": None, "val_views": 1024}
FAST = {"config": {"hidden": 128, "blocks": 1}, "epochs": 30, "views_per_epoch": 2048, "batch_size": 128,
        "lr": 2e-3, "weight_decay": 1e-4, "max_seconds": 20.0, "max_poses": 4000, "val_views": 128}
#: weights of the loss terms
LOSS_WEIGHTS = {"rot": 1.0, "betas": 0.1, "camera": 1.0, "kp3d": 20.0, "kp2d": 10.0}


def settings(fast: bool = False) -> dict:
    """A copy of the FULL or FAST settings."""
    return copy.deepcopy(FAST if fast else FULL)


def view_batch(body_model, poses: torch.Tensor, seed: int) -> dict:
    """Views of ``poses`` (N,21,3) as the image-fit experiment draws them, with the regressor's inputs and
    targets: inputs (N,42), rotmat (N,22,3,3), betas (N,NB), camera (N,3), kp3d (N,14,3) pelvis-relative,
    kp2d (N,14,2) clean keypoints in box units, and the views themselves under "views"."""
    from posekit.fitting.regress import _rest_pelvis, keypoint_boxes, regressor_inputs, transl_to_camera
    from posekit.fitting.synthetic_views import make_views

    v = make_views(body_model, poses, seed=seed)
    boxes = keypoint_boxes(v["keypoints_2d"], v["confidence"])
    root = _rest_pelvis(body_model, v["betas"].to(body_model.v_template.device)).cpu()
    cam = transl_to_camera(v["transl"], root, v["focal_length"], v["image_size"], boxes)
    aa = torch.cat([v["global_orient"][:, None], torch.as_tensor(poses, dtype=torch.float32).reshape(-1, 21, 3)], 1)
    c = 0.5 * (boxes[:, :2] + boxes[:, 2:])
    b = (boxes[:, 2:] - boxes[:, :2]).amax(-1)
    pelvis = v["joints"][:, :1]                                                  # (N,1,3)
    return {"inputs": regressor_inputs(v["keypoints_2d"], v["confidence"], boxes),
            "rotmat": roma.rotvec_to_rotmat(aa), "betas": v["betas"], "camera": cam,
            "kp3d": v["keypoints_3d"] - pelvis, "kp2d": (v["keypoints_clean"] - c[:, None]) / b[:, None, None],
            "views": v, "boxes": boxes}


def _views_in_chunks(body_model, poses: torch.Tensor, seed: int, chunk: int = 2048) -> dict:
    """:func:`view_batch`'s tensors for many poses, drawn ``chunk`` at a time (the meshes of all at once would
    take gigabytes)."""
    parts = [view_batch(body_model, poses[i:i + chunk], seed=seed * 1_000 + i // chunk)
             for i in range(0, len(poses), chunk)]
    return {k: torch.cat([p[k] for p in parts]) for k, v in parts[0].items() if torch.is_tensor(v)}


def _predicted_keypoints(fwd, kmap, out: dict) -> torch.Tensor:
    """The LSP keypoints (B,14,3) of the predicted body, pelvis-relative (no translation)."""
    from posekit.skeleton import body21_to_body_pose

    aa = roma.rotmat_to_rotvec(out["rotmat"])                                   # (B,22,3)
    B = aa.shape[0]
    j, vs = fwd(out["betas"], aa[:, 0], body21_to_body_pose(aa[:, 1:]), aa.new_zeros(B, 3))
    return kmap(j, vs) - j[:, :1]


def regressor_loss(fwd, kmap, out: dict, target: dict) -> dict:
    """The weighted loss terms (each a scalar, mean over the batch) and their sum under "total"."""
    k3 = _predicted_keypoints(fwd, kmap, out)                                   # (B,14,3)
    s, t = out["camera"][:, :1, None], out["camera"][:, None, 1:]               # (B,1,1), (B,1,2)
    pelvis_xy = target["kp3d"].new_zeros(1)                                     # pelvis-relative already
    k2 = s * (k3[..., :2] + t) + pelvis_xy                                      # (B,14,2) weak perspective
    # the ground truth's weak-perspective projection of its pelvis-relative keypoints differs from kp2d by the
    # pelvis term; the camera target absorbs it, so compare projected to projected:
    s_t, t_t = target["camera"][:, :1, None], target["camera"][:, None, 1:]
    k2_t = s_t * (target["kp3d"][..., :2] + t_t)
    terms = {"rot": ((out["rotmat"] - target["rotmat"]) ** 2).sum((-1, -2)).mean(),
             "betas": ((out["betas"] - target["betas"]) ** 2).sum(-1).mean(),
             "camera": ((out["camera"] - target["camera"]) ** 2).sum(-1).mean(),
             "kp3d": ((k3 - target["kp3d"]) ** 2).sum(-1).mean(),
             "kp2d": ((k2 - k2_t) ** 2).sum(-1).mean()}
    terms = {k: LOSS_WEIGHTS[k] * v for k, v in terms.items()}
    terms["total"] = sum(terms.values())
    return terms


def validation_error(model, fwd, kmap, val: dict, batch: int = 1024) -> float:
    """Mean MPJPE (mm) of the LSP keypoints in 3D, pelvis-relative, over the validation views."""
    model.eval()
    errs = []
    with torch.no_grad():
        for i in range(0, len(val["inputs"]), batch):
            out = model(val["inputs"][i:i + batch])
            k3 = _predicted_keypoints(fwd, kmap, out)
            errs.append((k3 - val["kp3d"][i:i + batch]).norm(dim=-1).mean(-1))
    model.train()
    return 1000.0 * float(torch.cat(errs).mean())


def _subset(x: torch.Tensor, n: int | None, seed: int) -> torch.Tensor:
    if n is None or len(x) <= n:
        return x
    return x[torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:n]]


def train(motions, out, fast: bool = False, seed: int = 0, device=None, progress: bool = True,
          splits: dict | None = None, max_seconds: float | None = None, epochs: int | None = None) -> Path:
    """Train the regressor on views of the train subjects of ``motions``; save it to ``out`` (atomic). -> ``out``.

    ``splits``: already-loaded {"train", "val"} body-21 poses (N,21,3) (skips ``pose_dataset``).
    """
    from tqdm.auto import tqdm

    from posekit.body import load_body_model
    from posekit.errors import InputError
    from posekit.fitting.forward import JointsForward
    from posekit.fitting.keypoints import KeypointMap
    from posekit.fitting.regress import KeypointRegressor

    fast = fast or fast_mode()
    s = settings(fast)
    if max_seconds is not None:
        s["max_seconds"] = float(max_seconds)
    if epochs is not None:
        s["epochs"] = int(epochs)
    seed_everything(seed)
    dev = get_device(device)
    if splits is None:
        from .splits import load_splits

        splits = load_splits(motions, seed=seed)
    train_poses = _subset(torch.as_tensor(splits["train"], dtype=torch.float32).reshape(-1, 21, 3), s["max_poses"], seed)
    val_poses = torch.as_tensor(splits.get("val") if splits.get("val") is not None else [], dtype=torch.float32)
    if not len(train_poses) or not len(val_poses):
        raise InputError(f"{motions}: the regressor needs poses of train and validation subjects "
                         "(posekit.data.subject_split)")
    val_poses = _subset(val_poses.reshape(-1, 21, 3), s["val_views"], seed + 1)
    body_model = load_body_model(device=dev)
    kmap = KeypointMap(body_model)
    fwd = JointsForward(body_model, kmap.vertex_ids)
    model = KeypointRegressor(num_betas=fwd.num_betas, **s["config"]).to(dev)
    val = {k: v.to(dev) if torch.is_tensor(v) else v for k, v in view_batch(body_model, val_poses, 10_000 + seed).items()}
    opt = torch.optim.AdamW(model.parameters(), lr=s["lr"], weight_decay=s["weight_decay"])
    history = {"epoch": [], "train_loss": [], "val_mpjpe_mm": [], "seconds": [], "fast": bool(fast),
               "settings": {k: v for k, v in s.items() if k != "config"}, "loss_weights": dict(LOSS_WEIGHTS),
               "n_train_poses": len(train_poses), "n_val_views": len(val_poses)}
    history["val_mpjpe_mm_initial"] = validation_error(model, fwd, kmap, val)
    best, best_state = math.inf, copy.deepcopy(model.state_dict())
    t0 = time.process_time()
    g = torch.Generator().manual_seed(seed)
    n_epochs = s["epochs"]
    bar = tqdm(range(n_epochs), desc="regressor", disable=not progress)
    for epoch in bar:
        lr = s["lr"] * 0.5 * (1 + math.cos(math.pi * min(1.0, (time.process_time() - t0) / s["max_seconds"])))
        for group in opt.param_groups:
            group["lr"] = max(lr, 0.02 * s["lr"])
        idx = torch.randint(len(train_poses), (s["views_per_epoch"],), generator=g)
        data = _views_in_chunks(body_model, train_poses[idx], seed=seed * 100_003 + epoch + 1)
        data = {k: v.to(dev) for k, v in data.items()}
        order = torch.randperm(len(idx), generator=g)
        total = 0.0
        for i in range(0, len(order), s["batch_size"]):
            sel = order[i:i + s["batch_size"]].to(dev)
            pred = model(data["inputs"][sel])
            terms = regressor_loss(fwd, kmap, pred, {k: v[sel] for k, v in data.items()})
            opt.zero_grad()
            terms["total"].backward()
            opt.step()
            total += float(terms["total"].detach()) * len(sel)
        err = validation_error(model, fwd, kmap, val)
        history["epoch"].append(epoch + 1)
        history["train_loss"].append(total / len(order))
        history["val_mpjpe_mm"].append(err)
        history["seconds"].append(round(time.process_time() - t0, 1))
        if err < best:
            best, best_state = err, copy.deepcopy(model.state_dict())
        bar.set_postfix(loss=f"{total / len(order):.3f}", val_mm=f"{err:.1f}")
        if time.process_time() - t0 > s["max_seconds"]:
            break
    model.load_state_dict(best_state)
    history["best_val_mpjpe_mm"] = best
    model.history = history
    model.cpu().save(out)
    return Path(out)


def add_arguments(parser) -> None:
    parser.add_argument("--max-seconds", type=float, default=None,
                        help="stop training after this many CPU seconds of this process (default 240 full / 20 fast)")
    parser.add_argument("--epochs", type=int, default=None, help="number of epochs (default 200 full / 30 fast)")


def run(args) -> int:
    fast = bool(getattr(args, "fast", False)) or fast_mode()
    out = train(args.motions, args.out, fast=fast, seed=args.seed, device=args.device,
                max_seconds=getattr(args, "max_seconds", None), epochs=getattr(args, "epochs", None))
    from posekit.fitting.regress import KeypointRegressor

    h = KeypointRegressor.load(out).history
    print(f"wrote {out}: {len(h['epoch'])} epochs, validation MPJPE {h['val_mpjpe_mm_initial']:.1f} -> "
          f"{h['best_val_mpjpe_mm']:.1f} mm (3D LSP keypoints, pelvis-aligned, {h['n_val_views']} views), "
          f"{h['seconds'][-1]:.1f} s")
    return 0
