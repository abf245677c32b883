"""Métricas: estimación de log p(x) por muestreo de importancia (y, en capítulos posteriores, más)."""
from __future__ import annotations

import contextlib
import hashlib
import math
import os

import numpy as np
import torch

from .config import flush_denormals, get_device, no_distribution_checks
from .data.batches import batches
from .models.base import encode_all, evaluating


@torch.no_grad()
def log_likelihood_is(model, x: torch.Tensor, k: int, batch_size: int = 100, chunk: int | None = None,
                      device: str | torch.device | None = None) -> torch.Tensor:
    """log p(x) ~ log (1/k) sum_i w_i, con w_i = p(x, z_i) / q(z_i|x) y z_i ~ q(z|x); un valor por ejemplo.

    Usa ``model.log_weights(x, k) -> (k, lote)`` (la interfaz común; un modelo sin verosimilitud lo rechaza).
    Las ``k`` muestras se procesan en trozos de ``chunk`` y se combinan con log-sum-exp, así que ``k = 5000`` no
    necesita más memoria que ``k = chunk``. Sin ``chunk``, lo elige :func:`is_chunk` según la memoria libre del
    dispositivo: el trozo más grande que cabe en una fracción de ella (menos trozos, menos pasadas pequeñas).
    El estimador es un límite inferior en esperanza (desigualdad de Jensen) que converge a log p(x) con k.
    Se calcula en ``device`` (por defecto CUDA si la hay); el modelo vuelve después a su dispositivo y el
    resultado se devuelve en la CPU.
    """
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k debe ser un entero positivo; se recibió {k!r}.")
    try:
        log_weights = model.log_weights
    except AttributeError:       # no es un modelo del libro (ni un objeto con su interfaz)
        raise ValueError(f"{type(model).__name__} no define log_weights: no tiene una verosimilitud que "
                         "estimar.") from None
    home = next(model.parameters()).device
    device = torch.device(device) if device is not None else get_device()
    if len(x) == 0:
        raise ValueError("No hay datos: x es un lote vacío.")
    if chunk is None:
        chunk = is_chunk(model, min(batch_size, len(x)), k, device, x_dim=x[0].numel())
    elif not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk debe ser un entero positivo; se recibió {chunk!r}.")
    check = getattr(model, "check_input", None)   # los modelos del libro: forma, tipo, rango y binario, en español
    out = []
    # Los pesos diminutos no frenan el cálculo; sin las comprobaciones de torch.distributions, que repetirían la
    # de check_input en cada una de las k copias del lote (del 12 al 18 % del tiempo, medido), salvo con un objeto
    # que no valida sus datos.
    with evaluating(model.to(device)), flush_denormals(), \
            (no_distribution_checks() if check is not None else contextlib.nullcontext()):
        for (xb,) in batches(x, batch_size=batch_size):
            xb = xb.to(device)
            if check is not None:
                check(xb)
            parts = [torch.logsumexp(log_weights(xb, min(chunk, k - i)), dim=0) for i in range(0, k, chunk)]
            out.append((torch.logsumexp(torch.stack(parts), dim=0) - math.log(k)).cpu())
    model.to(home)
    return torch.cat(out)


FIXED_CHUNK = 500   # el trozo cuando el sistema no dice cuánta memoria tiene (el de antes de is_chunk)


