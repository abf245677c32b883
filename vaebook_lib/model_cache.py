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

:func:`fit_parallel` (y :func:`fit_parallel_iter`, :func:`fit_runs`) entrena varios modelos independientes a la vez
(las semillas y los modelos de una comparación), cada uno en un proceso hijo, y deja cada modelo, su historial y los
generadores aleatorios como los dejaría :func:`fit_cached` llamada en orden.
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import random
import sys
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .atomic import write_atomic
from .data.idx import cache_root
from .models.base import Model
from .train import History, _as_tensors, _progress_enabled, fit

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
        if progress is None or progress:
            print(f"{model.key}: entrenamiento idéntico encontrado en la caché de modelos ({path.name[:24]}…).")
        return _apply(model, blob)
    history = fit(model, data, val, progress=progress, **fit_args, **kwargs)
    _write(path, _blob(model, history))
    return history


def _blob(model: Model, history: History) -> dict:
    """Lo que deja un entrenamiento: pesos y buffers, historial y el estado de los generadores globales."""
    return {"state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "history": _history_to_dict(history), "rng": _rng_state()}


def _apply(model: Model, blob: dict) -> History:
    """Deja ``model`` y los generadores globales como los dejó el entrenamiento de ``blob`` (leído con ``_read``)."""
    model.load_state_dict(blob["state_dict"])
    model.eval()
    if "rng" in blob:
        _restore_rng(blob["rng"])
    return blob["history"]


class FitJob:
    """Un entrenamiento pendiente para :func:`fit_parallel`: ``FitJob(model, data, val=None, **argumentos de fit)``,
    los mismos argumentos que :func:`fit_cached` (``epochs`` es obligatorio)."""

    def __init__(self, model: Model, data, val=None, **fit_args):
        if not isinstance(model, Model):
            raise ValueError(f"FitJob espera un modelo de vaebook_lib; se recibió {type(model).__name__}.")
        if "epochs" not in fit_args:
            raise ValueError("FitJob necesita epochs=… (las épocas de entrenamiento).")
        if "progress" in fit_args:
            raise ValueError("FitJob no admite progress: la barra es la de fit_parallel (su argumento progress).")
        self.model, self.data, self.val, self.fit_args = model, data, val, fit_args

    def run(self, progress: bool | None = None) -> History:
        return fit_cached(self.model, self.data, self.val, progress=progress, **self.fit_args)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.fit_args.items())
        return f"FitJob({self.model.key or type(self.model).__name__}, {args})"


ENV_WORKERS = "VAEBOOK_WORKERS"


def default_workers() -> int:
    """Procesos de :func:`fit_parallel`: ``$VAEBOOK_WORKERS`` o, sin ella, los núcleos que este proceso puede usar."""
    value = os.environ.get(ENV_WORKERS, "").strip()
    if value:
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"{ENV_WORKERS} debe ser un entero >= 1 (1: entrenar en serie); vale {value!r}.")
        return int(value)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _can_fork() -> bool:
    """Procesos hijos por ``fork`` solo en Linux y sin CUDA (un hijo no puede heredar un contexto CUDA)."""
    return sys.platform.startswith("linux") and not torch.cuda.is_available()


def _train_in_child(job: FitJob, path: str, threads: int) -> None:
    """Cuerpo del proceso hijo: entrena (o toma de la caché) y escribe el resultado en ``path``.

    La salida se descarta: en un cuaderno, ``sys.stdout`` es un canal del núcleo de Jupyter que el hijo no debe tocar.
    Si algo falla, ``path`` no se escribe y el padre entrena ese modelo él mismo (y muestra el error, si lo hay).
    """
    sys.stdout = sys.stderr = open(os.devnull, "w")
    torch.set_num_threads(threads)
    _write(Path(path), _blob(job.model, job.run(progress=False)))


def fit_parallel(jobs: Sequence[FitJob], *, workers: int | None = None, progress: bool | None = None
                 ) -> list[History]:
    """Entrena los ``jobs`` (:class:`FitJob`) y devuelve sus historiales, en orden.

    El resultado es el de ``[job.run() for job in jobs]`` (cada entrenamiento fija su semilla al empezar, así que
    no depende de los demás): los mismos pesos en cada modelo, los mismos historiales y, al terminar, los
    generadores aleatorios globales como los deja el último. Pero con ``workers`` > 1 (por defecto,
    :func:`default_workers`), en Linux y sin GPU, los entrenamientos corren a la vez, cada uno en un proceso hijo
    (``fork``) con su parte de los hilos: en una CPU de 2 núcleos, dos modelos pequeños tardan poco más que uno,
    mientras que dos hilos dentro de un mismo entrenamiento apenas lo aceleran (las multiplicaciones de matrices
    de un lote son pequeñas). Cada hijo pasa por :func:`fit_cached`, así que la caché de modelos se usa y se
    llena igual. Si un hijo falla, el padre entrena ese modelo en serie (y un error del propio entrenamiento, un
    ``ValueError`` por unos datos que el modelo no admite, por ejemplo, aparece como en serie).

    «El mismo resultado» es exacto con el mismo número de hilos; en CPU, algunas operaciones reparten sus sumas
    según los hilos, y un hijo con menos hilos que la serie puede cambiar las últimas cifras.
    """
    return list(fit_parallel_iter(jobs, workers=workers, progress=progress))


