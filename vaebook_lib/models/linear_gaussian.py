"""Modelo lineal-gaussiano (PCA probabilístico con sigma fija): el único caso en que todo es exacto.

p(z) = N(0, I),  p(x|z) = N(W z + b, sigma^2 I)   =>   p(x) = N(b, W W^T + sigma^2 I)   (Tipping y Bishop)
p(z|x) = N(M^-1 W^T (x - b), sigma^2 M^-1),  M = W^T W + sigma^2 I.
El codificador q(z|x) = N(A x + c, L L^T) es lineal, con L constante (como la covarianza de p(z|x)):
«full» (L triangular) contiene a la posterior exacta; «diagonal» (campo medio) en general no.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.distributions import Independent, MultivariateNormal, Normal, kl_divergence

from .base import Model, ModelConfig
from .vae import VAEOutput, elbo_output

Q_FAMILIES = ("full", "diagonal")


@dataclass
class LinearGaussianConfig(ModelConfig):
    in_shape: tuple[int, ...] = (2,)
    latent_dim: int = 1
    hidden: tuple[int, ...] = ()      # sin capas ocultas: todo es lineal
    likelihood: str = "gaussian"
    sigma: float = 0.5                # desviación típica fija del ruido de observación
    q_family: str = "full"            # «full» o «diagonal»

    def __post_init__(self):
        super().__post_init__()
        if len(self.in_shape) != 1:
            raise ValueError("El modelo lineal-gaussiano trabaja con vectores: in_shape=(D,); "
                             f"se recibió {self.in_shape}.")
        if self.likelihood != "gaussian" or self.sigma <= 0:
            raise ValueError("El modelo lineal-gaussiano necesita verosimilitud «gaussian» y sigma positiva.")
        if self.q_family not in Q_FAMILIES:
            raise ValueError(f"Familia variacional desconocida {self.q_family!r}; use una de {Q_FAMILIES}.")


class LinearGaussian(Model):
    """PCA probabilístico con log p(x), p(z|x), ELBO y KL(q || p(z|x)) exactos; pérdida = -ELBO exacta."""

    key = "linear_gaussian"
    Config = LinearGaussianConfig
    likelihood_objective = True
    not_comparable = "modelo lineal-gaussiano de juguete (capítulo 2), no de imágenes"

    def __init__(self, config: LinearGaussianConfig | None = None, **overrides):
        super().__init__(config, **overrides)
        D, d = self.config.in_shape[0], self.config.latent_dim
        self.W = nn.Parameter(torch.randn(D, d))          # decodificador (theta)
        self.b = nn.Parameter(torch.zeros(D))
        self.A = nn.Parameter(torch.zeros(d, D))          # codificador (phi)
        self.c = nn.Parameter(torch.zeros(d))
        self.q_log_scale = nn.Parameter(torch.zeros(d))
        if self.config.q_family == "full":
            self.q_lower = nn.Parameter(torch.zeros(d, d))  # solo se usa su parte estrictamente inferior

    @classmethod
    def from_weights(cls, W: torch.Tensor, b: torch.Tensor | None = None, sigma: float = 0.5,
                     q_family: str = "full") -> "LinearGaussian":
        """Un modelo con el decodificador dado (W de forma (D, d)); el codificador empieza en q(z|x) = N(0, I)."""
        W = torch.as_tensor(W, dtype=torch.float32)
        if W.ndim != 2:
            raise ValueError(f"W debe ser una matriz (D, d); se recibió la forma {tuple(W.shape)}.")
        model = cls(in_shape=(W.shape[0],), latent_dim=W.shape[1], sigma=sigma, q_family=q_family)
        with torch.no_grad():
            model.W.copy_(W)
            if b is not None:
                model.b.copy_(torch.as_tensor(b, dtype=torch.float32))
        return model

    def check_input(self, x: torch.Tensor) -> None:
        D = self.config.in_shape[0]
        self.check_batch(x)
        if x.ndim != 2 or x.shape[1] != D:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"x debe ser un tensor de forma (lote, {D}); se recibió {shape}.")
        if not torch.isfinite(x).all():
            raise ValueError("x contiene NaN o valores infinitos.")

    # --- el modelo generativo p_theta ----------------------------------------------------------------------
    def prior(self, z_like: torch.Tensor) -> Normal:
        return Normal(torch.zeros_like(z_like), torch.ones_like(z_like))

    def likelihood(self, z: torch.Tensor) -> Independent:
        """p(x|z) = N(W z + b, sigma^2 I) para códigos de cualquier forma (..., d)."""
        return Independent(Normal(z @ self.W.T + self.b, self.config.sigma), 1)

    def marginal(self) -> MultivariateNormal:
        """p(x) = N(b, W W^T + sigma^2 I): la evidencia exacta."""
        D = self.config.in_shape[0]
        return MultivariateNormal(self.b, self.W @ self.W.T + self.config.sigma ** 2 * torch.eye(D))

    def log_marginal(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x) exacta, un valor por ejemplo."""
        self.check_input(x)
        return self.marginal().log_prob(x)

    def true_posterior(self, x: torch.Tensor) -> MultivariateNormal:
        """p(z|x) exacta (regla de Bayes entre gaussianas)."""
        self.check_input(x)
        d, s2 = self.config.latent_dim, self.config.sigma ** 2
        M = self.W.T @ self.W + s2 * torch.eye(d)
        mean = torch.linalg.solve(M, self.W.T @ (x - self.b).T).T
        return MultivariateNormal(mean, s2 * torch.linalg.inv(M))

    @torch.no_grad()
    def sample(self, n: int, *, y: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` datos x ~ p(x) (con el ruido de observación: aquí los datos son vectores, no imágenes)."""
        z = torch.randn(n, self.config.latent_dim, generator=generator)
        noise = torch.randn(n, self.config.in_shape[0], generator=generator)
        return z @ self.W.T + self.b + self.config.sigma * noise

    # --- el modelo de inferencia q_phi ---------------------------------------------------------------------
    def q_scale_tril(self) -> torch.Tensor:
        L = torch.diag(self.q_log_scale.exp())
        if self.config.q_family == "full":
            L = L + torch.tril(self.q_lower, diagonal=-1)
        return L

    def posterior(self, x: torch.Tensor, y: torch.Tensor | None = None) -> MultivariateNormal:
        """q_phi(z|x) = N(A x + c, L L^T): la aproximación amortizada."""
        self.check_input(x)
        return MultivariateNormal(x @ self.A.T + self.c, scale_tril=self.q_scale_tril())

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.posterior(x).loc

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return z @ self.W.T + self.b

    @torch.no_grad()
    def set_optimal_encoder(self) -> None:
        """Pone en el codificador el óptimo de su familia: p(z|x) («full») o el campo medio óptimo («diagonal»).

        Para un objetivo gaussiano con precisión Lambda, el campo medio que minimiza KL(q || p) tiene la media
        exacta y varianzas 1 / Lambda_jj (Bishop, 2006, §10.1.2).
        """
        d, s2 = self.config.latent_dim, self.config.sigma ** 2
        M = self.W.T @ self.W + s2 * torch.eye(d)
        A = torch.linalg.solve(M, self.W.T)
        self.A.copy_(A)
        self.c.copy_(-A @ self.b)
        if self.config.q_family == "full":
            L = torch.linalg.cholesky(s2 * torch.linalg.inv(M))
            self.q_log_scale.copy_(L.diagonal().log())
            self.q_lower.copy_(L)
        else:
            precision = M / s2
            self.q_log_scale.copy_(-0.5 * precision.diagonal().log())

    # --- las cantidades variacionales, en forma cerrada ----------------------------------------------------
    def expected_log_likelihood(self, x: torch.Tensor, q: MultivariateNormal) -> torch.Tensor:
        """E_q[log p(x|z)] = -D/2 log(2 pi sigma^2) - (||x - b - W m||^2 + tr(W S W^T)) / (2 sigma^2)."""
        D, s2 = self.config.in_shape[0], self.config.sigma ** 2
        resid = x - self.b - q.loc @ self.W.T
        WL = self.W @ q.scale_tril                               # tr(W S W^T) = ||W L||_F^2
        trace = WL.pow(2).sum((-2, -1))
        return -0.5 * D * math.log(2 * math.pi * s2) - (resid.pow(2).sum(-1) + trace) / (2 * s2)

    def _q(self, x: torch.Tensor, q: MultivariateNormal | None) -> MultivariateNormal:
        self.check_input(x)
        if q is None:
            return self.posterior(x)
        if not isinstance(q, MultivariateNormal) or q.event_shape != (self.config.latent_dim,):
            raise ValueError(f"q debe ser una MultivariateNormal sobre z de dimensión {self.config.latent_dim}.")
        return q

    def elbo(self, x: torch.Tensor, q: MultivariateNormal | None = None) -> torch.Tensor:
        """ELBO exacta = E_q[log p(x|z)] - KL(q || p(z)); ``q`` por defecto es el codificador q_phi(z|x)."""
        q = self._q(x, q)
        d = self.config.latent_dim
        prior = MultivariateNormal(torch.zeros(d), scale_tril=torch.eye(d))
        return self.expected_log_likelihood(x, q) - kl_divergence(q, prior)

    def kl_to_posterior(self, x: torch.Tensor, q: MultivariateNormal | None = None) -> torch.Tensor:
        """KL(q || p(z|x)) exacta: lo que le falta a la ELBO para llegar a log p(x)."""
        return kl_divergence(self._q(x, q), self.true_posterior(x))

    def log_weights(self, x: torch.Tensor, k: int, y: torch.Tensor | None = None,
                    q: MultivariateNormal | None = None) -> torch.Tensor:
        """log w = log p(x|z) + log p(z) - log q(z) para k muestras z ~ q (por defecto q_phi): tensor (k, lote)."""
        q = self._q(x, q)
        z = q.rsample((k,))
        return self.likelihood(z).log_prob(x) + self.prior(z).log_prob(z).sum(-1) - q.log_prob(z)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> VAEOutput:
        q = self.posterior(x)
        rec = -self.expected_log_likelihood(x, q)
        kl = -self.elbo(x, q) - rec
        # z: una muestra de q (la pérdida no la usa: sus términos son exactos); x_hat: la imagen de la media de q
        return elbo_output(rec, {"kl": kl}, self.likelihood(q.loc), q.sample(), q)
