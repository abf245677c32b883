"""La comparativa del libro: cada modelo del catálogo con la misma familia de redes, datos y presupuesto.

Para cada clave se construye el modelo con la misma configuración común (MLP, mismo latente, misma capa
oculta), se entrena con el bucle único sobre MNIST binarizado dinámicamente y se mide en la partición de prueba:

- ``recon``: error cuadrático de la reconstrucción media, sumado sobre píxeles y promediado sobre imágenes;
- ``elbo``: la ELBO media, si el modelo la define (``terms["elbo"]``);
- ``nll``: -log p(x) estimado por muestreo de importancia con ``k`` muestras, si el modelo da ``log_weights``;
- ``frechet``: distancia de Fréchet entre rasgos de imágenes reales y muestras, en el espacio de rasgos de un
  clasificador pequeño entrenado con los mismos datos (**no** es la FID de Inception: sus valores no se
  comparan con los publicados);
- ``knn``: exactitud de k vecinos sobre los códigos (``encode``).

Un valor no aplicable (un AE no tiene ELBO ni genera) queda como ``nan``.
"""
from __future__ import annotations

import inspect
import math
import time
from dataclasses import dataclass, fields

import torch

from .data.batches import binarize
from .data.vision import ImageData
from .feature_net import dfc_feature_net
from .metrics import frechet_distance, knn_accuracy, log_likelihood_is
from .models import MODELS, Model
from .models.recon_losses import DFC_BETA_BOOK
from .train import evaluate, fit

# Claves que no son modelos generativos de imágenes con el interfaz común (se comparan en sus capítulos).
NOT_COMPARABLE = {
    "linear_gaussian": "modelo lineal-gaussiano de juguete (capítulo 2), no de imágenes",
    "pixelcnn_prior": "previa autorregresiva sobre los códigos del VQ-VAE, no un autocodificador",
    "vae_pixelcnn": "decodificador autorregresivo: reconstruir y muestrear cuestan una pasada por píxel; "
                    "se mide en el capítulo 2 (colapso de la posterior)",
}
METRICS = ("recon", "elbo", "nll", "frechet", "knn")
# Modelos cuya arquitectura es parte del método: conservan la suya (la tabla lo indica con un asterisco).
OWN_ARCHITECTURE = {"ksparse_ae", "vq_vae", "categorical_vae"}


@dataclass
class Result:
    key: str
    recon: float
    elbo: float
    nll: float
    frechet: float
    knn: float
    seconds: float
    samples: torch.Tensor | None = None

    def row(self) -> dict[str, float]:
        return {m: getattr(self, m) for m in METRICS}


def comparable_keys() -> list[str]:
    """Las claves del catálogo que entran en la comparativa, en el orden del catálogo."""
    return [k for k in MODELS if k not in NOT_COMPARABLE]


def build(key: str, *, latent_dim: int, hidden: tuple[int, ...], n_train: int, seed: int = 0,
          feature_net=None) -> Model:
    """El modelo ``key`` con la configuración común; los campos que su configuración no tiene se omiten.

    El DFC-VAE necesita ``feature_net``, un clasificador ya entrenado (:func:`~vaebook_lib.feature_net.dfc_feature_net`)
    y distinto del que evalúa las muestras; sin él se entrenaría contra una red al azar.
    """
    if key not in MODELS:
        raise ValueError(f"Clave desconocida {key!r}; el catálogo tiene: {', '.join(MODELS)}.")
    if key == "dfcvae" and feature_net is None:
        raise ValueError("El DFC-VAE necesita una red de rasgos entrenada (feature_net=dfc_feature_net(train)); "
                         "con una red al azar su pérdida no mide nada.")
    cls = MODELS[key]
    names = {f.name for f in fields(cls.Config)}
    common = {"in_shape": (1, 28, 28), "likelihood": "bernoulli", "dataset_size": n_train}
    if key not in OWN_ARCHITECTURE:
        common.update(latent_dim=latent_dim, hidden=hidden, arch="mlp")
    torch.manual_seed(seed)
    if key == "dfcvae":
        common["beta"] = DFC_BETA_BOOK    # el beta declarado del libro: con el del artículo el código colapsa
    config = cls.Config(**{k: v for k, v in common.items() if k in names})
    return cls(config, feature_net=feature_net) if key == "dfcvae" else cls(config)


