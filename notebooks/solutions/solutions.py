"""Worked solutions to the chapters' exercises (teacher's copy: leave this folder out of what you hand out).

Each function solves the exercise of the same name in ``posekit.exercises``; ``SOLUTIONS`` maps the
check's name to its solution. Written from the papers' formulas with plain torch.
"""
import math

import torch


# ---- chapter 00 -------------------------------------------------------------------------
def my_aa_to_matrix(aa):
    """Rodrigues: R = I + sin θ [k]× + (1 − cos θ) [k]×², θ = |aa|, k = aa/θ.  (B, 3) -> (B, 3, 3)"""
    theta = aa.norm(dim=-1, keepdim=True)                                   # (B, 1)
    k = aa / theta.clamp_min(1e-12)
    K = torch.zeros(*aa.shape[:-1], 3, 3, dtype=aa.dtype)
    K[..., 0, 1], K[..., 0, 2], K[..., 1, 2] = -k[..., 2], k[..., 1], -k[..., 0]
    K = K - K.transpose(-1, -2)
    s, c = torch.sin(theta)[..., None], torch.cos(theta)[..., None]
    return torch.eye(3, dtype=aa.dtype) + s * K + (1 - c) * K @ K


def my_geodesic_angle(R1, R2):
    """θ = arccos((tr(R1ᵀ R2) − 1) / 2).  (B, 3, 3) × 2 -> (B,)"""
    tr = torch.diagonal(R1.transpose(-1, -2) @ R2, dim1=-2, dim2=-1).sum(-1)
    return torch.arccos(((tr - 1) / 2).clamp(-1 + 1e-12, 1 - 1e-12))


# ---- chapter 01 -------------------------------------------------------------------------
def lbs_vertex(v, w, A):
    """v' = (Σ_j w_j A_j) [v; 1].  v (3,), w (J,), A (J, 4, 4) -> (3,)"""
    M = (w[:, None, None] * A).sum(0)                                       # (4, 4) blended transform
    return M[:3, :3] @ v + M[:3, 3]


def joint_regressor(J_regressor, vertices):
    """J = 𝒥 V per body.  (J, V), (B, V, 3) -> (B, J, 3)"""
    return torch.einsum("jv,bvc->bjc", J_regressor.to(vertices.dtype), vertices)


# ---- chapter 02 -------------------------------------------------------------------------
def geman_mcclure(residual, sigma):
    """ρ(r) = σ² ‖r‖² / (σ² + ‖r‖²).  (..., 2) -> (...)"""
    sq = (residual ** 2).sum(-1)
    return sigma ** 2 * sq / (sigma ** 2 + sq)


def max_mixture_energy(theta, means, covariances, weights):
    """min_j [½ (θ−μ_j)ᵀ Σ_j⁻¹ (θ−μ_j) + ½ log(det Σ_j / min_k det Σ_k) − log g_j].  (B, 63) -> (B,)"""
    diff = theta[:, None, :] - means[None]                                  # (B, K, 63)
    maha = 0.5 * torch.einsum("bki,kij,bkj->bk", diff, torch.linalg.inv(covariances), diff)
    logdet = torch.logdet(covariances)                                      # (K,)
    const = 0.5 * (logdet - logdet.min()) - torch.log(weights / weights.sum())
    return (maha + const).min(-1).values


# ---- chapter 02b ------------------------------------------------------------------------
def neck_and_head_top(shoulders, ears, neck_up, head_up):
    """neck = m_s + a (m_e − m_s), head top = m_e + b (m_e − m_s).  (B, 2, 2) × 2 -> (B, 2, 2)"""
    m_s, m_e = shoulders.mean(1), ears.mean(1)                              # (B, 2) midpoints
    return torch.stack([m_s + neck_up * (m_e - m_s), m_e + head_up * (m_e - m_s)], 1)


def focal_from_35mm(f35, width, height):
    """f_px = f35 · √(W² + H²) / √(36² + 24²) (the 35 mm equivalent is defined on the diagonal).  (B,) × 3 -> (B,)"""
    return f35 * torch.sqrt(width ** 2 + height ** 2) / math.hypot(36.0, 24.0)


# ---- chapter 03 -------------------------------------------------------------------------
def kl_divergence(mu, sigma):
    """½ Σ_d (σ² + μ² − 1 − log σ²).  (B, D) × 2 -> (B,)"""
    return 0.5 * (sigma ** 2 + mu ** 2 - 1 - torch.log(sigma ** 2)).sum(-1)


