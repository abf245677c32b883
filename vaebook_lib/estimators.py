"""Estimadores del gradiente de una esperanza E_{z ~ q_phi}[f(z)] con q_phi = N(mu, diag sigma^2).

- Función de puntuación (REINFORCE):  grad_phi E[f] = E[(f(z) - b) grad_phi log q_phi(z)]   (b: línea base)
- Reparametrización (Kingma y Welling, 2013):  z = mu + sigma * eps,  grad_phi E[f] = E_eps[grad_phi f(mu + sigma eps)]
Los dos son insesgados; el segundo usa la derivada de f y suele tener mucha menos varianza.
Cada función devuelve una estimación por muestra, para poder medir su media y su varianza.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch.distributions import Normal
from torch.func import grad, vmap


class GradientSamples(NamedTuple):
    """Estimaciones de un solo punto del gradiente: ``mu`` y ``log_sigma`` de forma (n, d)."""

    mu: torch.Tensor
    log_sigma: torch.Tensor

    def flat(self) -> torch.Tensor:
        """(n, 2d): las dos partes una detrás de otra."""
        return torch.cat([self.mu, self.log_sigma], dim=-1)


def _check(mu: torch.Tensor, log_sigma: torch.Tensor, n: int) -> None:
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"El número de muestras debe ser un entero positivo; se recibió {n!r}.")
    if mu.ndim != 1 or mu.shape != log_sigma.shape:
        raise ValueError(f"mu y log_sigma deben ser vectores de la misma forma; se recibieron "
                         f"{tuple(mu.shape)} y {tuple(log_sigma.shape)}.")


def _log_q(mu: torch.Tensor, log_sigma: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    return Normal(mu, log_sigma.exp()).log_prob(z).sum()


def score_function_gradients(f: Callable[[torch.Tensor], torch.Tensor], mu: torch.Tensor, log_sigma: torch.Tensor,
                             n: int, generator: torch.Generator | None = None, baseline: float = 0.0
                             ) -> GradientSamples:
    """n estimaciones (f(z_i) - b) grad_phi log q_phi(z_i), z_i ~ q_phi. ``f`` recibe un z (d,) y da un escalar."""
    _check(mu, log_sigma, n)
    mu, log_sigma = mu.detach(), log_sigma.detach()
    z = mu + log_sigma.exp() * torch.randn(n, *mu.shape, generator=generator)   # sin gradiente a través de z
    fz = vmap(f)(z) - baseline
    g_mu, g_ls = vmap(grad(_log_q, argnums=(0, 1)), in_dims=(None, None, 0))(mu, log_sigma, z)
    return GradientSamples(fz[:, None] * g_mu, fz[:, None] * g_ls)


def reparameterized_gradients(f: Callable[[torch.Tensor], torch.Tensor], mu: torch.Tensor, log_sigma: torch.Tensor,
                              n: int, generator: torch.Generator | None = None) -> GradientSamples:
    """n estimaciones grad_phi f(mu + exp(log_sigma) * eps_i), eps_i ~ N(0, I)."""
    _check(mu, log_sigma, n)
    eps = torch.randn(n, *mu.shape, generator=generator)

    def f_of_phi(m, ls, e):
        return f(m + ls.exp() * e)

    g_mu, g_ls = vmap(grad(f_of_phi, argnums=(0, 1)), in_dims=(None, None, 0))(mu.detach(), log_sigma.detach(), eps)
    return GradientSamples(g_mu, g_ls)


ESTIMATORS = {"puntuacion": score_function_gradients, "reparametrizacion": reparameterized_gradients}


def gradient_variance(estimator: Callable[..., GradientSamples], f, mu: torch.Tensor, log_sigma: torch.Tensor,
                      n_samples: int, repeats: int = 200, generator: torch.Generator | None = None) -> torch.Tensor:
    """Varianza total (suma sobre los parámetros) del estimador que promedia ``n_samples`` muestras.

    Se mide empíricamente con ``repeats`` repeticiones independientes; debe caer como 1 / n_samples.
    """
    if not isinstance(repeats, int) or repeats < 2:
        raise ValueError(f"Hacen falta al menos 2 repeticiones para medir una varianza; se recibió {repeats!r}.")
    g = estimator(f, mu, log_sigma, n_samples * repeats, generator=generator).flat()
    means = g.reshape(repeats, n_samples, -1).mean(1)
    return means.var(0).sum()
