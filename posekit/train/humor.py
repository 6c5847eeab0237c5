"""``python -m posekit.train humor --motions DIR --out FILE [--fast]``: train the HuMoR-like motion prior.

Data: every motion under DIR (one file per trial, ``posekit.data.dataset.deduplicate``) loaded at 30 fps
with its root translation, split by subject (``posekit.data.dataset.subject_split``: train learned,
val for early stopping). Each motion is shifted so that its lowest ankle/toe joint is at height 0 (the
floor), turned into world states (``HumorPrior.states``) and contact labels
(``posekit.priors.humor.state.contact_labels``), and cut into windows of ``window + 1`` frames.

Loss of one transition (Rempe et al. 2021, Sec. 3.2), summed over the window's steps:

    L = ‖Δ̂ − Δ‖²  +  w_kl · KL(q(z | x_{t-1}, x_t) ‖ p(z | x_{t-1}))  +  w_contact · BCE(κ̂, contacts_t)
        + w_contact_vel · Σ_j σ(κ̂_j) ‖v̂_j‖²  +  w_consistency · ‖Ĵ − FK(Φ̂, r̂, Θ̂)‖² (cm²)

with ‖Δ̂ − Δ‖² the decoder's squared error in units of the true change's spread (``HumorCVAE.step_error``),
v̂_j the predicted velocity of contact joint j (HuMoR's contact-velocity term: a joint the model puts in
contact does not move), Ĵ the predicted joint positions and FK the joints of the predicted rotations
through the body model's skeleton.
**Scheduled sampling**: at each step the input x_{t-1} is the true state, or with probability p the model's
own previous prediction (detached, made consistent as a rollout makes it: ``HumorPrior.project``); p is 0 for
the first third of the epochs, rises linearly to 1 during the second third and stays 1 (HuMoR's curriculum:
teacher forcing, mixed, full rollout).

**What the decoder predicts.** HuMoR's decoder predicts the change x_t − x_{t-1} (its ``output_delta``);
its released code also offers predicting x_t itself (in the canonical frame of x_{t-1}). The settings here
predict every part of the state itself (``config["absolute_parts"] = EVERY_PART``). With changes, the pelvis
height and lean and the body pose of this small model are sums of per-step errors: sampled 300-frame rollouts
from validation starts leaned over 45° in 17 % of their frames and kept the lowest foot joint near the floor
(``posekit.priors.humor.floor``) in 39 %; predicting only the pelvis position and orientation itself still
gave 8 % and 29 %; predicting everything itself, 0 % and 89 %. The price is precision: such a model's
one-step error, in units of the true change (``HumorCVAE.step_error``, the reconstruction term above), is
about twenty times that of a change-predicting one, and on test clips with small noise (0.05 rad) its
test-time optimisation was 2.5 cm (per-vertex) against 2.2 cm for the earlier change-predicting model
(no prior: 2.3 cm); with more noise it was far better (0.5 rad: 13.0 cm against 18.6). Twenty-frame
windows and 30 epochs (instead of ten and 15) gave steadier rollouts and a better test-time optimisation on
validation clips. The training history records the floor figures (``floor_report``).

Fast mode (``--fast`` or ``POSEKIT_FAST=1``): a small model for a few seconds.
"""
from __future__ import annotations

import copy
import time
from pathlib import Path

import numpy as np
import torch

from posekit.priors.humor.state import STATE_LAYOUT
from posekit.utils import fast_mode, get_device, seed_everything

__all__ = ["train", "run", "add_arguments", "settings", "load_motions", "make_windows", "transition_losses",
           "floor_report", "validation_summary", "FULL", "FAST", "TERMS", "EVERY_PART"]

#: the decoder predicts every part of the next state itself, not its change (see "What the decoder predicts")
EVERY_PART = tuple(name for name, _ in STATE_LAYOUT)
FULL = {"config": {"hidden": 256, "latent_dim": 32, "absolute_parts": EVERY_PART}, "window": 20, "stride": 10,
        "epochs": 30, "batch_size": 128, "lr": 1e-3, "w_kl": 0.05, "w_contact": 1.0, "w_contact_vel": 1.0,
        "w_consistency": 0.1, "patience": 5, "max_seconds": 600.0, "max_windows": None, "max_val_windows": 2000,
        "floor_steps": 300, "floor_starts": 24}
