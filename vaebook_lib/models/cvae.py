"""VAE condicional (Sohn, Lee y Yan, 2015) y su referencia determinista para completar cuadrantes.

El CVAE modela p(x|c) con un latente gaussiano cuyo prior depende de la condición c («red del prior»):

    log p(x|c) >= E_{q(z|x,c)}[log p(x|z,c)] - KL(q(z|x,c) || p(z|c))        (ec. 4 de Sohn et al.)

Dos condiciones: ``label`` (c = la etiqueta en one-hot, x = la imagen entera) y ``quadrants`` (c = los
cuadrantes visibles de la imagen, x = los ocultos: la verosimilitud solo cuenta los píxeles ocultos).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.distributions import Normal, kl_divergence

from ..losses import decoder_distribution
from ..nets import mlp
from .base import Model, ModelConfig, Output, evaluating, gaussian_from_params
from .vae import VAEOutput, elbo_output

CONDITIONS = ("label", "quadrants")


def quadrant_mask(in_shape: tuple[int, ...], visible: tuple[int, ...]) -> torch.Tensor:
    """Máscara (1, *in_shape) con 1 en los cuadrantes visibles (0 sup. izq., 1 sup. der., 2 inf. izq., 3 inf. der.)."""
    if not visible or any(q not in (0, 1, 2, 3) for q in visible) or len(set(visible)) > 3:
        raise ValueError(f"Los cuadrantes visibles deben ser de 1 a 3 índices entre 0 y 3; se recibió {visible}.")
    h, w = in_shape[-2], in_shape[-1]
    mask = torch.zeros(1, *in_shape)
    for q in visible:
        r, c = divmod(q, 2)
        rows = slice(0, h // 2) if r == 0 else slice(h // 2, h)
        cols = slice(0, w // 2) if c == 0 else slice(w // 2, w)
        mask[..., rows, cols] = 1
    return mask


@dataclass
class CVAEConfig(ModelConfig):
    condition: str = "label"          # «label» o «quadrants»
    n_classes: int = 10               # con condition="label"
    visible: tuple[int, ...] = (2,)   # con condition="quadrants": cuadrantes dados (por defecto, el inf. izq.)

    def __post_init__(self):
        super().__post_init__()
        self.visible = tuple(self.visible)
        if self.condition not in CONDITIONS:
            raise ValueError(f"Condición desconocida {self.condition!r}; use una de {CONDITIONS}.")
        if self.arch != "mlp":
            raise ValueError("El CVAE de este libro usa perceptrones (arch='mlp').")


class _Completion:
    """Lo común a los modelos que completan cuadrantes: la máscara y la condición."""

    def _setup_mask(self):
        self.register_buffer("mask", quadrant_mask(self.config.in_shape, self.config.visible))

    def target_log_prob(self, px, x: torch.Tensor) -> torch.Tensor:
        """log p(x_objetivo | ...) sumado solo sobre los píxeles objetivo (todos, u ocultos en «quadrants»)."""
        per_pixel = px.base_dist.log_prob(x)
        if getattr(self.config, "condition", "quadrants") == "quadrants":
            per_pixel = per_pixel * (1 - self.mask)
        return per_pixel.flatten(per_pixel.ndim - len(self.config.in_shape)).sum(-1)


class CVAE(_Completion, Model):
    """CVAE con red de reconocimiento q(z|x,c), red del prior p(z|c) y red generadora p(x|z,c)."""

    key = "cvae"
    Config = CVAEConfig
    conditional = True
    likelihood_objective = True   # su log_weights estima log p(x|c), la verosimilitud condicional

    def __init__(self, config: CVAEConfig | None = None, **overrides):
        super().__init__(config, **overrides)
        c = self.config
        d = math.prod(c.in_shape)
        self.c_dim = c.n_classes if c.condition == "label" else d
        self._setup_mask()
        self.recognition = mlp((d + self.c_dim, *c.hidden, 2 * c.latent_dim))
        self.prior_net = mlp((self.c_dim, *c.hidden, 2 * c.latent_dim))
        self.decoder = mlp((c.latent_dim + self.c_dim, *reversed(c.hidden), d))

    # --- condición ------------------------------------------------------------------------------------------
    def condition(self, x: torch.Tensor | None, y: torch.Tensor | None) -> torch.Tensor:
        if self.config.condition == "label":
            if y is None:
                raise ValueError("Este CVAE se condiciona en la etiqueta: pase también y.")
            y = self.check_labels(y, len(x) if x is not None else None, self.config.n_classes)
            return F.one_hot(y, self.config.n_classes).to(self.dtype)
        return (x * self.mask).flatten(1)                       # solo lo visible

    def posterior(self, x: torch.Tensor, y: torch.Tensor | None = None) -> Normal:
        """q(z|x,c), con la condición c de ``x`` e ``y`` (:meth:`condition`)."""
        return self._posterior(x, self.condition(x, y))

    def _posterior(self, x: torch.Tensor, c: torch.Tensor) -> Normal:
        return gaussian_from_params(self.recognition(torch.cat([x.flatten(1), c], -1)))

    def prior(self, c: torch.Tensor) -> Normal:
        """p(z|c), la red del prior (c es la condición ya construida)."""
        return gaussian_from_params(self.prior_net(c))

    def likelihood(self, z: torch.Tensor, c: torch.Tensor):
        """p(x|z,c) para z de forma (..., lote, latente) y c de forma (lote, c_dim)."""
        c = c.expand(*z.shape[:-1], c.shape[-1])
        raw = self.decoder(torch.cat([z, c], -1)).reshape(*z.shape[:-1], *self.config.in_shape)
        return decoder_distribution(raw, self.config.likelihood, self.config.sigma, len(self.config.in_shape))

    # --- interfaz del catálogo -------------------------------------------------------------------------------
    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.posterior(x, y).loc

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None, *, x: torch.Tensor | None = None
               ) -> torch.Tensor:
        """Imagen media de p(x|z,c): con «label», c sale de las etiquetas ``y``; con «quadrants», de lo visible de
        ``x`` (argumento propio del CVAE)."""
        return self.likelihood(z, self.condition(x, y)).mean

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        with evaluating(self):
            c = self.condition(x, y)
            return self.likelihood(self._posterior(x, c).loc, c).mean

    @torch.no_grad()
    def sample(self, n: int, *, y: torch.Tensor | None = None, generator: torch.Generator | None = None,
               x: torch.Tensor | None = None) -> torch.Tensor:
        """``n`` imágenes medias de p(x|z,c), una por condición, con z ~ p(z|c): la condición son las ``n``
        etiquetas ``y`` («label») o las ``n`` imágenes ``x`` cuyos cuadrantes visibles se dan («quadrants»)."""
        c = self.condition(x, y)
        if len(c) != n:
            raise ValueError(f"El CVAE genera una imagen por condición: se pidieron n={n} pero se dieron {len(c)} "
                             "condiciones (etiquetas y o imágenes x).")
        pz = self.prior(c)
        z = pz.loc + pz.scale * self.randn(*pz.loc.shape, generator=generator)
        return self.likelihood(z, c).mean

    @torch.no_grad()
    def complete(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Completa los cuadrantes ocultos con una muestra del CVAE y conserva los visibles de ``x``."""
        if self.config.condition != "quadrants":
            raise ValueError("complete() solo tiene sentido con condition='quadrants'.")
        self.check_input(x)
        return x * self.mask + self.sample(len(x), x=x, generator=generator) * (1 - self.mask)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> VAEOutput:
        self.check_input(x)
        c = self.condition(x, y)
        qz, pz = self._posterior(x, c), self.prior(c)
        z = qz.rsample()
        px = self.likelihood(z, c)
        rec = -self.target_log_prob(px, x)
        kl = kl_divergence(qz, pz).sum(-1)            # KL entre dos gaussianas diagonales, exacta
        return elbo_output(rec, {"kl": kl}, px, z, qz)

    def log_weights(self, x: torch.Tensor, k: int, y: torch.Tensor | None = None) -> torch.Tensor:
        """log w = log p(x|z,c) + log p(z|c) - log q(z|x,c), z ~ q(z|x,c): (k, lote). Con «quadrants», su
        log-media-exp estima la log-verosimilitud condicional log p(x_ocultos | x_visibles) (Sohn et al., sec. 5)."""
        c = self.condition(x, y)
        qz, pz = self._posterior(x, c), self.prior(c)
        z = qz.rsample((k,))
        return self.target_log_prob(self.likelihood(z, c), x) + pz.log_prob(z).sum(-1) - qz.log_prob(z).sum(-1)