def gram_schmidt_6d(x6):
    """[a1 a2] = x6 as 3x2 -> R = [b1 b2 b1×b2].  (..., 6) -> (..., 3, 3)"""
    a = x6.reshape(*x6.shape[:-1], 3, 2)
    b1 = torch.nn.functional.normalize(a[..., 0], dim=-1)
    b2 = torch.nn.functional.normalize(a[..., 1] - (b1 * a[..., 1]).sum(-1, keepdim=True) * b1, dim=-1)
    return torch.stack([b1, b2, torch.cross(b1, b2, dim=-1)], dim=-1)


# ---- chapter 04 -------------------------------------------------------------------------
def my_pose_ndf_distance(q1, q2, w):
    """sqrt(Σ_i w_i/2 · arccos²|q_i·q̂_i|).  (B, K, 4) × 2, (K,) -> (B,)"""
    ang = torch.arccos((q1 * q2).sum(-1).abs().clamp(max=1 - 1e-12))
    return torch.sqrt((w * 0.5 * ang ** 2).sum(-1))


def projection_step(q, f, g, alpha):
    """exp_q(v), v = −α f (I − q qᵀ) ∇f, then w >= 0.  (B, K, 4), (B,), (B, K, 4) -> (B, K, 4)"""
    v = -alpha * f[:, None, None] * (g - (g * q).sum(-1, keepdim=True) * q)
    n = v.norm(dim=-1, keepdim=True)
    out = torch.cos(n) * q + torch.sin(n) * v / n.clamp_min(1e-12)
    out = out / out.norm(dim=-1, keepdim=True)
    return torch.where(out[..., 3:] < 0, -out, out)


# ---- chapter 05 -------------------------------------------------------------------------
def mpjpe(X, Y):
    """mean_i ‖x_i − y_i‖.  (B, N, 3) × 2 -> (B,)"""
    return (X - Y).norm(dim=-1).mean(-1)


def procrustes_align(X, Y):
    """Umeyama: s R X + t closest to Y, det R = +1.  (B, N, 3) × 2 -> (B, N, 3)"""
    mx, my = X.mean(1, keepdim=True), Y.mean(1, keepdim=True)
    x, y = X - mx, Y - my
    U, S, Vh = torch.linalg.svd(x.transpose(1, 2) @ y)
    d = torch.sign(torch.det(Vh.transpose(1, 2) @ U.transpose(1, 2)))
    D = torch.diag_embed(torch.stack([torch.ones_like(d), torch.ones_like(d), d], -1))
    R = Vh.transpose(1, 2) @ D @ U.transpose(1, 2)
    s = (S * torch.diagonal(D, dim1=1, dim2=2)).sum(-1) / (x ** 2).sum((1, 2))
    return s[:, None, None] * x @ R.transpose(1, 2) + my


def my_paired_ci(a, b, resamples=10000):
    """Mean of d = a − b and the 2.5 % / 97.5 % quantiles of resampled means.  (n,) × 2 -> (3,)"""
    d = torch.as_tensor(a, dtype=torch.float64) - torch.as_tensor(b, dtype=torch.float64)
    idx = torch.randint(0, len(d), (resamples, len(d)), generator=torch.Generator().manual_seed(0))
    means = d[idx].mean(1)
    return torch.stack([d.mean(), means.quantile(0.025), means.quantile(0.975)])


# ---- chapter 06 -------------------------------------------------------------------------
def my_diagonal_gaussian_kl(mu_q, logvar_q, mu_p, logvar_p):
    """KL(N(μ_q, e^ℓ_q) ‖ N(μ_p, e^ℓ_p)) summed over the last dim.  (B, L) × 4 -> (B,)"""
    return 0.5 * (logvar_p - logvar_q + (logvar_q.exp() + (mu_q - mu_p) ** 2) / logvar_p.exp() - 1.0).sum(-1)


def my_contact_labels(J, fps, height=0.10, speed=0.30):
    """height < height and speed < speed.  (T, K, 3) -> (T, K)"""
    d = (J[1:] - J[:-1]).norm(dim=-1) * fps                                   # (T-1, K) m/s
    v = torch.cat([d[:1], d], dim=0)
    return ((J[..., 1] < height) & (v < speed)).to(J.dtype)


