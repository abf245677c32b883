"""El único bucle de entrenamiento del libro: todos los modelos se entrenan con ``fit``."""
from __future__ import annotations

import os
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from .config import get_device, set_seed
from .data.batches import batches, binarize as binarize_batch
from .data.vision import ImageData
from .models.base import Model


@dataclass
class History:
    """Historial por época de cada término de la pérdida, en entrenamiento (``train``) y validación (``val``)."""

    train: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    val: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    seconds: float = 0.0
    examples: int = 0

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


def fit(model: Model, data, val=None, *, epochs: int, batch_size: int = 128, lr: float = 1e-3, seed: int = 0,
        binarize: bool = False, device: str | torch.device | None = None,
        optimizer: torch.optim.Optimizer | None = None, callbacks: Sequence[Callback] = (),
        progress: bool | None = None, desc: str | None = None) -> History:
    """Entrena ``model`` y devuelve su :class:`History`.

    - ``data``/``val``: ``ImageData``, un tensor ``x`` o un par ``(x, y)``; las etiquetas se pasan al modelo.
    - ``binarize``: binarización dinámica (un sorteo de Bernoulli nuevo por lote); la validación usa una
      binarización fija, la misma en cada época, para que sus curvas sean comparables.
    - La validación usa exactamente el mismo objetivo que el entrenamiento, en modo ``eval`` y sin gradiente.
    - Cada ``callback(epoch, history, model)`` se llama al final de cada época; si devuelve ``True`` se para.
    """
    if epochs <= 0 or batch_size <= 0 or lr <= 0:
        raise ValueError("epochs, batch_size y lr deben ser positivos.")
    x, y = _as_tensors(data)
    if len(x) == 0:
        raise ValueError("No hay datos de entrenamiento.")
    device = torch.device(device) if device is not None else get_device()
    cpu_gen = set_seed(seed)
    model.to(device)
    x = x.to(device)
    y = y.to(device) if y is not None else None
    tensors = (x,) if y is None else (x, y)
    if val is not None:
        vx, vy = _as_tensors(val)
        vx = vx.to(device)
        vy = vy.to(device) if vy is not None else None
        if binarize:  # binarización fija de la validación
            vx = binarize_batch(vx.cpu(), torch.Generator().manual_seed(seed + 1)).to(device)
    if optimizer is None:
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    dev_gen = cpu_gen if device.type == "cpu" else torch.Generator(device).manual_seed(seed)
    history = History()
    steps_per_epoch = -(-len(x) // batch_size)
    total = epochs * steps_per_epoch
    if progress is None:
        progress = os.environ.get("VAEBOOK_PROGRESS", "1") not in ("0", "false", "no")
    bar = tqdm(range(epochs), desc=desc or f"Entrenando {model.key or type(model).__name__}",
               unit="época", disable=not progress)
    step = 0
    start = time.perf_counter()
    for epoch in bar:
        model.train()
        sums: dict[str, torch.Tensor] = {}
        count = 0
        for batch in batches(*tensors, batch_size=batch_size, shuffle=True, generator=cpu_gen):
            xb = binarize_batch(batch[0], dev_gen) if binarize else batch[0]
            yb = batch[1] if len(batch) > 1 else None
            model.schedule(step / total)
            out = model(xb, yb)
            if not torch.isfinite(out.loss):
                raise FloatingPointError(f"La pérdida dejó de ser finita en la época {epoch + 1}, paso {step}: "
                                         "pruebe con una tasa de aprendizaje menor.")
            optimizer.zero_grad(set_to_none=True)
            out.loss.backward()
            optimizer.step()
            n = len(xb)
            for k, v in out.terms.items():
                sums[k] = sums.get(k, 0.0) + v.detach() * n
            count += n
            step += 1
        for k, v in sums.items():
            history.train[k].append(float(v) / count)
        history.examples += count
        if val is not None:
            for k, v in evaluate(model, vx, vy, batch_size=max(batch_size, 512)).items():
                history.val[k].append(v)
        shown = history.val if val is not None else history.train
        bar.set_postfix({k: f"{v[-1]:.4g}" for k, v in shown.items() if k in ("loss", "elbo")})
        if any(cb(epoch, history, model) for cb in callbacks):
            break
    history.seconds = time.perf_counter() - start
    model.eval()
    return history


@torch.no_grad()
def evaluate(model: Model, x: torch.Tensor, y: torch.Tensor | None = None, batch_size: int = 512) -> dict[str, float]:
    """Media de cada término de la pérdida sobre ``x`` (modo ``eval``, sin gradiente)."""
    was = model.training
    model.eval()
    sums: dict[str, torch.Tensor] = {}
    tensors = (x,) if y is None else (x, y)
    for batch in batches(*tensors, batch_size=batch_size):
        out = model(batch[0], batch[1] if len(batch) > 1 else None)
        for k, v in out.terms.items():
            sums[k] = sums.get(k, 0.0) + v * len(batch[0])
    model.train(was)
    return {k: float(v) / len(x) for k, v in sums.items()}
