"""Particiones semisupervisadas: unas pocas etiquetas visibles, el resto marcadas como desconocidas (-1)."""
from __future__ import annotations

import torch

from .vision import ImageData

UNLABELED = -1


def hide_labels(data: ImageData, n_labels: int, seed: int = 0, repeat_labeled: int = 1) -> ImageData:
    """Copia de ``data`` con solo ``n_labels`` etiquetas (las mismas por clase) y ``-1`` en el resto.

    ``repeat_labeled`` añade los ejemplos etiquetados esas veces en total (sobremuestreo), para que aparezcan
    en más lotes; las etiquetas ocultas nunca se usan.
    """
    n_classes = len(data.classes)
    if n_labels <= 0 or n_labels % n_classes or repeat_labeled < 1:
        raise ValueError(f"n_labels debe ser un múltiplo positivo de {n_classes} y repeat_labeled >= 1; "
                         f"se recibió {n_labels} y {repeat_labeled}.")
    g = torch.Generator().manual_seed(seed)
    chosen = []
    for c in range(n_classes):
        idx = torch.nonzero(data.y == c).flatten()
        if len(idx) < n_labels // n_classes:
            raise ValueError(f"La clase {c} solo tiene {len(idx)} ejemplos; faltan para {n_labels} etiquetas.")
        chosen.append(idx[torch.randperm(len(idx), generator=g)[: n_labels // n_classes]])
    chosen = torch.cat(chosen)
    y = torch.full_like(data.y, UNLABELED)
    y[chosen] = data.y[chosen]
    extra = chosen.repeat(repeat_labeled - 1)
    x = torch.cat([data.x, data.x[extra]])
    y = torch.cat([y, data.y[extra]])
    return ImageData(x, y, data.classes, data.name + " (semisupervisado)")
