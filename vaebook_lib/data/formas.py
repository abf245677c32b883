"""«formas»: un conjunto procedural al estilo de dSprites, generado al vuelo y con sus factores verdaderos.

Cada imagen (binaria, lado ``size``) contiene una figura blanca sobre fondo negro determinada por cinco
factores discretos e independientes: forma (cuadrado, elipse, corazón), escala (6 valores), orientación
(40 valores en [0, 2π)), posición x (32) y posición y (32), como en dSprites.
"""
from __future__ import annotations

import math

import torch

from .vision import ImageData

SHAPES = ("cuadrado", "elipse", "corazón")
FACTOR_NAMES = ("forma", "escala", "orientación", "posición x", "posición y")
FACTOR_SIZES = (3, 6, 40, 32, 32)


def sample_factors(n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` combinaciones de factores (índices enteros) elegidas al azar de forma uniforme."""
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise ValueError(f"El número de imágenes debe ser un entero positivo; se recibió {n!r}.")
    cols = [torch.randint(k, (n,), generator=generator) for k in FACTOR_SIZES]
    return torch.stack(cols, dim=1)


def _in_square(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """¿Cae (u, v), en las coordenadas de la figura, dentro del cuadrado?"""
    return (u.abs() <= 0.8) & (v.abs() <= 0.8)


def _in_ellipse(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """¿Dentro de la elipse de semiejes 1 y 0,55?"""
    return (u / 1.0) ** 2 + (v / 0.55) ** 2 <= 1.0


def _in_heart(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """¿Dentro del corazón, (x² + y² - 1)³ - x² y³ <= 0?"""
    hu, hv = 1.15 * u, -1.15 * v + 0.25  # el corazón, con la punta hacia abajo
    return (hu ** 2 + hv ** 2 - 1) ** 3 - hu ** 2 * hv ** 3 <= 0


def render(factors: torch.Tensor, size: int = 64, chunk: int = 4096) -> torch.Tensor:
    """Dibuja las figuras de ``factors`` (N, 5) como imágenes ``float32`` (N, 1, size, size) en {0, 1}."""
    if factors.ndim != 2 or factors.shape[1] != len(FACTOR_SIZES):
        raise ValueError(f"Los factores deben tener forma (N, {len(FACTOR_SIZES)}); se recibió {tuple(factors.shape)}.")
    limits = torch.tensor(FACTOR_SIZES)
    if (factors < 0).any() or (factors >= limits).any():
        raise ValueError(f"Algún factor está fuera de rango; los tamaños son {FACTOR_SIZES}.")
    if size < 16:
        raise ValueError(f"El lado de la imagen debe ser al menos 16 píxeles; se recibió {size}.")
    coords = (torch.arange(size, dtype=torch.float32) + 0.5) / size  # centros de píxel en (0, 1)
    gy, gx = torch.meshgrid(coords, coords, indexing="ij")
    out = []
    for part in factors.split(chunk):
        shape, scale_i, rot_i, px_i, py_i = part.T
        scale = (0.5 + 0.1 * scale_i.float()).view(-1, 1, 1) * 0.18   # semiancho de la figura
        theta = (2 * math.pi * rot_i.float() / FACTOR_SIZES[2]).view(-1, 1, 1)
        cx = (0.2 + 0.6 * px_i.float() / (FACTOR_SIZES[3] - 1)).view(-1, 1, 1)
        cy = (0.2 + 0.6 * py_i.float() / (FACTOR_SIZES[4] - 1)).view(-1, 1, 1)
        dx, dy = gx - cx, gy - cy
        # Coordenadas en el sistema de la figura: se deshace la rotación y la escala.
        u = (torch.cos(theta) * dx + torch.sin(theta) * dy) / scale
        v = (-torch.sin(theta) * dx + torch.cos(theta) * dy) / scale
        # Cada imagen evalúa solo la prueba de su figura.
        img = torch.empty(u.shape, dtype=torch.bool)
        for k, inside in enumerate((_in_square, _in_ellipse, _in_heart)):
            idx = (shape == k).nonzero().squeeze(1)
            if len(idx):
                img[idx] = inside(u[idx], v[idx])
        out.append(img.float().unsqueeze(1))
    return torch.cat(out)


TEST_SIZE = 10000   # «todo el conjunto de prueba» de un conjunto sintético: tantas imágenes como la prueba de MNIST


def load_formas(n: int | None, size: int = 64, seed: int = 0) -> ImageData:
    """``n`` imágenes de «formas» con factores al azar (reproducibles con ``seed``); ``y`` es la forma.

    ``n=None`` (lo que da el perfil completo como tamaño de prueba: «todas») son ``TEST_SIZE`` imágenes."""
    n = TEST_SIZE if n is None else n
    g = torch.Generator().manual_seed(seed)
    factors = sample_factors(n, g)
    return ImageData(render(factors, size), factors[:, 0].clone(), SHAPES, "formas", factors, FACTOR_NAMES,
                     FACTOR_SIZES)
