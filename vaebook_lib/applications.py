"""Aplicaciones típicas de los autocodificadores (survey, sección 1.5).

- compresión: normalización del survey, AE lineal frente a PCA (error, ángulos principales, componentes);
- clasificación con atributos latentes: k vecinos más próximos sobre los códigos;
- detección de anomalías: error de reconstrucción como puntuación (y dos referencias: distancia a la imagen
  media y error de un PCA), curva ROC y umbral;
- atenuación de ruido: PSNR y SSIM, y el filtro de mediana como referencia.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from .data.batches import batches
from .data.checks import check_images
from .metrics import knn_accuracy  # noqa: F401  (la clasificación con atributos latentes del capítulo 1)
from .models.ae import AE
from .models.base import encode_all
from .models.recon_losses import ssim
from .train import fit

# SciPy, scikit-learn y torchmetrics se importan en la función que los usa: juntos tardan 2-4 s en cargarse, y
# un cuaderno que importa de aquí funciones que no los usan (codes, decoder_matrix...) no debe pagarlos.
if TYPE_CHECKING:
    from sklearn.decomposition import PCA


def survey_normalize(x: torch.Tensor, mean: torch.Tensor | None = None, m: int | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """x_hat_ij = (x_ij - media_j) / sqrt(M) sobre los datos aplanados (N, D); devuelve (x_hat, media).

    Con ``mean`` y ``m`` dados (los del entrenamiento) se normalizan otros datos igual que aquellos.
    Así x_hatᵀ x_hat es la matriz de covarianza empírica y la pérdida cuadrática total es el error medio.
    """
    flat = x.flatten(1).float()
    if not torch.isfinite(flat).all():
        raise ValueError("Los datos a normalizar contienen NaN o valores infinitos.")
    if len(flat) < 2:
        raise ValueError("Hacen falta al menos dos ejemplos para centrar los datos.")
    mean = flat.mean(0) if mean is None else mean
    m = len(flat) if m is None else m
    return (flat - mean) / m ** 0.5, mean


def linear_autoencoder(dim: int, k: int) -> AE:
    """AE lineal D·E sin sesgos (los datos ya están centrados): codificador R^dim -> R^k y decodificador de vuelta."""
    if not 1 <= k <= dim:
        raise ValueError(f"La dimensión del código k debe estar entre 1 y {dim}; se recibió {k}.")
    model = AE(in_shape=(dim,), latent_dim=k, hidden=(), activation="identity", output="identity")
    for layer in model.modules():
        if isinstance(layer, nn.Linear):
            nn.init.zeros_(layer.bias)
            layer.bias.requires_grad_(False)
    return model


def fit_linear_autoencoder(model: AE, x: torch.Tensor, *, epochs: int, batch_size: int, lr: float = 1e-2,
                           seed: int = 0):
    """Entrena un AE lineal con el bucle común (``fit``) y Adam, con una tasa que baja de ``lr`` a 0 siguiendo
    medio coseno a lo largo de las ``epochs`` épocas (``CosineAnnealingLR``).

    El paisaje del AE lineal no tiene mínimos locales malos, pero sí puntos de silla: los subespacios que cambian
    una componente principal por otra de varianza parecida. Con la tasa constante, el ruido de los minilotes deja
    mal resueltas las direcciones de menor varianza; si la tasa cae demasiado pronto (una reducción geométrica
    por época), según la inicialización el entrenamiento se congela cerca de una silla. El coseno la baja despacio
    al principio (a mitad del entrenamiento aún vale ``lr/2``) y la lleva a cero al final, dure lo que dure.
    """
    if epochs <= 0:
        raise ValueError(f"El número de épocas debe ser positivo; se recibió {epochs}.")
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)

    def anneal(epoch, history, _model):
        schedule.step()

    return fit(model, x, epochs=epochs, batch_size=batch_size, seed=seed, optimizer=opt, callbacks=[anneal])


def decoder_matrix(model: AE) -> torch.Tensor:
    """La matriz (D, k) del decodificador de un AE lineal de :func:`linear_autoencoder`."""
    return next(m for m in model.decoder.modules() if isinstance(m, nn.Linear)).weight.detach()


def relative_error(x: torch.Tensor | np.ndarray, x_hat: torch.Tensor | np.ndarray) -> float:
    """||x - x_hat||_F^2 / ||x||_F^2: la fracción de la varianza (de datos centrados) que no se reconstruye."""
    x, x_hat = np.asarray(x, dtype=np.float64), np.asarray(x_hat, dtype=np.float64)
    if x.shape != x_hat.shape:
        raise ValueError(f"Formas distintas: {x.shape} y {x_hat.shape}.")
    return float(((x - x_hat) ** 2).sum() / (x ** 2).sum())


def pca_reconstruction(x_train: torch.Tensor, k: int, *others: torch.Tensor) -> tuple[PCA, list[np.ndarray]]:
    """Ajusta un PCA de rango k en ``x_train`` (N, D) y devuelve (pca, [reconstrucción de x_train, de others...])."""
    from sklearn.decomposition import PCA

    pca = PCA(n_components=k, svd_solver="full").fit(np.asarray(x_train))
    recs = [pca.inverse_transform(pca.transform(np.asarray(x))) for x in (x_train, *others)]
    return pca, recs


def principal_angles(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor) -> np.ndarray:
    """Ángulos principales (en grados, de mayor a menor) entre los espacios columna de ``a`` y ``b``."""
    from scipy.linalg import subspace_angles

    return np.degrees(subspace_angles(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)))


def decoder_components(w_dec: torch.Tensor | np.ndarray, x: torch.Tensor | np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Componentes principales ordenadas a partir del decodificador de un AE lineal (Plaut, 2018).

    La SVD del decodificador, W = U S Vᵀ, da una base ortonormal U de su espacio columna (el subespacio
    principal); la SVD de los datos proyectados X U (un problema k x k) la gira y ordena por varianza.
    Devuelve (componentes (D, k), varianzas (k,)) con el signo fijado para que la mayor entrada sea positiva.
    """
    w, x = np.asarray(w_dec, dtype=np.float64), np.asarray(x, dtype=np.float64)
    if w.ndim != 2 or x.ndim != 2 or x.shape[1] != w.shape[0]:
        raise ValueError(f"Se esperaba W (D, k) y X (N, D); se recibió W {w.shape} y X {x.shape}.")
    u, _, _ = np.linalg.svd(w, full_matrices=False)
    _, s, vt = np.linalg.svd(x @ u, full_matrices=False)
    comps = u @ vt.T
    signs = np.sign(comps[np.abs(comps).argmax(0), np.arange(comps.shape[1])])
    return comps * signs, s ** 2 / len(x)


