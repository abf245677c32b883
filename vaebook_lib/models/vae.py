"""VAE gaussiano (Kingma y Welling, 2013): q(z|x) = N(mu, diag sigma^2), p(z) = N(0, I), p(x|z) de la config."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.distributions import Normal

from ..losses import decoder_distribution, kl_to_standard_normal
from ..nets import Decoder, Encoder
from .base import Model, ModelConfig, Output


@dataclass
class VAEOutput(Output):
    """Además de la salida común: la posterior aproximada ``qz`` y la ELBO por ejemplo."""

    qz: Normal | None = None
    elbo: torch.Tensor | None = None


class GaussianEncoderMixin:
    """Codificador que devuelve q(z|x) = N(mu, diag sigma^2); la red da mu y log sigma^2."""

    def posterior(self, x: torch.Tensor) -> Normal:
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        return Normal(mu, torch.exp(0.5 * logvar))

    def prior(self, z_like: torch.Tensor) -> Normal:
        return Normal(torch.zeros_like(z_like), torch.ones_like(z_like))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.posterior(x).loc

    def likelihood(self, z: torch.Tensor, x: torch.Tensor | None = None):
        """p(x|z) para un lote de códigos (cualquier forma (..., latent_dim)).

        ``x`` son los datos en que se evaluará: un decodificador factorizado no lo necesita y lo ignora; uno
        autorregresivo (``vae_pixelcnn``) condiciona cada píxel a los anteriores de ``x``.
        """
        lead = z.shape[:-1]
        raw = self.decoder(z.reshape(-1, z.shape[-1]))
        raw = raw.reshape(*lead, *raw.shape[1:])
        return decoder_distribution(raw, self.config.likelihood, self.config.sigma, len(self.config.in_shape))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.likelihood(z).mean

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` imágenes medias de p(x|z) con z ~ p(z)."""
        z = torch.randn(n, self.config.latent_dim, generator=generator).to(self.device)
        return self.decode(z)

    def encode_sample_decode(self, x: torch.Tensor):
        """El paso común de todas las ELBO: valida ``x``, q(z|x), z ~ q reparametrizado, p(x|z) y -log p(x|z).

        Devuelve ``(qz, z, px, rec)``; cada modelo añade a ``rec`` su término de regularización.
        """
        self.check_input(x)
        qz = self.posterior(x)
        z = qz.rsample()
        px = self.likelihood(z, x)
        return qz, z, px, -px.log_prob(x)

    def log_weights(self, x: torch.Tensor, k: int) -> torch.Tensor:
        """log w = log p(x|z) + log p(z) - log q(z|x) para k muestras z ~ q(z|x): tensor (k, lote)."""
        qz = self.posterior(x)
        z = qz.rsample((k,))
        xk = x.expand(k, *x.shape)
        log_px = self.likelihood(z, xk).log_prob(xk)
        return log_px + self.prior(z).log_prob(z).sum(-1) - qz.log_prob(z).sum(-1)


@dataclass
class VAEConfig(ModelConfig):
    pass


class VAE(GaussianEncoderMixin, Model):
    """ELBO = E_q[log p(x|z)] - KL(q(z|x) || p(z)); pérdida = -ELBO media sobre el lote, sin pesos ocultos."""

    key = "vae"
    Config = VAEConfig

    def __init__(self, config: VAEConfig | None = None, **overrides):
        super().__init__(config, **overrides)
        c = self.config
        self.encoder = Encoder(c.in_shape, 2 * c.latent_dim, c.hidden, c.arch)
        self.decoder = Decoder(c.latent_dim, c.in_shape, tuple(reversed(c.hidden)), c.arch)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> VAEOutput:
        qz, z, px, rec = self.encode_sample_decode(x)  # rec = -log p(x|z), sumado sobre los píxeles
        kl = kl_to_standard_normal(qz)         # KL analítica, sumada sobre el latente
        elbo = -(rec + kl)
        loss = -elbo.mean()
        terms = {"loss": loss.detach(), "recon": rec.mean().detach(), "kl": kl.mean().detach(),
                 "elbo": elbo.mean().detach()}
        return VAEOutput(loss=loss, terms=terms, x_hat=px.mean, z=z, qz=qz, elbo=elbo.detach())
