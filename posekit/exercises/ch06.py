"""Chapter 06 (HuMoR): the KL to a learned prior and the contact labels.

- ``check_diagonal_gaussian_kl``: KL(N(μ_q, diag e^{ℓ_q}) ‖ N(μ_p, diag e^{ℓ_p})) from means and
  log-variances (B, L) × 4 -> (B,); reference :func:`posekit.priors.humor.cvae.gaussian_kl`
  (and ``torch.distributions.kl_divergence``).
- ``check_contact_labels``: contacts of joint trajectories (T, K, 3) from their height above the floor and
  their speed; reference :func:`posekit.priors.humor.state.contact_labels`.
"""
from __future__ import annotations

import torch

from ..priors.humor.cvae import gaussian_kl
from ..priors.humor.state import CONTACT_HEIGHT, CONTACT_SPEED, contact_labels
from ._core import call, check_result, close, exercise, expect_grad, expect_shape

__all__ = ["check_diagonal_gaussian_kl", "check_contact_labels"]


@exercise("06")
def check_diagonal_gaussian_kl(student_function) -> None:
    B, L = 5, 8
    mq, lq, mp, lp = (torch.randn(B, L, dtype=torch.float64) for _ in range(4))
    ref = gaussian_kl(mq, lq, mp, lp)
    out = call(student_function, mq, lq, mp, lp)
    check_result(out.numel() != 1, "return one KL per sample (B,), not the batch mean")
    expect_shape(out, ref.shape, f"for latents ({B}, {L})")
    out = out.to(torch.float64)
    check_result(not close(out, gaussian_kl(mp, lp, mq, lq)), "that is KL(p ‖ q): the KL is not symmetric")
    check_result(not close(out, ref / L), "sum over the latent dimensions, do not average")
    same = call(student_function, mq, lq, mq, lq).to(torch.float64)
    check_result(close(same, torch.zeros(B, dtype=torch.float64), atol=1e-8),
                 "the KL of a Gaussian to itself must be 0")
    std = call(student_function, mq, lq, torch.zeros_like(mp), torch.zeros_like(lp)).to(torch.float64)
    check_result(close(std, 0.5 * (lq.exp() + mq ** 2 - 1 - lq).sum(-1)),
                 "against N(0, I) your KL is wrong: check the variance terms (e^ℓ is the variance, not σ)")
    check_result(close(out, ref), "the KL to a prior with its own mean and variance is wrong: "
                                  "½ Σ (ℓ_p − ℓ_q + (e^ℓ_q + (μ_q − μ_p)²) / e^ℓ_p − 1)")
    expect_grad(lambda m: student_function(m, lq, mp, lp), mq)


@exercise("06")
def check_contact_labels(student_function) -> None:
    T, K, fps = 40, 4, 30.0
    J = torch.randn(T, K, 3, dtype=torch.float64).cumsum(0) * 0.01
    J[..., 1] = J[..., 1].abs() * 3.0                                        # heights 0 .. ~0.3 m
    J[10:20, 0] = J[10, 0]                                                   # joint 0 rests for 10 frames
    J[10:20, 0, 1] = 0.02
    J[:2, 1, 1] = 0.02                                                       # joint 1 low but fast at the start
    J[1, 1, 0] = J[0, 1, 0] + 0.1
    ref = contact_labels(J, fps, joint_ids=range(K))
    out = call(student_function, J, fps, CONTACT_HEIGHT, CONTACT_SPEED)
    expect_shape(out, ref.shape, f"for trajectories ({T}, {K}, 3)")
    out = out.to(torch.float64)
    check_result(bool(out[11:20, 0].all()), "a joint resting on the floor must be in contact")
    height_only = (J[..., 1] < CONTACT_HEIGHT).to(torch.float64)
    check_result(not close(out, height_only) or close(height_only, ref), "low is not enough: a contact must also be slow")
    check_result(close(out, ref), "contact = height above the floor (y) < height AND speed (backward "
                                  "difference × fps; frame 0 takes frame 1's) < speed")

