"""El único bucle de entrenamiento del libro: todos los modelos se entrenan con ``fit``."""
from __future__ import annotations

import math
import numbers
import os
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from . import distributed
from .config import flush_denormals, no_distribution_checks, set_seed
from .data.batches import batches
from .data.checks import check_binarizable
from .data.transforms import Binarize, binarize as binarize_batch
from .data.vision import ImageData
from .models.base import Model, evaluating


@dataclass
class History:
    """Historial por época de cada término de la pérdida, en entrenamiento (``train``) y validación (``val``)."""

    train: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    val: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    seconds: float = 0.0
    examples: int = 0
    lr: list[float] = field(default_factory=list)   # la tasa de aprendizaje de cada época

    @property
    def epochs(self) -> int:
        return len(self.train.get("loss", []))

    @property
    def examples_per_second(self) -> float:
        return self.examples / self.seconds if self.seconds else float("nan")


def _as_tensors(data) -> tuple[torch.Tensor, torch.Tensor | None]:
    if isinstance(data, ImageData):
        return data.x, data.y
    if isinstance(data, torch.Tensor):
        return data, None
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return data[0], data[1]
    raise ValueError("Los datos deben ser un ImageData, un tensor o un par (x, y) de tensores.")


Callback = Callable[[int, History, Model], "bool | None"]