FAST = {"config": {"hidden": 64, "latent_dim": 16, "absolute_parts": EVERY_PART}, "window": 6, "stride": 6,
        "epochs": 15, "batch_size": 64, "lr": 2e-3, "w_kl": 0.05, "w_contact": 1.0, "w_contact_vel": 1.0,
        "w_consistency": 0.1, "patience": 6, "max_seconds": 12.0, "max_windows": 1500, "max_val_windows": 300,
        "floor_steps": 60, "floor_starts": 8}
#: the loss terms of one transition (``transition_losses``); each but "rec" has its weight w_<term> in the settings
TERMS = ("rec", "kl", "contact", "contact_vel", "consistency")


def settings(fast: bool = False, **overrides) -> dict:
    """A copy of the FULL or FAST settings, with ``overrides`` (names of the settings; "config" is merged)."""
    s = copy.deepcopy(FAST if fast else FULL)
    unknown = sorted(set(overrides) - set(s))
    if unknown:
        raise ValueError(f"unknown HuMoR training settings {unknown}; known: {sorted(s)}")
    for k, v in overrides.items():
        s[k] = {**s[k], **v} if k == "config" else v
    return s


def load_motions(motions, fps: float = 30.0, splits=("train", "val", "test")) -> list[dict]:
    """Motions of a folder with their translations: [{trial, subject, split, poses (T, 24, 3), trans (T, 3)}].

    One file per trial, split by subject with the data layer's rule; files that fail to load are skipped.
    """
    import warnings

    from posekit.data import load_motion
    from posekit.data.dataset import assign_splits, deduplicate, list_motion_files, trial_key

    files, _ = deduplicate(list_motion_files(motions))
    if not files:
        raise FileNotFoundError(f"{motions}: no motion files (.bvh, .amc+.asf, AMASS .npz) found")
    split_of = assign_splits([trial_key(p)[0] for p in files])
    out = []
    for p in files:
        subject, trial = trial_key(p)
        split = split_of[subject]
        if split not in splits:
            continue
        try:
            m = load_motion(p, fps=fps)
        except Exception as e:  # one unreadable file does not stop training
            warnings.warn(f"{p}: skipped ({e})")
            continue
        out.append({"trial": trial, "subject": subject, "split": split,
                    "poses": torch.as_tensor(np.asarray(m.poses), dtype=torch.float32).reshape(-1, 24, 3),
                    "trans": torch.as_tensor(np.asarray(m.trans), dtype=torch.float32).reshape(-1, 3)})
    return out


#: windows with a faster joint (m/s) or root rotation (rad/s) are capture or retargeting glitches, dropped
MAX_JOINT_SPEED = 12.0
MAX_ANGULAR_SPEED = 15.0


def make_windows(model, motions: list[dict], window: int, stride: int):
    """World states (N, window + 1, D) and contact labels (N, window + 1, K) of windows of the motions.

    Windows with a joint faster than ``MAX_JOINT_SPEED`` or a root turning faster than ``MAX_ANGULAR_SPEED``
    are left out."""
    from posekit.priors.humor.state import STATE_SLICES, contact_labels

    xs, cs = [], []
    for m in motions:
        poses, trans = m["poses"], m["trans"]
        if len(poses) < window + 1:
            continue
        with torch.no_grad():
            x, _ = model.states_on_floor(poses[:, 0], poses[:, 1:22], trans)                # (T, D)
            c = contact_labels(model.fk_joints(x), model.fps, joint_ids=model.contact_joints)  # (T, K)
        for s in range(0, len(x) - window, stride):
            xs.append(x[s:s + window + 1])
            cs.append(c[s:s + window + 1])
    if not xs:
        raise ValueError(f"no motion is {window + 1} frames long")
    x, c = torch.stack(xs), torch.stack(cs)
    jv = x[..., STATE_SLICES["joints_vel"]].reshape(*x.shape[:2], -1, 3).norm(dim=-1).amax((1, 2))
    av = x[..., STATE_SLICES["root_angvel"]].norm(dim=-1).amax(1)
    ok = (jv < MAX_JOINT_SPEED) & (av < MAX_ANGULAR_SPEED)
    return x[ok], c[ok]


