"""Términos de pérdida compartidos por varios modelos (las comprobaciones de los datos están en
:mod:`vaebook_lib.data.checks`).

Convenio único del libro: cada término se **suma sobre las dimensiones de los datos** (o del latente) y se
**promedia sobre el lote** fuera de aquí; un peso solo aparece donde el artículo lo tiene, con su nombre.
"""
from __future__ import annotations

import torch
from torch.distributions import Bernoulli, Distribution, Independent, Normal

LIKELIHOODS = ("bernoulli", "gaussian")


def decoder_distribution(raw: torch.Tensor, likelihood: str, sigma: float = 0.1, event_dims: int | None = None
                         ) -> Distribution:
    """p(x|z) a partir de la salida cruda del decodificador.

    ``bernoulli``: la salida son logits (datos binarios). ``gaussian``: la media es ``sigmoid(salida)`` (datos
    en [0, 1]) y la desviación típica es ``sigma``, fija y declarada. ``event_dims``: cuántas dimensiones
    finales forman un dato (por defecto, todas menos la primera).
    """
    event_dims = raw.ndim - 1 if event_dims is None else event_dims
    if likelihood == "bernoulli":
        return Independent(Bernoulli(logits=raw), event_dims)
    if likelihood == "gaussian":
        if sigma <= 0:
            raise ValueError(f"La desviación típica del decodificador debe ser positiva; se recibió {sigma}.")
        return Independent(Normal(torch.sigmoid(raw), sigma), event_dims)
    raise ValueError(f"Verosimilitud desconocida {likelihood!r}; use una de {LIKELIHOODS}.")


def kl_to_standard_normal(q: Normal) -> torch.Tensor:
    """KL(q || N(0, I)) de una gaussiana diagonal, sumada sobre el latente: un valor por ejemplo.

    Por dimensión vale (mu² + e^{2l} - 1 - 2l) / 2 con l = log sigma. La fórmula directa (la de
    ``kl_divergence``) resta inf - inf = NaN cuando sigma² desborda (log-varianza 100 en float32); aquí
    e^{2l} - 1 - 2l se calcula como ``expm1(2l) - 2l`` (sin cancelación cerca de sigma = 1) y, para 2l > 80,
    como e^{2l} (el término lineal ya no cambia ningún bit): la KL desbordada es +inf, nunca NaN, y ``fit``
    para con un mensaje claro.
    """
    two_l = 2 * q.scale.log()
    var_term = torch.where(two_l > 80, two_l.exp(), torch.expm1(two_l) - two_l)
    return 0.5 * (q.loc.square() + var_term).sum(-1)


def kl_warmup_weight(progress: float, warmup: float) -> float:
    """Peso de la KL en el recocido lineal (Bowman et al., 2015): crece de 0 a 1 durante la fracción ``warmup``
    del entrenamiento y después vale 1. ``warmup = 0`` lo desactiva (peso 1 siempre)."""
    from .schedules import linear_ramp   # la única rampa lineal de la biblioteca
    return linear_ramp(progress, ramp=warmup)


def free_bits_kl(kl_per_dim: torch.Tensor, free_bits: float) -> torch.Tensor:
    """KL con «bits libres» (Kingma et al., 2016, ec. 15): sum_j max(lambda, E_lote[KL_j]).

    ``kl_per_dim`` es (lote, D). Mientras la KL media de una dimensión latente (un grupo) está por debajo de
    ``lambda``, su término vale la constante ``lambda``: esa dimensión no paga nada ni recibe gradiente de la KL, así
    que el optimizador no gana nada apagándola del todo. Por encima de ``lambda`` cuenta la KL ordinaria, con su
    gradiente. No garantiza ``lambda`` nats por dimensión: nada empuja la KL hacia arriba; solo la reconstrucción
    puede subirla, y una dimensión que no le sirve se queda por debajo de ``lambda``. Devuelve un escalar.
    """
    if kl_per_dim.ndim != 2 or free_bits < 0:
        raise ValueError("kl_per_dim debe tener forma (lote, D) y free_bits debe ser >= 0.")
    return kl_per_dim.mean(0).clamp_min(free_bits).sum()