@torch.no_grad()
def _samples(model: Model, n: int, labels: torch.Tensor, seed: int) -> torch.Tensor | None:
    sample = getattr(model, "sample", None)
    if sample is None:
        return None
    params = inspect.signature(sample).parameters
    g = torch.Generator().manual_seed(seed)
    if "prior" in params:  # el VQ-VAE necesita su previa autorregresiva ajustada (capítulo 3)
        return None
    if "y" in params and model.conditional:
        kwargs = {"y": labels[:n]}
        if "n" in params:
            kwargs["n"] = n
        if "generator" in params:
            kwargs["generator"] = g
        return sample(**kwargs)
    return sample(n, generator=g) if "generator" in params else sample(n)


def _with_labels(method, x: torch.Tensor, y: torch.Tensor, conditional: bool):
    """Llama a ``method(x)``, o a ``method(x, y)`` si el modelo es condicional y el método acepta etiquetas."""
    if conditional and "y" in inspect.signature(method).parameters:
        return method(x, y=y)
    return method(x)


@torch.no_grad()
def assess(model: Model, train: ImageData, test: ImageData, *, features, k: int, n_eval: int, n_samples: int,
           seed: int = 0) -> Result:
    """Mide un modelo ya entrenado (ver el docstring del módulo)."""
    model.eval()
    x_test = binarize(test.x, torch.Generator().manual_seed(seed + 1))
    y_test = test.y
    cond = model.conditional
    x_hat = _with_labels(model.reconstruct, x_test, y_test, cond)
    recon = ((x_hat - x_test) ** 2).flatten(1).sum(1).mean().item()
    # La ELBO y log p(x) se miden sobre las mismas n_eval imágenes, para que sean comparables entre sí.
    x_eval, y_eval = x_test[:n_eval], y_test[:n_eval]
    elbo = evaluate(model, x_eval, y_eval if cond else None).get("elbo", math.nan)
    nll = math.nan
    if hasattr(model, "log_weights") and not cond:  # en un modelo condicional sería log p(x|y): otra magnitud
        nll = -log_likelihood_is(model, x_eval, k).mean().item()
    x_train = binarize(train.x, torch.Generator().manual_seed(seed + 2))
    codes_train = _with_labels(model.encode, x_train, train.y, cond).flatten(1)
    codes_test = _with_labels(model.encode, x_test, y_test, cond).flatten(1)
    knn = knn_accuracy(codes_train, train.y, codes_test, y_test)
    samples = _samples(model, n_samples, y_test, seed)
    frechet = math.nan
    if samples is not None:
        frechet = frechet_distance(features(x_test[:n_samples]), features(samples.clamp(0, 1)))
    return Result(model.key, recon, elbo, nll, frechet, knn, 0.0, samples)


def pooled_features(net) -> callable:
    """Rasgos para la distancia de Fréchet: la media espacial de cada bloque del clasificador, concatenadas."""
    @torch.no_grad()
    def features(x: torch.Tensor) -> torch.Tensor:
        return torch.cat([f.mean((2, 3)) for f in net.features(x)], dim=1)
    return features


def compare(keys, train: ImageData, test: ImageData, *, features, epochs: int, batch_size: int, lr: float,
            latent_dim: int = 20, hidden: tuple[int, ...] = (400,), k: int = 64, n_eval: int = 500,
            n_samples: int = 1000, seed: int = 0) -> list[Result]:
    """Entrena y mide cada clave con el mismo presupuesto; devuelve un :class:`Result` por modelo."""
    results = []
    dfc_net = dfc_feature_net(train) if "dfcvae" in keys else None   # no es la red del evaluador
    for key in keys:
        model = build(key, latent_dim=latent_dim, hidden=hidden, n_train=len(train), seed=seed, feature_net=dfc_net)
        start = time.perf_counter()
        fit(model, train, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, binarize=True, progress=False)
        seconds = time.perf_counter() - start
        result = assess(model, train, test, features=features, k=k, n_eval=n_eval, n_samples=n_samples, seed=seed)
        result.seconds = seconds
        results.append(result)
    return results


def format_results(results: list[Result]) -> str:
    """Tabla de texto con una fila por modelo."""
    head = f"{'modelo':<20}{'recon':>9}{'ELBO':>10}{'NLL':>10}{'Fréchet':>10}{'k-NN':>8}{'s':>7}"
    lines = [head, "-" * len(head)]
    for r in results:
        cells = [f"{v:>9.2f}" if not math.isnan(v) else f"{'—':>9}" for v in (r.recon, r.elbo, r.nll, r.frechet)]
        knn = f"{r.knn:>8.3f}" if not math.isnan(r.knn) else f"{'—':>8}"
        name = r.key + ("*" if r.key in OWN_ARCHITECTURE else "")
        lines.append(f"{name:<20}{cells[0]}{cells[1]:>10}{cells[2]:>10}{cells[3]:>10}{knn}{r.seconds:>7.1f}")
    return "\n".join(lines)