def normalization_stats(model, x: torch.Tensor):
    """μ_x, σ_x of canonical states, μ_Δ, σ_Δ of the decoder's targets (``HumorCVAE.normalized_step``) and σ_s of
    the changes x_t − x_{t-1}, over windows x (N, W + 1, D)."""
    from posekit.priors.humor.state import canonicalize_state, transform_state

    D = x.shape[-1]
    prev, nxt = x[:, :-1].reshape(-1, D), x[:, 1:].reshape(-1, D)
    xc, H, o = canonicalize_state(prev)
    xt = transform_state(nxt, H, o)
    d = xt - model.cvae.residual * xc
    return xc.mean(0), xc.std(0), d.mean(0), d.std(0), (xt - xc).std(0)


def transition_losses(model, x_in: torch.Tensor, x_t: torch.Tensor, contacts_t: torch.Tensor) -> dict:
    """Loss terms (each (B,)) of one transition from inputs x_in (B, D) to the true next states x_t.

    "contact_vel" is HuMoR's contact-velocity term: Σ_j σ(κ̂_j) ‖v̂_j‖² (m²/s²) over the contact joints, the
    predicted joint velocities weighted by the predicted contact probabilities (a joint in contact stands still).
    Also returns "next": the predicted world states (B, D), made consistent as a rollout makes them
    (``HumorPrior.project``), for scheduled sampling.
    """
    from posekit.priors.humor.cvae import gaussian_kl
    from posekit.priors.humor.state import (STATE_SLICES, canonicalize_state, orthonormalize_state,
                                            transform_state, uncanonicalize_state)

    cv = model.cvae
    xc, H, o = canonicalize_state(x_in)
    xt = transform_state(x_t, H, o)
    mu_q, lv_q = cv.posterior(xc, xt)
    mu_p, lv_p = cv.conditional_prior(xc)
    z = mu_q + (0.5 * lv_q).exp() * torch.randn_like(mu_q)
    step, logits = cv.decode_step(z, xc)
    x_hat = orthonormalize_state(cv.apply_step(step, xc))                                # (B, D) canonical
    J_pred = x_hat[:, STATE_SLICES["joints"]].reshape(-1, 22, 3)
    J_fk = model.fk_joints(x_hat)
    v = x_hat[:, STATE_SLICES["joints_vel"]].reshape(-1, 22, 3)[:, list(model.contact_joints)]      # (B, K, 3)
    x_next = uncanonicalize_state(x_hat.detach(), H, o)
    return {"rec": cv.step_error(step, xc, xt).pow(2).sum(-1),
            "kl": gaussian_kl(mu_q, lv_q, mu_p, lv_p),
            "contact": torch.nn.functional.binary_cross_entropy_with_logits(logits, contacts_t, reduction="none").sum(-1),
            "contact_vel": (torch.sigmoid(logits) * v.pow(2).sum(-1)).sum(-1),
            "consistency": ((J_pred - J_fk) * 100.0).pow(2).sum(-1).mean(-1),
            "next": model.project(x_in.detach(), x_next)}


def window_loss(model, x: torch.Tensor, c: torch.Tensor, p_sample: float, s: dict) -> tuple[torch.Tensor, dict]:
    """Loss of windows x (B, W + 1, D), contacts c (B, W + 1, K) with scheduled sampling probability p_sample."""
    terms = {k: 0.0 for k in TERMS}
    x_in = x[:, 0]
    W = x.shape[1] - 1
    for t in range(1, W + 1):
        out = transition_losses(model, x_in, x[:, t], c[:, t])
        for k in terms:
            terms[k] = terms[k] + out[k].mean() / W
        if t < W:
            use_own = (torch.rand(x.shape[0], 1, device=x.device) < p_sample).to(x.dtype)
            x_in = use_own * out["next"] + (1 - use_own) * x[:, t]
    loss = terms["rec"] + sum(s[f"w_{k}"] * terms[k] for k in TERMS if k != "rec")
    return loss, {k: float(v.detach()) if torch.is_tensor(v) else float(v) for k, v in terms.items()}


def _sampling_probability(epoch: int, epochs: int) -> float:
    """0 for the first third of the epochs, then linearly up to 1 by two thirds, then 1."""
    a, b = epochs / 3.0, 2.0 * epochs / 3.0
    return float(min(1.0, max(0.0, (epoch - a) / max(b - a, 1e-9))))


