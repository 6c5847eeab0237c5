"""SMPLify's bend term E_a (elbows, knees) on the open body model: why it helps or hurts, measured.

    OMP_NUM_THREADS=1 python benchmarks/angle_prior.py [--fast] [--n 64] [--iters 100] [--sections ...]

Everything runs on VALIDATION subjects only (``posekit.data``'s val split); the test subjects are never
touched. Two disjoint sets of views, A (calibration: the λθ scale and the bend weight are chosen there)
and B (confirmation: the chosen bend weight is judged there), each of ``--n`` real poses from distinct
frames with their own random shapes and cameras (``posekit.fitting.make_views``).

Sections (``--sections``, default all):

- ``rig``:    the sign convention on the mesh (smplx's forward): which direction of each bend angle moves the
              ankle / wrist forward or backward, and which one E_a penalises;
- ``real``:   the bend angles s·θ of real validation poses: the fraction that E_a penalises (s·θ > 0), their
              spread, E_a of real poses against the rest pose and the prior's mean pose;
- ``scale``:  E_a's weight against the data term in posekit's units: λa per stage, E_J's stiffness about each
              bend at the ground truth (finite differences), the bias λa's pull predicts, and the largest
              restoring force Geman–McClure can give (it saturates);
- ``lambda``: the λθ prior-scale calibration (``PRIOR_SCALE_GRID``, prior-only, v2v_pa as in image_fit.py) on
              A and B and on disjoint 16-view subsets: does the chosen scale flip?
- ``grid``:   the bend weight ``angle_weight`` (grid) per prior at the scale chosen on A, setting "+angle":
              mean v2v on A and B, the paired difference against angle_weight = 0 with a 95 % bootstrap CI;
- ``stages``: where the fit's bends go: s·θ after stage 2 and at the end against the ground truth, the share
              of over-bent joints (> 45° deeper than the truth), E_a and E_J at every stage's end;
- ``init``:   the start pose (rest vs the prior's mean) with and without E_a (GMM, VPoser);
- ``confirm``: a third disjoint set C (``--n`` views, not in the default sections): angle_weight = 0 against
              the ``--confirm`` weights per prior, paired bootstrap CIs (an honest check of a weight picked on A/B).

Fits are independent per image (``rowwise``), so one batched fit of A ∪ B gives both sets' per-view errors.
"""
from __future__ import annotations

import argparse
import math
import os
import time

import torch
from tqdm.auto import tqdm

#: SMPLify's bend weight (fit_3d.py: residual 0.317·w·alpha·exp(sθ), alpha = 10)
SMPLIFY_AW = 3.17
SECTIONS = ("rig", "real", "scale", "lambda", "grid", "stages", "init", "confirm")
DEFAULT_SECTIONS = SECTIONS[:-1]
PRIORS = ("gmm", "vposer", "posendf")


def paired_ci(d: torch.Tensor, n_boot: int = 10000, seed: int = 0) -> tuple[float, float, float]:
    """Mean of the paired differences d (n,) and its 95 % percentile-bootstrap interval."""
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, len(d), (n_boot, len(d)), generator=g)
    m = d[idx].double().mean(1)
    return float(d.double().mean()), float(m.quantile(0.025)), float(m.quantile(0.975))


def bend_angles(body_pose) -> torch.Tensor:
    """s_i θ_i of the four bend joints (B,4), in radians (< 0: the natural direction)."""
    from posekit.fitting.losses import BEND_AXES, BEND_JOINTS, BEND_SIGNS
    from posekit.skeleton import as_body21

    b21 = as_body21(torch.as_tensor(body_pose).float())
    return torch.stack([s * b21[:, j - 1, a] for j, a, s in zip(BEND_JOINTS, BEND_AXES, BEND_SIGNS)], -1)


JOINT_NAMES = {18: "L elbow", 19: "R elbow", 4: "L knee", 5: "R knee"}


