"""Figuras del libro, con rótulos en español: rejillas, reconstrucciones, espacios latentes y curvas."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch


def image_grid(images: torch.Tensor, nrow: int | None = None, pad: int = 1) -> np.ndarray:
    """Coloca un lote (N, C, H, W) en una sola imagen (filas de ``nrow``) como array de NumPy en [0, 1]."""
    if images.ndim != 4:
        raise ValueError(f"Se esperaba un lote (N, C, H, W); se recibió la forma {tuple(images.shape)}.")
    if len(images) == 0:
        raise ValueError("El lote de imágenes está vacío: no hay nada que colocar en la rejilla.")
    if nrow is not None and (isinstance(nrow, bool) or not isinstance(nrow, (int, np.integer)) or nrow <= 0):
        raise ValueError(f"nrow debe ser un entero positivo (o None); se recibió {nrow!r}.")
    imgs = images.detach().float().cpu().clamp(0, 1)
    n, c, h, w = imgs.shape
    nrow = nrow or int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / nrow))
    grid = torch.ones(c, rows * (h + pad) + pad, nrow * (w + pad) + pad)
    for i in range(n):
        r, q = divmod(i, nrow)
        grid[:, pad + r * (h + pad): pad + r * (h + pad) + h, pad + q * (w + pad): pad + q * (w + pad) + w] = imgs[i]
    return grid[0].numpy() if c == 1 else grid.permute(1, 2, 0).numpy()


def show_images(images: torch.Tensor, nrow: int | None = None, title: str = "", ax=None):
    """Muestra un lote de imágenes en rejilla."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 6))
    ax.imshow(image_grid(images, nrow), cmap="gray", vmin=0, vmax=1)
    ax.set_title(title)
    ax.axis("off")
    return ax


def show_reconstructions(x: torch.Tensor, x_hat: torch.Tensor, n: int = 10, title: str = "Reconstrucciones"):
    """Originales (fila superior) frente a reconstrucciones (fila inferior)."""
    fig, axes = plt.subplots(2, 1, figsize=(n * 0.9, 2.2))
    show_images(x[:n], nrow=n, title="Originales", ax=axes[0])
    show_images(x_hat[:n], nrow=n, title="Reconstrucciones", ax=axes[1])
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_latent_2d(z: torch.Tensor, labels: torch.Tensor, classes=None, title: str = "Espacio latente", ax=None):
    """Dispersión de códigos 2-D coloreados por clase."""
    if z.ndim != 2 or z.shape[1] != 2:
        raise ValueError(f"Se esperaban códigos 2-D de forma (N, 2); se recibió {tuple(z.shape)}.")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 5))
    z, labels = z.detach().cpu().numpy(), labels.detach().cpu().numpy()
    sc = ax.scatter(z[:, 0], z[:, 1], c=labels, cmap="tab10", s=4, alpha=0.7, vmin=-0.5, vmax=9.5)
    cbar = plt.colorbar(sc, ax=ax, ticks=range(10))
    if classes is not None:
        cbar.ax.set_yticklabels(classes)
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    ax.set_title(title)
    return ax


def plot_history(history, terms=None, title: str = "Curvas de entrenamiento"):
    """Una gráfica por término: entrenamiento (línea continua) y validación (discontinua) por época.

    Solo lee el historial (``History.train`` es un ``defaultdict``: indexarlo con un término nuevo lo añadiría).
    """
    available = list(history.train.keys())
    if not available:
        raise ValueError("El historial está vacío: entrene al menos una época antes de dibujarlo.")
    terms = list(terms or available)
    unknown = [t for t in terms if t not in history.train]
    if unknown:
        raise ValueError(f"Términos desconocidos {unknown}; los del historial son: {', '.join(available)}.")
    fig, axes = plt.subplots(1, len(terms), figsize=(4 * len(terms), 3.2), squeeze=False)
    for ax, term in zip(axes[0], terms):
        epochs = np.arange(1, len(history.train[term]) + 1)
        ax.plot(epochs, history.train[term], label="entrenamiento")
        if history.val.get(term):
            ax.plot(epochs, history.val[term], "--", label="validación")
        ax.set_xlabel("época")
        ax.set_title(term)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    return fig


@torch.no_grad()
def latent_manifold(decode, n: int = 15, span: float = 2.5, title: str = "Variedad aprendida (z de dimensión 2)"):
    """Decodifica una rejilla regular de z en [-span, span]^2 (modelos con latente de dimensión 2)."""
    values = torch.linspace(-span, span, n)
    zz = torch.cartesian_prod(values.flip(0), values)[:, [1, 0]]
    imgs = decode(zz)
    fig, ax = plt.subplots(figsize=(7, 7))
    show_images(imgs.cpu(), nrow=n, title=title, ax=ax)
    return fig


def show_filters(weight: torch.Tensor, side: int = 28, n: int = 32, nrow: int = 8, title: str = "Filtros", ax=None):
    """Muestra las ``n`` primeras filas de una matriz de pesos (n_unidades, side*side) como imágenes.

    Cada filtro se reescala a [0, 1] por separado (gris = 0 si el filtro es simétrico en signo).
    """
    w = weight.detach().float().cpu()[:n]
    if w.ndim != 2 or w.shape[1] != side * side:
        raise ValueError(f"Se esperaba una matriz (unidades, {side * side}); se recibió {tuple(w.shape)}.")
    scale = w.abs().amax(1, keepdim=True).clamp_min(1e-12)
    imgs = (0.5 + 0.5 * w / scale).view(-1, 1, side, side)
    return show_images(imgs, nrow=nrow, title=title, ax=ax)
