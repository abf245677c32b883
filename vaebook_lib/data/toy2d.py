"""Densidades de juguete en 2-D para los capítulos de flujos: muestras y, donde existe, la densidad exacta."""
from __future__ import annotations

import math

import torch
from torch.distributions import Categorical, MixtureSameFamily, Independent, Normal

TOY_NAMES = ("lunas", "anillos", "mezcla")


def mixture_of_gaussians(n_components: int = 8, radius: float = 2.0, std: float = 0.25) -> MixtureSameFamily:
    """Mezcla de gaussianas isótropas repartidas en una circunferencia (densidad exacta disponible)."""
    if n_components < 1 or std <= 0:
        raise ValueError("La mezcla necesita al menos una componente y una desviación típica positiva.")
    angles = torch.arange(n_components) * 2 * math.pi / n_components
    means = radius * torch.stack([angles.cos(), angles.sin()], dim=1)
    comps = Independent(Normal(means, torch.full_like(means, std)), 1)
    return MixtureSameFamily(Categorical(logits=torch.zeros(n_components)), comps)


def sample_toy(name: str, n: int, seed: int = 0, noise: float = 0.05) -> torch.Tensor:
    """``n`` puntos (n, 2) de la densidad de juguete ``name`` (``lunas``, ``anillos`` o ``mezcla``)."""
    if name not in TOY_NAMES:
        raise ValueError(f"Densidad desconocida {name!r}; use una de {TOY_NAMES}.")
    if n <= 0:
        raise ValueError(f"El número de puntos debe ser positivo; se recibió {n}.")
    if name == "lunas":
        from sklearn.datasets import make_moons   # aquí: importar scikit-learn cuesta segundos

        x, _ = make_moons(n, noise=noise, random_state=seed)
        x = (x - [0.5, 0.25]) * 1.5
    elif name == "anillos":
        from sklearn.datasets import make_circles

        x, _ = make_circles(n, noise=noise, factor=0.5, random_state=seed)
        x = x * 2.0
    else:
        g = torch.Generator().manual_seed(seed)
        with torch.random.fork_rng():
            torch.manual_seed(int(torch.randint(2**31, (1,), generator=g)))
            return mixture_of_gaussians().sample((n,))
    return torch.as_tensor(x, dtype=torch.float32)