def _thin(x, c, n, seed):
    if n is None or len(x) <= n:
        return x, c
    idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:n].sort().values
    return x[idx], c[idx]


def train(motions, out, fast: bool = False, seed: int = 0, device=None, progress: bool = True,
          epochs: int | None = None, max_seconds: float | None = None, data: list[dict] | None = None,
          **overrides) -> Path:
    """Train the HuMoR-like prior on the train split of ``motions`` and save it to ``out`` (atomic). Returns ``out``.

    ``data``: already-loaded motions (``load_motions``). ``epochs`` / ``max_seconds`` and ``overrides`` (any
    other setting, e.g. ``window=20``) override the settings.
    History (stored in the file): per-epoch train terms, validation terms with teacher forcing ("val") and
    with full rollouts ("val_rollout"), the sampling probability and the elapsed seconds.
    """
    from tqdm.auto import tqdm

    from posekit.body import load_body_model
    from posekit.priors.humor.model import HumorPrior

    fast = fast or fast_mode()
    s = settings(fast, **overrides)
    if epochs is not None:
        s["epochs"] = int(epochs)
    if max_seconds is not None:
        s["max_seconds"] = float(max_seconds)
    out = Path(out)
    dev = get_device(device)
    seed_everything(seed)
    data = load_motions(motions, splits=("train", "val")) if data is None else data
    train_m = [m for m in data if m["split"] == "train"]
    val_m = [m for m in data if m["split"] == "val"] or train_m[-1:]
    if not train_m:
        raise ValueError(f"{motions}: no motion of a train subject")
    model = HumorPrior.from_body_model(load_body_model(device="cpu"), **s["config"])
    x_tr, c_tr = _thin(*make_windows(model, train_m, s["window"], s["stride"]), s["max_windows"], seed)
    x_va, c_va = _thin(*make_windows(model, val_m, s["window"], s["window"]), s["max_val_windows"], seed + 1)
    model.cvae.set_normalization(*normalization_stats(model, x_tr), min_std=1e-2)
    model = model.to(dev)
    x_tr, c_tr, x_va, c_va = x_tr.to(dev), c_tr.to(dev), x_va.to(dev), c_va.to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=s["lr"])
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=s["epochs"])
    hist = {"train": [], "val": [], "val_rollout": [], "p_sample": [], "seconds": [], "lr": []}
    best, best_state, best_epoch, bad = float("inf"), None, -1, 0
    g = torch.Generator(device="cpu").manual_seed(seed)
    t0 = time.perf_counter()
    bar = tqdm(range(s["epochs"]), desc="humor", disable=not progress)
    for epoch in bar:
        p = _sampling_probability(epoch, s["epochs"])
        model.train()
        perm = torch.randperm(len(x_tr), generator=g).to(dev)
        sums, n = {}, 0
        for i in range(0, len(perm), s["batch_size"]):
            idx = perm[i:i + s["batch_size"]]
            loss, terms = window_loss(model, x_tr[idx], c_tr[idx], p, s)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            for k, v in {"loss": float(loss.detach()), **terms}.items():
                sums[k] = sums.get(k, 0.0) + v * len(idx)
            n += len(idx)
            if time.perf_counter() - t0 > s["max_seconds"]:
                break
        sched.step()
        model.eval()
        with torch.no_grad():
            val = {}
            for name, ps in (("val", 0.0), ("val_rollout", 1.0)):
                torch.manual_seed(seed + 7)
                loss, terms = window_loss(model, x_va, c_va, ps, s)
                val[name] = {"loss": float(loss), **terms}
        hist["train"].append({k: v / max(n, 1) for k, v in sums.items()})
        hist["val"].append(val["val"])
        hist["val_rollout"].append(val["val_rollout"])
        hist["p_sample"].append(p)
        hist["lr"].append(opt.param_groups[0]["lr"])
        hist["seconds"].append(time.perf_counter() - t0)
        bar.set_postfix(train=f"{hist['train'][-1]['loss']:.2f}", val=f"{val['val']['loss']:.2f}",
                        rollout=f"{val['val_rollout']['loss']:.2f}", p=f"{p:.2f}")
        # early stopping on the validation rollout loss, counted once the model feeds itself (p = 1)
        crit = val["val_rollout"]["loss"]
        if p >= 1.0 and crit < best:
            best, best_epoch, bad = crit, epoch, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        elif p >= 1.0:
            bad += 1
        if bad >= s["patience"] or time.perf_counter() - t0 > s["max_seconds"]:
            break
    if best_state is None:           # stopped before the full-rollout phase: keep the last epoch
        best, best_epoch = hist["val_rollout"][-1]["loss"], len(hist["train"]) - 1
        best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    model.eval()
    hist["floor"] = floor_report(model, x_va, s["floor_steps"], s["floor_starts"], seed)
    model.history = {**hist, "epochs": len(hist["train"]), "best_epoch": best_epoch, "best_val_rollout": best,
                     "settings": s, "fast": bool(fast), "seed": int(seed),
                     "train_windows": int(len(x_tr)), "val_windows": int(len(x_va)),
                     "train_trials": sorted(m["trial"] for m in train_m)}
    model.cpu().eval().save(out)
    return out


