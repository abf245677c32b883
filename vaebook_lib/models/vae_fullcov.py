"""VAE con posterior gaussiana de covarianza completa (sección 2.9 del survey; Kingma y Welling, 2019):

(mu, log sigma^2, L') = Codificador(x);  L = L_mask * L' + diag(sigma);  z = mu + L eps,  eps ~ N(0, I).

L es triangular inferior con diagonal positiva, así que Sigma = L L^T y log|det dz/deps| = sum_i log sigma_i:
el jacobiano es trivial y no hace falta ninguna descomposición de Cholesky O(D^3).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.distributions import MultivariateNormal, kl_divergence

from ..nets import Decoder, Encoder
from .base import Model, ModelConfig, gaussian_from_params
from .vae import GaussianEncoderMixin, VAEOutput, elbo_output


@dataclass
class VAEFullCovConfig(ModelConfig):
    pass


class VAEFullCov(GaussianEncoderMixin, Model):
    """ELBO = E_q[log p(x|z)] - KL(N(mu, L L^T) || N(0, I)), con la KL analítica de ``torch.distributions``."""

    key = "vae_fullcov"
    Config = VAEFullCovConfig

    def __init__(self, config: VAEFullCovConfig | None = None, **overrides):
        super().__init__(config, **overrides)
        c = self.config
        d = c.latent_dim
        self.encoder = Encoder(c.in_shape, 2 * d + d * d, c.hidden, c.arch)
        self.decoder = Decoder(d, c.in_shape, tuple(reversed(c.hidden)), c.arch)
        # L' empieza en cero: el modelo arranca como el VAE diagonal y añade correlaciones solo si mejoran la ELBO
        last = [m for m in self.encoder.modules() if isinstance(m, nn.Linear)][-1]
        with torch.no_grad():
            last.weight[2 * d:].zero_()
            last.bias[2 * d:].zero_()
        self.register_buffer("L_mask", torch.tril(torch.ones(d, d), diagonal=-1))  # solo bajo la diagonal

    def scale_tril(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, L) para un lote: mu (B, D) y L (B, D, D) triangular inferior con diagonal sigma > 0.

        El codificador da [mu, log sigma^2, L'], como los demás: los 2·D primeros valores son los de la
        gaussiana diagonal (:func:`~vaebook_lib.models.base.gaussian_from_params`) y L' va detrás."""
        d = self.config.latent_dim
        h = self.encoder(x)
        diagonal = gaussian_from_params(h[:, :2 * d])
        L = self.L_mask * h[:, 2 * d:].unflatten(-1, (d, d)) + torch.diag_embed(diagonal.scale)
        return diagonal.loc, L

    def posterior(self, x: torch.Tensor, y: torch.Tensor | None = None) -> MultivariateNormal:
        mu, L = self.scale_tril(x)
        return MultivariateNormal(mu, scale_tril=L)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> VAEOutput:
        qz, z, px, rec = self.encode_sample_decode(x)
        prior = MultivariateNormal(torch.zeros_like(qz.loc), scale_tril=torch.eye(self.config.latent_dim,
                                                                                   device=x.device))
        kl = kl_divergence(qz, prior)          # KL analítica entre gaussianas multivariantes
        return elbo_output(rec, {"kl": kl}, px, z, qz)
