"""Paralelismo de datos con ``DistributedDataParallel`` (DDP): el mismo ``fit`` en varios procesos.

Con ``torchrun --nproc_per_node=N`` (o ``python -m torch.distributed.run``) cada proceso recibe en su entorno
``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` y ``MASTER_PORT``. ``fit`` pide a :func:`join` el
:class:`Context` de su proceso, la envoltura que le oculta todo lo que sigue; si :func:`launched`, el contexto:

- abre el grupo de procesos (``gloo`` en CPU, ``nccl`` en GPU, un proceso por GPU: ``cuda:LOCAL_RANK``);
- envuelve el modelo en DDP, que promedia los gradientes de todos los procesos en cada paso;
- baraja con una semilla común y da a cada proceso su parte (:func:`shard`) de los datos en cada época;
- suma entre procesos los términos de la pérdida al final de cada época (historial idéntico en todos);
- solo el proceso 0 muestra la barra de progreso y escribe (:func:`is_main`, :func:`checkpoint`).

Sin ``torchrun`` (``WORLD_SIZE`` ausente o 1) no se abre ningún grupo y nada de esto ocurre.
``batch_size`` es el lote **de cada proceso**: el lote global de un paso es ``WORLD_SIZE * batch_size``.
"""
from __future__ import annotations

import atexit
import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from .config import get_device
from .data.batches import batches

TIMEOUT_ENV = "VAEBOOK_DDP_TIMEOUT"      # segundos que una operación colectiva espera antes de fallar
UNUSED_ENV = "VAEBOOK_DDP_FIND_UNUSED"   # «1» si el modelo tiene parámetros que algunos pasos no usan