class Runner:
    """Batched SMPLify fits of A ∪ B, cached by their options."""

    def __init__(self, views, body_model, priors, base):
        self.views, self.bm, self.priors, self.base = views, body_model, priors, base
        self.cache = {}
        self.bar = tqdm(desc="SMPLify fits", unit="fit", leave=False)

    def __call__(self, prior: str, **opts):
        from posekit.experiments.image_fit import evaluate_setting

        key = (prior, tuple(sorted((k, repr(v)) for k, v in opts.items())))
        if key not in self.cache:
            self.bar.set_postfix_str(f"{prior} " + " ".join(f"{k}={v}" for k, v in opts.items()
                                                              if k in ("prior_scale", "angle_weight", "init")))
            r = evaluate_setting(self.views, self.bm, self.priors[prior], {**self.base, **opts})
            fit = r["fit"]
            self.cache[key] = {"errors": {k: v.cpu() for k, v in r["errors"].items()},
                               "bends": bend_angles(fit["body_pose"].cpu()),
                               "trace": [{k: v for k, v in s.items()} for s in fit["trace"]],
                               "time_s": r["time_s"]}
            self.bar.update(1)
        return self.cache[key]


def section_rig(bm, log):
    from posekit.fitting.losses import BEND_AXES, BEND_JOINTS, BEND_SIGNS, angle_prior

    log("\n## rig: the sign convention on the mesh (rest T-pose, y up, facing +z; 0.6 rad bends)")
    log("| joint | axis | s | end point | Δz of the end for s·θ = −0.6 (E_a: exp(−1.2)) | for s·θ = +0.6 (exp(+1.2)) | "
        "natural direction | penalised = hyper-extension? |")
    log("|---|---|---|---|---|---|---|---|")
    end = {18: 20, 19: 21, 4: 7, 5: 8}
    with torch.no_grad():
        z0 = bm(body_pose=torch.zeros(1, 69)).joints[0, :, 2]
        for j, a, s in zip(BEND_JOINTS, BEND_AXES, BEND_SIGNS):
            dz = {}
            for st in (-0.6, 0.6):
                p = torch.zeros(1, 69)
                p[0, 3 * (j - 1) + a] = st / s
                dz[st] = float(bm(body_pose=p).joints[0, end[j], 2] - z0[end[j]])
            natural = "forward (+z)" if j in (18, 19) else "backward (−z)"
            ok = (dz[-0.6] > 0.05 > -0.05 > dz[0.6]) if j in (18, 19) else (dz[-0.6] < -0.05 < 0.05 < dz[0.6])
            log(f"| {JOINT_NAMES[j]} ({j}) | {'xyz'[a]} | {s:+.0f} | {'wrist' if j in (18, 19) else 'ankle'} | "
                f"{100 * dz[-0.6]:+.1f} cm | {100 * dz[0.6]:+.1f} cm | {natural} | {'yes' if ok else 'NO'} |")
    log(f"E_a at the rest pose: {float(angle_prior(torch.zeros(1, 69))):.2f} (4 joints × exp(0))")


def section_real(val_poses, priors, log):
    from posekit.fitting.losses import angle_prior
    from posekit.priors.base import prior_mean_pose

    b = bend_angles(val_poses)
    deg = 180 / math.pi
    log(f"\n## real: bend angles s·θ of {len(val_poses)} real validation poses (degrees; < 0 = natural bend)")
    log("| joint | penalised (s·θ > 0) | s·θ > 5° | 5 % | median | 95 % | min |")
    log("|---|---|---|---|---|---|---|")
    for i, j in enumerate((18, 19, 4, 5)):
        x = b[:, i]
        log(f"| {JOINT_NAMES[j]} | {100 * (x > 0).float().mean():.1f} % | {100 * (x > 5 / deg).float().mean():.1f} % | "
            f"{deg * x.quantile(0.05):.0f} | {deg * x.median():.0f} | {deg * x.quantile(0.95):.0f} | {deg * x.min():.0f} |")
    e = angle_prior(val_poses)
    log(f"E_a = Σ exp(2sθ) on real poses: mean {e.mean():.2f}, median {e.median():.2f}, 95 % {e.quantile(0.95):.2f}; "
        f"rest pose 4.00 (the experiments' start)")
    for name, p in priors.items():
        m = prior_mean_pose(p)
        if m is not None:
            m = torch.as_tensor(m).float().reshape(1, 21, 3)
            log(f"  {name} mean pose: E_a = {float(angle_prior(m)):.2f}, s·θ = "
                + ", ".join(f"{deg * v:.0f}°" for v in bend_angles(m)[0]))


