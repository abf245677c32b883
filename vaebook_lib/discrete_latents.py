"""Piezas de los latentes categóricos: relajación Gumbel-softmax, muestras «duras», KL a la uniforme,
temperatura recocida y pureza de un código discreto frente a unas etiquetas.

Convenio: los logits de q(c|x) tienen forma (..., N, K): N variables categóricas de K categorías cada una.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch.distributions import Categorical, RelaxedOneHotCategorical, kl_divergence


def _check_logits(logits: torch.Tensor) -> None:
    if not isinstance(logits, torch.Tensor) or logits.ndim < 1 or logits.shape[-1] < 2:
        raise ValueError("Los logits deben ser un tensor cuya última dimensión (categorías) sea al menos 2.")
    if not torch.isfinite(logits).all():
        raise ValueError("Los logits contienen NaN o valores infinitos.")


def gumbel_softmax(logits: torch.Tensor, tau: float | torch.Tensor, hard: bool = False) -> torch.Tensor:
    """Muestra reparametrizada de Gumbel-softmax (Jang et al., 2016, ec. 1), una por fila de ``logits``.

    y_k = softmax((log pi_k + g_k) / tau), g_k ~ Gumbel(0, 1): vive en el símplex y tiende a un vector
    one-hot cuando tau -> 0. ``hard=True``: estimador «straight-through» (hacia delante el one-hot del
    argmax, hacia atrás el gradiente de la muestra relajada).
    """
    _check_logits(logits)
    tau = torch.as_tensor(tau, dtype=logits.dtype, device=logits.device)
    if not (tau > 0).all():
        raise ValueError(f"La temperatura debe ser positiva; se recibió {tau}.")
    y = RelaxedOneHotCategorical(tau, logits=logits).rsample()
    if not hard:
        return y
    y_hard = F.one_hot(y.argmax(-1), logits.shape[-1]).to(y)
    return y_hard - y.detach() + y


def sample_one_hot(logits: torch.Tensor, sample_shape: torch.Size = torch.Size()) -> torch.Tensor:
    """Muestra exacta (no relajada) de q(c|x) como vector one-hot: la que se usa en la evaluación."""
    _check_logits(logits)
    idx = Categorical(logits=logits).sample(sample_shape)
    return F.one_hot(idx, logits.shape[-1]).to(logits.dtype)


def one_hot_argmax(scores: torch.Tensor) -> torch.Tensor:
    """La categoría más probable de cada variable, como vector one-hot (el «modo» de q(c|x))."""
    return F.one_hot(scores.argmax(-1), scores.shape[-1]).to(scores.dtype)


def kl_to_uniform(logits: torch.Tensor) -> torch.Tensor:
    """KL(q(c|x) || Uniforme(K)) = log K - H(q), sumada sobre las N variables: un valor por ejemplo.

    ``logits`` (..., N, K) -> (...). Es la KL de la distribución categórica (la que Jang et al. usan en su
    VAE), no la de la relajada, cuya densidad no tiene KL cerrada.
    """
    _check_logits(logits)
    q = Categorical(logits=logits)
    prior = Categorical(logits=torch.zeros_like(logits))
    return kl_divergence(q, prior).sum(-1)


def gumbel_temperature(step: int, tau0: float = 1.0, tau_min: float = 0.5, rate: float = 1e-4,
                       every: int = 1) -> float:
    """Recocido de Jang et al.: tau = max(tau_min, tau0 * exp(-r * t)), con t actualizado cada ``every`` pasos."""
    if step < 0 or every < 1:
        raise ValueError(f"El paso debe ser >= 0 y el intervalo >= 1; se recibió paso={step}, intervalo={every}.")
    if not 0 < tau_min <= tau0 or rate < 0:
        raise ValueError(f"Se necesita 0 < tau_min <= tau0 y r >= 0; se recibió tau_min={tau_min}, tau0={tau0}, "
                         f"r={rate}.")
    t = (step // every) * every
    return max(tau_min, tau0 * math.exp(-rate * t))


def code_purity(codes: torch.Tensor, labels: torch.Tensor) -> float:
    """Pureza de un código discreto: fracción de ejemplos cuya etiqueta es la mayoritaria de su código.

    Cada valor del código se asigna a la etiqueta más frecuente entre sus ejemplos; la pureza es la tasa
    de acierto de esa asignación (1 = cada código contiene una sola etiqueta).
    """
    codes, labels = torch.as_tensor(codes).reshape(-1).long(), torch.as_tensor(labels).reshape(-1).long()
    if codes.numel() == 0 or codes.numel() != labels.numel():
        raise ValueError(f"Códigos y etiquetas deben tener el mismo número (no nulo) de elementos; "
                         f"se recibieron {codes.numel()} y {labels.numel()}.")
    if (codes < 0).any() or (labels < 0).any():
        raise ValueError("Códigos y etiquetas deben ser enteros no negativos.")
    table = torch.zeros(int(codes.max()) + 1, int(labels.max()) + 1, dtype=torch.long)
    table.index_put_((codes, labels), torch.ones_like(codes), accumulate=True)
    return float(table.max(1).values.sum()) / codes.numel()
