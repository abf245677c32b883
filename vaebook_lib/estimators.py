"""Estimadores del gradiente de una esperanza E_{z ~ q_phi}[f(z)] con q_phi = N(mu, diag sigma^2).

- Función de puntuación (REINFORCE):  grad_phi E[f] = E[(f(z) - b) grad_phi log q_phi(z)]   (b: línea base)
- Reparametrización (Kingma y Welling, 2013):  z = mu + sigma * eps,  grad_phi E[f] = E_eps[grad_phi f(mu + sigma eps)]
Los dos son insesgados; el segundo usa la derivada de f y suele tener mucha menos varianza.
Cada función devuelve una estimación por muestra, para poder medir su media y su varianza.
Al final, la relación señal/ruido del gradiente de la cota IWAE según k (Rainforth et al., 2018):
:func:`gradient_snr`, que compara el codificador con el decodificador.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch.distributions import Normal
from torch.func import functional_call, grad, vmap


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


# --- Relación señal/ruido del gradiente de la cota IWAE (Rainforth et al., 2018) ---------------------------------

class EncoderDecoderGradients(NamedTuple):
    """Estimaciones independientes del gradiente de la cota IWAE: ``encoder`` (repeats, P_phi) y ``decoder``
    (repeats, P_theta), con los parámetros de cada red aplanados y concatenados en el orden de ``named_parameters``."""

    encoder: torch.Tensor
    decoder: torch.Tensor


def _iwae_inputs(model, x: torch.Tensor, k: int, repeats: int) -> None:
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k (muestras de importancia) debe ser un entero positivo; se recibió {k!r}.")
    if not isinstance(repeats, int) or isinstance(repeats, bool) or repeats < 2:
        raise ValueError(f"Hacen falta al menos 2 repeticiones para medir una dispersión; se recibió {repeats!r}.")
    from .models.vae import GaussianEncoderMixin   # el contrato: posterior gaussiana, previa y likelihood_at

    if not isinstance(model, GaussianEncoderMixin):
        raise ValueError(f"{type(model).__name__} no sirve: hace falta un VAE con codificador gaussiano "
                         "(posterior, prior y likelihood_at de GaussianEncoderMixin).")
    in_shape = tuple(model.config.in_shape)
    if not isinstance(x, torch.Tensor) or x.ndim != len(in_shape) + 1 or tuple(x.shape[1:]) != in_shape or len(x) < 1:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"x debe ser un lote de forma (n, {', '.join(map(str, in_shape))}) con n ≥ 1; "
                         f"se recibió {shape}.")


class _IWAEBound(torch.nn.Module):
    """Envoltorio para ``functional_call``: ``forward(x, eps)`` es la cota L_k media del lote con el ruido dado."""

    def __init__(self, model, k: int):
        super().__init__()
        self.model, self.k = model, k

    def forward(self, x: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        m, k = self.model, self.k
        qz = m.posterior(x)
        z = qz.loc + qz.scale * eps                                       # (k, n, d): z reparametrizado
        xk = x.expand(k, *x.shape)
        log_w = (m.likelihood_at(z, xk).log_prob(xk) + m.prior(z).log_prob(z).sum(-1)
                 - Normal(qz.loc, qz.scale).log_prob(z).sum(-1))          # (k, n): log w por muestra
        return (torch.logsumexp(log_w, dim=0) - math.log(k)).mean()


def iwae_gradient_samples(model, x: torch.Tensor, k: int, *, repeats: int,
                          generator: torch.Generator | None = None) -> EncoderDecoderGradients:
    """``repeats`` estimaciones independientes del gradiente de la cota IWAE L_k media sobre el lote ``x``.

    Cada estimación usa k códigos z_i = mu + sigma * eps_i por ejemplo, con ruido propio, y es el gradiente
    exacto (por autograd) de log (1/k) sum_i w_i. Los parámetros de ``model.encoder`` forman phi (el codificador);
    todos los demás, theta (el modelo generativo). Se vectoriza sobre las repeticiones con ``torch.func``:
    ``vmap`` de ``grad`` de una llamada funcional al modelo (``functional_call``), sin bucles en Python.
    El ruido es ``torch.randn(repeats, k, n, latent_dim, generator=generator)``; el modelo se evalúa en modo
    ``eval`` y vuelve después a su modo anterior.
    """
    _iwae_inputs(model, x, k, repeats)
    params = {name: p.detach() for name, p in model.named_parameters()}
    buffers = {name: b.detach() for name, b in model.named_buffers()}
    enc_names = [n for n in params if n.startswith("encoder.")]
    dec_names = [n for n in params if not n.startswith("encoder.")]
    if not enc_names or not dec_names:
        raise ValueError("El modelo debe tener parámetros en el codificador y fuera de él.")
    x = x.to(next(model.parameters()).device)
    with torch.no_grad():
        latent = model.posterior(x[:1]).loc.shape[-1]
    eps = torch.randn(repeats, k, len(x), latent, generator=generator).to(x.device)

    wrapper = _IWAEBound(model, k)
    full = {f"model.{n}": b for n, b in buffers.items()}

    def bound(p, e):                                   # L_k media del lote como función de los parámetros y el ruido
        return functional_call(wrapper, ({f"model.{n}": v for n, v in p.items()}, full), (x, e))

    was = model.training
    model.eval()
    try:
        g = vmap(grad(bound), in_dims=(None, 0), randomness="error")(params, eps)
    finally:
        model.train(was)
    flat = lambda names: torch.cat([g[n].reshape(repeats, -1) for n in names], dim=1)
    return EncoderDecoderGradients(flat(enc_names), flat(dec_names))


def snr(samples: torch.Tensor) -> torch.Tensor:
    """Relación señal/ruido |media| / desviación típica de cada columna de ``samples`` (repeticiones, P).

    Una columna constante y no nula da ``inf``; una columna idénticamente nula (un parámetro que esta cota no mueve)
    da ``nan``, que las medianas deben descartar (``torch.nanmedian``).
    """
    if samples.ndim != 2 or len(samples) < 2:
        raise ValueError(f"samples debe tener forma (repeticiones ≥ 2, P); se recibió {tuple(samples.shape)}.")
    return samples.mean(0).abs() / samples.std(0)


def gradient_snr(model, x: torch.Tensor, k: int, *, repeats: int,
                 generator: torch.Generator | None = None) -> EncoderDecoderGradients:
    """SNR por parámetro del gradiente de la cota IWAE L_k: |E[g]| / std[g] del codificador y del decodificador.

    Rainforth et al. (2018) muestran que, al crecer k, la SNR del gradiente del modelo generativo (theta) crece
    como sqrt(k) y la del codificador (phi) cae como 1/sqrt(k): la cota se ajusta, pero la señal que recibe
    phi se hunde en el ruido. La esperanza y la desviación se miden sobre ``repeats`` estimaciones independientes
    (:func:`iwae_gradient_samples`). Devuelve dos vectores (P_phi,) y (P_theta,); véase :func:`snr` para
    ``inf`` y ``nan``.
    """
    g = iwae_gradient_samples(model, x, k, repeats=repeats, generator=generator)
    return EncoderDecoderGradients(snr(g.encoder), snr(g.decoder))
