"""beta-VAE (Higgins et al., 2016) y beta-VAE con capacidad controlada (Burgess et al., 2018).

Los dos son «un VAE con otra pérdida»: mismo codificador gaussiano, mismo decodificador; cambia cómo pesa la KL.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..losses import kl_to_standard_normal
from ..schedules import linear_ramp
from .vae import VAE, VAEConfig, VAEOutput, elbo_output


def normalized_beta(beta: float, latent_dim: int, in_shape: tuple[int, ...]) -> float:
    """beta normalizado de Higgins et al. (2017, sec. 3): beta_norm = beta · M / N, con M la dimensión latente y N
    la de la entrada (píxeles). La reconstrucción se suma sobre N píxeles y la KL sobre M dimensiones: el mismo
    beta pesa más sobre imágenes pequeñas; beta_norm es lo que se conserva al cambiar de tamaño."""
    n = math.prod(in_shape)
    if beta < 0 or latent_dim <= 0 or n <= 0:
        raise ValueError(f"Se necesita beta >= 0, latent_dim > 0 y una entrada no vacía; se recibió beta={beta}, "
                         f"latent_dim={latent_dim}, in_shape={in_shape}.")
    return beta * latent_dim / n


def beta_from_normalized(beta_norm: float, latent_dim: int, in_shape: tuple[int, ...]) -> float:
    """El beta que da ``beta_norm`` (ver :func:`normalized_beta`) con esta dimensión latente y esta entrada."""
    return beta_norm / normalized_beta(1.0, latent_dim, in_shape) if beta_norm >= 0 else \
        normalized_beta(beta_norm, latent_dim, in_shape)   # un beta_norm negativo da el mismo error que beta


@dataclass
class BetaVAEConfig(VAEConfig):
    beta: float = 4.0                 # peso de la KL (beta = 1 es el VAE)

    def __post_init__(self):
        super().__post_init__()
        if self.beta < 0:
            raise ValueError(f"beta debe ser no negativo; se recibió {self.beta}.")


class BetaVAE(VAE):
    """Objetivo beta-VAE (Higgins et al.): pérdida = E_q[-log p(x|z)] + beta · KL(q(z|x) || p(z))."""

    key = "beta_vae"
    Config = BetaVAEConfig

    def kl_penalty(self, kl: torch.Tensor) -> torch.Tensor:
        """Lo que se suma a la reconstrucción, por ejemplo."""
        return self.config.beta * kl

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> VAEOutput:
        qz, z, px, rec = self.encode_sample_decode(x)  # rec = -log p(x|z), sumado sobre los píxeles
        kl = kl_to_standard_normal(qz)         # KL analítica, sumada sobre el latente
        loss = (rec + self.kl_penalty(kl)).mean()
        # el término «elbo» es la ELBO sin pesos, para comparar con el VAE
        return elbo_output(rec, {"kl": kl}, px, z, qz, loss=loss, extra=self.extra_terms())

    def extra_terms(self) -> dict[str, torch.Tensor]:
        return {}


@dataclass
class BetaVAECapacityConfig(VAEConfig):
    gamma: float = 1000.0             # peso de |KL - C|
    c_max: float = 25.0               # capacidad final C_max, en nats
    c_stop: float = 1.0               # fracción del entrenamiento en la que C llega a C_max

    def __post_init__(self):
        super().__post_init__()
        if self.gamma < 0 or self.c_max < 0:
            raise ValueError(f"gamma y c_max deben ser no negativos; se recibió gamma={self.gamma}, "
                             f"c_max={self.c_max}.")
        if not 0 < self.c_stop <= 1:
            raise ValueError(f"c_stop debe estar en (0, 1]; se recibió {self.c_stop}.")


class BetaVAECapacity(BetaVAE):
    """Objetivo con capacidad controlada (Burgess et al., sec. 5): pérdida = E_q[-log p(x|z)] + gamma · |KL(q(z|x) || p(z)) - C|.

    La capacidad C crece linealmente de 0 a ``c_max`` en la fracción ``c_stop`` del entrenamiento; el bucle la
    actualiza antes de cada lote con :meth:`schedule`. Es un búfer: se guarda y se carga con el modelo.
    """

    key = "beta_vae_capacity"
    Config = BetaVAECapacityConfig

    def __init__(self, config: BetaVAECapacityConfig | None = None, **overrides):
        super().__init__(config, **overrides)
        self.register_buffer("capacity", torch.tensor(0.0))

    def schedule(self, progress: float) -> None:
        self.capacity.fill_(linear_ramp(progress, self.config.c_max, self.config.c_stop))

    def kl_penalty(self, kl: torch.Tensor) -> torch.Tensor:
        # |KL - C| se aplica a la KL media del lote, como en el artículo (la capacidad es del código, no de x).
        return self.config.gamma * (kl.mean() - self.capacity).abs().expand_as(kl)

    def extra_terms(self) -> dict[str, torch.Tensor]:
        return {"capacity": self.capacity.clone()}
