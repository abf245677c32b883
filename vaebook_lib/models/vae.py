"""VAE gaussiano (Kingma y Welling, 2013): q(z|x) = N(mu, diag sigma^2), p(z) = N(0, I), p(x|z) de la config."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.distributions import Normal

from ..losses import decoder_distribution, kl_to_standard_normal
from ..nets import Decoder, Encoder
from .base import Model, ModelConfig, Output, gaussian_from_params


@dataclass
class VAEOutput(Output):
    """Además de la salida común: la posterior aproximada ``qz`` y la ELBO por ejemplo."""

    qz: Normal | None = None
    elbo: torch.Tensor | None = None


def elbo_output(rec: torch.Tensor, kls: dict[str, torch.Tensor], px, z: torch.Tensor, qz=None,
                loss: torch.Tensor | None = None, extra: dict[str, torch.Tensor] | None = None,
                output: type[VAEOutput] = VAEOutput, **fields) -> VAEOutput:
    """La salida común de la familia del VAE a partir de sus términos por ejemplo.

    ``rec`` = -log p(x|z) y cada KL de ``kls`` (por su nombre en el historial) son tensores (lote,); la ELBO por
    ejemplo es -(rec + sum KL). ``loss`` por defecto es -ELBO media; los modelos que pesan los términos de otra
    manera (beta-VAE, recocido, capacidades) pasan la suya. ``extra`` añade términos al historial y ``fields``
    campos propios de ``output`` (una subclase de :class:`VAEOutput`).
    """
    elbo = -(rec + sum(kls.values()))
    loss = -elbo.mean() if loss is None else loss
    terms = {"loss": loss, "recon": rec.mean(), **{k: v.mean() for k, v in kls.items()}, "elbo": elbo.mean(),
             **(extra or {})}
    return output(loss=loss, terms=terms, x_hat=px.mean, z=z, qz=qz, elbo=elbo.detach(), **fields)


def log_density(q, z: torch.Tensor) -> torch.Tensor:
    """log q(z) sumado sobre el latente, tanto si q es diagonal (``Normal``, una densidad por componente) como si
    es multivariante (``MultivariateNormal``, ya sumada)."""
    log_q = q.log_prob(z)
    return log_q.sum(-1) if log_q.ndim == z.ndim else log_q


class GaussianEncoderMixin:
    """Codificador que devuelve q(z|x) = N(mu, diag sigma^2); la red da [mu, log sigma^2]."""

    likelihood_objective = True

    def posterior(self, x: torch.Tensor, y: torch.Tensor | None = None) -> Normal:
        return gaussian_from_params(self.encoder(x))

    def prior(self, z_like: torch.Tensor) -> Normal:
        return Normal(torch.zeros_like(z_like), torch.ones_like(z_like))

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.posterior(x).loc

    def likelihood(self, z: torch.Tensor):
        """p(x|z) para un lote de códigos (cualquier forma (..., latent_dim))."""
        lead = z.shape[:-1]
        raw = self.decoder(z.reshape(-1, z.shape[-1]))
        raw = raw.reshape(*lead, *raw.shape[1:])
        return decoder_distribution(raw, self.config.likelihood, self.config.sigma, len(self.config.in_shape))

    def likelihood_at(self, z: torch.Tensor, x: torch.Tensor):
        """p(x|z) lista para evaluarse en los datos ``x``: la propia :meth:`likelihood` en un decodificador
        factorizado. Un decodificador autorregresivo (``vae_pixelcnn``) la redefine: cada píxel depende de los
        anteriores de ``x``."""
        return self.likelihood(z)

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.likelihood(z).mean

    @torch.no_grad()
    def sample(self, n: int, *, y: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` imágenes medias de p(x|z) con z ~ p(z)."""
        return self.decode(self.randn(n, self.config.latent_dim, generator=generator))

    def encode_sample_decode(self, x: torch.Tensor):
        """El paso común de todas las ELBO: valida ``x``, q(z|x), z ~ q reparametrizado, p(x|z) y -log p(x|z).

        Devuelve ``(qz, z, px, rec)``; cada modelo añade a ``rec`` su término de regularización.
        """
        self.check_input(x)
        qz = self.posterior(x)
        z = qz.rsample()
        px = self.likelihood_at(z, x)
        return qz, z, px, -px.log_prob(x)

    def log_weights(self, x: torch.Tensor, k: int, y: torch.Tensor | None = None) -> torch.Tensor:
        """log w = log p(x|z) + log p(z) - log q(z|x) para k muestras z ~ q(z|x): tensor (k, lote)."""
        qz = self.posterior(x)
        z = qz.rsample((k,))
        return self.log_joint(x, z) - log_density(qz, z)

    def log_joint(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x|z) + log p(z) para códigos z de forma (k, lote, latent_dim): tensor (k, lote)."""
        xk = x.expand(z.shape[0], *x.shape)
        return self.likelihood_at(z, xk).log_prob(xk) + self.prior(z).log_prob(z).sum(-1)

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
        return elbo_output(rec, {"kl": kl}, px, z, qz)   # pérdida = -ELBO media