def section_scale(views, bm, log, sigma=100.0, aw_list=(SMPLIFY_AW,)):
    """E_J's stiffness about each bend at the ground truth and the bias λa predicts, per stage."""
    from posekit.fitting.camera import perspective_projection
    from posekit.fitting.forward import full_forward
    from posekit.fitting.keypoints import KeypointMap
    from posekit.fitting.losses import BEND_AXES, BEND_JOINTS, BEND_SIGNS, joint_energy
    from posekit.fitting.smplify import SMPLIFY_STAGES

    kmap = KeypointMap(bm)
    f, c = views["focal_length"], 0.5 * views["image_size"]
    kp, conf = views["keypoints_clean"], views["confidence"]

    def data(pose):
        with torch.no_grad():
            v, j = full_forward(bm, views["betas"], views["global_orient"], pose, views["transl"])
            return joint_energy(perspective_projection(kmap.from_mesh(j, v), f, c), kp, conf, sigma)

    B = len(kp)
    gt_bend = bend_angles(views["body_pose"])
    e0 = data(views["body_pose"])
    h = 0.02
    stiff = []
    for j, a, s in zip(BEND_JOINTS, BEND_AXES, BEND_SIGNS):
        ep, em = [], []
        for d, out in ((h, ep), (-h, em)):
            p = views["body_pose"].clone()
            p[:, 3 * (j - 1) + a] += d
            out.append(data(p))
        stiff.append((ep[0] + em[0] - 2 * e0) / h ** 2)                          # ∂²E_J/∂θ² (B,)
    H = torch.stack(stiff, -1)                                                  # (B,4) px²/rad²
    noisy = joint_energy(perspective_projection(views["keypoints_3d"], f, c), views["keypoints_2d"], conf, sigma)
    rest = torch.zeros_like(views["body_pose"])
    log(f"\n## scale: E_a against E_J in posekit's units ({B} validation views; σ = {sigma:g} px, confidence once)")
    log(f"E_J at the ground truth with the 2 px noise: median {noisy.median():.0f}; with the body in the rest pose "
        f"(true camera and shape): median {data(rest).median():.3g}, 90 % {data(rest).quantile(0.9):.3g}")
    gm_max = 3 * math.sqrt(3) / 8 * sigma * 2                                   # max dρ/dr = (3√3/8)·2σ (ρ = σ²r²/(σ²+r²))
    log(f"Geman–McClure saturates: ρ ≤ σ² = {sigma ** 2:.0f} per keypoint, its slope dρ/dr ≤ {gm_max:.0f} per px "
        f"(at r = σ/√3 = {sigma / math.sqrt(3):.0f} px); beyond a residual of ~σ the data term hardly pulls back")
    log("E_J's stiffness ∂²E_J/∂θ² about each bend at the truth (median over views): "
        + ", ".join(f"{JOINT_NAMES[j]} {H[:, i].median():.3g}" for i, j in enumerate(BEND_JOINTS)) + " px²/rad²")
    log("| aw | stage | w | λa = (aw·w)² | λa at θ = 0, ×4 joints | E_a's pull 2λa·exp(2sθ) at the true bends (median) | "
        "bias it predicts, linear (median, all joints) | bias > 20° |")
    log("|---|---|---|---|---|---|---|---|")
    for aw in aw_list:
        for si, (w, _) in enumerate(SMPLIFY_STAGES):
            lam = (aw * w) ** 2
            pull = 2 * lam * torch.exp(2 * gt_bend)                            # (B,4) per rad
            bias = math.degrees(float((pull / H.clamp_min(1e-6)).median()))   # linearised
            log(f"| {aw:g} | {si + 1} | {w:g} | {lam:.3g} | {4 * lam:.3g} | {pull.median():.3g} | "
                + (f"{bias:.1f}°" if bias < 180 else "> 180° (far beyond the linear range)")
                + f" | {100 * (pull / H.clamp_min(1e-6) > math.radians(20)).float().mean():.0f} % |")
    lam1 = (SMPLIFY_AW * SMPLIFY_STAGES[0][0]) ** 2
    lever = 0.4 * f.mean() / views["transl"][:, 2].mean()                       # px per rad of a 40 cm bone
    hold = math.log(gm_max * float(lever) / (2 * lam1)) / 2
    log(f"aw = {SMPLIFY_AW:g}: stage 1's pull exceeds what one saturating keypoint can resist (≤ {gm_max:.0f} px⁻¹ × ~{lever:.0f} px/rad for a "
        f"40 cm bone) until exp(2sθ) < {gm_max * float(lever) / (2 * lam1):.1e}, i.e. s·θ < {math.degrees(hold):.0f}°: "
        "in stages 1-2 only the pose prior can stop E_a from folding elbows and knees")