def codes(model, x: torch.Tensor, batch_size: int = 1000) -> np.ndarray:
    """Códigos E(x) de un modelo (en modo evaluación; después vuelve al modo en que estaba) como array (N, k)."""
    return encode_all(model, x, batch_size=batch_size).numpy()


@torch.no_grad()
def reconstruction_scores(model, x: torch.Tensor, batch_size: int = 1000) -> np.ndarray:
    """Puntuación de anomalía: ||x - D(E(x))||^2 por ejemplo (sumada sobre los píxeles)."""
    out = [(model.reconstruct(b[0]) - b[0]).pow(2).flatten(1).sum(1) for b in batches(x, batch_size=batch_size)]
    return torch.cat(out).cpu().numpy()


def mean_image_scores(x_normal: torch.Tensor, x: torch.Tensor) -> np.ndarray:
    """Puntuación de referencia sin aprendizaje: ||x - media||^2, la distancia a la imagen media de ``x_normal``."""
    ref, flat = np.asarray(x_normal, dtype=np.float64), np.asarray(x, dtype=np.float64)
    ref, flat = ref.reshape(len(ref), -1), flat.reshape(len(flat), -1)
    if len(ref) == 0 or ref.shape[1] != flat.shape[1]:
        raise ValueError(f"Hacen falta ejemplos normales con la misma dimensión que x; se recibió {ref.shape} "
                         f"y {flat.shape}.")
    return ((flat - ref.mean(0)) ** 2).sum(1)