@dataclass
class CompletionConfig(ModelConfig):
    condition: str = "quadrants"
    visible: tuple[int, ...] = (2,)

    def __post_init__(self):
        super().__post_init__()
        self.visible = tuple(self.visible)


class CompletionBaseline(_Completion, Model):
    """Referencia determinista: una red predice los píxeles ocultos (Bernoulli independientes) de los visibles.

    Su log-verosimilitud condicional es exacta: log p(x_ocultos | x_visibles) = sum log Bernoulli(x | f(visibles)).
    """

    key = "completion_baseline"
    Config = CompletionConfig

    def __init__(self, config: CompletionConfig | None = None, **overrides):
        super().__init__(config, **overrides)
        d = math.prod(self.config.in_shape)
        self._setup_mask()
        self.net = mlp((d, *self.config.hidden, d))

    def distribution(self, x: torch.Tensor):
        raw = self.net((x * self.mask).flatten(1)).reshape(-1, *self.config.in_shape)
        return decoder_distribution(raw, self.config.likelihood, self.config.sigma, len(self.config.in_shape))

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.target_log_prob(self.distribution(x), x)

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return x * self.mask

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.distribution(z).mean

    @torch.no_grad()
    def complete(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return x * self.mask + self.distribution(x).mean * (1 - self.mask)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> Output:
        nll = -self.log_prob(x)
        loss = nll.mean()
        return Output(loss=loss, terms={"loss": loss, "recon": loss},
                      x_hat=self.distribution(x).mean.detach(), z=x * self.mask)
