"""Binarización dinámica de los lotes: cada píxel es 1 con probabilidad igual a su intensidad.

:func:`binarize` es la versión de referencia (``torch.bernoulli``, con comprobación del rango);
:class:`Binarize` es la transformación de lote que usa ``fit``: un sorteo nuevo por lote con el sorteo rápido de
16 bits (:func:`binarize_fast`), sin comprobar el rango en cada lote (``fit`` comprueba el conjunto entero una vez).
"""
from __future__ import annotations

import torch

from .checks import check_binarizable


def binarize(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Binarización dinámica: cada píxel es 1 con probabilidad igual a su intensidad (un sorteo nuevo cada vez)."""
    check_binarizable(x)
    return torch.bernoulli(x, generator=generator)


def binarize_fast(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Binarización dinámica con 16 bits al azar por píxel: P(1) = ceil(65536·x)/65536, es decir, x salvo menos
    de 1/65536 (exacta en 0 y en 1).

    Cada número de 64 bits del generador da cuatro enteros uniformes de 16 bits ``u`` (en [-32768, 32767]);
    ``32767 - u`` es uniforme en {0, …, 65535} y el píxel vale 1 si es menor que 65536·x, o sea, si
    ``u + 65536·x > 32767``: una suma y una comparación en el sitio, sin máscaras booleanas. En CPU el sorteo
    de un ``float`` por píxel (``torch.rand``, ~10 ns) era la operación más cara del paso de un VAE MLP tras
    las multiplicaciones de matrices; así cuesta menos de la mitad (y ``torch.bernoulli``, el triple).
    """
    n = x.numel()
    words = torch.empty((n + 3) // 4, dtype=torch.int64, device=x.device)
    u = words.random_(-2 ** 63, None, generator=generator).view(torch.int16)[:n].view(x.shape)
    wide = torch.promote_types(x.dtype, torch.float32)  # float16 no representa 65536·x con precisión
    return torch.add(u, x.to(wide), alpha=65536.0).gt_(32767).to(x.dtype)


class Binarize:
    """Transformación de lote: ``Binarize(generator)(x)`` binariza ``x`` con un sorteo nuevo en cada llamada.

    El ``generator`` debe estar en el dispositivo de los lotes; el rango de ``x`` no se comprueba aquí (hágalo
    una vez para todo el conjunto con :func:`~vaebook_lib.data.checks.check_binarizable`).
    """

    def __init__(self, generator: torch.Generator):
        self.generator = generator

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return binarize_fast(x, self.generator)
