"""Autocodificadores que acercan la posterior agregada q(z) al prior con una distancia entre muestras.

- ``wae_mmd`` (Tolstikhin et al., 2017): WAE con penalización MMD; codificador determinista.
- ``swae`` (Kolouri et al., 2018): la misma idea con la distancia de Wasserstein en rodajas.
- ``info_vae`` (Zhao et al., 2017): VAE con pesos alpha y lambda y un término MMD sobre q(z).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..divergences import KERNELS, mmd, sliced_wasserstein
from ..losses import kl_to_standard_normal
from ..nets import Decoder, Encoder
from .base import Model, ModelConfig, Output
from .vae import VAE, VAEConfig, VAEOutput, elbo_output


@dataclass
class WAEConfig(ModelConfig):
    latent_dim: int = 8               # d = 8 en los experimentos de MNIST del artículo
    likelihood: str = "gaussian"      # coste c(x, y) = ||x - y||^2 sobre intensidades en [0, 1]
    kernel: str = "imq"               # «imq» (el del artículo) o «rbf»
    lambda_: float = 10.0             # peso lambda de la penalización Delta(Q_Z, P_Z)
    # Escala del coste: el código de los autores (MNIST, coste «l2sq») multiplica ||x - y||^2 por 0.05 con
    # lambda = 10, es decir, lambda = 200 frente al coste sin escalar. 1.0: el coste tal cual.
    cost_scale: float = 0.05

    def __post_init__(self):
        super().__post_init__()
        if self.kernel not in KERNELS:
            raise ValueError(f"Núcleo desconocido {self.kernel!r}; use uno de {KERNELS}.")
        if self.lambda_ < 0:
            raise ValueError(f"lambda_ no puede ser negativo; se recibió {self.lambda_}.")
        if self.cost_scale <= 0:
            raise ValueError(f"cost_scale debe ser positivo; se recibió {self.cost_scale}.")


class WAE(Model):
    """WAE-MMD. Objetivo (ec. 4 del artículo): s · E ||x - G(Q(x))||^2 + lambda MMD_kappa(Q_Z, P_Z),
    con kappa el núcleo.

    El primer término se suma sobre los píxeles y se promedia sobre el lote; s = ``cost_scale`` es la escala del
    coste (0.05 en el código de los autores para MNIST). El término «recon» del historial es el coste sin
    escalar, comparable con el de un AE. El MMD se estima con el estadístico U entre los códigos del lote y
    otras tantas muestras z~ del prior N(0, I).
    """

    key = "wae_mmd"
    Config = WAEConfig
    likelihood_objective = False  # coste de transporte (error cuadrático), no una verosimilitud

    def __init__(self, config: WAEConfig | None = None, **overrides):
        super().__init__(config, **overrides)
        c = self.config
        self.encoder = Encoder(c.in_shape, c.latent_dim, c.hidden, c.arch)      # determinista: z = Q(x)
        self.decoder = Decoder(c.latent_dim, c.in_shape, tuple(reversed(c.hidden)), c.arch)

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return torch.sigmoid(self.decoder(z))

    @torch.no_grad()
    def sample(self, n: int, *, y: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Imágenes G(z~) con z~ ~ p(z) = N(0, I)."""
        return self.decode(self.randn(n, self.config.latent_dim, generator=generator))

    def penalty(self, z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """La penalización Delta(Q_Z, P_Z) entre los códigos del lote y otras tantas muestras de la previa (sorteadas con
        ``generator``)."""
        return mmd(z, self.randn(*z.shape, generator=generator).to(z.dtype), kernel=self.config.kernel)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> Output:
        self.check_input(x)
        z = self.encode(x)
        x_hat = self.decode(z)
        rec = (x - x_hat).pow(2).flatten(1).sum(1).mean()
        pen = self.penalty(z)
        loss = self.config.cost_scale * rec + self.config.lambda_ * pen
        terms = {"loss": loss, "recon": rec, "penalty": pen}
        return Output(loss=loss, terms=terms, x_hat=x_hat, z=z)


@dataclass
class SWAEConfig(WAEConfig):
    n_projections: int = 50           # L, direcciones aleatorias por lote
    cost_scale: float = 1.0           # sin escala: la de 0.05 es del código de WAE, no de Kolouri et al.

    def __post_init__(self):
        super().__post_init__()
        if self.n_projections < 1:
            raise ValueError(f"n_projections debe ser al menos 1; se recibió {self.n_projections}.")


class SWAE(WAE):
    """SWAE. Objetivo: E ||x - psi(phi(x))||^2 + lambda SW_2^2(q(z), p(z)), con SW estimada con L direcciones.

    Las L direcciones se sortean de nuevo en cada lote; el núcleo de la configuración no se usa.
    """

    key = "swae"
    Config = SWAEConfig

    def penalty(self, z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """SW entre los códigos y una muestra del prior; ``generator`` sortea la muestra y las direcciones."""
        prior = self.randn(*z.shape, generator=generator).to(z.dtype)
        return sliced_wasserstein(z, prior, n_projections=self.config.n_projections, generator=generator)


@dataclass
class InfoVAEConfig(VAEConfig):
    alpha: float = 1.0                # alpha = 1 quita la KL por ejemplo (el «MMD-VAE» del artículo)
    lambda_: float = 100.0            # peso del MMD: el MMD (núcleo RBF) vale ~1e-2 frente a ~1e2 nats
    kernel: str = "rbf"               # núcleo gaussiano, como en el artículo

    def __post_init__(self):
        super().__post_init__()
        if self.kernel not in KERNELS:
            raise ValueError(f"Núcleo desconocido {self.kernel!r}; use uno de {KERNELS}.")
        if self.alpha + self.lambda_ - 1 < 0 or self.alpha > 1:
            raise ValueError("InfoVAE necesita alpha <= 1 y alpha + lambda_ - 1 >= 0 para que el objetivo "
                             f"sea una divergencia; se recibió alpha={self.alpha}, lambda_={self.lambda_}.")


class InfoVAE(VAE):
    """InfoVAE. Objetivo a minimizar (ec. 6 del artículo, con D = MMD):

        -E_q[log p(x|z)] + (1 - alpha) KL(q(z|x) || p(z)) + (alpha + lambda - 1) MMD(q(z), p(z)).

    alpha = 0, lambda = 1 con D = KL sería el VAE; el MMD se estima entre z ~ q(z|x) del lote y z~ ~ p(z).
    """

    key = "info_vae"
    Config = InfoVAEConfig

    penalty = WAE.penalty   # el MMD entre los z ~ q(z|x) del lote y otras tantas muestras del prior

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> VAEOutput:
        c = self.config
        qz, z, px, rec = self.encode_sample_decode(x)
        kl = kl_to_standard_normal(qz)
        pen = self.penalty(z)
        loss = rec.mean() + (1 - c.alpha) * kl.mean() + (c.alpha + c.lambda_ - 1) * pen
        return elbo_output(rec, {"kl": kl}, px, z, qz, loss=loss, extra={"mmd": pen})
