"""Banco de pruebas de rendimiento: ``python -m vaebook_lib.bench`` (``--help`` para las opciones).

Mide, e imprime como un objeto JSON por línea y al final como una tabla legible:

- ``machine``: versión de torch, hilos, dispositivo y el pico medido de multiplicación de matrices fp32
  (el mejor de varios ``torch.mm`` cuadrados grandes), que sirve de vara de medir;
- ``notebook`` / ``book``: el tiempo de cada cuaderno en el perfil ``fast`` ejecutado como ``make test``
  (``pytest --nbval-lax --nbval-current-env``, un proceso por cuaderno) y el total del libro, con la caché de
  modelos fría (un directorio vacío) y caliente (el mismo, ya lleno); con ``--no-warm``, una sola vez y como en
  ``make test``: en el orden del libro, con una caché vacía al empezar y compartida por todos (un cuaderno
  reutiliza lo que otro anterior ya entrenó igual);
- ``floor``: el suelo de un cuaderno, lo que paga cualquiera de ellos antes de calcular nada (el núcleo, pytest,
  torch, matplotlib, vaebook_lib y ``torch._dynamo``, que ``torch.optim`` importa al crear el primer optimizador),
  medido igual que los cuadernos con uno que solo hace eso; multiplicado por el número de cuadernos, la parte del
  libro que no depende de cuánto entrene cada uno;
- ``breakdown`` (CPU): adónde va el tiempo de un paso (GEMM, azar de la binarización, Adam, el resto) y el
  techo que eso impone a la fracción del pico;
- ``loop``: ejemplos por segundo de ``fit`` frente a un bucle de PyTorch escrito a mano (mismo modelo, datos,
  optimizador Adam y semilla), medidos en el mismo proceso y alternando el orden en cada ronda; su cociente
  (mediana de los cocientes por ronda: las rondas emparejadas cancelan la carga de la máquina) y la fracción
  del pico fp32: FLOP por ejemplo entrenado x ejemplos/s / pico; y la memoria máxima.

En una máquina compartida los tiempos absolutos son ruidosos: se informa del mejor y de la mediana de las
rondas; el cociente emparejado es la cifra más estable.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from ..config import get_profile
from ..data import load_fashion_mnist
from ..models import VAE
from ..train import fit

ROOT = Path(__file__).resolve().parents[2]
GOAL = 0.70  # fracción del pico fp32 que se pide al bucle con el VAE MLP en CPU
# Relojes: «wall» (tiempo real, lo que ve el lector) o «cpu» (tiempo de CPU del proceso: en una máquina
# compartida y con un solo hilo, OMP_NUM_THREADS=1, descuenta el tiempo que el proceso espera su turno).
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


# --- piezas medibles (probadas en tests/test_bench.py) -------------------------------------------------------
def bench_model(arch: str, *, hidden: tuple[int, ...] = (400,), latent_dim: int = 20) -> VAE:
    """El modelo medido: VAE 784-400-20 (``mlp``) o su versión convolucional (``conv``); otras capas ocultas y
    otro latente si se piden (la comparación con pythae mide el mismo VAE que entrena)."""
    if arch not in ("mlp", "conv"):
        raise ValueError(f"Arquitectura desconocida {arch!r}; use «mlp» o «conv».")
    return VAE(arch=arch, hidden=hidden, latent_dim=latent_dim)


def bench_data(n: int, seed: int = 0) -> torch.Tensor:
    """``n`` imágenes reales de Fashion-MNIST (repetidas si se piden más de 60 000), en un orden fijado por ``seed``."""
    if n <= 0:
        raise ValueError(f"El número de ejemplos debe ser positivo; se recibió {n}.")
    x = load_fashion_mnist("train").x
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    return x[order.repeat(-(-n // len(x)))[:n]]


def flops_per_example(model: torch.nn.Module, batch_size: int = 64) -> float:
    """FLOP de multiplicaciones de matrices y convoluciones de un paso de entrenamiento (adelante y atrás), por
    ejemplo, contados por ``torch.utils.flop_counter`` (sin el gradiente respecto a la entrada, que no se
    calcula). Las operaciones elemento a elemento y el optimizador no cuentan: son la parte que no es «pico».
    """
    x = torch.bernoulli(bench_data(batch_size)).to(next(model.parameters()).device)
    counter = FlopCounterMode(display=False)
    with counter:
        model(x).loss.backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops() / batch_size


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(device: torch.device, sizes=(1024, 2048), repeats: int = 8, clock: str = "wall") -> float:
    """FLOP/s del mejor ``torch.mm`` fp32 cuadrado (el techo práctico de esta máquina con estos hilos)."""
    best = 0.0
    for n in sizes:
        a = torch.randn(n, n, device=device)
        b = torch.randn(n, n, device=device)
        torch.mm(a, b)  # calentamiento
        _sync(device)
        for _ in range(repeats):
            t = CLOCKS[clock]()
            torch.mm(a, b)
            _sync(device)
            best = max(best, 2 * n ** 3 / max(CLOCKS[clock]() - t, 1e-9))
    return best


def bare_loop(model: torch.nn.Module, x: torch.Tensor, *, epochs: int, batch_size: int, lr: float, seed: int,
              binarize: bool = True, loss_fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
              fused: bool = False) -> None:
    """El bucle mínimo escrito a mano, la referencia: barajar, cortar, binarizar, adelante, atrás, Adam.

    ``loss_fn(xb)`` da la pérdida de un lote (por defecto, ``model(xb).loss``); ``fused``, Adam fusionado (el de
    ``fit``) en vez del de PyTorch por defecto.
    """
    g = torch.Generator().manual_seed(seed)
    dev_g = g if x.device.type == "cpu" else torch.Generator(x.device).manual_seed(seed)
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr, fused=fused or None)
    loss_fn = loss_fn or (lambda xb: model(xb).loss)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=g).to(x.device)
        for i in range(0, len(x), batch_size):
            xb = x[order[i:i + batch_size]]
            if binarize:
                xb = torch.bernoulli(xb, generator=dev_g)
            loss = loss_fn(xb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()


# Operadores que hacen las multiplicaciones de matrices y convoluciones (tiempo propio en el perfilador).
GEMM_OPS = {"aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::mkldnn_convolution",
            "aten::convolution_backward", "aten::_slow_conv2d_forward", "aten::_slow_conv2d_backward",
            "aten::mkldnn_convolution_backward"}


def measure_breakdown(arch: str = "mlp", *, batch_size: int = 128, steps: int = 20, lr: float = 1e-3,
                      seed: int = 0, peak: float | None = None, hidden: tuple[int, ...] = (400,),
                      latent_dim: int = 20) -> dict:
    """Adónde va el tiempo de un paso de ``fit`` en CPU (binarizar, adelante, atrás, Adam).

    - ``step_ms``: el paso entero, como lo da ``fit`` (sin perfilador);
    - ``gemm_share``: fracción del paso (perfilado) dentro de multiplicaciones de matrices y convoluciones
      (:data:`GEMM_OPS`), y ``gemm_peak_fraction``, la eficiencia de esas operaciones frente al pico;
    - ``rng_ms`` y ``adam_ms``: la binarización dinámica (un número al azar por píxel) y el paso de Adam fusionado,
      cada uno medido aparte;
    - ``ceiling_peak_fraction``: la fracción del pico que alcanzaría el bucle si todo lo demás (operaciones elemento
      a elemento, Python) costara cero: FLOP / (GEMM + azar + Adam) / pico. Es el techo de este modelo en esta
      máquina con binarización dinámica.
    """
    from torch.profiler import ProfilerActivity, profile

    from ..data.transforms import Binarize
    from ..config import no_distribution_checks
    from ..train import _default_optimizer

    if steps <= 0 or batch_size <= 0:
        raise ValueError("steps y batch_size deben ser positivos.")
    device = torch.device("cpu")
    torch.manual_seed(seed)
    model = bench_model(arch, hidden=hidden, latent_dim=latent_dim)
    flops = flops_per_example(model) * batch_size
    x = bench_data(batch_size * steps, seed)
    opt = _default_optimizer(model, lr, device)
    binarize = Binarize(torch.Generator().manual_seed(seed))
    peak = peak or matmul_peak(device, (1024,), repeats=3)

    def step(i: int) -> None:
        xb = binarize(x[i * batch_size:(i + 1) * batch_size])
        loss = model(xb).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def timed(fn, n: int) -> float:
        t = time.perf_counter()
        for i in range(n):
            fn(i)
        return (time.perf_counter() - t) / n

    model.train()
    with no_distribution_checks():
        step(0)  # calentamiento
        step_s = timed(step, steps)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for i in range(steps):
                step(i)
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    gemm = sum(e.self_cpu_time_total for e in events if e.key in GEMM_OPS)
    gemm_s = gemm / 1e6 / steps
    rng_s = timed(lambda i: binarize(x[i * batch_size:(i + 1) * batch_size]), steps)
    adam_s = timed(lambda i: opt.step(), steps)
    return {"kind": "breakdown", "model": f"vae-{arch}", "device": "cpu", "batch_size": batch_size,
            "threads": torch.get_num_threads(), "step_ms": 1e3 * step_s, "gemm_share": gemm / max(total, 1e-9),
            "gemm_ms": 1e3 * gemm_s, "gemm_peak_fraction": flops / max(gemm_s, 1e-12) / peak,
            "rng_ms": 1e3 * rng_s, "adam_ms": 1e3 * adam_s,
            "step_peak_fraction": flops / step_s / peak,
            "ceiling_peak_fraction": flops / (gemm_s + rng_s + adam_s) / peak, "peak_gflops": peak / 1e9}


def _peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2 ** 20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB en Linux; máximo del proceso


def measure_loop(arch: str = "mlp", *, device: str | torch.device = "cpu", batch_size: int = 128,
                 examples: int = 8192, rounds: int = 5, lr: float = 1e-3, seed: int = 0,
                 peak: float | None = None, peak_sizes: tuple[int, ...] = (1024,),
                 compile: bool = False, clock: str = "wall") -> dict:
    """``fit`` frente a :func:`bare_loop` con el mismo modelo inicial, datos, optimizador y semilla.

    Cada ronda entrena ambos (una época de ``examples`` ejemplos, desde los mismos pesos), alternando cuál va
    primero; antes hay una ronda de calentamiento sin medir. En cada ronda se mide también el pico fp32
    (``peak_sizes``): la fracción del pico es la mediana de las fracciones por ronda, cada una con el pico de
    su ronda, de modo que una máquina cargada a ratos afecta por igual al numerador y al denominador
    (``peak``, el mejor pico de la máquina, da además la fracción «mejor contra mejor»). Con ``compile``,
    también el bucle a mano sobre ``torch.compile(model)`` (compila en el calentamiento, que no se cuenta).
    """
    if rounds <= 0:
        raise ValueError(f"rounds debe ser positivo; se recibió {rounds}.")
    if clock not in CLOCKS or (clock == "cpu" and torch.device(device).type != "cpu"):
        raise ValueError(f"Reloj desconocido o no aplicable {clock!r}: use «wall», o «cpu» solo en CPU.")
    device = torch.device(device)
    torch.manual_seed(seed)
    model = bench_model(arch).to(device)
    init = {k: v.clone() for k, v in model.state_dict().items()}
    flops = flops_per_example(model)
    x = bench_data(examples, seed).to(device)

    compiled = torch.compile(model) if compile else None

    def run(which: str) -> float:
        model.load_state_dict(init)
        _sync(device)
        t = CLOCKS[clock]()
        if which == "fit":
            fit(model, x, epochs=1, batch_size=batch_size, lr=lr, seed=seed, binarize=True, device=device,
                progress=False)
        elif which == "compiled":
            bare_loop(compiled, x, epochs=1, batch_size=batch_size, lr=lr, seed=seed)
        else:
            bare_loop(model, x, epochs=1, batch_size=batch_size, lr=lr, seed=seed)
        _sync(device)
        return examples / max(CLOCKS[clock]() - t, 1e-9)

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    kinds = ("fit", "bare", "compiled") if compile else ("fit", "bare")
    for which in kinds:  # calentamiento (y compilación)
        run(which)
    speeds: dict[str, list[float]] = {k: [] for k in kinds}
    peaks: list[float] = []
    for r in range(rounds):
        peaks.append(matmul_peak(device, peak_sizes, repeats=3, clock=clock))
        for which in (kinds if r % 2 == 0 else kinds[::-1]):
            speeds[which].append(run(which))
    ratios = [f / b for f, b in zip(speeds["fit"], speeds["bare"])]
    rec = {"kind": "loop", "model": f"vae-{arch}", "device": device.type, "batch_size": batch_size,
           "examples": examples, "rounds": rounds, "threads": torch.get_num_threads(), "clock": clock,
           "flops_per_example": flops,
           "fit_eps_best": max(speeds["fit"]), "fit_eps_median": statistics.median(speeds["fit"]),
           "bare_eps_best": max(speeds["bare"]), "bare_eps_median": statistics.median(speeds["bare"]),
           "ratio_median": statistics.median(ratios), "peak_memory_mb": _peak_memory_mb(device)}
    if compile:
        rec["compiled_eps_best"] = max(speeds["compiled"])
        rec["compiled_ratio_median"] = statistics.median(c / b for c, b in zip(speeds["compiled"], speeds["bare"]))
    rec["peak_gflops_median"] = statistics.median(peaks) / 1e9
    for k in kinds:
        rec[f"{k}_peak_fraction"] = statistics.median(flops * v / p for v, p in zip(speeds[k], peaks))
    if peak:
        rec["peak_flops"] = peak
        rec["fit_peak_fraction_best"] = flops * rec["fit_eps_best"] / peak
        rec["bare_peak_fraction_best"] = flops * rec["bare_eps_best"] / peak
    return rec


def find_notebooks(patterns: list[str] | None = None, root: Path = ROOT) -> list[Path]:
    """Los cuadernos de ``book/`` (todos, o los que coinciden con alguno de ``patterns``: rutas, globs o
    trozos de nombre)."""
    every = sorted((root / "book").rglob("*.ipynb"))
    every = [p for p in every if ".ipynb_checkpoints" not in p.parts]
    if not patterns:
        return every
    chosen: list[Path] = []
    for pat in patterns:
        hits = [Path(p).resolve() for p in glob.glob(pat, recursive=True) if p.endswith(".ipynb")]
        hits += [p for p in every if pat in str(p.relative_to(root))]
        if not hits:
            raise ValueError(f"Ningún cuaderno coincide con {pat!r}.")
        for h in hits:      # la misma ruta puede llegar por el glob y por el trozo de nombre: una sola vez
            if h not in chosen:
                chosen.append(h)
    return chosen


def _nbval(paths: list[Path], root: Path, workers: int = 0) -> tuple[list[str], dict]:
    """La orden de ``make test`` para estos cuadernos (con ``workers`` procesos de pytest-xdist si > 0)."""
    env = dict(os.environ, VAEBOOK_PROFILE="fast", VAEBOOK_PROGRESS="0", MPLBACKEND="Agg")
    env["PYTHONPATH"] = os.pathsep.join([str(root), env.get("PYTHONPATH", "")])
    cmd = [sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env", "--nbval-cell-timeout=600",
           "-p", "no:cacheprovider", "-q"]
    if workers > 0:
        cmd += ["-n", str(workers), "--dist", "loadfile"]
    return cmd + [str(p) for p in paths], env


def measure_book(paths: list[Path], workers: int, root: Path = ROOT) -> dict:
    """Todo el libro en una sola ejecución, como ``make test`` (``-n workers --dist loadfile``, una caché de modelos
    vacía al empezar y compartida por todos los cuadernos)."""
    cmd, env = _nbval(paths, root, workers)
    with tempfile.TemporaryDirectory(prefix="vaebook-cache-") as folder:
        env["VAEBOOK_MODEL_CACHE"] = folder
        t = time.perf_counter()
        rc = subprocess.run(cmd, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
    return {"kind": "book_run", "notebooks": len(paths), "workers": workers,
            "seconds": time.perf_counter() - t, "passed": rc == 0}


def measure_notebook(path: Path, root: Path = ROOT, cache: str | Path = "off") -> dict:
    """Ejecuta un cuaderno como ``make test`` (nbval en el perfil ``fast``) y mide su tiempo y su memoria.

    ``cache`` es la caché de modelos del cuaderno (``VAEBOOK_MODEL_CACHE``): ``"off"`` (sin caché) o un directorio;
    :func:`measure_notebook_cold_warm` lo ejecuta dos veces sobre el mismo directorio vacío y
    :func:`measure_notebooks_as_built`, todos los cuadernos sobre uno compartido, como ``make test``."""
    cmd, env = _nbval([path], root)
    env["VAEBOOK_MODEL_CACHE"] = str(cache)
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - t
    try:
        rel = str(path.resolve().relative_to(root))
    except ValueError:
        rel = str(path)
    rec = {"kind": "notebook", "path": rel, "seconds": seconds, "passed": proc.returncode == 0,
           "max_rss_mb": usage.ru_maxrss / 1024}
    if proc.returncode != 0:
        rec["tail"] = out.decode(errors="replace")[-500:]
    return rec


# Las celdas del cuaderno del suelo: lo que todo cuaderno del libro hace antes de su primer cálculo.
FLOOR_CELLS = (
    "import torch",
    "import matplotlib.pyplot as plt",
    "import vaebook_lib\nfrom vaebook_lib.model_cache import fit_cached",
    "torch.optim.Adam([torch.zeros(1, requires_grad=True)])   # el primer optimizador importa torch._dynamo",
    "import sys\nassert 'torch._dynamo' in sys.modules, 'crear un optimizador ya no importa torch._dynamo'",
)


def measure_floor(root: Path = ROOT) -> dict:
    """El suelo de un cuaderno: un cuaderno con solo :data:`FLOOR_CELLS`, ejecutado como los del libro
    (:func:`measure_notebook`). Ningún cuaderno del libro puede tardar menos en esta máquina."""
    try:
        import nbformat   # llega con nbval (el extra «test»), que medir cuadernos necesita de todos modos
    except ImportError as err:
        raise ImportError("Medir cuadernos necesita el extra de pruebas (nbval, nbformat): "
                          "pip install -e '.[test]' o ejecute antes «make test».") from err

    with tempfile.TemporaryDirectory(prefix="vaebook-suelo-") as folder:
        path = Path(folder) / "suelo.ipynb"
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in FLOOR_CELLS])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, path)
        rec = measure_notebook(path, root)
    out = {"kind": "floor", "seconds": rec["seconds"], "passed": rec["passed"]}
    if not rec["passed"]:
        out["tail"] = rec.get("tail", "")
    return out


def measure_notebooks_as_built(paths: list[Path], root: Path = ROOT) -> Iterator[dict]:
    """Los cuadernos uno tras otro, en el orden dado (el del libro), con una caché de modelos vacía al empezar y
    compartida por todos, como en ``make test``: cada entrenamiento distinto se hace una vez, en el primer cuaderno
    que lo pide, y los siguientes lo cargan. Da la medida de cada uno al terminarlo; la suma es lo que cuesta
    construir el libro desde cero."""
    with tempfile.TemporaryDirectory(prefix="vaebook-cache-") as folder:
        for path in paths:
            yield {**measure_notebook(path, root, cache=folder), "cache": "compartida"}


def measure_notebook_cold_warm(path: Path, root: Path = ROOT) -> dict:
    """El cuaderno con la caché de modelos fría (un directorio vacío: entrena y guarda) y después caliente (el mismo
    directorio: carga lo entrenado); ``seconds`` es la fría y ``warm_seconds`` la caliente."""
    with tempfile.TemporaryDirectory(prefix="vaebook-cache-") as folder:
        cold = measure_notebook(path, root, cache=folder)
        warm = measure_notebook(path, root, cache=folder)
    cold["warm_seconds"] = warm["seconds"]
    cold["passed"] = cold["passed"] and warm["passed"]
    if not warm["passed"]:
        cold["tail"] = warm.get("tail", "")
    return cold


def machine_info(device: torch.device) -> dict:
    """Qué máquina mide: versiones, procesador, hilos, dispositivo (y la GPU si la hay). También la usa el
    registro de la tabla de reproducibilidad."""
    rec = {"torch": torch.__version__, "python": platform.python_version(), "platform": platform.platform(),
           "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
           "threads": torch.get_num_threads(), "device": device.type}
    if device.type == "cuda":
        rec["gpu"] = torch.cuda.get_device_name(device)
    return rec


def git_commit() -> str | None:
    """El commit del repositorio del libro, o ``None`` fuera de un repositorio (lo guardan los registros)."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, cwd=ROOT)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def machine_record(device: torch.device, sizes=(1024, 2048), clock: str = "wall") -> dict:
    rec = {"kind": "machine", **machine_info(device),
           "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None}
    rec["clock"] = clock
    rec["matmul_peak_gflops"] = matmul_peak(device, sizes, clock=clock) / 1e9
    return rec


# --- salida --------------------------------------------------------------------------------------------------
def format_table(records: list[dict]) -> str:
    """Las medidas como tablas de texto legibles."""
    lines: list[str] = []
    for m in (r for r in records if r["kind"] == "machine"):
        lines.append(f"Máquina ({m['device']}{' ' + m['gpu'] if 'gpu' in m else ''}): torch {m['torch']}, "
                     f"{m['threads']} hilos, pico fp32 medido {m['matmul_peak_gflops']:.1f} GFLOP/s, "
                     f"carga {m['load_average']}")
    loops = [r for r in records if r["kind"] == "loop"]
    if loops:
        lines += ["", f"{'modelo':10} {'disp.':5} {'lote':>5} {'fit ej/s':>10} {'a mano ej/s':>12} "
                      f"{'fit/mano':>8} {'fit %pico':>9} {'mano %pico':>10} {'MFLOP/ej':>9} {'mem MB':>8}"]
        for r in loops:
            fp = f"{100 * r['fit_peak_fraction']:.0f}%"
            bp = f"{100 * r['bare_peak_fraction']:.0f}%"
            lines.append(f"{r['model']:10} {r['device']:5} {r['batch_size']:>5} {r['fit_eps_best']:>10.0f} "
                         f"{r['bare_eps_best']:>12.0f} {r['ratio_median']:>8.2f} {fp:>9} {bp:>10} "
                         f"{r['flops_per_example'] / 1e6:>9.2f} {r['peak_memory_mb']:>8.0f}")
        for r in (r for r in loops if "compiled_eps_best" in r):
            lines.append(f"  {r['model']} lote {r['batch_size']}: a mano con torch.compile "
                         f"{r['compiled_eps_best']:.0f} ej/s ({r['compiled_ratio_median']:.2f} x a mano, "
                         f"{100 * r['compiled_peak_fraction']:.0f}% del pico)")
        lines.append(f"(ej/s: el mejor de las rondas; fit/mano y %pico: medianas por ronda, emparejadas; "
                     f"objetivo del VAE MLP en CPU: {100 * GOAL:.0f}% del pico)")
    for r in (r for r in records if r["kind"] == "breakdown"):
        lines.append(f"  {r['model']} lote {r['batch_size']}: paso {r['step_ms']:.2f} ms; GEMM {100 * r['gemm_share']:.0f}% "
                     f"del paso (al {100 * r['gemm_peak_fraction']:.0f}% del pico), azar {r['rng_ms']:.2f} ms, "
                     f"Adam {r['adam_ms']:.2f} ms; techo sin el resto: {100 * r['ceiling_peak_fraction']:.0f}% del pico")
    for r in (r for r in records if r["kind"] == "pythae"):
        if "skipped" in r:
            lines.append(f"\npythae: {r['skipped']}")
        else:
            lines.append(f"\nfit frente a pythae (mismo VAE, {r['n_train']} imágenes x {r['epochs']} épocas, lote "
                         f"{r['batch_size']}): fit {r['fit_eps']:.0f} ej/s, pythae {r['pythae_eps']:.0f} ej/s, "
                         f"fit {r['speedup']:.2f}x más rápido; -log p(x) (k = {r['k']}): fit {r['fit_nll']:.2f}, "
                         f"pythae {r['pythae_nll']:.2f} nats")
            rest = r["fit_step_ms"] - r["floor_ms"]
            goal = (f"para 2x, todo lo demás del paso de fit debería caber en {r['rest_budget_ms']:.2f} ms (hoy "
                    f"{rest:.2f})" if r["rest_budget_ms"] > 0 else "ni con todo lo demás a cero se llegaría a 2x")
            lines.append(f"  paso: fit {r['fit_step_ms']:.2f} ms, pythae {r['pythae_step_ms']:.2f} ms; solo GEMM + "
                         f"Adam {r['floor_ms']:.2f} ms: un bucle que no pagara nada más iría "
                         f"{r['ceiling_speedup']:.2f}x más deprisa que pythae; {goal}")
            if "minimal_eps" in r:
                verdict = ("ni el paso eager más corto llega a 2x en esta máquina" if r["minimal_speedup"] < 2
                           else "el paso eager más corto sí llega a 2x: lo que falta está en fit")
                lines.append(f"  el paso mínimo de PyTorch eager (las mismas redes, la pérdida en tres líneas de "
                             f"torch.nn.functional, Adam fusionado, sin comprobaciones): {r['minimal_step_ms']:.2f} ms,"
                             f" {r['minimal_eps']:.0f} ej/s, {r['minimal_speedup']:.2f}x pythae, -log p(x) "
                             f"{r['minimal_nll']:.2f} nats: {verdict}")
            if "compiled_eps" in r:
                lines.append(f"  ese paso con la pérdida compilada (torch.compile): {r['compiled_step_ms']:.2f} ms, "
                             f"{r['compiled_eps']:.0f} ej/s, {r['compiled_speedup']:.2f}x pythae, -log p(x) "
                             f"{r['compiled_nll']:.2f} nats, sin contar {r['compile_s']:.1f} s de compilar")
    nbs = [r for r in records if r["kind"] == "notebook"]
    if nbs:
        width = max(len(r["path"]) for r in nbs)
        lines += ["", f"{'cuaderno':{width}} {'s fría':>7} {'caliente':>8} {'MB':>6}  estado"]
        for r in nbs:
            warm = f"{r['warm_seconds']:>8.1f}" if "warm_seconds" in r else f"{'-':>8}"
            lines.append(f"{r['path']:{width}} {r['seconds']:>7.1f} {warm} {r['max_rss_mb']:>6.0f}  "
                         f"{'ok' if r['passed'] else 'FALLA'}")
    floors = [r for r in records if r["kind"] == "floor"]
    for b in (r for r in records if r["kind"] == "book"):
        warm = f" (con la caché caliente: {b['warm_seconds']:.1f} s)" if "warm_seconds" in b else ""
        lines.append(f"total del libro: {b['seconds']:.1f} s en "
                     f"{b['notebooks']} cuadernos ({b['failed']} fallan){warm}")
        for f in floors:
            fixed = f["seconds"] * b["notebooks"]
            lines.append(f"  suelo de un cuaderno (núcleo, pytest, torch, matplotlib, vaebook_lib, torch._dynamo): "
                         f"{f['seconds']:.1f} s{'' if f['passed'] else ' (FALLA)'}; por {b['notebooks']} cuadernos, "
                         f"{fixed:.0f} s del total ({100 * fixed / max(b['seconds'], 1e-9):.0f} %), "
                         f"que no dependen de cuánto entrene cada uno")
    for b in (r for r in records if r["kind"] == "book_run"):
        lines.append(f"libro de una vez (pytest -n {b['workers']}, como make test): {b['seconds']:.1f} s"
                     f"{'' if b['passed'] else ' (con fallos)'}")
    return "\n".join(lines)


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m vaebook_lib.bench",
                                description="Mide el bucle de entrenamiento y los cuadernos del libro; imprime un "
                                            "objeto JSON por medida y al final una tabla.")
    p.add_argument("--notebooks", nargs="*", default=None,
                   help="cuadernos a medir (rutas, globs o trozos del nombre); por defecto, todos los de book/")
    p.add_argument("--skip-notebooks", action="store_true", help="no ejecutar cuadernos")
    p.add_argument("--no-warm", action="store_true",
                   help="cada cuaderno una vez, como en make test: en orden, con una caché de modelos vacía al "
                        "empezar y compartida por todos; por defecto, dos veces cada uno: con su caché fría y caliente")
    p.add_argument("--workers", type=int, default=0,
                   help="si > 0, además una pasada de todo el libro con pytest-xdist -n WORKERS, como make test")
    p.add_argument("--compile", action="store_true",
                   help="medir también el bucle a mano (y, con --pythae, el paso mínimo) con torch.compile "
                        "(compilar tarda: no cuenta en el tiempo)")
    p.add_argument("--skip-training", action="store_true", help="no medir el bucle de entrenamiento")
    p.add_argument("--archs", default="mlp,conv", help="modelos: mlp, conv (separados por comas)")
    p.add_argument("--batch-sizes", default=f"{get_profile('fast').batch_size},512",
                   help="lotes a medir (separados por comas; el primero, el del perfil)")
    p.add_argument("--devices", default=None, help="cpu y/o cuda (por defecto: cpu, y cuda si la hay)")
    p.add_argument("--examples", type=int, default=8192, help="ejemplos por medida del VAE MLP (conv: 1/4)")
    p.add_argument("--rounds", type=int, default=5, help="rondas emparejadas fit/a mano por medida")
    p.add_argument("--peak-sizes", default="1024,2048", help="lados de las matrices que miden el pico fp32")
    p.add_argument("--clock", default="wall", choices=sorted(CLOCKS),
                   help="wall: tiempo real; cpu: tiempo de CPU del proceso (máquina compartida; "
                        "con OMP_NUM_THREADS=1)")
    p.add_argument("--pythae", action="store_true",
                   help="comparar fit con el TrainingPipeline de pythae (mismo VAE, datos y épocas; extra «bench»)")
    p.add_argument("--jsonl", default=None, help="además, escribir las medidas en este fichero")
    return p.parse_args(argv)


