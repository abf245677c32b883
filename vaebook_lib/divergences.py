"""Discrepancias entre distribuciones a partir de muestras: MMD con núcleos IMQ y RBF y Wasserstein en rodajas.

Las usan los modelos que sustituyen la KL por una distancia entre la posterior agregada q(z) y el prior p(z)
(WAE-MMD, SWAE, InfoVAE). Ambas se estiman solo con muestras: no hace falta la densidad de q(z).
"""
from __future__ import annotations

import torch

KERNELS = ("imq", "rbf")
# Escalas relativas del núcleo IMQ: Tolstikhin et al. suman el núcleo sobre varias escalas alrededor de C.
IMQ_SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


def _check_pair(x: torch.Tensor, y: torch.Tensor, same_size: bool = False) -> None:
    for name, t in (("x", x), ("y", y)):
        if not isinstance(t, torch.Tensor) or t.ndim != 2:
            raise ValueError(f"{name} debe ser un tensor (n, d) de muestras; se recibió "
                             f"{tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__}.")
        if not torch.isfinite(t).all():
            raise ValueError(f"{name} contiene NaN o valores infinitos.")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"Las muestras deben tener la misma dimensión; se recibió {x.shape[1]} y {y.shape[1]}.")
    if same_size and x.shape[0] != y.shape[0]:
        raise ValueError(f"Se necesitan tantas muestras en x como en y; se recibió {x.shape[0]} y {y.shape[0]}.")


def imq_kernel(x: torch.Tensor, y: torch.Tensor, c: float, scales=IMQ_SCALES) -> torch.Tensor:
    """Núcleo inverso multicuadrático k(x, y) = sum_s s C / (s C + ||x - y||^2): matriz (n, m)."""
    d2 = torch.cdist(x, y).pow(2)
    return sum(s * c / (s * c + d2) for s in scales)


def rbf_kernel(x: torch.Tensor, y: torch.Tensor, sigma2: float) -> torch.Tensor:
    """Núcleo gaussiano k(x, y) = exp(-||x - y||^2 / (2 sigma^2)): matriz (n, m)."""
    return torch.exp(-torch.cdist(x, y).pow(2) / (2 * sigma2))


def mmd(x: torch.Tensor, y: torch.Tensor, kernel: str = "imq", scale: float | None = None,
        unbiased: bool = True) -> torch.Tensor:
    """Discrepancia máxima de medias MMD^2 entre las muestras ``x`` (n, d) e ``y`` (m, d).

    ``unbiased=True``: el estimador insesgado (estadístico U) de Tolstikhin et al. (algoritmo 2), que quita
    la diagonal k(x_i, x_i): su esperanza es 0 si x e y vienen de la misma distribución (puede ser negativo).
    ``unbiased=False``: el estimador sesgado (estadístico V), siempre >= 0.
    ``scale``: C del núcleo IMQ o sigma^2 del RBF; por defecto, la regla del artículo de WAE para un prior
    N(0, I): C = 2 d (y, para el RBF, 2 sigma^2 = 2 d, la misma distancia característica).
    """
    _check_pair(x, y)
    if kernel not in KERNELS:
        raise ValueError(f"Núcleo desconocido {kernel!r}; use uno de {KERNELS}.")
    n, m = x.shape[0], y.shape[0]
    if unbiased and (n < 2 or m < 2):
        raise ValueError("El estimador insesgado necesita al menos dos muestras en x y en y.")
    d = x.shape[1]
    scale = float(2 * d if scale is None else scale)
    if scale <= 0:
        raise ValueError(f"La escala del núcleo debe ser positiva; se recibió {scale}.")
    k = (lambda a, b: imq_kernel(a, b, scale)) if kernel == "imq" else (lambda a, b: rbf_kernel(a, b, scale / 2))
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    if unbiased:
        sxx = (kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1))
        syy = (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
    else:
        sxx, syy = kxx.mean(), kyy.mean()
    return sxx + syy - 2 * kxy.mean()


def random_directions(n: int, d: int, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
    """``n`` direcciones uniformes en la esfera unidad de R^d (gaussianas normalizadas): matriz (n, d)."""
    theta = torch.randn(n, d, generator=generator)
    return (theta / theta.norm(dim=1, keepdim=True)).to(device)


def sliced_wasserstein(x: torch.Tensor, y: torch.Tensor, n_projections: int = 50,
                       generator: torch.Generator | None = None, directions: torch.Tensor | None = None
                       ) -> torch.Tensor:
    """Distancia de Wasserstein en rodajas SW_2^2 estimada con L proyecciones aleatorias (Kolouri et al.).

    Cada dirección theta_l proyecta ambas muestras a la recta; en 1-D el transporte óptimo empareja los valores
    ordenados, así que W_2^2 = media de (x_(i) - y_(i))^2. SW_2^2 es la media sobre las L direcciones.
    ``directions`` fija las direcciones (n_proj, d); si no, se sortean ``n_projections`` con ``generator``.
    """
    _check_pair(x, y, same_size=True)
    if directions is None:
        if n_projections < 1:
            raise ValueError(f"Hace falta al menos una proyección; se recibió {n_projections}.")
        directions = random_directions(n_projections, x.shape[1], generator, x.device)
    px = torch.sort(x @ directions.T, dim=0).values   # (n, L): proyecciones ordenadas
    py = torch.sort(y @ directions.T, dim=0).values
    return (px - py).pow(2).mean()