def free_memory(device: torch.device) -> int | None:
    """Bytes libres del dispositivo: los de la GPU según CUDA, o la memoria física disponible del sistema (en
    macOS, que no la da, la física total). ``None`` donde el sistema no informa (Windows)."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    names = getattr(os, "sysconf_names", {})
    for pages in ("SC_AVPHYS_PAGES", "SC_PHYS_PAGES"):
        if pages in names and "SC_PAGE_SIZE" in names:
            return os.sysconf(pages) * os.sysconf("SC_PAGE_SIZE")
    return None


def is_chunk(model, batch_size: int, k: int, device: torch.device, x_dim: int | None = None,
             fraction: float = 0.25) -> int:
    """Muestras por trozo de :func:`log_likelihood_is` que caben en ``fraction`` de la memoria libre.

    Cada muestra de un lote de ``batch_size`` deja vivos unos pocos tensores del tamaño de la imagen y de cada
    capa (los logits del decodificador, su log-verosimilitud, las activaciones), en float32. Medido en la CPU con
    la arquitectura de la IWAE (784-200-200-50, lote 100), el pico equivale a menos de dos por capa; se cuentan
    cuatro, con margen. Nunca más de ``k``. Un objeto con ``log_weights`` pero sin la configuración de los modelos
    del libro cuenta el doble de la dimensión del dato, ``x_dim``. Si el sistema no dice cuánta memoria tiene,
    ``FIXED_CHUNK``."""
    c = getattr(model, "config", None)
    if c is not None:
        width = math.prod(c.in_shape) + sum(c.hidden) + 2 * c.latent_dim
    elif x_dim is not None:
        width = 2 * x_dim
    else:
        raise ValueError("is_chunk necesita la configuración del modelo o la dimensión del dato (x_dim).")
    free = free_memory(device)
    if free is None:
        return min(k, FIXED_CHUNK)
    per_sample = 4 * 4 * batch_size * width
    return min(k, max(1, int(fraction * free) // per_sample))


def frechet_distance(features_a: torch.Tensor, features_b: torch.Tensor) -> float:
    """Distancia de Fréchet entre las gaussianas ajustadas a dos conjuntos de rasgos (N, d).

    d^2 = ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^{1/2}). Con los rasgos de la red Inception es la FID;
    el libro la calcula con los rasgos de un clasificador pequeño entrenado con los mismos datos, así que sus
    valores **no** son comparables con las FID publicadas.
    """
    a, b = _paired(features_a, features_b)
    return _frechet(_gaussian(a), b)


def _gaussian(a: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    """Media, traza de la covarianza y raíz simétrica de la covarianza de unos rasgos (N, d) ya validados (de la
    covarianza, Fréchet solo necesita la traza)."""
    from scipy import linalg   # aquí: importar SciPy cuesta 0,4 s a cada cuaderno, y solo Fréchet lo usa

    cov = np.atleast_2d(np.cov(a, rowvar=False))
    w, v = linalg.eigh(cov)
    return a.mean(0), np.trace(cov), (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def _frechet(gauss_a, b: np.ndarray) -> float:
    from scipy import linalg

    mu_a, trace_a, root_a = gauss_a
    mu_b, cov_b = b.mean(0), np.atleast_2d(np.cov(b, rowvar=False))
    # Tr (S_a S_b)^{1/2} = Tr (S_a^{1/2} S_b S_a^{1/2})^{1/2}: una matriz simétrica, estable con eigh.
    trace_root = np.sqrt(np.clip(linalg.eigvalsh(root_a @ cov_b @ root_a), 0, None)).sum()
    value = ((mu_a - mu_b) ** 2).sum() + trace_a + np.trace(cov_b) - 2 * trace_root
    return float(max(value, 0.0))


def _paired(features_a, features_b, names=("features_a", "features_b")) -> tuple[np.ndarray, np.ndarray]:
    a, b = _features(features_a, names[0]), _features(features_b, names[1])
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"Los rasgos deben tener la misma dimensión: {a.shape[1]} y {b.shape[1]}.")
    return a, b


def frechet_interval(features_a: torch.Tensor, features_b: torch.Tensor, n_boot: int, level: float = 0.9,
                     seed: int = 0) -> tuple[float, float]:
    """Intervalo bootstrap (percentiles) de la distancia de Fréchet: remuestrea con reemplazo cada conjunto.

    Dice cuánto cambiaría la cifra con otras ``N`` imágenes de las mismas distribuciones; dos modelos cuyos
    intervalos se solapan no se distinguen con estas muestras.
    """
    if not isinstance(n_boot, int) or n_boot < 2:
        raise ValueError(f"n_boot debe ser un entero >= 2; se recibió {n_boot!r}.")
    if not 0 < level < 1:
        raise ValueError(f"level debe estar en (0, 1); se recibió {level!r}.")
    a, b = _paired(features_a, features_b)   # se validan una vez, no en cada remuestreo
    gaussians, draws_b = _bootstrap_reference(a, len(b), n_boot, seed)
    values = [_frechet(gauss_a, b[ib]) for gauss_a, ib in zip(gaussians, draws_b)]
    lo, hi = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


_REFERENCE: dict = {}   # el último bootstrap de features_a: {clave: (gaussianas, sorteos de b)}


def _bootstrap_reference(a: np.ndarray, n_b: int, n_boot: int, seed: int) -> tuple[list, list]:
    """Los remuestreos de ``a`` (su gaussiana) y los índices de los de ``b``, en el orden de los sorteos: para cada
    remuestreo, primero ``a`` y luego ``b``, con un generador sembrado con ``seed``.

    Comparar muchos modelos con los mismos rasgos reales (la comparativa final) repetía los mismos sorteos de ``a``
    y, con ellos, la misma covarianza y su raíz (la mitad del coste del intervalo): la última se guarda, identificada
    por el contenido de ``a`` (un resumen de sus bytes), ``seed``, ``n_boot`` y el tamaño de ``b``, de los que
    dependen los sorteos. Las cifras son las mismas, bit a bit, que sin guardarla.
    """
    key = (hashlib.blake2b(a.tobytes(), digest_size=16).digest(), a.shape, a.dtype.str, n_b, n_boot, seed)
    if key not in _REFERENCE:
        g = torch.Generator().manual_seed(seed)
        gaussians, draws_b = [], []
        for _ in range(n_boot):
            ia = torch.randint(len(a), (len(a),), generator=g).numpy()
            draws_b.append(torch.randint(n_b, (n_b,), generator=g).numpy())
            gaussians.append(_gaussian(a[ia]))
        _REFERENCE.clear()                    # una sola: con 100 remuestreos de 426 rasgos ocupa unos 150 MB
        _REFERENCE[key] = gaussians, draws_b
    return _REFERENCE[key]


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = 3) -> tuple[float, float]:
    """Precisión y exhaustividad de un modelo generativo (Kynkäänniemi et al., 2019).

    Cada conjunto de rasgos define una «variedad»: la unión de bolas centradas en sus puntos con radio la distancia
    a su k-ésimo vecino. Precisión: fracción de muestras que caen en la variedad de los datos reales (¿son
    realistas?). Exhaustividad: fracción de datos reales que caen en la de las muestras (¿cubren toda la variedad?).
    """
    a, b = _paired(real, fake, ("real", "fake"))
    if not isinstance(k, int) or not 1 <= k < min(len(a), len(b)):
        raise ValueError(f"k debe ser un entero entre 1 y el tamaño del conjunto menor menos 1; se recibió {k!r}.")
    a, b = torch.from_numpy(a), torch.from_numpy(b)

    def coverage(support: torch.Tensor, queries: torch.Tensor, chunk: int = 1024) -> float:
        # Radio de cada punto del soporte: distancia a su k-ésimo vecino (el 0-ésimo es él mismo).
        radius = torch.cat([torch.cdist(s, support).kthvalue(k + 1, dim=1).values for s in support.split(chunk)])
        inside = torch.cat([(torch.cdist(q, support) <= radius).any(1) for q in queries.split(chunk)])
        return float(inside.double().mean())

    return coverage(a, b), coverage(b, a)


def _features(x: torch.Tensor, name: str) -> np.ndarray:
    x = torch.as_tensor(x).detach().double().cpu()
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"{name} debe tener forma (N, d) con N >= 2; se recibió {tuple(x.shape)}.")
    out = x.numpy()
    if not np.isfinite(out).all():   # np.isfinite: varias veces más rápido que torch.isfinite en float64
        raise ValueError(f"{name} contiene NaN o valores infinitos.")
    return out


def knn_accuracy(train_codes, train_labels, test_codes, test_labels, k: int = 5) -> float:
    """Exactitud de un clasificador de k vecinos (distancia euclídea, scikit-learn) entrenado con
    (``train_codes``, ``train_labels``) y medido en (``test_codes``, ``test_labels``).

    Los códigos son tensores o arrays (N, ...) (códigos latentes, píxeles, proyecciones de un PCA); cada
    ejemplo se aplana a un vector."""
    flat = lambda v: torch.as_tensor(v).detach().reshape(len(v), -1)  # noqa: E731
    a, b = _features(flat(train_codes), "train_codes"), _features(flat(test_codes), "test_codes")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"Los códigos de entrenamiento ({a.shape[1]}) y de prueba ({b.shape[1]}) deben tener la "
                         "misma dimensión.")
    if len(a) != len(train_labels) or len(b) != len(test_labels):
        raise ValueError("Cada código necesita su etiqueta: los tamaños no coinciden.")
    from sklearn.neighbors import KNeighborsClassifier   # aquí: importar scikit-learn cuesta segundos

    clf = KNeighborsClassifier(n_neighbors=k).fit(a, np.asarray(train_labels))
    return float(clf.score(b, np.asarray(test_labels)))


@torch.no_grad()
def active_units(model, x: torch.Tensor, threshold: float = 0.01, batch_size: int = 500
                 ) -> tuple[int, torch.Tensor]:
    """Unidades activas (Burda et al., 2015): la dimensión u está activa si Cov_x(E_q[z_u|x]) > ``threshold``.

    Usa ``model.encode(x)`` (la media de q(z|x)). Devuelve el número de unidades activas y la varianza de cada
    dimensión: una unidad inactiva es aquella cuya posterior no cambia con x (colapso a la prior).
    """
    if threshold < 0 or len(x) < 2:
        raise ValueError("Se necesitan al menos dos ejemplos y un umbral no negativo.")
    var = encode_all(model, x, batch_size=batch_size).var(0)
    return int((var > threshold).sum()), var
def sharpness(x: torch.Tensor) -> torch.Tensor:
    """Nitidez de cada imagen: energía media del gradiente, mean((x[i+1,j] - x[i,j])^2 + (x[i,j+1] - x[i,j])^2).

    Una imagen borrosa tiene bordes suaves y una energía de gradiente menor; una imagen constante, 0.
    Devuelve un valor por imagen del lote (N, C, H, W).
    """
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or min(x.shape[-2:]) < 2:
        raise ValueError("sharpness espera un lote de imágenes (N, C, H, W) de al menos 2 x 2 píxeles.")
    dy = (x[..., 1:, :] - x[..., :-1, :]).pow(2).flatten(1).mean(1)
    dx = (x[..., :, 1:] - x[..., :, :-1]).pow(2).flatten(1).mean(1)
    return dx + dy
