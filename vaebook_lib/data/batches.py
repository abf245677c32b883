"""Lotes como cortes de tensores (sin Python por ejemplo en el camino caliente)."""
from __future__ import annotations

from collections.abc import Iterator

import torch


def batches(*tensors: torch.Tensor, batch_size: int, shuffle: bool = False,
            generator: torch.Generator | None = None) -> Iterator[tuple[torch.Tensor, ...]]:
    """Recorre los tensores (misma primera dimensión) en lotes; con ``shuffle``, en un orden al azar."""
    if batch_size <= 0:
        raise ValueError(f"El tamaño de lote debe ser positivo; se recibió {batch_size}.")
    n = len(tensors[0])
    if any(len(t) != n for t in tensors):
        raise ValueError("Todos los tensores deben tener el mismo número de ejemplos.")
    if shuffle:
        order = torch.randperm(n, generator=generator).to(tensors[0].device)
        for i in range(0, n, batch_size):
            idx = order[i:i + batch_size]
            # index_select copia filas enteras; t[idx] (indexación avanzada) va elemento a elemento y, con un lote
            # de 128 imágenes, tarda cuatro veces más (~100 µs frente a ~25 en la CPU de 2 núcleos).
            yield tuple(t.index_select(0, idx) for t in tensors)
    else:
        for i in range(0, n, batch_size):
            yield tuple(t[i:i + batch_size] for t in tensors)
