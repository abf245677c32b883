"""El único bucle de entrenamiento del libro: todos los modelos se entrenan con ``fit``."""
from __future__ import annotations

import math
import numbers
import os
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch.distributions import Distribution
from tqdm.auto import tqdm

from . import distributed
from .config import get_device, set_seed
from .data.batches import batches, binarize as binarize_batch, check_binarizable
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


@contextmanager
def _no_distribution_checks():
    """Sin la validación de argumentos de ``torch.distributions`` dentro del bucle.

    Esa validación recorre en cada paso los parámetros y el lote enteros (¿binario?, ¿finito?), lo que cuesta
    alrededor de un 10 % del paso de un VAE MLP en CPU, y no añade nada: ``check_input`` ya validó el lote y
    una pérdida no finita la detecta el propio bucle con un mensaje claro.
    """
    old = Distribution._validate_args
    Distribution.set_default_validate_args(False)
    try:
        yield
    finally:
        Distribution.set_default_validate_args(old)


def _binarize_fast(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Binarización dinámica con 16 bits al azar por píxel: P(1) = ceil(65536·x)/65536, es decir, x salvo menos
    de 1/65536 (exacta en 0 y en 1).

    Cada número de 64 bits del generador da cuatro enteros uniformes de 16 bits ``u`` (en [-32768, 32767]);
    ``32767 - u`` es uniforme en {0, …, 65535} y el píxel vale 1 si es menor que 65536·x, o sea, si
    ``u + 65536·x > 32767``: una suma y una comparación en el sitio, sin máscaras booleanas. En CPU el sorteo
    de un ``float`` por píxel (``torch.rand``, ~10 ns) era la operación más cara del paso de un VAE MLP tras
    las multiplicaciones de matrices; así cuesta menos de la mitad (y ``torch.bernoulli``, el triple).
    """
    n = x.numel()
    words = torch.empty((n + 3) // 4, dtype=torch.int64, device=x.device)
    u = words.random_(-2 ** 63, None, generator=generator).view(torch.int16)[:n].view(x.shape)
    wide = torch.promote_types(x.dtype, torch.float32)  # float16 no representa 65536·x con precisión
    return torch.add(u, x.to(wide), alpha=65536.0).gt_(32767).to(x.dtype)


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
    - El optimizador por defecto es Adam (fusionado donde PyTorch lo ofrece).
    - Lanzado con ``torchrun --nproc_per_node=N``, el mismo bucle entrena con ``DistributedDataParallel``
      (ver :mod:`vaebook_lib.distributed`): ``batch_size`` es el lote de cada proceso, el historial suma todos
      los procesos y solo el proceso 0 muestra el progreso. Sin ``torchrun`` no cambia nada.
    - Se entrena en ``device`` (CUDA si la hay) y al terminar el modelo vuelve al dispositivo en el que estaba
      (la CPU, normalmente), en modo ``eval``: las celdas siguientes de un cuaderno funcionan igual con o sin GPU.
    """
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
            raise ValueError(f"{name} debe ser un entero positivo; se recibió {value!r}.")
    # lr=inf pasaba «lr > 0» y dejaba los pesos en NaN con un historial finito
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr debe ser un número positivo y finito; se recibió {lr}.")
    x, y = _as_tensors(data)
    if len(x) == 0:
        raise ValueError("No hay datos de entrenamiento.")
    if binarize:
        check_binarizable(x)  # una vez para todo el conjunto, no en cada lote
    ctx = distributed.setup(device)  # None sin torchrun: ni grupo de procesos ni coste alguno
    device = ctx.device if ctx else torch.device(device) if device is not None else get_device()
    cpu_gen = set_seed(seed)
    home = next(model.parameters()).device
    model.to(device)
    x = x.to(device)
    y = y.to(device) if y is not None else None
    tensors = (x,) if y is None else (x, y)
    if val is not None:
        vx, vy = _as_tensors(val)
        if binarize:  # binarización fija de la validación
            vx = binarize_batch(vx.cpu(), torch.Generator().manual_seed(seed + 1))
        if ctx:  # cada proceso evalúa su parte de la validación; las sumas se juntan al final de la época
            if len(vx) < ctx.world_size:
                raise ValueError(f"La validación necesita al menos un ejemplo por proceso ({ctx.world_size}).")
            vx, vy = vx[ctx.rank::ctx.world_size], (vy[ctx.rank::ctx.world_size] if vy is not None else None)
        vx = vx.to(device)
        vy = vy.to(device) if vy is not None else None
    if optimizer is None:
        optimizer = _default_optimizer(model, lr, device)
    if ctx:
        # La permutación se sortea con la semilla común (cpu_gen); el ruido del modelo (reparametrización,
        # binarización) debe ser distinto en cada proceso, o todos sumarían el mismo ruido.
        torch.manual_seed(seed + 1_000_003 * ctx.rank)
        dev_gen = torch.Generator(device).manual_seed(seed + 1_000_003 * ctx.rank)
        net = distributed.wrap(model, device)
        n_local = -(-len(x) // ctx.world_size)
    else:
        dev_gen = cpu_gen if device.type == "cpu" else torch.Generator(device).manual_seed(seed)
        net = model
        n_local = len(x)
    history = History()
    steps_per_epoch = -(-n_local // batch_size)
    total = epochs * steps_per_epoch
    if progress is None:
        progress = os.environ.get("VAEBOOK_PROGRESS", "1") not in ("0", "false", "no")
    bar = tqdm(range(epochs), desc=desc or f"Entrenando {model.key or type(model).__name__}",
               unit="época", disable=not progress or not distributed.is_main())
    # En CPU comprobar la pérdida en cada paso es gratis; en GPU obligaría a sincronizar: se comprueba la suma
    # de la época (un NaN o un infinito la contaminan).
    check_each_step = device.type == "cpu"
    step = 0
    start = time.perf_counter()
    for epoch in bar:
        net.train()
        sums: dict[str, torch.Tensor] = {}
        count = 0
        if ctx:
            idx = distributed.shard(len(x), ctx.rank, ctx.world_size, cpu_gen).to(device)
            epoch_batches = (tuple(t[i] for t in tensors) for i in idx.split(batch_size))
        else:
            epoch_batches = batches(*tensors, batch_size=batch_size, shuffle=True, generator=cpu_gen)
        with _no_distribution_checks():
            for batch in epoch_batches:
                xb = _binarize_fast(batch[0], dev_gen) if binarize else batch[0]
                yb = batch[1] if len(batch) > 1 else None
                model.schedule(step / total)
                out = net(xb, yb)
                if check_each_step and not torch.isfinite(out.loss):
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
        keys = list(sums)  # mismo orden que los términos del modelo (y en todos los procesos)
        totals = torch.stack([torch.as_tensor(sums[k], dtype=torch.float64, device=device) for k in keys]
                             + [torch.tensor(float(count), dtype=torch.float64, device=device)])
        totals = distributed.all_reduce_sum(totals).tolist()
        count = int(totals[-1])
        if not check_each_step and not math.isfinite(totals[keys.index("loss")] if "loss" in keys else 0.0):
            raise FloatingPointError(f"La pérdida dejó de ser finita en la época {epoch + 1}: "
                                     "pruebe con una tasa de aprendizaje menor.")
        # La pérdida se comprueba antes de cada paso; el último paso de la época puede dejar pesos no finitos
        # con una pérdida previa finita (una tasa enorme): se comprueban los pesos una vez por época.
        _check_finite_parameters(model, epoch)
        for k, v in zip(keys, totals):
            history.train[k].append(v / count)
        history.examples += count
        if val is not None:
            for k, v in _evaluate_sums(model, vx, vy, max(batch_size, 512), device).items():
                history.val[k].append(v)
        shown = history.val if val is not None else history.train
        bar.set_postfix({k: f"{v[-1]:.4g}" for k, v in shown.items() if k in ("loss", "elbo")})
        stop = any(cb(epoch, history, model) for cb in callbacks)
        if ctx:  # todos paran a la vez si alguno lo pide: si no, los demás esperarían para siempre
            stop = bool(distributed.all_reduce_sum(torch.tensor([float(stop)], device=device)).item())
        if stop:
            break
    history.seconds = time.perf_counter() - start
    model.to(home).eval()
    return history


def _check_finite_parameters(model: Model, epoch: int) -> None:
    """FloatingPointError si algún parámetro tiene NaN o infinitos (una sola sincronización por llamada)."""
    params = [p.detach() for p in model.parameters()]
    if params and not bool(torch.stack([torch.isfinite(p).all() for p in params]).all()):
        bad = [name for name, p in model.named_parameters() if not torch.isfinite(p).all()]
        raise FloatingPointError(f"Tras la época {epoch + 1} hay parámetros no finitos ({', '.join(bad[:3])}"
                                 f"{', …' if len(bad) > 3 else ''}): pruebe con una tasa de aprendizaje menor.")


def _evaluate_sums(model: Model, x: torch.Tensor, y: torch.Tensor | None, batch_size: int,
                   device: torch.device) -> dict[str, float]:
    """Como :func:`evaluate`; con entrenamiento distribuido, la media sobre las partes de todos los procesos."""
    res = evaluate(model, x, y, batch_size=batch_size)
    if not distributed.launched():
        return res
    t = torch.tensor([res[k] * len(x) for k in res] + [float(len(x))], dtype=torch.float64, device=device)
    t = distributed.all_reduce_sum(t).tolist()
    return {k: v / t[-1] for k, v in zip(res, t)}


@torch.no_grad()
def evaluate(model: Model, x: torch.Tensor, y: torch.Tensor | None = None, batch_size: int = 512) -> dict[str, float]:
    """Media de cada término de la pérdida sobre ``x`` (modo ``eval``, sin gradiente)."""
    if len(x) == 0:
        raise ValueError("No hay datos que evaluar: x es un lote vacío.")
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