def pca_scores(x_normal: torch.Tensor, x: torch.Tensor, k: int) -> np.ndarray:
    """Puntuación de referencia lineal: error de reconstrucción ||x - PCA_k(x)||^2 con un PCA de rango ``k``
    ajustado en ``x_normal`` (el «autocodificador lineal» del mismo tamaño de código)."""
    ref, flat = np.asarray(x_normal, dtype=np.float64), np.asarray(x, dtype=np.float64)
    ref, flat = ref.reshape(len(ref), -1), flat.reshape(len(flat), -1)
    if not 1 <= k <= min(ref.shape):
        raise ValueError(f"El rango k debe estar entre 1 y {min(ref.shape)}; se recibió {k}.")
    if ref.shape[1] != flat.shape[1]:
        raise ValueError(f"Dimensiones distintas: {ref.shape[1]} y {flat.shape[1]}.")
    _, (_, rec) = pca_reconstruction(ref, k, flat)
    return ((flat - rec) ** 2).sum(1)


def median_denoise(x: torch.Tensor, size: int = 3) -> torch.Tensor:
    """Filtro de mediana ``size`` x ``size`` en cada imagen de un lote (N, C, H, W): la referencia clásica
    contra el ruido impulsivo (sal y pimienta)."""
    if x.ndim != 4:
        raise ValueError(f"Se esperaba un lote (N, C, H, W); se recibió la forma {tuple(x.shape)}.")
    if size < 1 or size % 2 == 0:
        raise ValueError(f"El tamaño de la ventana debe ser un entero impar positivo; se recibió {size}.")
    from scipy.ndimage import median_filter

    out = median_filter(x.detach().cpu().numpy(), size=(1, 1, size, size), mode="nearest")
    return torch.from_numpy(out).to(x.dtype)


def anomaly_roc(scores_normal, scores_anomalous) -> dict[str, np.ndarray | float]:
    """Curva ROC y AUC de la puntuación (mayor = más anómalo); las anomalías son la clase positiva."""
    from sklearn.metrics import roc_auc_score, roc_curve

    s0, s1 = np.asarray(scores_normal), np.asarray(scores_anomalous)
    if len(s0) == 0 or len(s1) == 0:
        raise ValueError("Hacen falta ejemplos normales y anómalos para la curva ROC.")
    y = np.r_[np.zeros(len(s0)), np.ones(len(s1))]
    s = np.r_[s0, s1]
    fpr, tpr, thr = roc_curve(y, s)
    return {"fpr": fpr, "tpr": tpr, "thresholds": thr, "auc": float(roc_auc_score(y, s))}


def threshold_for_fpr(scores_normal, fpr: float = 0.05) -> float:
    """Umbral que deja por encima una fracción ``fpr`` de los ejemplos normales (de validación): su cuantil."""
    if not 0 < fpr < 1:
        raise ValueError(f"La tasa de falsos positivos debe estar en (0, 1); se recibió {fpr}.")
    return float(np.quantile(np.asarray(scores_normal), 1 - fpr))


def image_quality(reference: torch.Tensor, images: torch.Tensor) -> dict[str, float]:
    """PSNR (dB) y SSIM medios por imagen de ``images`` frente a ``reference``, ambos (N, C, H, W) en [0, 1]."""
    if reference.shape != images.shape or reference.ndim != 4:
        raise ValueError(f"Se esperaban dos lotes (N, C, H, W) de igual forma; se recibió "
                         f"{tuple(reference.shape)} y {tuple(images.shape)}.")
    for name, t in (("reference", reference), ("images", images)):
        check_images(t, tuple(t.shape[1:]), name=name)
    from torchmetrics.functional.image import peak_signal_noise_ratio

    psnr = peak_signal_noise_ratio(images, reference, data_range=1.0, reduction="none", dim=(1, 2, 3))
    # el SSIM de torchmetrics, calculado con un filtro por canales (models.recon_losses.ssim): tres veces más rápido
    return {"psnr": float(psnr.mean()), "ssim": float(ssim(images, reference).mean())}
