"""Entrenar una vez, reutilizar en todo el libro: una caché de modelos entrenados direccionada por su contenido.

Varios cuadernos entrenan el mismo modelo con los mismos datos (el VAE del capítulo 2, los modelos de la
comparativa). :func:`fit_cached` tiene la firma de :func:`vaebook_lib.fit`: si un entrenamiento idéntico ya está en
la caché, carga sus pesos (y sus buffers: el estado de los calendarios) y su historial; si no, entrena y lo guarda.

«Idéntico» quiere decir la misma huella de todo lo que decide el resultado:

- el modelo: su clave de catálogo, su configuración y sus parámetros **iniciales** (la semilla con que se construyó);
- los datos: un hash de los tensores de entrenamiento y de validación (no su nombre: un subconjunto distinto es
  otra entrada);
- los argumentos de ``fit`` (épocas, lote, tasa, semilla, binarización);
- el código de la biblioteca: un cambio en cualquier ``.py`` de ``vaebook_lib`` invalida todas las entradas.

La caché vive en ``$VAEBOOK_MODEL_CACHE`` o, por defecto, en ``<caché del libro>/models``
(:func:`vaebook_lib.data.idx.cache_root`). ``VAEBOOK_MODEL_CACHE=off`` la desactiva. ``make test`` usa una carpeta
propia que vacía al empezar: la integración continua entrena de verdad cada modelo distinto, una vez, y los cuadernos
de la misma ejecución que piden exactamente el mismo entrenamiento lo reutilizan.
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import random
from dataclasses import asdict
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from .atomic import write_atomic
from .data.idx import cache_root
from .models.base import Model
from .train import History, _as_tensors, fit

ENV = "VAEBOOK_MODEL_CACHE"
OFF = ("off", "0", "no", "false")
LIBRARY = Path(__file__).resolve().parent


@lru_cache(maxsize=1)
def code_hash() -> str:
    """Hash del código fuente de ``vaebook_lib`` (todos sus ``.py``, en orden): cambia con cualquier edición."""
    h = hashlib.sha256()
    for path in sorted(LIBRARY.rglob("*.py")):
        h.update(path.relative_to(LIBRARY).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def _tensor_hash(h, t: torch.Tensor | None) -> None:
    if t is None:
        h.update(b"none")
        return
    t = t.detach().cpu().contiguous()
    h.update(f"{t.dtype}{tuple(t.shape)}".encode())
    h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")


def directory() -> Path | None:
    """La carpeta de la caché, o ``None`` si ``VAEBOOK_MODEL_CACHE=off``."""
    value = os.environ.get(ENV, "").strip()
    if value.lower() in OFF:
        return None
    return Path(value) if value else cache_root() / "models"


def fingerprint(model: Model, data, val=None, **fit_args) -> str:
    """La huella de un entrenamiento (ver el docstring del módulo): 64 cifras hexadecimales."""
    if not isinstance(model, Model):
        raise ValueError(f"fingerprint espera un modelo de vaebook_lib; se recibió {type(model).__name__}.")
    h = hashlib.sha256()
    head = {"key": model.key, "class": type(model).__qualname__, "config": asdict(model.config),
            "fit": {k: (str(v) if isinstance(v, torch.device) else v) for k, v in sorted(fit_args.items())},
            "code": code_hash()}
    h.update(json.dumps(head, sort_keys=True, default=repr).encode())
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        _tensor_hash(h, t)
    for part in (data, val):
        if part is None:
            h.update(b"sin-datos")
            continue
        x, y = _as_tensors(part)
        _tensor_hash(h, x)
        _tensor_hash(h, y)
    return h.hexdigest()


def _history_to_dict(history: History) -> dict:
    return {"train": {k: list(v) for k, v in history.train.items()},
            "val": {k: list(v) for k, v in history.val.items()},
            "seconds": float(history.seconds), "examples": int(history.examples), "lr": list(history.lr)}


def _history_from_dict(blob: dict) -> History:
    history = History()
    for part in ("train", "val"):
        for k, v in blob[part].items():
            getattr(history, part)[k] = [float(a) for a in v]
    history.seconds, history.examples = float(blob["seconds"]), int(blob["examples"])
    history.lr = [float(a) for a in blob["lr"]]
    return history


def _rng_state() -> dict:
    """El estado de los generadores globales (random, NumPy, torch y CUDA) al acabar ``fit``, en tipos que
    ``torch.load(weights_only=True)`` acepta."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    state = {"torch": torch.get_rng_state(),
             "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                       "has_gauss": int(has_gauss), "gauss": float(gauss)},
             "random": {"version": int(version), "internal": torch.tensor(internal, dtype=torch.int64),
                        "gauss_next": gauss_next}}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _restore_rng(state: dict) -> None:
    """Deja los generadores globales como los dejó el entrenamiento guardado: lo que el cuaderno sortee después
    (muestras, la estimación por importancia) es igual con la caché caliente que fría."""
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    r = state["random"]
    random.setstate((r["version"], tuple(int(v) for v in r["internal"].tolist()), r["gauss_next"]))
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def _read(path: Path) -> dict | None:
    """La entrada de la caché, con su historial ya leído (``History``), o ``None`` si falta o no se puede leer,
    pesos o historial (se reentrena y se reescribe)."""
    if not path.exists():
        return None
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(blob, dict) or not {"state_dict", "history"} <= set(blob):
            raise ValueError("faltan campos")
        return {**blob, "history": _history_from_dict(blob["history"])}
    except (OSError, EOFError, RuntimeError, ValueError, KeyError, TypeError, pickle.UnpicklingError) as err:
        print(f"Caché de modelos: la entrada {path.name} no se puede leer ({err}); se vuelve a entrenar.")
        return None