def _default_optimizer(model: Model, lr: float, device: torch.device) -> torch.optim.Optimizer:
    """Adam; en su versión fusionada (un solo núcleo para todos los parámetros) donde PyTorch la ofrece.

    Es el mismo algoritmo con la misma aritmética en float32 (puede diferir en el último bit por el orden de
    las operaciones) y ahorra varias pasadas por memoria en cada paso.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    if device.type in ("cpu", "cuda") and all(p.dtype == torch.float32 for p in params):
        try:
            return torch.optim.Adam(params, lr=lr, fused=True)
        except (RuntimeError, TypeError, ValueError):  # versiones de PyTorch sin Adam fusionado en este dispositivo
            pass
    return torch.optim.Adam(params, lr=lr)


class NonFiniteCheck:
    """La política ante una pérdida o unos pesos no finitos: parar con un ``FloatingPointError`` que lo explica.

    En CPU comprobar la pérdida en cada paso es gratis; en GPU obligaría a sincronizar: se comprueba la media de
    la época (un NaN o un infinito la contaminan). Los pesos se comprueban una vez por época: el último paso puede
    dejarlos no finitos con una pérdida previa finita (una tasa enorme).
    """

    def __init__(self, device: torch.device):
        self.each_step = device.type == "cpu"

    def step(self, loss: torch.Tensor, epoch: int, step: int) -> None:
        if self.each_step and not torch.isfinite(loss):
            raise FloatingPointError(f"La pérdida dejó de ser finita en la época {epoch + 1}, paso {step}: "
                                     "pruebe con una tasa de aprendizaje menor.")

    def epoch(self, means: dict[str, float], model: Model, epoch: int) -> None:
        if not self.each_step and not math.isfinite(means.get("loss", 0.0)):
            raise FloatingPointError(f"La pérdida dejó de ser finita en la época {epoch + 1}: "
                                     "pruebe con una tasa de aprendizaje menor.")
        params = [p.detach() for p in model.parameters()]  # una sola sincronización
        if params and not bool(torch.stack([torch.isfinite(p).all() for p in params]).all()):
            bad = [name for name, p in model.named_parameters() if not torch.isfinite(p).all()]
            raise FloatingPointError(f"Tras la época {epoch + 1} hay parámetros no finitos ({', '.join(bad[:3])}"
                                     f"{', …' if len(bad) > 3 else ''}): pruebe con una tasa de aprendizaje menor.")


def fit(model: Model, data, val=None, *, epochs: int, batch_size: int = 128, lr: float = 1e-3, seed: int = 0,
        binarize: bool = False, device: str | torch.device | None = None,
        optimizer: torch.optim.Optimizer | None = None, callbacks: Sequence[Callback] = (),
        progress: bool | None = None, desc: str | None = None, lr_final: float | None = None) -> History:
    """Entrena ``model`` y devuelve su :class:`History`.

    - ``data``/``val``: ``ImageData``, un tensor ``x`` o un par ``(x, y)``; las etiquetas se pasan al modelo.
    - ``binarize``: binarización dinámica (un sorteo de Bernoulli nuevo por lote); la validación usa una
      binarización fija, la misma en cada época, para que sus curvas sean comparables.
    - La validación usa exactamente el mismo objetivo que el entrenamiento, en modo ``eval`` y sin gradiente.
    - Cada ``callback(epoch, history, model)`` se llama al final de cada época; si devuelve ``True`` se para.
    - El optimizador por defecto es Adam (fusionado donde PyTorch lo ofrece).
    - ``lr_final``: la tasa baja de ``lr`` a ``lr_final`` de forma exponencial, época a época
      (``torch.optim.lr_scheduler.ExponentialLR``): la época e (desde 0) usa lr·(lr_final/lr)^(e/(epochs-1)), así
      que la primera usa ``lr`` y la última ``lr_final``. Sin ella, la tasa es constante. ``history.lr`` guarda la
      tasa de cada época.
    - Lanzado con ``torchrun --nproc_per_node=N``, el mismo bucle entrena con ``DistributedDataParallel``
      (ver :mod:`vaebook_lib.distributed`): ``batch_size`` es el lote de cada proceso, el historial suma todos
      los procesos y solo el proceso 0 muestra el progreso. Sin ``torchrun`` no cambia nada.
    - Se entrena en ``device`` (CUDA si la hay) y al terminar el modelo vuelve al dispositivo en el que estaba
      (la CPU, normalmente), en modo ``eval``: las celdas siguientes de un cuaderno funcionan igual con o sin GPU.
    """
    _check_arguments(epochs, batch_size, lr, lr_final, optimizer)
    x, y = _as_tensors(data)
    if len(x) == 0:
        raise ValueError("No hay datos de entrenamiento.")
    if binarize:
        check_binarizable(x)  # una vez para todo el conjunto, no en cada lote
    ctx = distributed.join(device)  # un único proceso sin torchrun; con él, este proceso del grupo
    cpu_gen = set_seed(seed)
    home = next(model.parameters()).device
    model.to(ctx.device)
    tensors = tuple(t.to(ctx.device) for t in (x, y) if t is not None)
    validation = _validation_set(val, binarize, seed, ctx) if val is not None else None
    if optimizer is None:
        optimizer = _default_optimizer(model, lr, ctx.device)
    decay = _exponential_decay(optimizer, lr, lr_final, epochs)
    transform = Binarize(ctx.noise_generator(seed, cpu_gen)) if binarize else None
    net = ctx.wrap(model)  # DDP con torchrun; el propio modelo si no
    total = epochs * -(-ctx.examples_per_process(len(x)) // batch_size)
    bar = _progress_bar(model, epochs, progress, desc)
    non_finite = NonFiniteCheck(ctx.device)
    history, step, start = History(), 0, time.perf_counter()
    for epoch in bar:
        net.train()
        sums: dict[str, torch.Tensor] = {}
        count = 0
        with no_distribution_checks(), flush_denormals():
            for batch in ctx.batches(tensors, batch_size, cpu_gen):
                xb = transform(batch[0]) if transform else batch[0]
                yb = batch[1] if len(batch) > 1 else None
                model.schedule(step / total)
                out = net(xb, yb)
                non_finite.step(out.loss, epoch, step)
                optimizer.zero_grad(set_to_none=True)
                out.loss.backward()
                optimizer.step()
                for k, v in out.terms.items():  # los términos se desprenden del grafo aquí, una sola vez
                    sums[k] = sums.get(k, 0.0) + v.detach() * len(xb)
                count += len(xb)
                step += 1
        means, count = ctx.means(sums, count)  # con torchrun, sobre los ejemplos de todos los procesos
        non_finite.epoch(means, model, epoch)
        history.lr.append(optimizer.param_groups[0]["lr"])
        if decay is not None:
            decay.step()
        for k, v in means.items():
            history.train[k].append(v)
        history.examples += count
        if validation is not None:
            for k, v in _evaluate_parts(model, *validation, max(batch_size, 512), ctx).items():
                history.val[k].append(v)
        shown = history.val if val is not None else history.train
        bar.set_postfix({k: f"{v[-1]:.4g}" for k, v in shown.items() if k in ("loss", "elbo")})
        if ctx.any(any(cb(epoch, history, model) for cb in callbacks)):  # todos los procesos paran a la vez
            break
    history.seconds = time.perf_counter() - start
    model.to(home).eval()
    return history


def _exponential_decay(optimizer, lr: float, lr_final: float | None, epochs: int):
    """El programador que lleva la tasa de ``lr`` (primera época) a ``lr_final`` (última), o ``None``."""
    if lr_final is None or epochs == 1:
        return None
    return torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=(lr_final / lr) ** (1 / (epochs - 1)))


def _check_arguments(epochs, batch_size, lr, lr_final=None, optimizer=None) -> None:
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
            raise ValueError(f"{name} debe ser un entero positivo; se recibió {value!r}.")
    # lr=inf pasaba «lr > 0» y dejaba los pesos en NaN con un historial finito
    for name, value, alt in (("lr", lr, ""), ("lr_final", lr_final, " (o None)")):
        if name == "lr_final" and value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} debe ser un número positivo y finito{alt}; se recibió {value}.")
    if lr_final is not None and optimizer is not None:
        raise ValueError("lr_final programa la tasa del optimizador por defecto; con un optimizador propio, "
                         "programe su tasa con un torch.optim.lr_scheduler desde un callback.")


def _progress_bar(model: Model, epochs: int, progress: bool | None, desc: str | None) -> tqdm:
    """Barra por épocas; ``progress=None`` sigue a ``VAEBOOK_PROGRESS``; con ``torchrun``, solo en el proceso 0."""
    return tqdm(range(epochs), desc=desc or f"Entrenando {model.key or type(model).__name__}",
                unit="época", disable=not _progress_enabled(progress) or not distributed.is_main())


def _progress_enabled(progress: bool | None) -> bool:
    """``progress`` o, si es ``None``, lo que pide ``VAEBOOK_PROGRESS`` (sí, salvo «0», «false» o «no»)."""
    if progress is None:
        return os.environ.get("VAEBOOK_PROGRESS", "1") not in ("0", "false", "no")
    return bool(progress)


def _validation_set(val, binarize: bool, seed: int, ctx: distributed.Context
                    ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """La validación en el dispositivo: binarizada una sola vez (la misma en cada época) y, con ``torchrun``,
    la parte de este proceso."""
    vx, vy = _as_tensors(val)
    if binarize:
        vx = binarize_batch(vx.cpu(), torch.Generator().manual_seed(seed + 1))
    vx, vy = ctx.part(vx, vy)
    return vx.to(ctx.device), (vy.to(ctx.device) if vy is not None else None)


def _evaluate_parts(model: Model, x: torch.Tensor, y: torch.Tensor | None, batch_size: int,
                    ctx: distributed.Context) -> dict[str, float]:
    """Como :func:`evaluate`; con entrenamiento distribuido, la media sobre las partes de todos los procesos."""
    res = evaluate(model, x, y, batch_size=batch_size)
    if not ctx.distributed:
        return res
    return ctx.means({k: v * len(x) for k, v in res.items()}, len(x))[0]


@torch.no_grad()
def evaluate(model: Model, x: torch.Tensor, y: torch.Tensor | None = None, batch_size: int = 512) -> dict[str, float]:
    """Media de cada término de la pérdida sobre ``x`` (modo ``eval``, sin gradiente)."""
    if len(x) == 0:
        raise ValueError("No hay datos que evaluar: x es un lote vacío.")
    sums: dict[str, torch.Tensor] = {}
    tensors = (x,) if y is None else (x, y)
    # el modelo valida cada lote (check_input): las comprobaciones de torch.distributions sobran
    with evaluating(model), flush_denormals(), no_distribution_checks():
        for batch in batches(*tensors, batch_size=batch_size):
            out = model(batch[0], batch[1] if len(batch) > 1 else None)
            for k, v in out.terms.items():
                sums[k] = sums.get(k, 0.0) + v * len(batch[0])
    return {k: float(v) / len(x) for k, v in sums.items()}