@torch.no_grad()
def floor_report(model, x_val: torch.Tensor, steps: int, starts: int, seed: int = 0) -> dict:
    """``posekit.priors.humor.floor.floor_stats`` of the validation windows x_val (N, W + 1, D) ("real") and of
    sampled rollouts of ``steps`` frames from ``starts`` of their first states, with the rollout's floor
    contact step (``HumorPrior.ground``: "rollout", the default) and without it ("rollout_raw")."""
    from posekit.priors.humor.floor import floor_stats

    x0 = x_val[torch.linspace(0, len(x_val) - 1, min(starts, len(x_val))).long(), 0]
    out = {"steps": int(steps), "starts": int(len(x0)), "real": floor_stats(model, x_val)}
    for name, ground in (("rollout", True), ("rollout_raw", False)):
        xs, _, _ = model.rollout(x0, steps, generator_seed=seed, ground=ground)
        out[name] = floor_stats(model, xs)
    return out


def validation_summary(path) -> dict:
    """The validation figures of a trained file (from its history), for ``manifest.json``."""
    from posekit.priors.humor.model import HumorPrior

    h = HumorPrior.load(path).history
    b = h["best_epoch"]
    return {"val_windows": h["val_windows"], "best_epoch": b,
            "val_teacher_forced": {k: round(v, 3) for k, v in h["val"][b].items()},
            "val_rollout": {k: round(v, 3) for k, v in h["val_rollout"][b].items()},
            "floor": h.get("floor"),
            "note": "per-window means of the training loss terms on validation subjects (rec = squared error of the "
                    "predicted state in units of the true change's spread, kl in nats, contact = BCE summed over the "
                    "contact joints, contact_vel in "
                    "m^2/s^2, consistency in cm^2), with true inputs and with the model's own rollouts (posterior z); "
                    "floor: posekit.priors.humor.floor.floor_stats of real validation windows and of sampled "
                    "rollouts from their first states, with and without the rollout's contact step"}


def add_arguments(parser) -> None:
    parser.add_argument("--epochs", type=int, default=None, help="number of epochs (default: the settings')")
    parser.add_argument("--max-seconds", type=float, default=None, help="training time budget in seconds")


def run(args) -> int:
    fast = bool(getattr(args, "fast", False)) or fast_mode()
    out = train(args.motions, args.out, fast=fast, seed=args.seed, device=args.device,
                epochs=getattr(args, "epochs", None), max_seconds=getattr(args, "max_seconds", None))
    from posekit.priors.humor.model import HumorPrior

    h = HumorPrior.load(out).history
    v = h["val"][h["best_epoch"]]
    f = h["floor"]
    print(f"wrote {out}: {h['epochs']} epochs, best epoch {h['best_epoch']} (val rollout loss "
          f"{h['best_val_rollout']:.3f}; teacher-forced rec {v['rec']:.3f}, kl {v['kl']:.2f}), {h['seconds'][-1]:.1f} s")
    print(f"{f['steps']}-frame rollouts from {f['starts']} validation starts: on the floor "
          f"{f['rollout']['on_floor']:.0%} of frames ({f['rollout_raw']['on_floor']:.0%} without the contact step; "
          f"real validation motion {f['real']['on_floor']:.0%}), upright {f['rollout']['upright']:.0%}")
    return 0