def section_lambda(run, sets, grid, methods, log, sub=16):
    """λθ scale chosen (prior-only, v2v_pa) on A, B and disjoint ``sub``-view subsets."""
    from posekit.experiments.image_fit import SETTINGS

    chosen = {}
    log("\n## lambda: λθ prior-scale calibration spread (prior-only, v2v_pa_mm as in image_fit.tune_prior_scale)")
    for m in methods:
        errs = {s: run(m, **SETTINGS["prior-only"], prior_scale=s)["errors"]["v2v_pa_mm"] for s in grid}
        pick = lambda idx: min(grid, key=lambda s: float(errs[s][idx].mean()))
        log(f"{m}: mean v2v_pa (mm) per scale on A / B: " + ", ".join(
            f"{s:g}: {errs[s][sets['A']].mean():.1f} / {errs[s][sets['B']].mean():.1f}" for s in grid))
        chosen[m] = pick(sets["A"])
        allv = torch.cat([sets["A"], sets["B"]])
        subsets = [allv[i:i + sub] for i in range(0, len(allv) - sub + 1, sub)]
        picks = [pick(ix) for ix in subsets]
        counts = {s: picks.count(s) for s in grid if picks.count(s)}
        log(f"  chosen on A ({len(sets['A'])}): {pick(sets['A']):g}; on B ({len(sets['B'])}): {pick(sets['B']):g}; "
            f"on {len(subsets)} disjoint {sub}-view sets: " + ", ".join(f"{s:g} ×{k}" for s, k in counts.items())
            + f" (first two: {picks[0]:g}, {picks[1]:g})")
    return chosen


def section_grid(run, sets, scales, grid, methods, log, n_boot):
    from posekit.experiments.image_fit import SETTINGS

    out = {}
    log("\n## grid: bend weight angle_weight (λa = (aw·w)²) per prior, setting +angle, λθ scale chosen on A")
    log("v2v_mm; Δ = v2v(aw) − v2v(aw = 0) per view, mean [95 % paired bootstrap CI]; negative = E_a helps")
    for m in methods:
        base = run(m, **SETTINGS["prior-only"], prior_scale=scales[m])["errors"]["v2v_mm"]
        log(f"\n{m} (λθ scale {scales[m]:g}): aw = 0: A {base[sets['A']].mean():.1f}, B {base[sets['B']].mean():.1f} mm")
        log("| aw | A v2v | Δ on A | B v2v | Δ on B | A ∪ B Δ |")
        log("|---|---|---|---|---|---|")
        res = {}
        for aw in grid:
            if aw == 0:
                continue
            e = run(m, **SETTINGS["+angle"], prior_scale=scales[m], angle_weight=aw)["errors"]["v2v_mm"]
            cells = []
            for key in ("A", "B", "AB"):
                ix = torch.cat([sets["A"], sets["B"]]) if key == "AB" else sets[key]
                res[(aw, key)] = paired_ci(e[ix] - base[ix], n_boot)
                mu, lo, hi = res[(aw, key)]
                cells.append(f"{mu:+.1f} [{lo:+.1f}, {hi:+.1f}]")
            log(f"| {aw:g} | {e[sets['A']].mean():.1f} | {cells[0]} | {e[sets['B']].mean():.1f} | {cells[1]} | {cells[2]} |")
        best = min([a for a in grid if a > 0], key=lambda a: res[(a, "A")][0])
        mu, lo, hi = res[(best, "B")]
        log(f"{m}: best aw on A: {best:g} (Δ {res[(best, 'A')][0]:+.1f}); confirmed on B: Δ {mu:+.1f} [{lo:+.1f}, {hi:+.1f}] mm")
        out[m] = res
    return out