def _write(path: Path, blob: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, lambda f: torch.save(blob, f))


def fit_cached(model: Model, data, val=None, *, epochs: int, batch_size: int = 128, lr: float = 1e-3,
               seed: int = 0, binarize: bool = False, progress: bool | None = None, lr_final: float | None = None,
               **kwargs) -> History:
    """Como :func:`vaebook_lib.fit`, pero toma el resultado de la caché si el mismo entrenamiento ya se hizo.

    Tras un acierto, ``model`` queda exactamente como lo habría dejado ``fit`` (pesos y buffers, en modo ``eval``,
    en el dispositivo en que estaba), los generadores aleatorios globales también (lo que se sortee después no
    depende de que la caché estuviera caliente) y se devuelve el historial guardado, con sus curvas. ``optimizer`` y
    ``callbacks`` no se admiten: sus efectos no caben en la huella (use ``fit``).
    """
    for name in ("optimizer", "callbacks"):
        if kwargs.get(name):
            raise ValueError(f"fit_cached no admite {name}: sus efectos no se pueden reconstruir desde la caché; "
                             "use fit.")
    fit_args = dict(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, binarize=binarize)
    if lr_final is not None:   # solo si se usa: las huellas de los entrenamientos con tasa constante no cambian
        fit_args["lr_final"] = lr_final
    folder = directory()
    if folder is None:
        return fit(model, data, val, progress=progress, **fit_args, **kwargs)
    path = folder / f"{model.key or type(model).__name__}-{fingerprint(model, data, val, **fit_args)}.pt"
    blob = _read(path)
    if blob is not None:
        model.load_state_dict(blob["state_dict"])
        model.eval()
        if "rng" in blob:
            _restore_rng(blob["rng"])
        if progress is None or progress:
            print(f"{model.key}: entrenamiento idéntico encontrado en la caché de modelos ({path.name[:24]}…).")
        return blob["history"]
    history = fit(model, data, val, progress=progress, **fit_args, **kwargs)
    _write(path, {"state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                  "history": _history_to_dict(history), "rng": _rng_state()})
    return history