@dataclass(frozen=True)
class Context:
    """Lugar de este proceso en el grupo: su rango, el número de procesos y su dispositivo.

    Es también la envoltura con la que ``fit`` se despreocupa de DDP (:func:`join`): sin ``torchrun`` describe un
    único proceso (``world_size == 1``) y cada método hace lo que haría un bucle corriente.
    """

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """El modelo que se llama en cada paso: envuelto en DDP (:func:`wrap`) o, en un solo proceso, él mismo."""
        return wrap(model, self.device) if self.distributed else model

    def noise_generator(self, seed: int, shared: torch.Generator) -> torch.Generator:
        """El generador del ruido del entrenamiento (la binarización), en el dispositivo de los lotes.

        En un solo proceso, ``shared`` (el de ``set_seed``) si el dispositivo es la CPU. Con varios, la permutación
        se sortea con la semilla común (``shared``) pero el ruido del modelo (reparametrización, binarización) debe
        ser distinto en cada proceso, o todos sumarían el mismo ruido: cada uno siembra el suyo.
        """
        if self.distributed:
            torch.manual_seed(seed + 1_000_003 * self.rank)
            return torch.Generator(self.device).manual_seed(seed + 1_000_003 * self.rank)
        return shared if self.device.type == "cpu" else torch.Generator(self.device).manual_seed(seed)

    def examples_per_process(self, n: int) -> int:
        """Ejemplos que recorre cada proceso en una época (el reparto de :func:`shard`)."""
        return -(-n // self.world_size)

    def batches(self, tensors: tuple[torch.Tensor, ...], batch_size: int, generator: torch.Generator):
        """Los lotes barajados de una época de este proceso: todos en un solo proceso, su parte (:func:`shard`)
        con varios."""
        if not self.distributed:
            return batches(*tensors, batch_size=batch_size, shuffle=True, generator=generator)
        idx = shard(len(tensors[0]), self.rank, self.world_size, generator).to(self.device)
        return (tuple(t.index_select(0, i) for t in tensors) for i in idx.split(batch_size))

    def part(self, x: torch.Tensor, y: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """La parte de un conjunto (la validación) que evalúa este proceso; las sumas se juntan con :meth:`means`."""
        if not self.distributed:
            return x, y
        if len(x) < self.world_size:
            raise ValueError(f"La validación necesita al menos un ejemplo por proceso ({self.world_size}).")
        return x[self.rank::self.world_size], (y[self.rank::self.world_size] if y is not None else None)

    def means(self, sums: dict[str, torch.Tensor | float], count: int) -> tuple[dict[str, float], int]:
        """Medias de ``sums`` (sumas sobre los ``count`` ejemplos de este proceso) sobre los ejemplos de todos los
        procesos, y cuántos son: una sola operación colectiva (ninguna en un solo proceso)."""
        totals = torch.stack([torch.as_tensor(v, dtype=torch.float64, device=self.device) for v in sums.values()]
                             + [torch.tensor(float(count), dtype=torch.float64, device=self.device)])
        *totals, total = all_reduce_sum(totals).tolist()
        return {k: v / total for k, v in zip(sums, totals)}, int(total)

    def any(self, flag: bool) -> bool:
        """``True`` en todos los procesos si alguno lo pide (para parar a la vez: si no, los demás esperarían para
        siempre)."""
        if not self.distributed:
            return flag
        return bool(all_reduce_sum(torch.tensor([float(flag)], device=self.device)).item())


def launched() -> bool:
    """``True`` si este proceso lo lanzó ``torchrun`` con más de un proceso en total."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1")) > 1
    except ValueError:
        raise ValueError(f"WORLD_SIZE debe ser un entero; vale {os.environ['WORLD_SIZE']!r}.") from None


def is_main() -> bool:
    """``True`` en el proceso 0 o cuando no hay entrenamiento distribuido: quien muestra y escribe."""
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def _timeout() -> timedelta:
    seconds = float(os.environ.get(TIMEOUT_ENV, "300"))
    if seconds <= 0:
        raise ValueError(f"{TIMEOUT_ENV} debe ser un número positivo de segundos; vale {seconds}.")
    return timedelta(seconds=seconds)


def setup(device: str | torch.device | None = None) -> Context | None:
    """Abre (una sola vez) el grupo de procesos si lo pide ``torchrun``; sin él devuelve ``None``.

    ``device``: el tipo de dispositivo pedido a ``fit`` (``cpu`` o ``cuda``); en GPU cada proceso usa la de su
    ``LOCAL_RANK``. Un grupo ya abierto por el usuario se respeta tal cual.
    """
    if not launched():
        return None
    if "RANK" not in os.environ:
        raise ValueError("WORLD_SIZE > 1 pero falta RANK: lance el programa con torchrun "
                         "(python -m torch.distributed.run).")
    rank = int(os.environ["RANK"])
    local = int(os.environ.get("LOCAL_RANK", rank))
    kind = torch.device(device).type if device is not None else ("cuda" if torch.cuda.is_available() else "cpu")
    if kind == "cuda":
        if local >= torch.cuda.device_count():
            raise ValueError(f"El proceso local {local} no tiene GPU: hay {torch.cuda.device_count()}; "
                             "lance como mucho una por GPU (--nproc_per_node).")
        dev = torch.device("cuda", local)
        torch.cuda.set_device(dev)
    else:
        dev = torch.device(kind)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if kind == "cuda" else "gloo", timeout=_timeout(),
                                **({"device_id": dev} if kind == "cuda" else {}))
        atexit.register(cleanup)
    return Context(rank=dist.get_rank(), world_size=dist.get_world_size(), local_rank=local, device=dev)


def join(device: str | torch.device | None = None) -> Context:
    """El :class:`Context` de este proceso (lo que ``fit`` usa): el de :func:`setup` con ``torchrun`` o, sin él, un
    único proceso en ``device`` (por defecto, :func:`~vaebook_lib.config.get_device`)."""
    ctx = setup(device)  # None sin torchrun: ni grupo de procesos ni coste alguno
    if ctx is not None:
        return ctx
    return Context(rank=0, world_size=1, local_rank=0,
                   device=torch.device(device) if device is not None else get_device())


def cleanup() -> None:
    """Cierra el grupo de procesos si está abierto (``fit`` lo registra para la salida del programa)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def wrap(model: torch.nn.Module, device: torch.device) -> DistributedDataParallel:
    """El modelo envuelto en DDP. Llamar al envoltorio devuelve la misma salida con nombre (``Output``) que el
    modelo; ``fit`` sigue llamando a ``model.schedule`` y pasando ``model`` a los *callbacks*, el interior.

    Con ``VAEBOOK_DDP_FIND_UNUSED=1`` DDP busca en cada paso los parámetros sin gradiente (más lento; solo
    hace falta si un modelo deja parámetros sin usar en algún paso, y DDP lo dice con un error si ocurre).
    """
    return DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None,
                                   find_unused_parameters=os.environ.get(UNUSED_ENV, "0") == "1")


def shard(n: int, rank: int, world_size: int, generator: torch.Generator) -> torch.Tensor:
    """Índices de los ejemplos de este proceso en una época.

    Todos los procesos sortean la misma permutación (el ``generator`` lleva la semilla común); se completa
    repitiendo su principio hasta un múltiplo de ``world_size`` (como ``DistributedSampler``) para que cada
    proceso dé el mismo número de pasos, y el proceso ``rank`` toma las posiciones ``rank, rank + W, ...``.
    Así el paso ``i`` de los ``W`` procesos juntos ve los mismos ejemplos que un único proceso con un lote
    ``W`` veces mayor.
    """
    if not 0 <= rank < world_size:
        raise ValueError(f"Rango {rank} fuera de [0, {world_size}).")
    order = torch.randperm(n, generator=generator)
    total = -(-n // world_size) * world_size
    if total > n:
        order = torch.cat([order, order[:total - n].repeat(-(-(total - n) // n))[:total - n]])
    return order[rank::world_size]


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """Suma ``t`` sobre todos los procesos (en su sitio) y lo devuelve; sin grupo, lo deja igual."""
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def checkpoint(path, every: int = 1):
    """*Callback* de ``fit`` que guarda el modelo (``models.save``) cada ``every`` épocas, solo en el proceso 0.

    ``fit`` pasa a los *callbacks* el modelo interior, no el envoltorio DDP: el fichero se carga después en un
    único proceso con ``vaebook_lib.models.load``.
    """
    from .models import save

    if every <= 0:
        raise ValueError(f"every debe ser positivo; se recibió {every}.")

    def callback(epoch, history, model):
        if (epoch + 1) % every == 0 and is_main():
            save(model, path)

    return callback