def section_stages(run, views, sets, scales, methods, log, aw_list):
    from posekit.experiments.image_fit import SETTINGS
    from posekit.fitting.smplify import SMPLIFY_STAGES

    deg = 180 / math.pi
    gt = bend_angles(views["body_pose"])
    ix = sets["A"]
    log(f"\n## stages: where the bends go (set A, {len(ix)} views, setting +angle; s·θ < 0 = natural bend)")
    log(f"ground truth: mean s·θ {deg * gt[ix].mean():.0f}°, Σ exp(2sθ) median {torch.exp(2 * gt[ix]).sum(-1).median():.2f}")
    log("| prior | aw | after | mean s·θ | mean (fit − truth) | over-bent > 45° | under-bent > 45° | |s·θ| > 150° | "
        "v2v |")
    log("|---|---|---|---|---|---|---|---|---|")
    for m in methods:
        for aw in aw_list:
            opts = {**SETTINGS["+angle"], "prior_scale": scales[m], "angle_weight": aw}
            rows = [("stage 2", run(m, **opts, stages=SMPLIFY_STAGES[:2])), ("stage 4", run(m, **opts))]
            for when, r in rows:
                b = r["bends"][ix]
                d = b - gt[ix]
                log(f"| {m} | {aw:g} | {when} | {deg * b.mean():.0f}° | {deg * d.mean():+.0f}° | "
                    f"{100 * (d < -math.pi / 4).float().mean():.0f} % | {100 * (d > math.pi / 4).float().mean():.0f} % | "
                    f"{100 * (b.abs() > math.radians(150)).float().mean():.0f} % | "
                    f"{r['errors']['v2v_mm'][ix].mean():.1f} |")
    log("\nenergies at each stage's end (median over A; E_a = the weighted term λa Σ exp(2sθ)):")
    log("| prior | aw | " + " | ".join(f"stage {i + 1} E_J / λθE_θ / λaE_a" for i in range(4)) + " |")
    log("|---|---|" + "---|" * 4)
    for m in methods:
        for aw in aw_list:
            r = run(m, **SETTINGS["+angle"], prior_scale=scales[m], angle_weight=aw)
            cells = []
            for s in r["trace"][1:]:
                cells.append(" / ".join(f"{s[k][-1][ix].median():.3g}" for k in ("data", "pose", "angle")))
            log(f"| {m} | {aw:g} | " + " | ".join(cells) + " |")


def section_init(run, sets, scales, methods, log, aw_list, n_boot):
    from posekit.experiments.image_fit import SETTINGS

    allv = torch.cat([sets["A"], sets["B"]])
    log(f"\n## init: start pose (A ∪ B, {len(allv)} views, +angle setting; v2v mm)")
    log("| prior | aw | rest | prior mean | Δ (mean − rest) [95 % CI] |")
    log("|---|---|---|---|---|")
    for m in methods:
        for aw in aw_list:
            opts = {**SETTINGS["+angle"], "prior_scale": scales[m], "angle_weight": aw}
            a = run(m, **opts)["errors"]["v2v_mm"][allv]
            b = run(m, **opts, init="prior_mean")["errors"]["v2v_mm"][allv]
            mu, lo, hi = paired_ci(b - a, n_boot)
            log(f"| {m} | {aw:g} | {a.mean():.1f} | {b.mean():.1f} | {mu:+.1f} [{lo:+.1f}, {hi:+.1f}] |")


def section_confirm(run, scales, weights, methods, log, n_boot):
    from posekit.experiments.image_fit import SETTINGS

    n = len(run.views["keypoints_2d"])
    log(f"\n## confirm: set C ({n} fresh validation views, disjoint from A and B), setting +angle; v2v mm")
    log("| prior | λθ scale | aw = 0 | " + " | ".join(f"aw = {w:g}: v2v, Δ [95 % CI]" for w in weights) + " |")
    log("|---|---|---|" + "---|" * len(weights))
    for m in methods:
        base = run(m, **SETTINGS["prior-only"], prior_scale=scales[m])["errors"]["v2v_mm"]
        cells = []
        for w in weights:
            e = run(m, **SETTINGS["+angle"], prior_scale=scales[m], angle_weight=w)["errors"]["v2v_mm"]
            mu, lo, hi = paired_ci(e - base, n_boot)
            cells.append(f"{e.mean():.1f}, {mu:+.1f} [{lo:+.1f}, {hi:+.1f}]")
        log(f"| {m} | {scales[m]:g} | {base.mean():.1f} | " + " | ".join(cells) + " |")


