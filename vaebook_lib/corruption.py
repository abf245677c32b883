"""La familia de corrupciones T del autocodificador de atenuación de ruido (survey, sección 1.4.2).

Cada corrupción recibe un lote de imágenes en [0, 1] y devuelve otro de la misma forma y en el mismo rango:

- ``gaussian``: ruido isotrópico x + sigma * eps, eps ~ N(0, I), recortado a [0, 1] (``level`` = sigma);
- ``mask``: enmascaramiento aleatorio, cada píxel se pone a 0 con probabilidad ``level`` (Vincent et al., 2008);
- ``salt_pepper``: sal y pimienta, cada píxel pasa con probabilidad ``level`` a 0 o a 1 (al 50 %).
"""
from __future__ import annotations

import torch

from .data.checks import in_unit_interval

CORRUPTIONS = ("gaussian", "mask", "salt_pepper")


def _check(x: torch.Tensor, kind: str, level: float) -> None:
    if kind not in CORRUPTIONS:
        raise ValueError(f"Corrupción desconocida {kind!r}; use una de {CORRUPTIONS}.")
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise ValueError("La entrada a corromper debe ser un tensor de coma flotante.")
    if not in_unit_interval(x):
        raise ValueError("La entrada a corromper debe estar en [0, 1] y no contener NaN.")
    if level < 0 or (kind != "gaussian" and level > 1):
        raise ValueError(f"Nivel de ruido no válido {level} para «{kind}»: "
                         "sigma >= 0 para el gaussiano, probabilidad en [0, 1] para los demás.")


def _uniform(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    return torch.rand(x.shape, generator=generator, dtype=x.dtype).to(x.device)


def corrupt(x: torch.Tensor, kind: str, level: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """T(x) para la corrupción ``kind`` de intensidad ``level``; misma forma y rango [0, 1] que ``x``."""
    _check(x, kind, level)
    if kind == "gaussian":
        eps = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
        return (x + level * eps).clamp(0, 1)
    hit = _uniform(x, generator) < level
    if kind == "mask":
        return x.masked_fill(hit, 0.0)
    salt = _uniform(x, generator) < 0.5
    return torch.where(hit, salt.to(x.dtype), x)


def corrupt_from_family(x: torch.Tensor, kinds: tuple[str, ...], level: float,
                        generator: torch.Generator | None = None) -> tuple[torch.Tensor, str]:
    """Sortea T de la familia ``kinds`` (uniformemente, una por lote) y la aplica: devuelve (T(x), tipo)."""
    if len(kinds) == 0:
        raise ValueError("La familia de corrupciones está vacía: indique al menos una.")
    i = int(torch.randint(len(kinds), (1,), generator=generator))
    return corrupt(x, kinds[i], level, generator), kinds[i]
