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


def sharpness(x: torch.Tensor) -> torch.Tensor:
    """Nitidez de cada imagen: energía media del gradiente, mean((x[i+1,j] - x[i,j])^2 + (x[i,j+1] - x[i,j])^2).

    Una imagen borrosa tiene bordes suaves y una energía de gradiente menor; una imagen constante, 0.
    Devuelve un valor por imagen del lote (N, C, H, W).
    """
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or min(x.shape[-2:]) < 2:
        raise ValueError("sharpness espera un lote de imágenes (N, C, H, W) de al menos 2 x 2 píxeles.")
    dy = (x[..., 1:, :] - x[..., :-1, :]).pow(2).flatten(1).mean(1)
    dx = (x[..., :, 1:] - x[..., :, :-1]).pow(2).flatten(1).mean(1)
    return dx + dy
