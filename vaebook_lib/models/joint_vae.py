"""JointVAE (Dupont, 2018): latentes continuos z y discretos c a la vez, cada uno con su capacidad.

q(z, c|x) = q(z|x) prod_j q(c_j|x), p(z) = N(0, I), p(c_j) uniforme. Objetivo del artículo (ec. 7):
    L = E_q[log p(x|z, c)] - gamma |KL(q(z|x)||p(z)) - C_z| - gamma |KL(q(c|x)||p(c)) - C_c|,
con C_z y C_c crecientes linealmente durante el entrenamiento y C_c recortada a sum_j log K_j, la
información máxima que cabe en el canal discreto. Las c se muestrean con Gumbel-softmax a temperatura fija.
El código aplanado es [z (latent_dim), c_1 (K_1), ..., c_J (K_J)].
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Normal

from ..discrete_latents import gumbel_softmax, kl_to_uniform, sample_one_hot
from ..losses import decoder_distribution, kl_to_standard_normal
from ..nets import Decoder, Encoder
from ..schedules import linear_ramp
from .base import Model, ModelConfig, gaussian_from_params
from .vae import VAEOutput, elbo_output


@dataclass
class JointVAEConfig(ModelConfig):
    latent_dim: int = 10                 # dimensión del latente continuo z (10 en MNIST en el artículo)
    disc_dims: tuple[int, ...] = (10,)   # categorías de cada variable discreta c_j
    gamma: float = 30.0                  # peso de las dos penalizaciones de capacidad (gamma del artículo)
    cont_capacity: float = 5.0           # C_z máxima (nats)
    disc_capacity: float = 5.0           # C_c máxima (nats), recortada a sum log K_j
    capacity_ramp: float = 1.0           # fracción del entrenamiento en la que C sube linealmente
    temperature: float = 0.67            # temperatura fija de Gumbel-softmax

    def __post_init__(self):
        super().__post_init__()
        self.disc_dims = tuple(int(k) for k in self.disc_dims)
        if not self.disc_dims or any(k < 2 for k in self.disc_dims):
            raise ValueError(f"Cada variable discreta necesita al menos 2 categorías; se recibió {self.disc_dims}.")
        if self.gamma < 0 or self.temperature <= 0:
            raise ValueError(f"gamma debe ser >= 0 y la temperatura positiva; se recibió gamma={self.gamma}, "
                             f"temperatura={self.temperature}.")
        if self.capacity_ramp <= 0 or self.cont_capacity < 0 or self.disc_capacity < 0:
            raise ValueError(f"Se necesitan capacidades >= 0 y una rampa > 0; se recibió C_z={self.cont_capacity}, "
                             f"C_c={self.disc_capacity}, rampa={self.capacity_ramp}.")


@dataclass
class JointVAEOutput(VAEOutput):
    disc_logits: list[torch.Tensor] | None = None   # un tensor (lote, K_j) por variable discreta


class JointVAE(Model):
    """Pérdida = -log p(x|z,c) + gamma |KL_z - C_z| + gamma |KL_c - C_c| (KL medias del lote), media sobre el lote."""

    key = "joint_vae"
    Config = JointVAEConfig

    def __init__(self, config: JointVAEConfig | None = None, **overrides):
        super().__init__(config, **overrides)
        c = self.config
        self.code_dim = c.latent_dim + sum(c.disc_dims)
        self.encoder = Encoder(c.in_shape, 2 * c.latent_dim + sum(c.disc_dims), c.hidden, c.arch)
        self.decoder = Decoder(self.code_dim, c.in_shape, tuple(reversed(c.hidden)), c.arch)
        self.register_buffer("cap_cont", torch.zeros(()))
        self.register_buffer("cap_disc", torch.zeros(()))

    @property
    def max_disc_capacity(self) -> float:
        return sum(math.log(k) for k in self.config.disc_dims)

    def schedule(self, progress: float) -> None:
        c = self.config
        self.cap_cont.fill_(linear_ramp(progress, c.cont_capacity, c.capacity_ramp))
        self.cap_disc.fill_(linear_ramp(progress, c.disc_capacity, c.capacity_ramp, self.max_disc_capacity))

    def posteriors(self, x: torch.Tensor):
        """De una pasada del codificador: q(z|x) como Normal y la lista de logits de cada q(c_j|x)."""
        h = self.encoder(x)
        d = self.config.latent_dim
        return gaussian_from_params(h[:, :2 * d]), list(h[:, 2 * d:].split(self.config.disc_dims, dim=1))

    def posterior(self, x: torch.Tensor, y: torch.Tensor | None = None) -> Normal:
        """q(z|x), la parte continua (la discreta: :meth:`discrete_logits`)."""
        return self.posteriors(x)[0]

    def discrete_logits(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Los logits de cada q(c_j|x): un tensor (lote, K_j) por variable discreta."""
        return self.posteriors(x)[1]

    def _check_code(self, z: torch.Tensor) -> None:
        if z.ndim != 2 or z.shape[1] != self.code_dim:
            raise ValueError(f"El código debe tener forma (lote, {self.code_dim}) = latent_dim + sum(disc_dims); "
                             f"se recibió {tuple(z.shape)}.")

    def likelihood(self, z: torch.Tensor):
        self._check_code(z)
        return decoder_distribution(self.decoder(z), self.config.likelihood, self.config.sigma,
                                    len(self.config.in_shape))

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Código plano: medias de q(z|x) seguidas de las probabilidades de cada q(c_j|x)."""
        qz, logits = self.posteriors(x)
        return torch.cat([qz.loc, *[F.softmax(lg, -1) for lg in logits]], dim=1)

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.likelihood(z).mean

    @torch.no_grad()
    def discrete_code(self, x: torch.Tensor) -> torch.Tensor:
        """La categoría más probable de cada variable discreta: enteros (lote, J)."""
        return torch.stack([lg.argmax(-1) for lg in self.discrete_logits(x)], dim=1)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> JointVAEOutput:
        self.check_input(x)
        qz, logits = self.posteriors(x)
        z = qz.rsample()
        if self.training:   # relajación diferenciable
            cs = [gumbel_softmax(lg, self.config.temperature) for lg in logits]
        else:               # muestra discreta exacta
            cs = [sample_one_hot(lg) for lg in logits]
        code = torch.cat([z, *cs], dim=1)
        px = self.likelihood(code)
        rec = -px.log_prob(x)                                   # -log p(x|z,c), sumado sobre los píxeles
        kl_z = kl_to_standard_normal(qz)                        # sumada sobre las dimensiones de z
        kl_c = sum(kl_to_uniform(lg[:, None]) for lg in logits)  # log K_j - H(q_j), sumada sobre las variables
        # Como en el artículo, la capacidad se compara con la KL media del lote.
        loss = (rec.mean() + self.config.gamma * (kl_z.mean() - self.cap_cont).abs()
                + self.config.gamma * (kl_c.mean() - self.cap_disc).abs())
        return elbo_output(rec, {"kl_cont": kl_z, "kl_disc": kl_c}, px, code, qz, loss=loss,
                           extra={"cap_cont": self.cap_cont.clone(), "cap_disc": self.cap_disc.clone()},
                           output=JointVAEOutput, disc_logits=logits)

    def _prior_discrete(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        parts = [F.one_hot(torch.randint(k, (n,), generator=generator), k).float() for k in self.config.disc_dims]
        return torch.cat(parts, dim=1)

    @torch.no_grad()
    def sample(self, n: int, *, y: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` imágenes medias de p(x|z,c) con z ~ N(0, I) y cada c_j uniforme."""
        z = torch.randn(n, self.config.latent_dim, generator=generator)
        return self.decode(torch.cat([z, self._prior_discrete(n, generator)], dim=1).to(self.device))

    @torch.no_grad()
    def category_grid(self, z_cont: torch.Tensor, var: int = 0, others: torch.Tensor | None = None) -> torch.Tensor:
        """Decodifica cada z continuo de ``z_cont`` (m, latent_dim) con la variable discreta ``var`` en cada una
        de sus K categorías (las demás, en ``others`` o en su primera categoría): imágenes (K·m, ...)."""
        c = self.config
        if z_cont.ndim != 2 or z_cont.shape[1] != c.latent_dim:
            raise ValueError(f"z_cont debe tener forma (m, {c.latent_dim}); se recibió {tuple(z_cont.shape)}.")
        if not 0 <= var < len(c.disc_dims):
            raise ValueError(f"La variable discreta debe estar en [0, {len(c.disc_dims) - 1}]; se recibió {var}.")
        m = len(z_cont)
        base = others if others is not None else torch.cat([F.one_hot(torch.zeros(m, dtype=torch.long), k).float()
                                                            for k in c.disc_dims], dim=1)
        start = sum(c.disc_dims[:var])
        rows = []
        for k in range(c.disc_dims[var]):
            disc = base.clone()
            disc[:, start:start + c.disc_dims[var]] = F.one_hot(torch.full((m,), k), c.disc_dims[var]).float()
            rows.append(self.decode(torch.cat([z_cont.cpu(), disc], dim=1).to(self.device)))
        return torch.cat(rows)


class FixedDiscrete(nn.Module):
    """Vista de un JointVAE con la parte discreta fija en ``disc`` (one-hot aplanado): su ``decode`` recibe solo
    el z continuo, así que sirve a ``widgets.latent_traversal`` para recorrer las dimensiones continuas."""

    def __init__(self, model: JointVAE, disc: torch.Tensor):
        super().__init__()
        if disc.reshape(-1).numel() != sum(model.config.disc_dims):
            raise ValueError(f"La parte discreta debe tener {sum(model.config.disc_dims)} componentes.")
        self.model = model
        self.config = model.config
        self.register_buffer("disc", disc.detach().reshape(1, -1).float())

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.model.decode(torch.cat([z, self.disc.to(z).expand(len(z), -1)], dim=1))
