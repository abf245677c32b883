"""La comparativa del libro: cada modelo del catálogo con la misma familia de redes, datos y presupuesto.

Para cada clave se construye el modelo con la misma configuración común (MLP, mismo latente, misma capa
oculta), se entrena con el bucle único sobre MNIST binarizado dinámicamente y se mide en la partición de prueba:

- ``recon``: error cuadrático de la reconstrucción media, sumado sobre píxeles y promediado sobre imágenes;
- ``elbo``: la ELBO media, si el modelo la define (``terms["elbo"]``);
- ``nll``: -log p(x) estimado por muestreo de importancia con ``k`` muestras, solo si el modelo se entrena con
  la verosimilitud de Bernoulli que se evalúa (``likelihood_objective``: no los WAE ni los VAE con otra pérdida
  de reconstrucción, cuya «NLL» mediría un modelo que no han optimizado);
- ``frechet`` (con su intervalo bootstrap ``frechet_lo``-``frechet_hi``), ``precision`` y ``recall``: muestras
  **binarias** del modelo (un sorteo de Bernoulli sobre la media de p(x|z)) frente a imágenes de prueba
  binarizadas, igual con igual, en el espacio de rasgos de un clasificador entrenado solo para evaluar (**no** es
  la FID de Inception: sus valores no se comparan con los publicados). :func:`real_floor` da el suelo: las mismas
  cifras entre dos conjuntos de imágenes reales;
- ``knn``: exactitud de k vecinos sobre los códigos (``encode``).

Un valor no aplicable (un AE no tiene ELBO ni genera) queda como ``nan``. Todo se pide a través de la interfaz
común de :class:`~vaebook_lib.models.Model`: lo que un modelo no sabe hacer lo rechaza él mismo, y lo que le
distingue (si entra en la comparativa, si conserva su arquitectura, si tiene verosimilitud) lo declara su clase.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch

from .data.transforms import binarize
from .data.vision import ImageData
from .feature_net import dfc_feature_net
from .metrics import frechet_distance, frechet_interval, knn_accuracy, log_likelihood_is, precision_recall
from .models import MODELS, Model
from .models.base import Unsupported, encode_all, evaluating
from .models.recon_losses import DFC_BETA_BOOK
from .model_cache import FitJob, fit_parallel_iter
from .train import evaluate

METRICS = ("recon", "elbo", "nll", "frechet", "precision", "recall", "knn")
FLOOR = "datos reales"  # la fila del suelo: imágenes reales frente a imágenes reales


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
    frechet_lo: float = math.nan
    frechet_hi: float = math.nan
    precision: float = math.nan
    recall: float = math.nan
    seed: int = 0

    def row(self) -> dict[str, float]:
        return {m: getattr(self, m) for m in METRICS}


def comparable_keys() -> list[str]:
    """Las claves del catálogo que entran en la comparativa, en el orden del catálogo."""
    return [k for k, cls in MODELS.items() if not cls.not_comparable]


def not_comparable() -> dict[str, str]:
    """Las claves que se quedan fuera, cada una con su motivo (``Model.not_comparable``)."""
    return {k: cls.not_comparable for k, cls in MODELS.items() if cls.not_comparable}


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
    if not cls.own_architecture:     # los de arquitectura propia la conservan (asterisco en la tabla)
        common.update(latent_dim=latent_dim, hidden=hidden, arch="mlp")
    torch.manual_seed(seed)
    if key == "dfcvae":
        common["beta"] = DFC_BETA_BOOK    # el beta declarado del libro: con el del artículo el código colapsa
    config = cls.Config(**{k: v for k, v in common.items() if k in names})
    return cls(config, feature_net=feature_net) if key == "dfcvae" else cls(config)


@torch.no_grad()
def _samples(model: Model, n: int, labels: torch.Tensor, seed: int) -> torch.Tensor | None:
    """``n`` muestras del modelo (con las etiquetas de prueba si es condicional), o None si no genera."""
    try:
        return model.sample(n, y=labels[:n] if model.conditional else None,
                            generator=torch.Generator().manual_seed(seed))
    except Unsupported:             # un AE, o el VQ-VAE sin su previa (se genera en el capítulo 3)
        return None


def _sample_scores(real_feats: torch.Tensor, fake_feats: torch.Tensor, n_boot: int, seed: int) -> dict:
    """Fréchet con su intervalo bootstrap, precisión y exhaustividad entre dos conjuntos de rasgos."""
    lo, hi = frechet_interval(real_feats, fake_feats, n_boot=n_boot, seed=seed)
    precision, recall = precision_recall(real_feats, fake_feats)
    return {"frechet": frechet_distance(real_feats, fake_feats), "frechet_lo": lo, "frechet_hi": hi,
            "precision": precision, "recall": recall}


@torch.no_grad()
def assess(model: Model, train: ImageData, test: ImageData, *, features, k: int, n_eval: int, n_samples: int,
           n_boot: int = 10, seed: int = 0) -> Result:
    """Mide un modelo ya entrenado (ver el docstring del módulo), en modo evaluación; al terminar lo deja en el
    modo en que estaba."""
    with evaluating(model):
        return _assess(model, train, test, features=features, k=k, n_eval=n_eval, n_samples=n_samples,
                       n_boot=n_boot, seed=seed)


def _assess(model: Model, train: ImageData, test: ImageData, *, features, k: int, n_eval: int, n_samples: int,
            n_boot: int, seed: int) -> Result:
    x_test = binarize(test.x, torch.Generator().manual_seed(seed + 1))
    cond = model.conditional
    labels = (lambda y: y) if cond else (lambda y: None)   # las etiquetas, solo a un modelo condicional
    y_test = test.y
    x_hat = model.reconstruct(x_test, labels(y_test))
    recon = ((x_hat - x_test) ** 2).flatten(1).sum(1).mean().item()
    # La ELBO y log p(x) se miden sobre las mismas n_eval imágenes, para que sean comparables entre sí.
    x_eval, y_eval = x_test[:n_eval], y_test[:n_eval]
    elbo = evaluate(model, x_eval, labels(y_eval)).get("elbo", math.nan)
    nll = math.nan
    # En un modelo condicional sería log p(x|y), otra magnitud; en uno entrenado con otra pérdida, un modelo
    # de Bernoulli que nunca se optimizó.
    if model.likelihood_objective and not cond:
        nll = -log_likelihood_is(model, x_eval, k).mean().item()
    x_train = binarize(train.x, torch.Generator().manual_seed(seed + 2))
    codes_train = encode_all(model, x_train, labels(train.y)).flatten(1)
    codes_test = encode_all(model, x_test, labels(y_test)).flatten(1)
    knn = knn_accuracy(codes_train, train.y, codes_test, y_test)
    samples = _samples(model, n_samples, y_test, seed)
    scores = {}
    if samples is not None:
        # Igual con igual: un sorteo binario de p(x|z) frente a imágenes binarizadas.
        binary = torch.bernoulli(samples.clamp(0, 1), generator=torch.Generator().manual_seed(seed + 3))
        scores = _sample_scores(features(x_test[:n_samples]), features(binary), n_boot, seed)
    return Result(model.key, recon, elbo, nll, scores.get("frechet", math.nan), knn, 0.0, samples,
                  seed=seed, **{k: v for k, v in scores.items() if k != "frechet"})


@torch.no_grad()
def real_floor(train: ImageData, test: ImageData, *, features, n_samples: int, n_boot: int = 10,
               seed: int = 0) -> Result:
    """El suelo de las cifras de muestras: imágenes de entrenamiento binarizadas frente a las de prueba.

    Ningún modelo debería quedar por debajo (salvo por el ruido que mide el intervalo): es la distancia entre dos
    muestras finitas de la misma distribución.
    """
    if len(train) < n_samples or len(test) < n_samples:
        raise ValueError(f"real_floor necesita al menos {n_samples} imágenes en cada partición.")
    x_test = binarize(test.x[:n_samples], torch.Generator().manual_seed(seed + 1))
    x_real = binarize(train.x[:n_samples], torch.Generator().manual_seed(seed + 2))
    scores = _sample_scores(features(x_test), features(x_real), n_boot, seed)
    return Result(FLOOR, math.nan, math.nan, math.nan, scores.pop("frechet"), math.nan, 0.0, x_real[:64],
                  seed=seed, **scores)


def evaluator_features(net, reference: torch.Tensor | None = None) -> callable:
    """Rasgos de evaluación de un clasificador: la media espacial de cada bloque, el último bloque reducido a
    2x2 (dónde está cada rasgo) y los logits (la clase que ve), concatenados.

    Con ``reference`` (imágenes reales), cada rasgo se tipifica con la media y la desviación de los de esas
    imágenes: sin ello los logits, de escala mucho mayor, deciden solos las distancias, y la precisión de
    :func:`~vaebook_lib.metrics.precision_recall` da por «realista» hasta el ruido.
    """
    @torch.no_grad()
    def raw(x: torch.Tensor) -> torch.Tensor:
        blocks = net.features(x)
        return torch.cat([f.mean((2, 3)) for f in blocks]
                         + [torch.nn.functional.adaptive_avg_pool2d(blocks[-1], 2).flatten(1), net(x)], dim=1)

    if reference is None:
        return raw
    ref = raw(reference)
    if len(ref) < 2:
        raise ValueError("reference necesita al menos dos imágenes para tipificar los rasgos.")
    mu, sd = ref.mean(0), ref.std(0).clamp_min(1e-6)

    def features(x: torch.Tensor) -> torch.Tensor:
        return (raw(x) - mu) / sd
    return features


def _fit_job(key: str, train: ImageData, *, epochs: int, batch_size: int, lr: float, seed: int, latent_dim: int,
             hidden: tuple[int, ...], feature_net) -> FitJob:
    """El entrenamiento del modelo ``key`` en la comparativa: :func:`build` y ``fit`` con imágenes binarizadas."""
    model = build(key, latent_dim=latent_dim, hidden=hidden, n_train=len(train), seed=seed, feature_net=feature_net)
    return FitJob(model, train, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, binarize=True)


def trained(key: str, train: ImageData, *, epochs: int, batch_size: int, lr: float, seed: int = 0,
            latent_dim: int = 20, hidden: tuple[int, ...] = (400,), feature_net=None):
    """El modelo ``key`` entrenado como lo entrena :func:`compare` (con :func:`build` y ``fit_cached``, imágenes
    binarizadas): ``(modelo, historial)``. Con la caché de modelos, pedirlo después de ``compare`` con los mismos
    argumentos lo carga en vez de entrenarlo otra vez; así un cuaderno puede mirar dentro de un modelo de la tabla."""
    job = _fit_job(key, train, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, latent_dim=latent_dim,
                   hidden=hidden, feature_net=feature_net)
    return job.model, job.run(progress=False)


def compare(keys, train: ImageData, test: ImageData, *, features, epochs: int, batch_size: int, lr: float,
            latent_dim: int = 20, hidden: tuple[int, ...] = (400,), k: int = 64, n_eval: int = 500,
            n_samples: int = 1000, n_boot: int = 10, seeds=(0,)) -> list[Result]:
    """Entrena y mide cada clave con el mismo presupuesto y cada semilla; un :class:`Result` por (modelo, semilla).

    Los modelos de una semilla se entrenan a la vez (:func:`~vaebook_lib.model_cache.fit_parallel_iter`) y cada uno
    se mide cuando su entrenamiento ha dejado los generadores aleatorios como en serie: la tabla es la misma."""
    seeds = tuple(seeds)
    if not seeds or not all(isinstance(s, int) and s >= 0 for s in seeds):
        raise ValueError(f"seeds debe ser una lista no vacía de enteros no negativos; se recibió {seeds!r}.")
    results = []
    dfc_net = dfc_feature_net(train) if "dfcvae" in keys else None   # no es la red del evaluador
    # Semilla a semilla: con una semilla, todos los modelos se comparan con los mismos rasgos reales, y el
    # intervalo de Fréchet reutiliza sus remuestreos (metrics._bootstrap_reference guarda los últimos).
    for seed in seeds:
        jobs = [_fit_job(key, train, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, latent_dim=latent_dim,
                         hidden=hidden, feature_net=dfc_net) for key in keys]
        for job, history in zip(jobs, fit_parallel_iter(jobs, progress=False)):
            result = assess(job.model, train, test, features=features, k=k, n_eval=n_eval, n_samples=n_samples,
                            n_boot=n_boot, seed=seed)
            result.seconds = history.seconds
            results.append(result)
    order = {key: i for i, key in enumerate(keys)}
    return sorted(results, key=lambda r: order[r.key])   # estable: modelo a modelo, cada uno con sus semillas en orden


def by_model(results: list[Result]) -> dict[str, list[Result]]:
    """Agrupa los resultados por modelo, en el orden en que aparecen."""
    groups: dict[str, list[Result]] = {}
    for r in results:
        groups.setdefault(r.key, []).append(r)
    return groups


def format_results(results: list[Result]) -> str:
    """Tabla de texto con una fila por modelo: la media sobre semillas y, con varias, ± la mitad del rango."""
    # Columnas con sitio para «media±mitad del rango» (con varias semillas, «0.15±0.02» ocupa nueve caracteres).
    head = (f"{'modelo':<20}{'recon':>13}{'ELBO':>14}{'NLL':>14}{'Fréchet [int. 90 %]':>24}{'prec.':>11}"
            f"{'exh.':>11}{'k-NN':>11}{'s':>7}")
    lines = [head, "-" * len(head)]

    def cell(rs, attr, width, digits=2):
        values = [getattr(r, attr) for r in rs]
        if any(math.isnan(v) for v in values):
            return f"{'—':>{width}}"
        mean = sum(values) / len(values)
        text = f"{mean:.{digits}f}" + (f"±{(max(values) - min(values)) / 2:.{digits}f}" if len(values) > 1 else "")
        return f"{text:>{width}}"

    for key, rs in by_model(results).items():
        name = key + ("*" if key in MODELS and MODELS[key].own_architecture else "")
        fr = cell(rs, "frechet", 9)
        if len(rs) == 1 and not math.isnan(rs[0].frechet):
            fr = f"{rs[0].frechet:.2f} [{rs[0].frechet_lo:.2f}, {rs[0].frechet_hi:.2f}]"
        lines.append(f"{name:<20}{cell(rs, 'recon', 13)}{cell(rs, 'elbo', 14)}{cell(rs, 'nll', 14)}{fr:>24}"
                     f"{cell(rs, 'precision', 11)}{cell(rs, 'recall', 11)}{cell(rs, 'knn', 11)}"
                     f"{sum(r.seconds for r in rs) / len(rs):>7.1f}")
    return "\n".join(lines)
