"""Calendarios del entrenamiento: la única rampa lineal del libro (recocido de la KL, capacidades)."""
from __future__ import annotations

import math


def linear_ramp(progress: float, high: float = 1.0, ramp: float = 1.0, cap: float = math.inf) -> float:
    """Valor en el avance ``progress`` (en [0, 1]) de una rampa que sube linealmente de 0 a ``high`` durante la
    fracción ``ramp`` del entrenamiento y después se queda en ``high``; nunca pasa de ``cap``.

    ``ramp = 0`` no tiene rampa: vale ``high`` desde el principio. La usan el recocido de la KL (peso de 0 a 1),
    la capacidad del beta-VAE (Burgess et al.) y las dos capacidades del JointVAE (la discreta, recortada a log K).
    """
    if not 0 <= progress <= 1 or high < 0 or ramp < 0:
        raise ValueError(f"Se necesita el avance (progress) en [0, 1], un máximo >= 0 y una rampa >= 0; se recibió "
                         f"avance={progress}, máximo={high}, rampa={ramp}.")
    return min(high * (1.0 if ramp == 0 else min(1.0, progress / ramp)), cap)
