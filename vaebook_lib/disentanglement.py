"""Métricas de desenredo con factores verdaderos conocidos: MIG, la del beta-VAE y la del FactorVAE.

Todas necesitan el generador de los datos (:class:`FactorSource`): poder fijar un factor y dibujar imágenes.
Valores por defecto de disentanglement_lib (Locatello et al.): MIG con 10 000 puntos y 20 intervalos; las
puntuaciones beta-VAE y FactorVAE con 10 000 votos de entrenamiento, 5 000 de evaluación y lotes de 64. El
libro escala esos tamaños con el perfil (``ch3_metric_points``, ``ch3_score_train``; evaluación = mitad).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from .data.formas import FACTOR_SIZES, render
from .models.base import encode_all, evaluating

Represent = Callable[[torch.Tensor], np.ndarray]


@dataclass(frozen=True)
class FactorSource:
    """Un generador con factores discretos e independientes: ``sizes`` y ``observe(factores) -> datos``."""

    sizes: tuple[int, ...]
    observe: Callable[[torch.Tensor], torch.Tensor]

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """``n`` combinaciones de factores al azar, uniformes e independientes: tensor (n, K) de enteros."""
        return torch.stack([torch.randint(k, (n,), generator=generator) for k in self.sizes], dim=1)


def formas_source(size: int = 64) -> FactorSource:
    """El generador de «formas» (los cinco factores, también la forma) a ``size`` píxeles de lado."""
    return FactorSource(FACTOR_SIZES, lambda f: render(f, size))


def represent_with(model, batch_size: int = 1000) -> Represent:
    """La representación de un modelo: ``model.encode`` (la media de q(z|x)) en modo ``eval``, como NumPy."""
    def represent(x: torch.Tensor) -> np.ndarray:
        return encode_all(model, x, batch_size=batch_size).numpy().astype(np.float64)
    return represent


def _check_sizes(**sizes: int) -> None:
    for name, value in sizes.items():
        if not isinstance(value, int) or value < 2:
            raise ValueError(f"{name} debe ser un entero mayor o igual que 2; se recibió {value!r}.")


def _codes(represent: Represent, source: FactorSource, factors: torch.Tensor) -> np.ndarray:
    codes = np.asarray(represent(source.observe(factors)), dtype=np.float64)
    if codes.ndim != 2 or len(codes) != len(factors):
        raise ValueError(f"La representación debe devolver una matriz (N, D) con N = {len(factors)}; "
                         f"se recibió la forma {codes.shape}.")
    if not np.isfinite(codes).all():
        raise ValueError("La representación contiene NaN o valores infinitos.")
    return codes


def discretize(codes: np.ndarray, bins: int = 20) -> np.ndarray:
    """Cada columna de ``codes`` en ``bins`` intervalos iguales entre su mínimo y su máximo."""
    _check_sizes(bins=bins)
    out = np.zeros(codes.shape, dtype=np.int64)
    for j in range(codes.shape[1]):
        edges = np.histogram_bin_edges(codes[:, j], bins=bins)
        out[:, j] = np.digitize(codes[:, j], edges[1:-1])
    return out


def mig(codes: np.ndarray, factors: np.ndarray, bins: int = 20) -> float:
    """Mutual Information Gap (Chen et al., 2018) de unos códigos ``(N, D)`` frente a sus factores ``(N, K)``.

    MIG = (1/K) sum_k [I(z_{j(1)}; v_k) - I(z_{j(2)}; v_k)] / H(v_k), con j(1), j(2) las dos dimensiones del
    código con más información mutua con el factor v_k; la información se estima discretizando el código.
    """
    codes, factors = np.asarray(codes, dtype=np.float64), np.asarray(factors)
    if codes.ndim != 2 or factors.ndim != 2 or len(codes) != len(factors):
        raise ValueError(f"Códigos y factores deben ser matrices con las mismas filas; se recibieron las formas "
                         f"{codes.shape} y {factors.shape}.")
    if codes.shape[1] < 2:
        raise ValueError("MIG necesita al menos dos dimensiones en el código.")
    if not np.isfinite(codes).all():
        raise ValueError("Los códigos contienen NaN o valores infinitos.")
    from sklearn.metrics import mutual_info_score   # scikit-learn, solo donde se usa (tarda ~2 s en cargarse)

    disc = discretize(codes, bins)
    gaps = []
    for k in range(factors.shape[1]):
        entropy = mutual_info_score(factors[:, k], factors[:, k])
        if entropy == 0:
            continue                                  # un factor constante no aporta nada que medir
        info = np.sort([mutual_info_score(factors[:, k], disc[:, j]) for j in range(disc.shape[1])])[::-1]
        gaps.append((info[0] - info[1]) / entropy)
    if not gaps:
        raise ValueError("Todos los factores son constantes: no hay nada que medir.")
    return float(np.mean(gaps))


def mig_score(represent: Represent, source: FactorSource, n_points: int = 10000, bins: int = 20,
              seed: int = 0) -> float:
    """MIG sobre ``n_points`` datos nuevos del generador."""
    _check_sizes(n_points=n_points)
    factors = source.sample(n_points, torch.Generator().manual_seed(seed))
    return mig(_codes(represent, source, factors), factors.numpy(), bins)


def _chunks(n: int, batch_size: int, images: int = 8192):
    """Tamaños de trozos de ``n`` puntos con unas ``images`` imágenes como mucho cada uno."""
    step = max(1, images // batch_size)
    return [min(step, n - i) for i in range(0, n, step)]


def _paired_batches(source: FactorSource, n: int, batch_size: int, g: torch.Generator):
    """``n`` índices de factor k al azar y, para cada uno, dos lotes de pares (a_i, b_i) con el mismo k."""
    k = torch.randint(len(source.sizes), (n,), generator=g)
    a = source.sample(n * batch_size, g).view(n, batch_size, -1)
    b = source.sample(n * batch_size, g).view(n, batch_size, -1)
    rows = torch.arange(n)
    b[rows, :, k] = a[rows, :, k]
    return k, a, b


def beta_vae_score(represent: Represent, source: FactorSource, n_train: int = 10000, n_eval: int = 5000,
                   batch_size: int = 64, seed: int = 0) -> dict[str, float]:
    """Métrica del beta-VAE (Higgins et al.): precisión de un clasificador lineal que adivina qué factor se
    mantuvo fijo a partir de la media de |z(a) - z(b)| sobre un lote de pares que comparten ese factor."""
    _check_sizes(n_train=n_train, n_eval=n_eval, batch_size=batch_size)
    g = torch.Generator().manual_seed(seed)

    def features(n):
        dim, feats, labels = len(source.sizes), [], []
        for size in _chunks(n, batch_size):       # por trozos: 10 000 × 64 imágenes no caben de una vez
            k, a, b = _paired_batches(source, size, batch_size, g)
            za = _codes(represent, source, a.reshape(-1, dim)).reshape(size, batch_size, -1)
            zb = _codes(represent, source, b.reshape(-1, dim)).reshape(size, batch_size, -1)
            feats.append(np.abs(za - zb).mean(1))
            labels.append(k.numpy())
        return np.concatenate(feats), np.concatenate(labels)

    x_train, y_train = features(n_train)
    x_eval, y_eval = features(n_eval)
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(max_iter=2000).fit(x_train, y_train)
    return {"train_accuracy": float(clf.score(x_train, y_train)), "eval_accuracy": float(clf.score(x_eval, y_eval))}


def factor_vae_score(represent: Represent, source: FactorSource, n_train: int = 10000, n_eval: int = 5000,
                     batch_size: int = 64, n_variance: int = 10000, threshold: float = 0.05,
                     seed: int = 0) -> dict[str, float]:
    """Métrica del FactorVAE (Kim y Mnih, 2018): con un factor fijo en un lote, la dimensión del código
    (normalizado por su desviación típica global) de menor varianza vota por ese factor; un clasificador de
    voto mayoritario asigna a cada dimensión su factor más votado y se mide su precisión. Las dimensiones con
    desviación típica global menor que ``threshold`` (colapsadas a la previa) no votan."""
    _check_sizes(n_train=n_train, n_eval=n_eval, batch_size=batch_size, n_variance=n_variance)
    g = torch.Generator().manual_seed(seed)
    global_var = _codes(represent, source, source.sample(n_variance, g)).var(0, ddof=1)
    active = np.flatnonzero(np.sqrt(global_var) >= threshold)
    if active.size == 0:
        return {"train_accuracy": 0.0, "eval_accuracy": 0.0, "active_dims": 0}
    n_factors = len(source.sizes)

    def votes(n):
        table = np.zeros((n_factors, len(global_var)), dtype=np.int64)
        for size in _chunks(n, batch_size):
            k = torch.randint(n_factors, (size,), generator=g)
            a = source.sample(size * batch_size, g).view(size, batch_size, -1)
            rows = torch.arange(size)
            a[rows, :, k] = a[rows, 0, k].unsqueeze(1)           # el factor k, el mismo en todo el lote
            z = _codes(represent, source, a.reshape(-1, n_factors)).reshape(size, batch_size, -1)
            local = z[:, :, active].var(1, ddof=1) / global_var[active]
            np.add.at(table, (k.numpy(), active[local.argmin(1)]), 1)
        return table

    train, evaluation = votes(n_train), votes(n_eval)
    vote = train.argmax(0)                     # el factor que cada dimensión predice (voto mayoritario)
    cols = np.arange(train.shape[1])
    return {"train_accuracy": float(train[vote, cols].sum() / train.sum()),
            "eval_accuracy": float(evaluation[vote, cols].sum() / evaluation.sum()), "active_dims": int(active.size)}


def disentanglement_scores(represent: Represent, source: FactorSource, *, n_points: int = 10000, n_train: int = 10000,
                           n_eval: int = 5000, batch_size: int = 64, bins: int = 20, seed: int = 0) -> dict[str, float]:
    """Las tres métricas a la vez (precisión de evaluación en las dos con clasificador)."""
    return {"mig": mig_score(represent, source, n_points, bins, seed),
            "beta_vae": beta_vae_score(represent, source, n_train, n_eval, batch_size, seed)["eval_accuracy"],
            "factor_vae": factor_vae_score(represent, source, n_train, n_eval, batch_size, n_points,
                                           seed=seed)["eval_accuracy"]}


def metric_sizes(profile) -> dict[str, int]:
    """Los tamaños de las métricas que fija el perfil (evaluación = la mitad del entrenamiento, como en
    disentanglement_lib), listos para ``disentanglement_scores(..., **metric_sizes(P))``."""
    return {"n_points": profile.ch3_metric_points, "n_train": profile.ch3_score_train,
            "n_eval": max(2, profile.ch3_score_train // 2), "batch_size": profile.ch3_score_batch}


@torch.no_grad()
def kl_per_dimension(model, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """KL(q(z_d|x) || N(0, 1)) media sobre ``x`` para cada dimensión d del latente: las dimensiones con KL
    casi nula están «apagadas» (el codificador las ignora y el decodificador no las usa). Un modelo sin
    posterior (un AE) la rechaza con un error que lo dice."""
    device = model.device
    total = 0.0
    with evaluating(model):
        for part in x.split(batch_size):
            q = model.posterior(part.to(device))
            total = total + torch.distributions.kl_divergence(q, model.prior(q.loc)).sum(0).cpu()
    return total / len(x)


def train_and_score(key: str, train, test, *, config: dict, seed: int, epochs: int, batch_size: int, lr: float,
                    source: FactorSource, sizes: dict[str, int]):
    """Entrena el modelo ``key`` del catálogo con ``fit`` y devuelve ``(fila, modelo)``: la fila tiene el error
    de reconstrucción en ``test`` (-log p(x|z), nats por imagen) y las tres métricas de desenredo."""
    from .model_cache import fit_cached
    from .models import MODELS
    from .train import evaluate

    if key not in MODELS:
        raise ValueError(f"Modelo desconocido {key!r}; el catálogo tiene {sorted(MODELS)}.")
    torch.manual_seed(seed)                       # la inicialización de los pesos también depende de la semilla
    model = MODELS[key](**config)
    fit_cached(model, train, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed)
    row = {"recon": evaluate(model, test.x)["recon"]}
    row.update(disentanglement_scores(represent_with(model), source, seed=seed, **sizes))
    return row, model


def summarize(rows: list[dict[str, float]]) -> dict[str, tuple[float, float]]:
    """Media y desviación típica muestral de cada columna de varias filas (NaN con una sola fila: con una
    semilla la dispersión no se puede estimar, y no se finge que sea 0)."""
    if not rows:
        raise ValueError("No hay resultados que resumir.")
    out = {}
    for name in rows[0]:
        values = np.array([r[name] for r in rows], dtype=np.float64)
        out[name] = (float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else float("nan"))
    return out


def format_table(summary: dict[str, dict[str, float | tuple[float, float]]], columns: dict[str, str]) -> str:
    """Tabla de texto: una fila por modelo y, por columna, «media ± desviación» (o solo el valor si es un número
    o si la desviación es NaN). ``columns``: nombre de la columna -> rótulo."""
    def cell(v):
        mean, spread = (v, float("nan")) if np.isscalar(v) else v
        return f"{mean:.3f}" if np.isnan(spread) else f"{mean:.3f} ± {spread:.3f}"

    head = ["modelo", *columns.values()]
    body = [[model, *(cell(s[c]) for c in columns)] for model, s in summary.items()]
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    line = lambda r: "  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([line(head), "  ".join("-" * w for w in widths), *map(line, body)])
