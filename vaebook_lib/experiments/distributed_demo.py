"""Programa de ejemplo para entrenar con varios procesos: ``fit`` sin cambios bajo ``torchrun``.

Un proceso::

    python -m vaebook_lib.experiments.distributed_demo --out /tmp/demo

Dos procesos en CPU (``gloo``)::

    python -m torch.distributed.run --nproc_per_node=2 -m vaebook_lib.experiments.distributed_demo --out /tmp/demo

Un nodo con 8 GPU (``nccl``, un proceso por GPU)::

    torchrun --standalone --nproc_per_node=8 -m vaebook_lib.experiments.distributed_demo --device cuda --out /tmp/demo

El proceso 0 escribe ``history.json`` y ``model.pt`` (cargable con ``vaebook_lib.models.load``) en ``--out``.
:func:`command` arma la orden con un puerto libre de 127.0.0.1 (la usan el cuaderno y las pruebas).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import socket
import sys
from pathlib import Path

import torch
from torch.distributed.elastic.multiprocessing.errors import record

from .. import distributed
from ..config import get_profile, set_seed
from ..models import MODELS
from ..train import fit


def free_port() -> int:
    """Un puerto TCP libre en 127.0.0.1 (el sistema lo elige)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command(nproc: int, *args: str) -> list[str]:
    """La orden que lanza ``nproc`` procesos de este programa en esta máquina, con ``args`` para cada uno."""
    if nproc <= 0:
        raise ValueError(f"nproc debe ser positivo; se recibió {nproc}.")
    return [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}", "--nnodes=1",
            "--master_addr=127.0.0.1", f"--master_port={free_port()}", "--max_restarts=0",
            "-m", "vaebook_lib.experiments.distributed_demo", *map(str, args)]


def environment(threads: int = 1) -> dict[str, str]:
    """Entorno para los procesos: ``threads`` hilos de CPU cada uno y ``gloo`` solo por la interfaz local."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), GLOO_SOCKET_IFNAME="lo", VAEBOOK_PROGRESS="0")
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[2]), env.get("PYTHONPATH", "")])
    return env


def _data(name: str, n: int, seed: int):
    if name == "mnist":
        from ..data import load_mnist

        return load_mnist("train", n).x
    if name == "fashion-mnist":
        from ..data import load_fashion_mnist

        return load_fashion_mnist("train", n).x
    raise ValueError(f"Datos desconocidos {name!r}; use «mnist» o «fashion-mnist».")


def parse(argv=None) -> argparse.Namespace:
    P = get_profile()
    p = argparse.ArgumentParser(description="Entrena un modelo de vaebook_lib con fit (uno o varios procesos).")
    p.add_argument("--out", required=True, help="carpeta donde el proceso 0 escribe history.json y model.pt")
    p.add_argument("--model", default="vae", choices=sorted(MODELS))
    p.add_argument("--arch", default="mlp", choices=("mlp", "conv"))
    p.add_argument("--data", default="mnist", choices=("mnist", "fashion-mnist"))
    p.add_argument("--n-train", type=int, default=P.n_train or 60000, help="ejemplos de entrenamiento")
    p.add_argument("--epochs", type=int, default=P.epochs)
    p.add_argument("--batch-size", type=int, default=P.batch_size, help="lote de CADA proceso")
    p.add_argument("--lr", type=float, default=P.lr)
    p.add_argument("--optimizer", default="adam", choices=("adam", "sgd"),
                   help="adam: el de fit por defecto; sgd: paso lineal en el gradiente (pruebas de equivalencia)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--fail-rank", type=int, default=-1, help="(pruebas) este proceso falla tras la 1.ª época")
    return p.parse_args(argv)


@record  # con torchrun, el error de un proceso se informa con su traza y el resto se detiene
def main(argv=None) -> dict:
    a = parse(argv)
    set_seed(a.seed)  # misma inicialización en todos los procesos (DDP, además, difunde la del proceso 0)
    model = MODELS[a.model](arch=a.arch)
    binary = model.config.likelihood == "bernoulli"
    quiet = int(os.environ.get("RANK", "0")) != 0
    with contextlib.redirect_stdout(io.StringIO()) if quiet else contextlib.nullcontext():
        x = _data(a.data, a.n_train, a.seed)  # los avisos de los datos, solo una vez (proceso 0)
    out = Path(a.out)
    if distributed.is_main() or not distributed.launched():
        out.mkdir(parents=True, exist_ok=True)

    def fail(epoch, history, model):
        if int(os.environ.get("RANK", "0")) == a.fail_rank:
            raise RuntimeError(f"Falla provocada en el proceso {a.fail_rank} (prueba de --fail-rank).")

    opt = torch.optim.SGD(model.parameters(), lr=a.lr) if a.optimizer == "sgd" else None
    hist = fit(model, x, epochs=a.epochs, batch_size=a.batch_size, lr=a.lr, seed=a.seed, binarize=binary,
               device=a.device, optimizer=opt, callbacks=[fail, distributed.checkpoint(out / "model.pt")])
    world = int(os.environ.get("WORLD_SIZE", "1"))
    summary = {"world_size": world, "batch_size": a.batch_size, "global_batch": world * a.batch_size,
               "epochs": hist.epochs, "examples": hist.examples, "seconds": hist.seconds,
               "train": {k: list(v) for k, v in hist.train.items()}}
    if distributed.is_main():
        (out / "history.json").write_text(json.dumps(summary, indent=1))
        print(f"{world} proceso(s), lote global {world * a.batch_size}: pérdida {hist.train['loss'][0]:.2f} -> "
              f"{hist.train['loss'][-1]:.2f} en {hist.epochs} épocas ({hist.seconds:.1f} s)", flush=True)
    distributed.cleanup()
    return summary


if __name__ == "__main__":
    main()
