"""VAE estructurado de dos capas estocásticas (Salimans, 2016): p(z2) p(z1|z2) p(x|z1).

La posterior aproximada conserva la dependencia del modelo generativo en lugar de ser de campo medio:
q(z2, z1 | x) = q(z2|x) q(z1|z2, x), y q(z1|z2, x) es el prior p(z1|z2) multiplicado por un término gaussiano
de «verosimilitud» N(z1; mu_e(x), sigma_e(x)^2) que da el codificador (producto de gaussianas: las precisiones
se suman). Salimans usa además unidades gaussianas rectificadas para lograr dispersión; aquí son gaussianas.

    ELBO = E_q[log p(x|z1)] - KL(q(z2|x) || p(z2)) - E_{q(z2|x)}[KL(q(z1|z2,x) || p(z1|z2))]
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn
from torch.distributions import Normal, kl_divergence

from ..losses import kl_to_standard_normal
from ..nets import Decoder, Encoder, mlp
from .base import POSITIVE, Model, ModelConfig, Range, gaussian_from_params
from .vae import GaussianEncoderMixin, VAEOutput, elbo_output


def precision_weighted(prior: Normal, data: Normal) -> Normal:
    """Producto normalizado de dos gaussianas diagonales: precisión = suma de precisiones, media ponderada."""
    prec_p, prec_d = prior.scale.pow(-2), data.scale.pow(-2)
    var = 1.0 / (prec_p + prec_d)
    return Normal(var * (prior.loc * prec_p + data.loc * prec_d), var.sqrt())


@dataclass
class StructuredVAEConfig(ModelConfig):
    latent_dim: int = 20               # dimensión de z1 (la capa cercana a los datos)
    top_dim: int = 10                  # dimensión de z2 (la capa superior)
    top_hidden: tuple[int, ...] = (100,)

    bounds: ClassVar[dict[str, Range]] = {"top_hidden": POSITIVE}

    def __post_init__(self):
        super().__post_init__()
        self.top_hidden = tuple(self.top_hidden)
        if self.top_dim <= 0:
            raise ValueError(f"top_dim debe ser positivo; se recibió {self.top_dim}.")
        if not self.hidden:
            raise ValueError("El VAE estructurado necesita al menos una capa oculta (hidden no vacío).")


@dataclass
class StructuredVAEOutput(VAEOutput):
    z2: torch.Tensor | None = None


class StructuredVAE(GaussianEncoderMixin, Model):
    """VAE jerárquico p(z2) p(z1|z2) p(x|z1) con posterior estructurada q(z2|x) q(z1|z2,x)."""

    key = "structured_vae"
    Config = StructuredVAEConfig

    def __init__(self, config: StructuredVAEConfig | None = None, **overrides):
        super().__init__(config, **overrides)
        c = self.config
        # camino ascendente determinista h(x); de él salen el término de datos de z1 y q(z2|x)
        self.encoder = nn.Sequential(Encoder(c.in_shape, c.hidden[-1], c.hidden[:-1], c.arch), nn.ReLU())
        self.data_term = nn.Linear(c.hidden[-1], 2 * c.latent_dim)
        self.up = mlp((c.hidden[-1], *c.top_hidden, 2 * c.top_dim))                   # q(z2|x)
        self.top_down = mlp((c.top_dim, *c.top_hidden, 2 * c.latent_dim))           # p(z1|z2)
        self.decoder = Decoder(c.latent_dim, c.in_shape, tuple(reversed(c.hidden)), c.arch)

    def posterior_top(self, x: torch.Tensor) -> tuple[Normal, Normal]:
        """(q(z2|x), término de datos de z1) a partir de una sola pasada del codificador."""
        h = self.encoder(x)
        return gaussian_from_params(self.up(h)), gaussian_from_params(self.data_term(h))

    def conditional_prior(self, z2: torch.Tensor) -> Normal:
        return gaussian_from_params(self.top_down(z2))

    def posterior(self, x: torch.Tensor, y: torch.Tensor | None = None) -> Normal:
        """q(z1 | z2, x) con z2 en la media de q(z2|x) (lo que usan ``encode`` y las figuras)."""
        q2, data = self.posterior_top(x)
        return precision_weighted(self.conditional_prior(q2.loc), data)

    @torch.no_grad()
    def sample(self, n: int, *, y: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Muestreo ancestral: z2 ~ N(0, I), z1 ~ p(z1|z2), imagen media de p(x|z1)."""
        z2 = self.randn(n, self.config.top_dim, generator=generator)
        p1 = self.conditional_prior(z2)
        z1 = p1.loc + p1.scale * self.randn(*p1.loc.shape, generator=generator)
        return self.decode(z1)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> StructuredVAEOutput:
        self.check_input(x)
        q2, data = self.posterior_top(x)
        z2 = q2.rsample()
        p1 = self.conditional_prior(z2)
        q1 = precision_weighted(p1, data)
        z1 = q1.rsample()
        px = self.likelihood(z1)
        rec = -px.log_prob(x)
        kl2 = kl_to_standard_normal(q2)                 # KL(q(z2|x) || N(0, I)), exacta
        kl1 = kl_divergence(q1, p1).sum(-1)             # KL(q(z1|z2,x) || p(z1|z2)), exacta dado z2
        return elbo_output(rec, {"kl1": kl1, "kl2": kl2}, px, z1, q1, output=StructuredVAEOutput, z2=z2)

    def log_weights(self, x: torch.Tensor, k: int, y: torch.Tensor | None = None) -> torch.Tensor:
        """log w = log p(x|z1) + log p(z1|z2) + log p(z2) - log q(z2|x) - log q(z1|z2,x): tensor (k, lote)."""
        q2, data = self.posterior_top(x)
        z2 = q2.rsample((k,))
        p1 = self.conditional_prior(z2)
        q1 = precision_weighted(p1, Normal(data.loc.expand_as(p1.loc), data.scale.expand_as(p1.scale)))
        z1 = q1.rsample()
        log_px = self.likelihood(z1).log_prob(x.expand(k, *x.shape))
        log_prior = p1.log_prob(z1).sum(-1) + self.prior(z2).log_prob(z2).sum(-1)
        return log_px + log_prior - q2.log_prob(z2).sum(-1) - q1.log_prob(z1).sum(-1)
