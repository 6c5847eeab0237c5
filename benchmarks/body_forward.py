"""Forward-pass speed: posekit's open SMPL-layout model (smplx) vs anny's native forward, same mesh.

The open model is built on anny's decimated topology ``notoes_collapse10pc`` (1,229 vertices; see
posekit/body/build_open_model.py), so both models deform the same vertex set. We time, on the CPU,
warm, the median of N calls (interleaved round-robin across the models):

* ``open (smplx)``: ``smplx.SMPL.forward`` with betas (B, 10), global_orient (B, 3), body_pose (B, 69);
* ``open (posekit.body.forward)``: the same call behind posekit's shape checks;
* ``anny (warp_lbs)``: anny's default forward (phenotypes (B, 6), pose_parameters (B, 104, 4, 4) as
  local bone rotations, Warp skinning kernel);
* ``anny (lbs)``: anny with its dense-torch skinning.

Each at batch 1 and 64, forward only (``torch.no_grad``) and forward+backward (gradient of the vertex
sum w.r.t. the pose inputs, what a fitting loop pays). Run:
``OMP_NUM_THREADS=1 python benchmarks/body_forward.py [--repeats N] [--threads T]``.
Numbers depend on the machine and its load; nothing is asserted.
"""
from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time

import torch


def interleaved_medians(cases: dict, repeats: int, warmup: int = 3) -> dict:
    """Median wall time (ms) per case. Calls are interleaved (one call of each case per round, in a
    shuffled order), so a load change on a shared machine hits every case alike instead of biasing one."""
    for fn in cases.values():
        for _ in range(warmup):
            fn()
    times = {k: [] for k in cases}
    rng = random.Random(0)
    for _ in range(repeats):
        order = list(cases.items())
        rng.shuffle(order)  # no case always runs right after another (cache effects)
        for k, fn in order:
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: 1000 * statistics.median(v) for k, v in times.items()}


def open_model_cases(batch: int, gen: torch.Generator):
    import posekit.body as pb

    body = pb.load_body_model("open", device="cpu")
    betas = torch.randn(batch, body.num_betas, generator=gen)
    go = 0.3 * torch.randn(batch, 3, generator=gen)
    bp = 0.3 * torch.randn(batch, 69, generator=gen)
    transl = torch.zeros(batch, 3)

    def smplx_fwd():
        with torch.no_grad():
            return body(betas=betas, global_orient=go, body_pose=bp, transl=transl).vertices

    def posekit_fwd():
        with torch.no_grad():
            return pb.forward(body, betas=betas, global_orient=go, body_pose=bp, transl=transl).vertices

    bp_g = bp.clone().requires_grad_()
    go_g = go.clone().requires_grad_()

    def smplx_fwd_bwd():
        v = body(betas=betas, global_orient=go_g, body_pose=bp_g, transl=transl).vertices
        torch.autograd.grad(v.sum(), (go_g, bp_g))

    return body.get_num_verts(), {"open (smplx)": (smplx_fwd, smplx_fwd_bwd),
                                  "open (posekit.body.forward)": (posekit_fwd, None)}


def anny_cases(batch: int, gen: torch.Generator, topology: str):
    try:
        import warp

        warp.config.log_level = warp.LOG_WARNING
        warp.config.quiet = True
        import anny
        import roma
    except ImportError as e:  # anny is an optional extra
        print(f"[anny not available: {e}]", file=sys.stderr)
        return None, {}
    cases = {}
    n_verts = None
    for method in ("warp_lbs", "lbs"):
        model = anny.Anny(topology=topology, skinning_method=method).to(dtype=torch.float32)
        n_verts = int(model.template_vertices.shape[0])
        n_phen = len(model.phenotype_labels)
        phen = torch.rand(batch, n_phen, generator=gen)
        rot = roma.rotvec_to_rotmat(0.3 * torch.randn(batch, model.bone_count, 3, generator=gen))
        pose = torch.eye(4).repeat(batch, model.bone_count, 1, 1)
        pose[..., :3, :3] = rot

        def fwd(model=model, pose=pose, phen=phen):
            with torch.no_grad():
                return model(pose_parameters=pose, phenotype_kwargs=phen)["vertices"]

        pose_g = pose.clone().requires_grad_()

        def fwd_bwd(model=model, pose_g=pose_g, phen=phen):
            v = model(pose_parameters=pose_g, phenotype_kwargs=phen)["vertices"]
            torch.autograd.grad(v.sum(), (pose_g,))

        cases[f"anny ({method})"] = (fwd, fwd_bwd)
    return n_verts, cases


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=50, help="timed calls per case (median reported)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    p.add_argument("--topology", default="notoes_collapse10pc", help="anny topology matching the open model")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)

    rows = []
    info = {}
    for batch in args.batches:
        nv_open, open_c = open_model_cases(batch, gen)
        nv_anny, anny_c = anny_cases(batch, gen, args.topology)
        info = {"open": nv_open, "anny": nv_anny}
        allc = {**open_c, **anny_c}
        fwd_t = interleaved_medians({n: f for n, (f, _) in allc.items()}, args.repeats)
        bwd_t = interleaved_medians({n: b for n, (_, b) in allc.items() if b is not None}, max(5, args.repeats // 2))
        for name in allc:
            rows.append((name, batch, "forward", fwd_t[name]))
            if name in bwd_t:
                rows.append((name, batch, "forward+backward", bwd_t[name]))

    print(f"# body forward benchmark: CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores visible), "
          f"torch {torch.__version__}, {args.threads} thread(s), median of {args.repeats} warm calls "
          f"(forward+backward: {max(5, args.repeats // 2)})")
    print(f"# vertices: open model {info['open']}, anny topology {args.topology!r} {info['anny']}")
    print(f"{'model':30s} {'batch':>5s} {'pass':>17s} {'median ms':>10s} {'anny(warp)/this':>16s}")
    ref = {(b, ps): t for (n, b, ps, t) in rows if n == "anny (warp_lbs)"}
    for name, batch, ps, t in rows:
        r = ref.get((batch, ps))
        ratio = f"{r / t:16.2f}" if r is not None else f"{'n/a':>16s}"
        print(f"{name:30s} {batch:5d} {ps:>17s} {t:10.3f} {ratio}")
    print("# ratio > 1: faster than anny's default (Warp) forward on the same mesh")
    return 0


if __name__ == "__main__":
    sys.exit(main())
