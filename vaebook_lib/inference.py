"""Inferencia variacional por punto (no amortizada): una q_i = N(mu_i, diag sigma_i^2) propia para cada x_i.

Es la inferencia variacional «clásica» (sección 2.5 del survey): para cada dato se optimizan sus propios
parámetros variacionales, con el modelo generativo p_theta fijo. El VAE la sustituye por un codificador
(inferencia amortizada); la diferencia de ELBO entre ambas es la «brecha de amortización».
Sirve para cualquier modelo con ``likelihood(z) -> p(x|z)`` y ``prior(z) -> p(z)`` (VAE, lineal-gaussiano).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
from torch.distributions import Independent, Normal, kl_divergence

from .config import flush_denormals
from .models.base import evaluating


def elbo_estimate(model, x: torch.Tensor, q: Independent, k: int = 1,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """ELBO por ejemplo = media sobre k muestras de log p(x|z) - KL(q || p(z)) (la KL, analítica)."""
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k debe ser un entero positivo; se recibió {k!r}.")
    mu, sigma = q.base_dist.loc, q.base_dist.scale
    z = mu + sigma * torch.randn(k, *mu.shape, generator=generator).to(mu.device)   # reparametrización
    log_px = model.likelihood(z).log_prob(x.expand(k, *x.shape)).mean(0)
    return log_px - kl_divergence(q, Independent(model.prior(mu), 1))


def importance_log_weights(model, x: torch.Tensor, q: Independent, k: int,
                           generator: torch.Generator | None = None) -> torch.Tensor:
    """log w = log p(x|z) + log p(z) - log q(z) con k muestras z ~ q (cualquier q por dato): tensor (k, lote).

    ``logsumexp(log w, 0) - log k`` estima log p(x) con q como propuesta; cuanto mejor es q, más ajustada.
    """
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k debe ser un entero positivo; se recibió {k!r}.")
    mu, sigma = q.base_dist.loc, q.base_dist.scale
    z = mu + sigma * torch.randn(k, *mu.shape, generator=generator).to(mu.device)
    log_prior = Independent(model.prior(z), 1).log_prob(z)
    return model.likelihood(z).log_prob(x.expand(k, *x.shape)) + log_prior - q.log_prob(z)


@torch.no_grad()
def log_likelihood_with_proposal(model, x: torch.Tensor, q: Independent, k: int, batch_size: int = 100,
                                 chunk: int = 500, generator: torch.Generator | None = None) -> torch.Tensor:
    """log p(x) ~ log (1/k) sum_i w_i con z_i ~ q (una q por dato, p. ej. optimizada); un valor por ejemplo.

    Como ``metrics.log_likelihood_is`` pero con la propuesta dada en lugar del codificador del modelo; procesa
    los datos en lotes y las k muestras en trozos, así que k = 5000 no necesita más memoria que k = ``chunk``.
    """
    if not isinstance(k, int) or k < 1 or batch_size < 1 or chunk < 1:
        raise ValueError(f"k, batch_size y chunk deben ser enteros positivos; se recibió k={k!r}.")
    mu, sigma = q.base_dist.loc, q.base_dist.scale
    out = []
    for i in range(0, len(x), batch_size):
        qb = Independent(Normal(mu[i:i + batch_size], sigma[i:i + batch_size]), 1)
        xb = x[i:i + batch_size]
        parts = [torch.logsumexp(importance_log_weights(model, xb, qb, min(chunk, k - j), generator), 0)
                 for j in range(0, k, chunk)]
        out.append(torch.logsumexp(torch.stack(parts), 0) - math.log(k))
    return torch.cat(out)


@dataclass
class LocalFit:
    """Resultado de la inferencia por punto: las q_i finales, la ELBO media por paso y el tiempo empleado."""

    q: Independent
    trace: list[float] = field(default_factory=list)
    seconds: float = 0.0


@flush_denormals()   # subnormales como cero: en CPU, operar con ellos es decenas de veces más lento
def fit_local_posteriors(model, x: torch.Tensor, *, steps: int, lr: float = 0.05, k: int = 1,
                         init: Normal | Independent | None = None,
                         generator: torch.Generator | None = None) -> LocalFit:
    """Maximiza la ELBO de cada ejemplo respecto a sus propios (mu_i, log sigma_i) con Adam; p_theta no cambia.

    ``init``: la q de partida (p. ej. la del codificador: inferencia semiamortizada); por defecto, el prior.
    """
    if not isinstance(steps, int) or steps < 1 or lr <= 0:
        raise ValueError("steps debe ser un entero positivo y lr positiva.")
    model.check_input(x)
    with evaluating(model):
        d = model.config.latent_dim
        if init is None:
            mu0, sigma0 = torch.zeros(len(x), d, device=x.device), torch.ones(len(x), d, device=x.device)
        else:
            base = init.base_dist if isinstance(init, Independent) else init
            mu0, sigma0 = base.loc, base.scale
        if mu0.shape != (len(x), d):
            raise ValueError(f"La q inicial debe tener forma (lote, {d}); se recibió {tuple(mu0.shape)}.")
        mu = mu0.detach().clone().requires_grad_(True)
        log_sigma = sigma0.detach().log().clone().requires_grad_(True)
        opt = torch.optim.Adam([mu, log_sigma], lr=lr)
        trace = []
        start = time.perf_counter()
        for _ in range(steps):
            q = Independent(Normal(mu, log_sigma.exp()), 1)
            elbo = elbo_estimate(model, x, q, k, generator)
            # solo los parámetros locales: los de p_theta no acumulan gradiente
            g_mu, g_ls = torch.autograd.grad(-elbo.sum(), [mu, log_sigma])
            mu.grad, log_sigma.grad = g_mu, g_ls
            opt.step()
            trace.append(float(elbo.detach().mean()))
        seconds = time.perf_counter() - start
    q = Independent(Normal(mu.detach(), log_sigma.detach().exp()), 1)
    return LocalFit(q=q, trace=trace, seconds=seconds)
