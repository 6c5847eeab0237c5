"""SMPLify's pose prior: a Gaussian mixture over the 21 body joints' axis-angle (63 numbers).

We model the 21 body joints 1..21 (``posekit.skeleton.BODY_JOINTS``), not SMPLify's 23: the two
hand joints of SMPL carry no information in mocap data and every posekit prior ignores them.
The random variable is θ ∈ R^63, the axis-angle vectors of joints 1..21 concatenated.

Energies (seed, SMPLify eq. 4):

* exact:        E(θ) = −log Σ_j g_j N(θ; μ_j, Σ_j)                      (``approx=None``)
* max-mixture:  E(θ) ≈ min_j −log(c · g_j · N(θ; μ_j, Σ_j))               (``approx="max"``)

SMPLify leaves the constant c free ("c is a constant"; the SMPLify-X code folds
sqrt(min_j det Σ_j) into it). We take c = (2π)^{d/2} · sqrt(min_j det Σ_j), so that
−log(c g_j N_j) = ½ (θ−μ_j)ᵀ Σ_j⁻¹ (θ−μ_j) + ½ log(det Σ_j / min_k det Σ_k) − log g_j ≥ 0:
the max-mixture energy is non-negative and its gradient is that of SMPLify / SMPLify-X
(a constant never changes the optimum).

Both energies are torch functions of a batch (differentiable; the precision Cholesky factors
L_j with Σ_j⁻¹ = L_j L_jᵀ are precomputed once).
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError, check_finite
from ..skeleton import as_body21
from ..utils import atomic_save_npz, get_device
from .files import read_npz_prior

__all__ = ["GMMPrior", "DIM", "check_gmm_arrays"]

#: dimension of the modelled pose vector: 21 body joints × 3 axis-angle numbers
DIM = 63


def check_gmm_arrays(means, covariances, weights, where: str = ""):
    """Mixture parameters as float64 arrays with the Cholesky factors of the covariances:
    ``(means, covariances, weights, chol)``, else :class:`~posekit.errors.InputError` (``where`` names the file).

    Expected: means (K, 63), covariances (K, 63, 63) symmetric positive definite, weights (K,) finite and > 0.
    """
    loc = f" in {where}" if where else ""
    means = np.asarray(means, dtype=np.float64)
    covariances = np.asarray(covariances, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    k = means.shape[0] if means.ndim else 0
    if k < 1 or means.shape != (k, DIM) or covariances.shape != (k, DIM, DIM) or weights.shape != (k,):
        raise InputError(f"GMM arrays{loc} have shapes means {means.shape}, covariances {covariances.shape}, "
                         f"weights {weights.shape}; expected means (K,{DIM}), covariances (K,{DIM},{DIM}), "
                         "weights (K,) with K ≥ 1")
    for name, a in (("means", means), ("covariances", covariances), ("weights", weights)):
        check_finite(f"GMM {name}", a, where)
    if np.any(weights <= 0):
        raise InputError(f"GMM weights{loc} include {np.sort(weights)[0]:.3g}; expected positive mixture weights")
    asym = np.abs(covariances - covariances.transpose(0, 2, 1)).max(axis=(1, 2))
    scale = np.abs(covariances).max(axis=(1, 2))
    bad = np.flatnonzero(asym > 1e-6 * scale + 1e-12)
    if bad.size:
        raise InputError(f"GMM covariance {int(bad[0])}{loc} is not symmetric (|Σ−Σᵀ| up to {asym[bad[0]]:.3g}); "
                         "expected symmetric positive definite matrices")
    chol = np.empty_like(covariances)
    for j, c in enumerate(covariances):
        try:
            chol[j] = np.linalg.cholesky(c)
        except np.linalg.LinAlgError:
            lo = float(np.linalg.eigvalsh(c)[0])
            raise InputError(f"GMM covariance {j}{loc} is not positive definite (smallest eigenvalue {lo:.3g}); "
                             "expected symmetric positive definite matrices") from None
    return means, covariances, weights, chol


class GMMPrior:
    """A full-covariance Gaussian mixture over body-21 axis-angle poses (63-d).

    Build with :meth:`fit` (scikit-learn) or :meth:`load`; evaluate with :meth:`energy` (torch),
    draw with :meth:`sample`.
    """

    def __init__(self, means, covariances, weights, device=None, dtype=torch.float32):
        means, covariances, weights, chol = check_gmm_arrays(means, covariances, weights)
        self.device = get_device(device)
        self.dtype = dtype
        self.means_np, self.covariances_np, self.weights_np = means, covariances, weights / weights.sum()
        # precision Cholesky: Σ⁻¹ = L Lᵀ with L = inv(chol(Σ))ᵀ  (as scikit-learn stores it); chol (K,63,63) lower
        eye = np.eye(DIM)
        prec_chol = np.stack([np.linalg.solve(c, eye).T for c in chol])           # (K,63,63) upper
        logdet = 2.0 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(-1)        # (K,) log det Σ_j
        self.logdet_np = logdet
        t = lambda a: torch.as_tensor(a, dtype=dtype, device=self.device)
        self.means = t(means)                                                      # (K,63)
        self.prec_chol = t(prec_chol)                                              # (K,63,63)
        self.log_weights = t(np.log(self.weights_np))                              # (K,)
        self.logdet = t(logdet)                                                    # (K,)
        # -log(g_j) - log N normaliser, exact:  ½ d log 2π + ½ log det Σ_j − log g_j
        self.exact_const = t(0.5 * DIM * math.log(2 * math.pi) + 0.5 * logdet - np.log(self.weights_np))
        # max-mixture with c = (2π)^{d/2} sqrt(min det Σ):  ½ log(det Σ_j / min det Σ) − log g_j  (≥ 0)
        self.max_const = t(0.5 * (logdet - logdet.min()) - np.log(self.weights_np))
        #: log c (so that energy(approx="max") = min_j(exact_j) − log c)
        self.log_c = 0.5 * DIM * math.log(2 * math.pi) + 0.5 * float(logdet.min())

    # ----------------------------------------------------------------- construction / IO
    @property
    def n_components(self) -> int:
        return int(self.means.shape[0])

    @classmethod
    def fit(cls, body_poses, n_components: int = 8, seed: int = 0, reg_covar: float = 1e-2,
            max_iter: int = 200, device=None) -> "GMMPrior":
        """Fit with scikit-learn's ``GaussianMixture(covariance_type="full")``.

        body_poses: any layout ``as_body21`` accepts ((N,63), (N,69), (N,72), (N,21|23|24,3)), torch or numpy.
        ``reg_covar`` (rad²) is added to the covariance diagonals: a floor of (5.7°)² on every variance.
        Without it (scikit-learn's 1e-6, or 1e-4) directions the training subjects hardly vary get tiny
        variances and held-out subjects look implausible: on the CMU dev set the mean energy of
        test-subject poses drops from ~780 (1e-4) to ~71 (1e-2) and SMPLify's PA-v2v error on 12
        test views from 126 mm to 53 mm (see the chapter-02 report).
        """
        from sklearn.mixture import GaussianMixture

        x = torch.as_tensor(np.asarray(body_poses) if not torch.is_tensor(body_poses) else body_poses)
        x = as_body21(x.double().cpu()).reshape(-1, DIM).numpy()
        if not np.all(np.isfinite(x)):
            raise ValueError("body_poses contain NaN or inf")
        if x.shape[0] < n_components * 2:
            raise ValueError(f"need at least {2 * n_components} poses to fit {n_components} components, got {x.shape[0]}")
        gm = GaussianMixture(n_components=n_components, covariance_type="full", reg_covar=reg_covar,
                             max_iter=max_iter, random_state=seed, init_params="kmeans")
        gm.fit(x)
        return cls(gm.means_, gm.covariances_, gm.weights_, device=device)

    def save(self, path: str | os.PathLike) -> Path:
        """Write ``means``, ``covariances``, ``weights`` to an ``.npz`` (atomically, no pickle)."""
        return atomic_save_npz(path, means=self.means_np, covariances=self.covariances_np, weights=self.weights_np)

    @classmethod
    def load(cls, path: str | os.PathLike, device=None) -> "GMMPrior":
        """Read a file written by :meth:`save` (``np.load(..., allow_pickle=False)``).

        A file that does not read, lacks an array, holds NaN, arrays of the wrong shapes, weights that are not
        positive or do not sum to 1, or a covariance that is not symmetric positive definite raises
        :class:`~posekit.errors.InputError` naming the file (see ``posekit.priors.files``).
        """
        z = read_npz_prior(path, "gmm")
        where = str(Path(path))
        check_gmm_arrays(z["means"], z["covariances"], z["weights"], where=where)
        total = float(np.sum(z["weights"], dtype=np.float64))
        if abs(total - 1.0) > 1e-4:
            raise InputError(f"weights in {where} sum to {total:.6g}; expected mixture weights summing to 1")
        return cls(z["means"], z["covariances"], z["weights"], device=device)

    def to(self, device) -> "GMMPrior":
        return GMMPrior(self.means_np, self.covariances_np, self.weights_np, device=device, dtype=self.dtype)

    # ----------------------------------------------------------------- energies
    def mahalanobis(self, body_pose: torch.Tensor) -> torch.Tensor:
        """½ (θ−μ_j)ᵀ Σ_j⁻¹ (θ−μ_j) for each pose and component -> (B, K)."""
        theta = as_body21(body_pose).reshape(-1, DIM).to(self.means)               # (B,63)
        diff = theta[:, None, :] - self.means[None]                                 # (B,K,63)
        y = torch.einsum("bki,kij->bkj", diff, self.prec_chol)                      # (B,K,63) Lᵀ(θ−μ)
        return 0.5 * (y * y).sum(-1)                                                # (B,K)

    def component_energies(self, body_pose: torch.Tensor) -> torch.Tensor:
        """−log(g_j N(θ; μ_j, Σ_j)) -> (B, K)."""
        return self.mahalanobis(body_pose) + self.exact_const                       # (B,K)

    def energy(self, body_pose: torch.Tensor, approx: str | None = "max") -> torch.Tensor:
        """Prior energy per pose -> (B,).

        approx="max": min_j −log(c g_j N_j) with c as in the module docstring (SMPLify);
        approx=None (or "exact"): −log Σ_j g_j N_j via logsumexp.
        """
        if approx == "max":
            return (self.mahalanobis(body_pose) + self.max_const).min(dim=-1).values   # (B,)
        if approx is None or approx == "exact":
            return -torch.logsumexp(-self.component_energies(body_pose), dim=-1)        # (B,)
        raise ValueError(f"approx must be 'max' or None (exact), got {approx!r}")

    def mean_pose(self) -> torch.Tensor:
        """The mixture's mean pose Σ_j g_j μ_j -> (21, 3) axis-angle (SMPLify's initial pose)."""
        return torch.as_tensor(self.weights_np @ self.means_np, dtype=torch.float32).reshape(21, 3)

    def log_prob(self, body_pose: torch.Tensor) -> torch.Tensor:
        """log Σ_j g_j N(θ; μ_j, Σ_j) -> (B,) (the exact log density of the 63-d vector)."""
        return -self.energy(body_pose, approx=None)

    def sample(self, n: int, seed: int | None = None) -> torch.Tensor:
        """n poses drawn from the mixture -> (n, 21, 3) axis-angle (body-21 layout)."""
        rng = np.random.default_rng(seed)
        comp = rng.choice(self.n_components, size=n, p=self.weights_np)
        chol = np.linalg.cholesky(self.covariances_np)
        eps = rng.standard_normal((n, DIM))
        x = self.means_np[comp] + np.einsum("nij,nj->ni", chol[comp], eps)
        return torch.as_tensor(x, dtype=self.dtype, device=self.device).reshape(n, 21, 3)

    def __repr__(self) -> str:
        return f"GMMPrior(n_components={self.n_components}, dim={DIM}, device={self.device})"