def main(argv=None) -> list[dict]:
    a = parse(argv)
    records: list[dict] = []
    sink = open(a.jsonl, "w", encoding="utf-8") if a.jsonl else None

    def emit(rec: dict) -> None:
        records.append(rec)
        line = json.dumps(rec, ensure_ascii=False)
        print(line, flush=True)
        if sink:
            sink.write(line + "\n")
            sink.flush()

    devices = (a.devices.split(",") if a.devices else ["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
    try:
        if not a.skip_training:
            for dev in map(torch.device, devices):
                clock = a.clock if dev.type == "cpu" else "wall"
                machine = machine_record(dev, tuple(map(int, a.peak_sizes.split(","))), clock)
                emit(machine)
                peak = machine["matmul_peak_gflops"] * 1e9
                sizes = tuple(map(int, a.peak_sizes.split(",")))
                for arch in a.archs.split(","):
                    n = a.examples if arch == "mlp" or dev.type == "cuda" else max(a.examples // 4, 1)
                    for bs in map(int, a.batch_sizes.split(",")):
                        emit(measure_loop(arch, device=dev, batch_size=bs, examples=n, rounds=a.rounds,
                                          peak=peak, peak_sizes=sizes, compile=a.compile,
                                          clock=clock))
                        if dev.type == "cpu":
                            emit(measure_breakdown(arch, batch_size=bs, peak=peak,
                                                   steps=max(2, min(20, n // bs))))
        if a.pythae:
            from .pythae_bench import measure_pythae
            emit(measure_pythae(compile=a.compile))
        if not a.skip_notebooks:
            paths = find_notebooks(a.notebooks)
            emit(measure_floor())
            measures = measure_notebooks_as_built(paths) if a.no_warm else map(measure_notebook_cold_warm, paths)
            for rec in measures:
                emit(rec)
            nb_recs = [r for r in records if r["kind"] == "notebook"]
            book = {"kind": "book", "notebooks": len(nb_recs), "seconds": sum(r["seconds"] for r in nb_recs),
                    "failed": sum(not r["passed"] for r in nb_recs)}
            if not a.no_warm:
                book["warm_seconds"] = sum(r["warm_seconds"] for r in nb_recs)
            emit(book)
            if a.workers > 0 and paths:
                emit(measure_book(paths, a.workers))
    finally:
        if sink:
            sink.close()
    print("\n" + format_table(records), flush=True)
    return records


if __name__ == "__main__":
    main()
