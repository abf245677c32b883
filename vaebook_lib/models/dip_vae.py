"""DIP-VAE (Kumar et al., 2017): un VAE con una penalización que empuja la covarianza de la posterior agregada
hacia la identidad, la covarianza de la previa p(z) = N(0, I) («disentangled inferred prior»).

    DIP-VAE-I:  Cov = Cov_p(x)[mu(x)]                                (solo las medias del codificador)
    DIP-VAE-II: Cov = E_p(x)[diag sigma^2(x)] + Cov_p(x)[mu(x)]      (la covarianza completa de q(z))
    penalización = lambda_od · sum_{i != j} Cov_ij^2 + lambda_d · sum_i (Cov_ii - 1)^2
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.distributions import Normal

from ..losses import kl_to_standard_normal
from .vae import VAE, VAEConfig, VAEOutput, elbo_output

DIP_TYPES = ("i", "ii")


def dip_covariance(qz: Normal, dip_type: str) -> torch.Tensor:
    """Covarianza (D, D) de la posterior agregada estimada en el lote, según el tipo de DIP-VAE."""
    if dip_type not in DIP_TYPES:
        raise ValueError(f"Tipo de DIP-VAE desconocido {dip_type!r}; use uno de {DIP_TYPES}.")
    mu = qz.loc
    centered = mu - mu.mean(0, keepdim=True)
    cov = centered.T @ centered / mu.shape[0]        # Cov[mu(x)] con la media del lote (estimador sesgado)
    if dip_type == "ii":
        cov = cov + torch.diag(qz.variance.mean(0))  # + E[Sigma(x)], diagonal en nuestro codificador
    return cov


def dip_penalty(cov: torch.Tensor, lambda_od: float, lambda_d: float) -> torch.Tensor:
    """lambda_od · (suma de los cuadrados fuera de la diagonal) + lambda_d · suma (diagonal - 1)^2.

    Se calcula y se devuelve en float64: con log-varianzas de unos 43 o más (DIP-VAE-II, sigma^2 ~ e^43) el
    cuadrado de la varianza ya no cabe en float32 y la penalización saldría ``inf`` sin aviso.
    """
    if cov.ndim != 2 or cov.shape[0] != cov.shape[1]:
        raise ValueError(f"La covarianza debe ser una matriz cuadrada; se recibió la forma {tuple(cov.shape)}.")
    cov = cov.double()
    diag = torch.diagonal(cov)
    off = cov - torch.diag(diag)
    return lambda_od * off.pow(2).sum() + lambda_d * (diag - 1).pow(2).sum()


@dataclass
class DIPVAEConfig(VAEConfig):
    dip_type: str = "i"               # «i» (DIP-VAE-I) o «ii» (DIP-VAE-II)
    lambda_od: float = 10.0           # peso de los términos fuera de la diagonal
    lambda_d: float | None = None     # peso de la diagonal; None: 10·lambda_od (I) o lambda_od (II), como el artículo

    def __post_init__(self):
        super().__post_init__()
        if self.dip_type not in DIP_TYPES:
            raise ValueError(f"Tipo de DIP-VAE desconocido {self.dip_type!r}; use uno de {DIP_TYPES}.")
        if self.lambda_od < 0 or (self.lambda_d is not None and self.lambda_d < 0):
            raise ValueError("lambda_od y lambda_d deben ser no negativos.")

    @property
    def lambda_diag(self) -> float:
        if self.lambda_d is not None:
            return self.lambda_d
        return 10 * self.lambda_od if self.dip_type == "i" else self.lambda_od


class DIPVAE(VAE):
    """Pérdida = E_q[-log p(x|z)] + KL(q(z|x) || p(z)) + penalización DIP (objetivo de Kumar et al.)."""

    key = "dip_vae"
    Config = DIPVAEConfig

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> VAEOutput:
        c = self.config
        qz, z, px, rec = self.encode_sample_decode(x)
        kl = kl_to_standard_normal(qz)
        dip = dip_penalty(dip_covariance(qz, c.dip_type), c.lambda_od, c.lambda_diag)
        # La penalización es del lote, no de cada ejemplo; llega en float64 (ver dip_penalty) y la pérdida
        # se queda en float64 para no desbordar al sumarla.
        loss = (rec + kl).mean() + dip
        return elbo_output(rec, {"kl": kl}, px, z, qz, loss=loss, extra={"dip": dip})
