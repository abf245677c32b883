"""VAE con posterior de flujo normalizante: q_K(z_K|x) tras K transformaciones invertibles de z_0 ~ N(mu, sigma^2).

log q_K(z_K|x) = log q_0(z_0|x) - sum_k log|det dz_k/dz_{k-1}|   (cambio de variable, ec. 6 de Rezende y
Mohamed, 2015).  ELBO = E_{q_0}[log p(x|z_K) + log p(z_K) - log q_K(z_K|x)], estimada con una muestra: la KL ya
no tiene forma cerrada, así que el término «kl» es la estimación de Monte Carlo log q_K(z_K|x) - log p(z_K).

- ``VAEPlanar`` (``vae_planar``): K flujos planares cuyos parámetros (u_k, w_k, b_k) los da el codificador para
  cada x (flujo amortizado, como en el artículo).
- ``VAEIAF`` (``vae_iaf``): pasos IAF (Kingma et al., 2016) con MADE; el codificador da además un contexto h.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn
from torch.distributions import Normal

from ..flows import IAFStep, planar_chain
from ..nets import Decoder, Encoder
from .base import POSITIVE, Model, ModelConfig, Range, gaussian_from_params
from .vae import GaussianEncoderMixin, VAEOutput, elbo_output


class FlowVAE(GaussianEncoderMixin, Model):
    """Parte común: el codificador da (mu, log sigma^2, extra); ``flow(z0, extra)`` da (z_K, sum log|det|)."""

    n_extra: int = 0

    def _build(self):
        c = self.config
        self.encoder = Encoder(c.in_shape, 2 * c.latent_dim + self.n_extra, c.hidden, c.arch)
        self.decoder = Decoder(c.latent_dim, c.in_shape, tuple(reversed(c.hidden)), c.arch)

    def flow(self, z0: torch.Tensor, extra: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # pragma: no cover
        raise NotImplementedError

    def base(self, x: torch.Tensor) -> tuple[Normal, torch.Tensor]:
        """q_0(z_0|x) = N(mu, diag sigma^2) y los parámetros extra del flujo para cada x."""
        d = self.config.latent_dim
        h = self.encoder(x)
        return gaussian_from_params(h[:, :2 * d]), h[:, 2 * d:]

    def posterior_sample(self, x: torch.Tensor, k: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """z_K ~ q_K(z|x) y log q_K(z_K|x); con ``k`` da k muestras por ejemplo (forma (k, lote, D))."""
        q0, extra = self.base(x)
        z0 = q0.rsample() if k is None else q0.rsample((k,))
        zk, log_det = self.flow(z0, extra)
        return zk, q0.log_prob(z0).sum(-1) - log_det

    def posterior(self, x: torch.Tensor, y: torch.Tensor | None = None) -> Normal:
        """q_0(z_0|x), la gaussiana de partida (la densidad de q_K la da :meth:`posterior_sample`)."""
        return self.base(x)[0]

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Código determinista: el flujo aplicado a la media de q_0."""
        q0, extra = self.base(x)
        return self.flow(q0.loc, extra)[0]

    def log_weights(self, x: torch.Tensor, k: int, y: torch.Tensor | None = None) -> torch.Tensor:
        """log w = log p(x|z) + log p(z) - log q_K(z|x) para k muestras de q_K: tensor (k, lote)."""
        z, log_q = self.posterior_sample(x, k)
        return self.log_joint(x, z) - log_q

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> VAEOutput:
        self.check_input(x)
        z, log_q = self.posterior_sample(x)
        px = self.likelihood(z)
        rec = -px.log_prob(x)
        kl = log_q - self.prior(z).log_prob(z).sum(-1)   # estimación de una muestra de KL(q_K || p)
        return elbo_output(rec, {"kl": kl}, px, z)


@dataclass
class VAEPlanarConfig(ModelConfig):
    flow_length: int = 8              # K, número de flujos planares

    def __post_init__(self):
        super().__post_init__()
        if self.flow_length < 0:
            raise ValueError(f"flow_length debe ser >= 0; se recibió {self.flow_length}.")


class VAEPlanar(FlowVAE):
    """VAE con K flujos planares amortizados: f_k(z) = z + u_hat_k tanh(w_k^T z + b_k)."""

    key = "vae_planar"
    Config = VAEPlanarConfig

    def __init__(self, config: VAEPlanarConfig | None = None, **overrides):
        super().__init__(config, **overrides)
        self.n_extra = self.config.flow_length * (2 * self.config.latent_dim + 1)
        self._build()

    def flow(self, z0, extra):
        d, steps = self.config.latent_dim, self.config.flow_length
        # (u_k, w_k, b_k) de cada x, en la penúltima dimensión: los K pasos, con planar_chain.
        u, w, b = extra.reshape(*extra.shape[:-1], steps, 2 * d + 1).split((d, d, 1), dim=-1)
        return planar_chain(z0, u, w, b)


@dataclass
class VAEIAFConfig(ModelConfig):
    flow_length: int = 2              # T, número de pasos IAF
    made_hidden: tuple[int, ...] = (320, 320)
    context_dim: int = 50             # dimensión del contexto h que da el codificador
    forget_bias: float = 1.0          # sesgo positivo: cada paso empieza cerca de la identidad

    bounds: ClassVar[dict[str, Range]] = {"made_hidden": POSITIVE, "forget_bias": Range()}  # Range(): finito

    def __post_init__(self):
        super().__post_init__()
        self.made_hidden = tuple(self.made_hidden)
        if self.flow_length < 0 or self.context_dim < 0:
            raise ValueError("flow_length y context_dim deben ser >= 0.")


class VAEIAF(FlowVAE):
    """VAE con T pasos IAF: z_t = sigma_t * z_{t-1} + (1 - sigma_t) * m_t, [m_t, s_t] = MADE_t(z_{t-1}, h)."""

    key = "vae_iaf"
    Config = VAEIAFConfig

    def __init__(self, config: VAEIAFConfig | None = None, **overrides):
        super().__init__(config, **overrides)
        c = self.config
        self.n_extra = c.context_dim
        self._build()
        self.steps = nn.ModuleList(IAFStep(c.latent_dim, c.made_hidden, c.context_dim, c.forget_bias,
                                           reverse=t % 2 == 1) for t in range(c.flow_length))

    def flow(self, z0, extra):
        h = extra.expand(*z0.shape[:-1], extra.shape[-1]) if self.config.context_dim else None
        log_det = torch.zeros(z0.shape[:-1], device=z0.device)
        z = z0
        for step in self.steps:
            z, ld = step(z, h)
            log_det = log_det + ld
        return z, log_det
