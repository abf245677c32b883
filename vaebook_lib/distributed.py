"""Paralelismo de datos con ``DistributedDataParallel`` (DDP): el mismo ``fit`` en varios procesos.

Con ``torchrun --nproc_per_node=N`` (o ``python -m torch.distributed.run``) cada proceso recibe en su entorno
``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` y ``MASTER_PORT``. ``fit`` lo detecta con
:func:`launched` y entonces:

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

TIMEOUT_ENV = "VAEBOOK_DDP_TIMEOUT"      # segundos que una operación colectiva espera antes de fallar
UNUSED_ENV = "VAEBOOK_DDP_FIND_UNUSED"   # «1» si el modelo tiene parámetros que algunos pasos no usan


@dataclass(frozen=True)
class Context:
    """Lugar de este proceso en el grupo: su rango, el número de procesos y su dispositivo."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0


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
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
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
