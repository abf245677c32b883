"""Métricas: estimación de log p(x) por muestreo de importancia (y, en capítulos posteriores, más)."""
from __future__ import annotations

import math

import torch

from .data.batches import batches


@torch.no_grad()
def log_likelihood_is(model, x: torch.Tensor, k: int, batch_size: int = 100, chunk: int = 500) -> torch.Tensor:
    """log p(x) ~ log (1/k) sum_i w_i, con w_i = p(x, z_i) / q(z_i|x) y z_i ~ q(z|x); un valor por ejemplo.

    El modelo debe ofrecer ``log_weights(x, k) -> (k, lote)``. Las ``k`` muestras se procesan en trozos de
    ``chunk`` y se combinan con log-sum-exp, así que ``k = 5000`` no necesita más memoria que ``k = chunk``.
    El estimador es un límite inferior en esperanza (desigualdad de Jensen) que converge a log p(x) con k.
    """
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k debe ser un entero positivo; se recibió {k!r}.")
    if not hasattr(model, "log_weights"):
        raise ValueError(f"{type(model).__name__} no define log_weights: no tiene una verosimilitud que estimar.")
    was = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    device = next(model.parameters()).device if hasattr(model, "parameters") else x.device
    out = []
    for (xb,) in batches(x, batch_size=batch_size):
        xb = xb.to(device)
        parts = [torch.logsumexp(model.log_weights(xb, min(chunk, k - i)), dim=0) for i in range(0, k, chunk)]
        out.append((torch.logsumexp(torch.stack(parts), dim=0) - math.log(k)).cpu())
    if hasattr(model, "train"):
        model.train(was)
    return torch.cat(out)


@torch.no_grad()
def active_units(model, x: torch.Tensor, threshold: float = 0.01, batch_size: int = 500
                 ) -> tuple[int, torch.Tensor]:
    """Unidades activas (Burda et al., 2015): la dimensión u está activa si Cov_x(E_q[z_u|x]) > ``threshold``.

    Usa ``model.encode(x)`` (la media de q(z|x)). Devuelve el número de unidades activas y la varianza de cada
    dimensión: una unidad inactiva es aquella cuya posterior no cambia con x (colapso a la prior).
    """
    if threshold < 0 or len(x) < 2:
        raise ValueError("Se necesitan al menos dos ejemplos y un umbral no negativo.")
    was = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    device = next(model.parameters()).device if hasattr(model, "parameters") else x.device
    means = torch.cat([model.encode(xb.to(device)).cpu() for (xb,) in batches(x, batch_size=batch_size)])
    if hasattr(model, "train"):
        model.train(was)
    var = means.var(0)
    return int((var > threshold).sum()), var