#: chapter key and exercises (prompt, stub) for tools/course_cells.py
CHAPTER = "06"
EXERCISES = [
    {"check": "check_diagonal_gaussian_kl", "function": "my_diagonal_gaussian_kl",
     "prompt": "Write the **KL divergence between two diagonal Gaussians** given by means and log-variances, "
               "KL(N(μ_q, diag e^{ℓ_q}) ‖ N(μ_p, diag e^{ℓ_p})), summed over the latent dimensions: "
               "`(B, L)` × 4 → `(B,)`. This is HuMoR's KL to its *learned* prior p(z | x_{t-1}).",
     "stub": 'def my_diagonal_gaussian_kl(mu_q, logvar_q, mu_p, logvar_p):\n    """(B, L) x 4 -> (B,)."""\n'
             '    # your code here\n    raise NotImplementedError'},
    {"check": "check_contact_labels", "function": "my_contact_labels",
     "prompt": "Write **contact labels** for joint trajectories `J` `(T, K, 3)` (metres, y up, floor at y = 0): "
               "a joint is in contact when its height is below `height` and its speed (backward difference × "
               "`fps`, frame 0 taking frame 1's) below `speed`. Return `(T, K)` of 0/1.",
     "stub": 'def my_contact_labels(J, fps, height=0.10, speed=0.30):\n    """(T, K, 3) -> (T, K) of 0/1."""\n'
             '    # your code here\n    raise NotImplementedError'},
]

#: investigations (prompt and a runnable experiment) for tools/course_cells.py
INVESTIGATIONS = [
    {"title": "how fast do the rollouts walk, and why?",
     "prompt": "The rollouts above move at about a third of the real walk's speed. The cell below rolls out "
               "4 samples for 240 frames (8 s) at three temperatures (the latent is drawn from p(z | x) with its "
               "standard deviation scaled by the temperature; 0 takes the prior's mean) and plots the mean "
               "horizontal pelvis speed second by second, beside the walk and the mean speed of the validation "
               "clips the model was checked on (stored in its training history). Run it, then answer: "
               "(1) do the samples start at the walk's speed and slow down, or are they slow from the start? "
               "(2) which speed do they approach, the walk's or the data's? (3) does a colder or hotter latent "
               "keep walking? (4) start from a later frame of the walk (`start = 60`) or from another clip: "
               "what changes?",
     "code": 'start, temperatures = 0, (0.0, 0.5, 1.0)         # change me\n'
             'from posekit.priors.humor.state import unpack_state\n'
             'def speed_per_second(states):                      # (B, T, D) -> (B, T // 30) m/s\n'
             '    v = unpack_state(states)["root_vel"][..., [0, 2]].norm(dim=-1)\n'
             '    return v[:, : v.shape[1] // 30 * 30].reshape(len(v), -1, 30).mean(-1)\n'
             'fig, ax = plt.subplots(figsize=(7, 3.4))\n'
             'with torch.no_grad():\n'
             '    for k, temp in enumerate(temperatures):\n'
             '        xs, _, _ = model.rollout(x[start:start + 1].repeat(4, 1), 240, temperature=temp, generator_seed=0)\n'
             '        s = speed_per_second(xs)\n'
             '        ax.plot(np.arange(s.shape[1]) + 0.5, s.mean(0).numpy(), "o-", color=f"C{k}",\n'
             '                label=f"rollouts, temperature {temp:g}")\n'
             'ax.axhline(float(speed_per_second(x[None]).mean()), color="k", label="the real walk")\n'
             'ax.axhline(model.history["floor"]["real"]["speed"], color="0.5", ls="--",\n'
             '           label="validation clips (training history)")\n'
             'ax.set_xlabel("time (s)"); ax.set_ylabel("mean pelvis speed (m/s)"); ax.legend(fontsize=7)\n'
             'ax.set_title("Rollout speed, second by second (4 samples each)")\n'
             'plt.tight_layout(); plt.show()'},
]