# ---- chapter 07 -------------------------------------------------------------------------
def my_chordal_distance(a, b):
    """Σ_j ‖R_j(a) − R_j(b)‖²_F for every pair.  (B, 21, 3) × (N, 21, 3) -> (B, N)"""
    Ra = my_aa_to_matrix(a.reshape(-1, 3)).reshape(a.shape[0], -1)              # (B, 21·9)
    Rb = my_aa_to_matrix(b.reshape(-1, 3)).reshape(b.shape[0], -1)              # (N, 21·9)
    return (Ra.pow(2).sum(-1, keepdim=True) + Rb.pow(2).sum(-1) - 2 * Ra @ Rb.T).clamp_min(0.0)


def my_kde_energy(body21, bank, h):
    """−log (1/N) Σ_i exp(−d²_i / 2h²).  (B, 21, 3), (N, 21, 3) -> (B,)"""
    d2 = my_chordal_distance(body21, bank)                                      # (B, N)
    return -(torch.logsumexp(-d2 / (2 * h * h), dim=1) - math.log(bank.shape[0]))


# ---- chapter 08 -------------------------------------------------------------------------
def my_regressor_inputs(kp, conf, boxes):
    """[(k − c)/b · 1[conf > 0], conf].  (B, 14, 2), (B, 14), (B, 4) -> (B, 42)"""
    c = 0.5 * (boxes[:, :2] + boxes[:, 2:])                                   # (B, 2) box centre
    b = (boxes[:, 2:] - boxes[:, :2]).max(dim=-1).values                     # (B,) longer side
    xy = (kp - c[:, None]) / b[:, None, None] * (conf > 0).to(kp.dtype)[..., None]
    return torch.cat([xy.reshape(len(kp), -1), conf], dim=1)


def my_weak_perspective_camera(transl, root, f, size, boxes):
    """s = f/(bD), t = T_xy + (p − c) D/f with D = T_z + J_0,z.  -> (B, 3)"""
    c = 0.5 * (boxes[:, :2] + boxes[:, 2:])
    b = (boxes[:, 2:] - boxes[:, :2]).max(dim=-1).values
    D = transl[:, 2] + root[:, 2]
    t = transl[:, :2] + (0.5 * size - c) * (D / f)[:, None]
    return torch.cat([(f / (b * D))[:, None], t], dim=1)


SOLUTIONS = {
    "check_paired_ci": my_paired_ci,
    "check_aa_to_matrix": my_aa_to_matrix, "check_geodesic_angle": my_geodesic_angle,
    "check_lbs_vertex": lbs_vertex, "check_joint_regressor": joint_regressor,
    "check_geman_mcclure": geman_mcclure, "check_max_mixture_energy": max_mixture_energy,
    "check_neck_and_head_top": neck_and_head_top, "check_focal_from_35mm": focal_from_35mm,
    "check_kl_divergence": kl_divergence, "check_gram_schmidt_6d": gram_schmidt_6d,
    "check_pose_ndf_distance": my_pose_ndf_distance, "check_projection_step": projection_step,
    "check_mpjpe": mpjpe, "check_procrustes_align": procrustes_align,
    "check_diagonal_gaussian_kl": my_diagonal_gaussian_kl, "check_contact_labels": my_contact_labels,
    "check_chordal_distance": my_chordal_distance, "check_kde_energy": my_kde_energy,
    "check_regressor_inputs": my_regressor_inputs, "check_weak_perspective_camera": my_weak_perspective_camera,
}


# ---- chapter 03b ------------------------------------------------------------------------
def hand_pca_pose(m, components, mean):
    """θ_h = mean + m @ P, as 15 joints × 3.  (B, C), (C, 45), (45,) -> (B, 15, 3)"""
    return (m @ components + mean).reshape(m.shape[0], 15, 3)


def keypoint_energy(projected, keypoints, w, gamma, sigma):
    """Σ_i γ_i w_i σ²‖r_i‖²/(σ² + ‖r_i‖²).  (B, K, 2) × 2, (B, K), (K,) -> (B,)"""
    sq = ((projected - keypoints) ** 2).sum(-1)                             # (B, K)
    return (gamma * w * sigma ** 2 * sq / (sigma ** 2 + sq)).sum(-1)


SOLUTIONS.update({"check_hand_pca_pose": hand_pca_pose, "check_keypoint_energy": keypoint_energy})
