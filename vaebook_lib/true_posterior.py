"""La posterior verdadera de un modelo con latente 2-D, por cuadratura, y las brechas de Cremer et al. (2018).

Con z en el plano, la evidencia p(x) = ∫ p(x|z) p(z) dz se calcula en una rejilla:
log p(x) ≈ logsumexp_ij [log p(x|z_ij) + log p(z_ij)] + log ΔA, y p(z|x) = p(x, z) / p(x) en cada punto.
Con ese valor exacto (a efectos prácticos) se separan, para cada imagen, las dos brechas de la ELBO:

- brecha de aproximación = log p(x) - ELBO[q*], con q* la mejor q de una familia para esa imagen (se ajusta
  con el decodificador congelado): lo que la familia no puede representar;
- brecha de amortización = ELBO[q*] - ELBO[q_codificador]: lo que el codificador no consigue.

Familias (``FAMILIES``): ``diagonal`` N(mu, diag sigma^2); ``full`` N(mu, L L^T); ``planar`` (la diagonal seguida de
K flujos planares, Rezende y Mohamed, 2015) e ``iaf`` (la diagonal seguida de T pasos IAF con MADE, Kingma et al.,
2016). Los parámetros llevan una primera dimensión por imagen: todas las imágenes se ajustan a la vez, cada una con
los suyos. Sirve para cualquier modelo con ``likelihood(z) -> p(x|z)`` y ``prior(z) -> p(z)`` y latente 2-D.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Independent, MultivariateNormal, Normal

from .config import flush_denormals, no_distribution_checks
from .flows import MADE, planar_chain
from .models.base import evaluating

FAMILIES = ("diagonal", "full", "planar", "iaf")
_LOG_E_MINUS_1 = math.log(math.e - 1)   # m(a) = -1 + softplus(a) vale 0 aquí: u_hat = 0, el flujo planar es la identidad


def _check_model_x(model, x: torch.Tensor) -> None:
    if getattr(getattr(model, "config", None), "latent_dim", None) != 2:
        raise ValueError("La posterior en rejilla necesita un modelo con latente de dimensión 2.")
    if not isinstance(x, torch.Tensor) or x.ndim < 2 or len(x) == 0:
        raise ValueError("x debe ser un lote no vacío de datos (primera dimensión: el ejemplo).")
    model.check_input(x)


def _log_joint(model, x: torch.Tensor, pts: torch.Tensor, chunk: int) -> torch.Tensor:
    """log p(x_b, z) para cada imagen b y cada punto: ``pts`` (G, 2) común o (B, G, 2) propio; sale (B, G)."""
    shared = pts.ndim == 2
    out = torch.empty(len(x), pts.shape[-2], dtype=pts.dtype)
    for s in range(0, pts.shape[-2], chunk):
        if shared:
            zc = pts[s:s + chunk]                         # (g, 2)
            px, lpz = model.likelihood(zc), Independent(model.prior(zc), 1).log_prob(zc)
            for b in range(len(x)):
                out[b, s:s + chunk] = px.log_prob(x[b]) + lpz
        else:
            for b in range(len(x)):
                zc = pts[b, s:s + chunk]
                out[b, s:s + chunk] = model.likelihood(zc).log_prob(x[b]) + Independent(model.prior(zc), 1).log_prob(zc)
    return out


@dataclass
class GridPosterior:
    """p(z|x) en una rejilla por imagen: ejes ``z1``, ``z2`` (B, n); ``log_joint`` (B, n, n) con la fila i en
    z2[i] y la columna j en z1[j]; ``log_px`` (B,) por cuadratura en la rejilla fina; ``coarse_log_px`` (B,) la
    misma integral en la rejilla gruesa común (se aleja de ``log_px`` si las posteriores son más estrechas que sus
    celdas); ``half_log_px`` (B,) la integral en la rejilla fina con un punto de cada dos por eje (su diferencia con
    ``log_px`` acota el error de la cuadratura fina, que con el doble de puntos es aún menor);
    ``edge_mass`` (B,) la fracción de la masa gruesa en el borde de [-lim, lim]^2 (si no es despreciable, la
    posterior se sale de la rejilla y hay que aumentar ``lim``)."""

    z1: torch.Tensor
    z2: torch.Tensor
    log_joint: torch.Tensor
    log_px: torch.Tensor
    coarse_log_px: torch.Tensor
    half_log_px: torch.Tensor
    edge_mass: torch.Tensor

    @property
    def log_posterior(self) -> torch.Tensor:
        """log p(z|x) en cada punto de la rejilla (densidad, no probabilidad de la celda)."""
        return self.log_joint - self.log_px[:, None, None]


@torch.no_grad()
def grid_posterior(model, x: torch.Tensor, *, lim: float = 8.0, n: int = 161, n_fine: int = 161,
                   tail: float = 25.0, chunk: int = 4096) -> GridPosterior:
    """Posterior exacta de un modelo con latente 2-D en una rejilla, y log p(x) por cuadratura.

    Primero una rejilla común [-lim, lim]^2 de n x n puntos; después, para cada imagen, una rejilla fina de
    n_fine x n_fine sobre la caja que contiene los puntos con log p(z|x) > máx - ``tail`` (más un margen de dos
    celdas gruesas). Con el decodificador de un VAE, p(x|z) puede seguir creciendo lejos del origen (un «1» cada
    vez más nítido): por eso ``lim`` es amplio por defecto; ``edge_mass`` dice si bastó. Las posteriores de un VAE son estrechas: sin el segundo paso, la cuadratura con celdas del
    tamaño de la desviación típica de p(z|x) se equivocaría.
    """
    _check_model_x(model, x)
    if lim <= 0 or n < 3 or n_fine < 3 or tail <= 0 or chunk < 1:
        raise ValueError("lim y tail deben ser positivos, n y n_fine al menos 3 y chunk positivo.")
    with evaluating(model), no_distribution_checks():          # x ya validado: check_input
        t = torch.linspace(-lim, lim, n)
        step = float(t[1] - t[0])
        pts = torch.stack(torch.meshgrid(t, t, indexing="xy"), -1).reshape(-1, 2)   # (n*n, 2), fila = z2
        lj = _log_joint(model, x, pts, chunk).reshape(len(x), n, n)
        coarse = torch.logsumexp(lj.flatten(1), 1) + 2 * math.log(step)
        border = torch.ones(n, n, dtype=torch.bool)
        border[1:-1, 1:-1] = False
        edge = (torch.logsumexp(lj[:, border], 1) + 2 * math.log(step) - coarse).exp()
        z1s, z2s = [], []
        for b in range(len(x)):
            keep = lj[b] > lj[b].max() - tail
            rows, cols = keep.any(1).nonzero().squeeze(1), keep.any(0).nonzero().squeeze(1)
            lo1, hi1 = float(t[cols.min()]) - 2 * step, float(t[cols.max()]) + 2 * step
            lo2, hi2 = float(t[rows.min()]) - 2 * step, float(t[rows.max()]) + 2 * step
            z1s.append(torch.linspace(max(lo1, -lim), min(hi1, lim), n_fine))
            z2s.append(torch.linspace(max(lo2, -lim), min(hi2, lim), n_fine))
        z1, z2 = torch.stack(z1s), torch.stack(z2s)                                   # (B, n_fine)
        fine = torch.stack([torch.stack(torch.meshgrid(a, c, indexing="xy"), -1).reshape(-1, 2)
                            for a, c in zip(z1, z2)])                                 # (B, n_fine^2, 2)
        lj_fine = _log_joint(model, x, fine, chunk).reshape(len(x), n_fine, n_fine)
        area = (z1[:, 1] - z1[:, 0]) * (z2[:, 1] - z2[:, 0])
        log_px = torch.logsumexp(lj_fine.flatten(1), 1) + area.log()
        half = torch.logsumexp(lj_fine[:, ::2, ::2].flatten(1), 1) + (4 * area).log()   # celdas del doble de lado
    return GridPosterior(z1=z1, z2=z2, log_joint=lj_fine, log_px=log_px, coarse_log_px=coarse, half_log_px=half,
                         edge_mass=edge)


# --- familias variacionales por imagen (parámetros con una dimensión de lote) ---------------------------------
class PerImageQ(nn.Module):
    """q_b(z) propia de cada imagen b: una gaussiana diagonal base y, según la familia, una transformación.

    ``sample(eps)`` con eps ~ N(0, I) de forma (S, B, D) da z (S, B, D) y log q(z) (S, B): con el mismo eps
    para todas las familias, sus ELBO se comparan con números aleatorios comunes (menos ruido en la diferencia).
    """

    def __init__(self, family: str, loc: torch.Tensor, scale: torch.Tensor, flow_length: int = 8,
                 hidden: int = 32, generator: torch.Generator | None = None):
        super().__init__()
        if family not in FAMILIES:
            raise ValueError(f"Familia desconocida {family!r}; use una de {FAMILIES}.")
        if loc.ndim != 2 or loc.shape != scale.shape or not (scale > 0).all():
            raise ValueError("loc y scale deben tener forma (lote, D) y scale ser positiva.")
        if flow_length < 1 or hidden < 1:
            raise ValueError("flow_length y hidden deben ser positivos.")
        self.family = family
        B, D = loc.shape
        self.loc = nn.Parameter(loc.detach().clone())
        self.log_scale = nn.Parameter(scale.detach().log().clone())
        if family == "full":
            self.lower = nn.Parameter(torch.zeros(B, D, D))   # solo cuenta su parte estrictamente inferior
        elif family == "planar":
            w = torch.randn(flow_length, B, D, generator=generator)
            self.w = nn.Parameter(w)
            # u = log(e-1) w / ||w||^2  =>  u_hat = 0: cada paso empieza siendo la identidad
            self.u = nn.Parameter(_LOG_E_MINUS_1 * w / (w * w).sum(-1, keepdim=True))
            self.b = nn.Parameter(torch.zeros(flow_length, B, 1))
        elif family == "iaf":
            # una MADE por paso y por imagen: las máscaras son las de flows.MADE, los pesos llevan el índice b
            made = MADE(D, (hidden,), n_out=2)
            self.register_buffer("mask_in", made.hidden[0].mask.clone())          # (H, D)
            self.register_buffer("mask_out", made.out.mask.clone())               # (2D, H)
            g = generator
            self.w_in = nn.Parameter(torch.randn(flow_length, B, hidden, D, generator=g) / math.sqrt(D))
            self.b_in = nn.Parameter(torch.zeros(flow_length, B, hidden))
            self.w_out = nn.Parameter(torch.zeros(flow_length, B, 2 * D, hidden))
            # salida s = 4 y sesgo de olvido 1: sigma = sigmoide(5) ~ 0.993, cada paso empieza casi como identidad
            self.b_out = nn.Parameter(torch.cat([torch.zeros(flow_length, B, D), torch.full((flow_length, B, D), 4.0)], -1))
        self.flow_length = flow_length

    def base(self) -> Independent:
        return Independent(Normal(self.loc, self.log_scale.exp()), 1)

    def sample(self, eps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if eps.ndim != 3 or eps.shape[1:] != self.loc.shape:
            raise ValueError(f"eps debe tener forma (S, {self.loc.shape[0]}, {self.loc.shape[1]}).")
        sigma = self.log_scale.exp()
        if self.family == "full":
            L = torch.tril(self.lower, -1) + torch.diag_embed(sigma)              # (B, D, D)
            z = self.loc + torch.einsum("bij,sbj->sbi", L, eps)
            return z, MultivariateNormal(self.loc, scale_tril=L).log_prob(z)
        z = self.loc + sigma * eps
        log_q = self.base().log_prob(z)
        if self.family == "planar":                                           # parámetros (K, B, ·) -> (B, K, ·)
            z, log_det = planar_chain(z, self.u.movedim(0, -2), self.w.movedim(0, -2), self.b.movedim(0, -2))
            log_q = log_q - log_det
        elif self.family == "iaf":
            for k in range(self.flow_length):
                if k % 2 == 1:                                                     # se alterna el orden
                    z = z.flip(-1)
                h = F.elu(torch.einsum("bhd,sbd->sbh", self.w_in[k] * self.mask_in, z) + self.b_in[k])
                out = torch.einsum("boh,sbh->sbo", self.w_out[k] * self.mask_out, h) + self.b_out[k]
                m, s = out.chunk(2, -1)
                gate = torch.sigmoid(s + 1.0)                                       # actualización «tipo LSTM»
                z = gate * z + (1 - gate) * m
                log_q = log_q - F.logsigmoid(s + 1.0).sum(-1)
                if k % 2 == 1:
                    z = z.flip(-1)
        return z, log_q


def elbo_and_log_weights(model, x: torch.Tensor, q: PerImageQ, eps: torch.Tensor) -> torch.Tensor:
    """log w = log p(x|z) + log p(z) - log q(z) para z = q(eps): tensor (S, B). Su media es la ELBO."""
    z, log_q = q.sample(eps)
    return model.likelihood(z).log_prob(x) + Independent(model.prior(z), 1).log_prob(z) - log_q


@dataclass
class FamilyFit:
    """Una familia ajustada por imagen: la q, la ELBO media por paso y la ELBO final de cada imagen."""

    q: PerImageQ
    trace: list[float] = field(default_factory=list)


@flush_denormals()   # subnormales como cero: en CPU, operar con ellos es decenas de veces más lento
def fit_per_image(model, x: torch.Tensor, family: str, *, loc: torch.Tensor, scale: torch.Tensor, steps: int,
                  samples: int = 32, lr: float = 0.02, flow_length: int = 8, seed: int = 0) -> FamilyFit:
    """Maximiza la ELBO de cada imagen respecto a los parámetros de su propia q (decodificador congelado).

    Adam con la tasa ``lr`` decreciente (coseno) hasta cero. ``loc``/``scale`` (B, D): la gaussiana diagonal de partida (p. ej. la del codificador, o la diagonal ya
    ajustada: así una familia que la contiene empieza donde la diagonal acabó).
    """
    _check_model_x(model, x)
    if not isinstance(steps, int) or steps < 1 or samples < 1 or lr <= 0:
        raise ValueError("steps y samples deben ser enteros positivos y lr positiva.")
    g = torch.Generator().manual_seed(seed)
    q = PerImageQ(family, loc, scale, flow_length=flow_length, generator=g)
    with evaluating(model), no_distribution_checks():          # x ya validado: check_input
        frozen = [p for p in model.parameters() if p.requires_grad]
        for p in frozen:
            p.requires_grad_(False)
        opt = torch.optim.Adam(q.parameters(), lr=lr)
        # la tasa baja a cero con un coseno: el ruido de la ELBO de pocas muestras deja de mover q al final
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
        trace = []
        try:
            for _ in range(steps):
                eps = torch.randn(samples, *loc.shape, generator=g)
                elbo = elbo_and_log_weights(model, x, q, eps).mean(0)                  # (B,)
                opt.zero_grad(set_to_none=True)
                (-elbo.sum()).backward()
                opt.step()
                sched.step()
                trace.append(float(elbo.detach().mean()))
        finally:
            for p in frozen:
                p.requires_grad_(True)
    return FamilyFit(q=q, trace=trace)


@torch.no_grad()
def evaluate_q(model, x: torch.Tensor, q: PerImageQ, samples: int = 2000, seed: int = 1,
               chunk: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    """ELBO de cada imagen y log p(x) por muestreo de importancia con q como propuesta (S = ``samples``).

    Se usa la misma semilla para todas las familias (números aleatorios comunes). Devuelve dos tensores (B,).
    """
    _check_model_x(model, x)
    if samples < 1 or chunk < 1:
        raise ValueError("samples y chunk deben ser enteros positivos.")
    g = torch.Generator().manual_seed(seed)
    with evaluating(model), no_distribution_checks():          # x ya validado: check_input
        lw = torch.cat([elbo_and_log_weights(model, x, q, torch.randn(min(chunk, samples - s), *q.loc.shape,
                                                                     generator=g))
                        for s in range(0, samples, chunk)])                            # (S, B)
    return lw.mean(0), torch.logsumexp(lw, 0) - math.log(samples)


@dataclass
class GapReport:
    """Brechas de Cremer et al. (2018) por imagen (tensores (B,), nats): ``log_px`` por cuadratura; ``elbo`` de
    cada familia ajustada; ``elbo_encoder`` con la q del codificador; ``is_log_px`` de cada familia (muestreo de
    importancia con su q); y las q ajustadas en ``fits``."""

    log_px: torch.Tensor
    elbo_encoder: torch.Tensor
    elbo: dict[str, torch.Tensor]
    is_log_px: dict[str, torch.Tensor]
    fits: dict[str, FamilyFit]

    def approximation_gap(self, family: str) -> torch.Tensor:
        """log p(x) - ELBO[q*] de la familia."""
        return self.log_px - self.elbo[family]

    @property
    def amortization_gap(self) -> torch.Tensor:
        """ELBO[q* diagonal] - ELBO[q del codificador] (el codificador es diagonal)."""
        return self.elbo["diagonal"] - self.elbo_encoder


def inference_gaps(model, x: torch.Tensor, grid: GridPosterior, *, steps: int, samples: int = 32,
                   eval_samples: int = 2000, lr: float = 0.02, flow_length: int = 8,
                   families: tuple[str, ...] = FAMILIES, seed: int = 0) -> GapReport:
    """Ajusta cada familia a cada imagen y mide las brechas con el log p(x) de ``grid``.

    La diagonal parte de la q del codificador (``model.posterior(x)``, una ``Normal``); las familias que la
    contienen (completa, planar, IAF) parten de la diagonal ya ajustada, de modo que solo pueden mejorarla.
    """
    if "diagonal" not in families or any(f not in FAMILIES for f in families):
        raise ValueError(f"families debe incluir «diagonal» y solo nombres de {FAMILIES}.")
    if grid.log_px.shape != (len(x),):
        raise ValueError("La rejilla debe corresponder a las mismas imágenes que x.")
    with torch.no_grad():
        enc = model.posterior(x)                     # Normal (VAE) o MultivariateNormal diagonal
        enc_loc, enc_scale = enc.mean, enc.stddev
    enc_q = PerImageQ("diagonal", enc_loc, enc_scale)
    elbo_encoder, _ = evaluate_q(model, x, enc_q, eval_samples, seed + 1)
    fits, elbo, is_px = {}, {}, {}
    for fam in families:
        start = (enc_loc, enc_scale) if fam == "diagonal" else (fits["diagonal"].q.loc, fits["diagonal"].q.log_scale.exp())
        fits[fam] = fit_per_image(model, x, fam, loc=start[0].detach(), scale=start[1].detach(), steps=steps,
                                  samples=samples, lr=lr, flow_length=flow_length, seed=seed)
        elbo[fam], is_px[fam] = evaluate_q(model, x, fits[fam].q, eval_samples, seed + 1)
    return GapReport(log_px=grid.log_px, elbo_encoder=elbo_encoder, elbo=elbo, is_log_px=is_px, fits=fits)