def main(argv=None) -> int:
    from posekit.body import load_body_model
    from posekit.experiments.image_fit import PRIOR_SCALE_GRID, PRIOR_SCALE_GRID_FAST, test_poses
    from posekit.fitting import make_views
    from posekit.fitting.smplify import SMPLifyConfig
    from posekit.photo.fit import load_named_prior

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--motions", default=next((d for d in ("../shared/data/cmu", "/work/shared/data/cmu")
                                              if os.path.isdir(d)), None))
    p.add_argument("--n", type=int, default=64, help="views per set (A and B); default 64, --fast 8")
    p.add_argument("--iters", type=int, default=100, help="L-BFGS iterations per stage (default 100, --fast 30)")
    p.add_argument("--methods", default=",".join(PRIORS))
    p.add_argument("--grid", default=None, help="angle_weight values (default 0,0.1,0.32,1,3.17; --fast 0,0.32,3.17)")
    p.add_argument("--scales", default=None, help="fix the λθ scale per prior, e.g. gmm=1,vposer=1,posendf=100 "
                                                  "(default: chosen on A by the lambda section)")
    p.add_argument("--sections", default=",".join(DEFAULT_SECTIONS), help=f"some of {','.join(SECTIONS)}")
    p.add_argument("--confirm", default="0.32,3.17", help="angle_weight values checked on set C by the confirm section")
    p.add_argument("--boot", type=int, default=10000, help="bootstrap resamples")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--fast", action="store_true")
    a = p.parse_args(argv)
    if a.fast:
        a.n, a.iters = min(a.n, 8), min(a.iters, 30)
    grid = [float(x) for x in (a.grid or ("0,0.32,3.17" if a.fast else "0,0.1,0.32,1,3.17")).split(",")]
    grid = sorted(set([0.0] + grid))
    methods = [m for m in a.methods.split(",") if m]
    sections = [s for s in a.sections.split(",") if s]
    bad = [s for s in sections if s not in SECTIONS] + [m for m in methods if m not in PRIORS]
    if bad:
        p.error(f"unknown section/method {bad}; sections {SECTIONS}, methods {PRIORS}")
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    log = lambda s: print(s, flush=True)
    t0 = time.perf_counter()
    bm = load_body_model()
    priors = {m: load_named_prior(m) for m in methods}
    val = test_poses(a.motions, 10 ** 9, seed=a.seed, split="val")             # every val pose, shuffled
    n = min(a.n, len(val) // 3)
    views = make_views(bm, val[:2 * n], seed=a.seed)
    sets = {"A": torch.arange(n), "B": torch.arange(n, 2 * n)}
    log(f"{len(val)} validation poses; sets A and B: {n} views each (disjoint frames, own shapes and cameras); "
        f"{a.iters} L-BFGS steps per stage, rest-pose start; torch threads {torch.get_num_threads()}")
    base = {"stage_iters": a.iters, "camera_iters": 20 if a.fast else 30}
    run = Runner(views, bm, priors, base)
    if "rig" in sections:
        section_rig(bm, log)
    if "real" in sections:
        section_real(val, priors, log)
    if "scale" in sections:
        section_scale(views, bm, log, aw_list=sorted({SMPLIFY_AW, SMPLifyConfig().angle_weight} - {0.0}))
    scale_grid = PRIOR_SCALE_GRID_FAST if a.fast else PRIOR_SCALE_GRID
    if a.scales:
        scales = {k: float(v) for k, v in (kv.split("=") for kv in a.scales.split(","))}
    elif any(s in sections for s in ("lambda", "grid", "stages", "init")):
        scales = section_lambda(run, sets, scale_grid, methods, log, sub=16 if not a.fast else 4)
    if "lambda" in sections and a.scales:
        section_lambda(run, sets, scale_grid, methods, log, sub=16 if not a.fast else 4)
    if "grid" in sections:
        section_grid(run, sets, scales, grid, methods, log, a.boot)
    aw_list = sorted({0.0, SMPLIFY_AW, SMPLifyConfig().angle_weight})
    if "stages" in sections:
        section_stages(run, views, sets, scales, methods, log, aw_list)
    if "init" in sections:
        section_init(run, sets, scales, [m for m in methods if m != "posendf"], log, aw_list, a.boot)
    if "confirm" in sections:
        cviews = make_views(bm, val[2 * n:3 * n], seed=a.seed + 1)
        crun = Runner(cviews, bm, priors, base)
        section_confirm(crun, scales, [float(x) for x in a.confirm.split(",")], methods, log, a.boot)
        run.cache.update({("C",) + k: v for k, v in crun.cache.items()})
    log(f"\n{len(run.cache)} batched SMPLify fits, {time.perf_counter() - t0:.0f} s in all")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