def fit_runs(groups: dict[str, Sequence[FitJob]], *, workers: int | None = None, progress: bool | None = None
             ) -> dict[str, list[tuple[Model, History]]]:
    """Los entrenamientos de una comparación, agrupados: ``{nombre: [FitJob por semilla]}`` da
    ``{nombre: [(modelo, historial) por semilla]}``, todos entrenados con :func:`fit_parallel` (en el orden de los
    grupos y, dentro de cada uno, de sus trabajos)."""
    if not isinstance(groups, dict) or not all(isinstance(v, (list, tuple)) for v in groups.values()):
        raise ValueError("fit_runs espera un diccionario {nombre: [FitJob, ...]}.")
    flat = [(name, job) for name, jobs in groups.items() for job in jobs]
    histories = fit_parallel([job for _, job in flat], workers=workers, progress=progress)
    runs: dict[str, list[tuple[Model, History]]] = {name: [] for name in groups}
    for (name, job), history in zip(flat, histories):
        runs[name].append((job.model, history))
    return runs


def fit_parallel_iter(jobs: Sequence[FitJob], *, workers: int | None = None, progress: bool | None = None
                      ) -> Iterator[History]:
    """Como :func:`fit_parallel`, pero entrega los historiales uno a uno, en orden, y cada uno cuando su modelo y
    los generadores aleatorios globales están como los dejó su entrenamiento: el código que mide un modelo antes
    de pedir el siguiente ve exactamente lo mismo que en el bucle en serie ``for job in jobs: job.run(); medir()``.
    Todos se entrenan (a la vez) al pedir el primero."""
    jobs = list(jobs)
    if not all(isinstance(j, FitJob) for j in jobs):
        raise ValueError("fit_parallel espera una lista de FitJob(modelo, datos, ..., epochs=...).")
    if len({id(j.model) for j in jobs}) < len(jobs):
        raise ValueError("Un mismo modelo aparece en dos entrenamientos de fit_parallel: el segundo continuaría el "
                         "primero y no pueden correr a la vez; entrénelos en orden con fit_cached.")
    workers = default_workers() if workers is None else workers
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ValueError(f"workers debe ser un entero >= 1; se recibió {workers!r}.")
    return _fit_parallel_iter(jobs, min(workers, len(jobs)), progress)


def _fit_parallel_iter(jobs: list[FitJob], workers: int, progress: bool | None) -> Iterator[History]:
    if workers <= 1 or not _can_fork():
        for job in jobs:
            yield job.run(progress)
        return
    blobs = _train_in_children(jobs, workers, progress)
    for job, blob in zip(jobs, blobs):
        yield job.run(progress) if blob is None else _apply(job.model, blob)


def _train_in_children(jobs: list[FitJob], workers: int, progress: bool | None) -> list[dict | None]:
    """Entrena cada trabajo en un proceso hijo, ``workers`` a la vez; devuelve lo que dejó cada uno (``None`` si
    el hijo falló)."""
    import multiprocessing
    from multiprocessing.connection import wait

    # torch.optim importa torch._dynamo al crear el primer optimizador (~2 s): aquí, una vez, y los hijos lo heredan
    # en vez de importarlo cada uno.
    import torch._dynamo  # noqa: F401

    threads = max(1, torch.get_num_threads() // workers)
    ctx = multiprocessing.get_context("fork")
    bar = tqdm(total=len(jobs), desc=f"Entrenando {len(jobs)} modelos en {workers} procesos", unit="modelo",
               disable=not _progress_enabled(progress))
    with tempfile.TemporaryDirectory(prefix="vaebook-fit-") as tmp:
        paths = [os.path.join(tmp, f"{i}.pt") for i in range(len(jobs))]
        pending, running = list(range(len(jobs))), {}
        try:
            while pending or running:
                while pending and len(running) < workers:
                    i = pending.pop(0)
                    proc = ctx.Process(target=_train_in_child, args=(jobs[i], paths[i], threads), daemon=True)
                    with warnings.catch_warnings():
                        # Python 3.12 avisa de todo fork en un proceso con hilos (el núcleo de Jupyter los tiene); el
                        # hijo solo usa torch y su archivo de resultado, nunca los hilos ni los sockets del núcleo.
                        warnings.filterwarnings("ignore", message=".*fork.*", category=DeprecationWarning)
                        proc.start()
                    running[proc.sentinel] = proc
                for sentinel in wait(list(running)):
                    running.pop(sentinel).join()
                    bar.update()
        finally:                 # una interrupción (Ctrl-C, «interrumpir el núcleo») no deja hijos entrenando
            for proc in running.values():
                proc.terminate()
                proc.join()
            bar.close()
        return [_read(Path(p)) for p in paths]   # sin archivo (el hijo falló): None
