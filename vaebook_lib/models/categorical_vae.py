"""VAE categórico (Jang, Gu y Poole, 2016): N variables latentes de K categorías con relajación Gumbel-softmax.

q(c|x) = prod_i Cat(c_i; softmax(logits_i)), p(c) uniforme, p(x|c) de la configuración. En entrenamiento el
decodificador recibe muestras relajadas y (ec. 1 del artículo) con temperatura recocida
tau = max(tau_min, tau0 exp(-r t)); en evaluación recibe muestras one-hot exactas, así que la ELBO de
evaluación es la del modelo discreto de verdad.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.distributions import Categorical, Independent, OneHotCategorical

from ..discrete_latents import gumbel_softmax, gumbel_temperature, kl_to_uniform, one_hot_argmax, sample_one_hot
from ..losses import decoder_distribution
from ..nets import Decoder, Encoder
from .base import Model, ModelConfig
from .vae import VAEOutput, elbo_output


@dataclass
class CategoricalVAEConfig(ModelConfig):
    latent_dim: int = 20                 # N: número de variables categóricas (20 en el artículo)
    hidden: tuple[int, ...] = (512, 256)  # 784-512-256-(N·K) y su espejo, como en el artículo
    categories: int = 10                 # K: categorías por variable (10 en el artículo)
    tau0: float = 1.0                    # temperatura inicial
    tau_min: float = 0.5                 # temperatura mínima
    anneal_rate: float = 1e-4            # r (el artículo prueba 1e-5 y 1e-4)
    anneal_every: int = 500              # cada cuántos pasos se actualiza tau (N = 500 en el artículo)
    straight_through: bool = False       # True: muestra one-hot hacia delante (estimador ST Gumbel)

    def __post_init__(self):
        super().__post_init__()
        if self.categories < 2:
            raise ValueError(f"Cada variable necesita al menos 2 categorías; se recibió {self.categories}.")
        gumbel_temperature(0, self.tau0, self.tau_min, self.anneal_rate, self.anneal_every)  # valida


@dataclass
class CategoricalVAEOutput(VAEOutput):
    logits: torch.Tensor | None = None   # (lote, N, K)


class CategoricalVAE(Model):
    """Pérdida = -ELBO = -log p(x|c) + sum_i KL(q(c_i|x) || U(K)), media sobre el lote."""

    key = "categorical_vae"
    Config = CategoricalVAEConfig
    likelihood_objective = True
    own_architecture = True   # el código son N variables categóricas: no el latente gaussiano común

    def __init__(self, config: CategoricalVAEConfig | None = None, **overrides):
        super().__init__(config, **overrides)
        c = self.config
        self.code_dim = c.latent_dim * c.categories
        self.encoder = Encoder(c.in_shape, self.code_dim, c.hidden, c.arch)
        self.decoder = Decoder(self.code_dim, c.in_shape, tuple(reversed(c.hidden)), c.arch)
        # El paso y la temperatura se guardan con el modelo: un modelo cargado sigue donde estaba.
        self.register_buffer("step", torch.zeros((), dtype=torch.long))
        self.register_buffer("tau", torch.tensor(float(c.tau0)))

    def schedule(self, progress: float) -> None:
        """Llamado antes de cada lote: fija tau para el paso actual y avanza el contador."""
        c = self.config
        self.tau.fill_(gumbel_temperature(int(self.step), c.tau0, c.tau_min, c.anneal_rate, c.anneal_every))
        self.step += 1

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x).view(-1, self.config.latent_dim, self.config.categories)

    def posterior(self, x: torch.Tensor, y: torch.Tensor | None = None) -> Independent:
        """q(c|x): N variables categóricas independientes, cada una en one-hot (lote, N, K)."""
        return Independent(OneHotCategorical(logits=self.logits(x)), 1)

    def _check_code(self, z: torch.Tensor) -> None:
        if z.shape[-1] != self.code_dim:
            raise ValueError(f"El código debe tener {self.code_dim} = N·K componentes (N={self.config.latent_dim}, "
                             f"K={self.config.categories}); se recibió la forma {tuple(z.shape)}.")

    def likelihood(self, z: torch.Tensor):
        """p(x|c) para códigos aplanados de forma (..., N·K)."""
        self._check_code(z)
        lead = z.shape[:-1]
        raw = self.decoder(z.reshape(-1, self.code_dim))
        raw = raw.reshape(*lead, *raw.shape[1:])
        return decoder_distribution(raw, self.config.likelihood, self.config.sigma, len(self.config.in_shape))

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Código determinista: la categoría más probable de cada variable, one-hot y aplanado (lote, N·K)."""
        return one_hot_argmax(self.logits(x)).flatten(1)

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.likelihood(z).mean

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> CategoricalVAEOutput:
        self.check_input(x)
        logits = self.logits(x)
        if self.training:   # relajación diferenciable
            z = gumbel_softmax(logits, self.tau, hard=self.config.straight_through)
        else:               # muestra discreta exacta
            z = sample_one_hot(logits)
        px = self.likelihood(z.flatten(1))
        rec = -px.log_prob(x)            # -log p(x|c), sumado sobre los píxeles
        kl = kl_to_uniform(logits)       # log K - H(q), sumado sobre las N variables
        return elbo_output(rec, {"kl": kl}, px, z.flatten(1), extra={"tau": self.tau.clone()},
                           output=CategoricalVAEOutput, logits=logits)

    @torch.no_grad()
    def sample(self, n: int, *, y: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` imágenes medias de p(x|c) con c ~ p(c) uniforme."""
        c = self.config
        idx = torch.randint(c.categories, (n, c.latent_dim), generator=generator)
        z = torch.nn.functional.one_hot(idx, c.categories).float().flatten(1).to(self.device)
        return self.decode(z)

    def log_weights(self, x: torch.Tensor, k: int, y: torch.Tensor | None = None) -> torch.Tensor:
        """log w = log p(x|c) + log p(c) - log q(c|x) con c ~ q(c|x) exacta: tensor (k, lote)."""
        logits = self.logits(x)
        q = Categorical(logits=logits)
        idx = q.sample((k,))                                             # (k, lote, N)
        z = torch.nn.functional.one_hot(idx, self.config.categories).to(logits).flatten(2)
        log_px = self.likelihood(z).log_prob(x.expand(k, *x.shape))
        log_pc = -self.config.latent_dim * math.log(self.config.categories)
        return log_px + log_pc - q.log_prob(idx).sum(-1)

    @torch.no_grad()
    def category_grid(self, z0: torch.Tensor, var: int) -> torch.Tensor:
        """Decodifica cada código de ``z0`` (m, N·K) con la variable ``var`` puesta en cada una de sus K
        categorías: imágenes (K·m, ...) en filas de m (fila k = categoría k)."""
        c = self.config
        self._check_code(z0)
        if not 0 <= var < c.latent_dim:
            raise ValueError(f"La variable debe estar en [0, {c.latent_dim - 1}]; se recibió {var}.")
        z = z0.detach().reshape(-1, c.latent_dim, c.categories).to(self.device)
        rows = []
        for k in range(c.categories):
            zk = z.clone()
            zk[:, var] = 0.0
            zk[:, var, k] = 1.0
            rows.append(self.decode(zk.flatten(1)))
        return torch.cat(rows)
