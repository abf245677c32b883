"""El registro de una ejecución del libro: cuánto tarda cada cuaderno y qué cifras da, en cada perfil.

    python -m vaebook_lib.experiments.record --profile full                     # todo el libro, perfil completo
    python -m vaebook_lib.experiments.record --profile full --notebooks 02_vae  # unos cuadernos: se funden
    python -m vaebook_lib.experiments.record --announce                         # qué hará «make book» y cuánto tarda

Cada cuaderno se ejecuta entero en un núcleo nuevo (nbclient, en su carpeta) con ``VAEBOOK_PROFILE`` fijado, y su
entrada guarda los segundos de reloj y de CPU (estos no dependen de la carga de la máquina), los hilos, la memoria
máxima, si terminó sin error, la máquina, el commit y **las cifras que el
cuaderno pega en su texto** (``report.glue``). El registro, un JSON pequeño por perfil en
``vaebook_lib/records/<perfil>.json``, viaja con la biblioteca: un cuaderno puede citar lo que midió la ejecución
completa (:func:`vaebook_lib.report.recorded`) y ``make book`` anuncia la duración esperada. Una ejecución larga se
reparte en varias sesiones: cada una funde sus cuadernos con los que ya estaban.
"""
from __future__ import annotations

import argparse
import ast
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from ..atomic import write_atomic
from ..config import PROFILES, get_device, get_profile
from ..model_cache import ENV as MODEL_CACHE_ENV
from . import read_json

VERSION = 1
RECORDS = Path(__file__).resolve().parents[1] / "records"
ROOT = Path(__file__).resolve().parents[2]

# Se ejecuta en un proceso aparte para medir su memoria máxima (la del núcleo incluida). Al terminar, el núcleo se
# detiene como lo hace nbval en make test (``shutdown_kernel="immediate"``: se mata el proceso cuando ya ha devuelto
# todas las salidas), no con el cierre ordenado de nbclient, que espera a que Python descargue sus ~2000 módulos
# (torch y torch._dynamo): unos 2-3 s por cuaderno que make test no paga y que no son trabajo del cuaderno.
_RUNNER = r"""
import json, sys, time
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
path, out = sys.argv[1], sys.argv[2]
nb = nbformat.read(path, as_version=4)
error = None
t = time.perf_counter()
try:
    NotebookClient(nb, timeout=None, kernel_name="python3", shutdown_kernel="immediate",
                   resources={"metadata": {"path": str(__import__("pathlib").Path(path).parent)}}).execute()
except CellExecutionError as err:
    error = str(err)[-800:]
seconds = time.perf_counter() - t
from vaebook_lib.experiments.record import glued_texts
values = glued_texts(nb)
json.dump({"seconds": seconds, "error": error, "values": values}, open(out, "w"))
"""


def path_for(profile: str) -> Path:
    if profile not in PROFILES:
        raise ValueError(f"Perfil desconocido {profile!r}; use uno de {sorted(PROFILES)}.")
    return RECORDS / f"{profile}.json"


def glued_texts(nb) -> dict[str, str | None]:
    """Las cifras que un cuaderno ejecutado pegó con ``glue``: nombre -> su texto (el repr que guarda myst-nb)."""
    values = {}
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            name = o.get("metadata", {}).get("scrapbook", {}).get("name")
            if name:
                values[name] = next((v for k, v in o.get("data", {}).items() if k.endswith("text/plain")), None)
    return values


def _parse_value(text: str | None):
    """El texto de una cifra pegada, como número si lo es (myst-nb guarda su ``repr``)."""
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        try:   # un texto pegado llega como su repr: se deshacen las comillas y los escapes (\\n, \\')
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return text.strip("'\"")
        return value if isinstance(value, str) else text
    return int(value) if text.lstrip("-").isdigit() else value


def load(profile: str) -> dict | None:
    """El registro de ``profile`` (validado), o ``None`` si el repositorio aún no lo trae."""
    rec = read_json(path_for(profile), "vuelva a grabarlo con "
                    f"«python -m vaebook_lib.experiments.record --profile {profile}»")
    if rec is None:
        return None
    check(rec, profile)
    return rec


def check(rec: dict, profile: str) -> None:
    """Valida la forma de un registro; un campo que falta o sobra es un ``ValueError`` que lo nombra."""
    if not isinstance(rec, dict) or rec.get("version") != VERSION or rec.get("profile") != profile:
        raise ValueError(f"El registro de «{profile}» no tiene la versión {VERSION} o es de otro perfil.")
    entries = rec.get("notebooks")
    if not isinstance(entries, dict):
        raise ValueError("El registro no tiene la tabla «notebooks».")
    need = {"seconds", "max_rss_mb", "passed", "values", "date", "commit", "machine"}
    for name, e in entries.items():
        missing = need - set(e)
        if missing:
            raise ValueError(f"La entrada {name} del registro no tiene {sorted(missing)}.")
        if not (isinstance(e["seconds"], (int, float)) and math.isfinite(e["seconds"]) and e["seconds"] >= 0):
            raise ValueError(f"La entrada {name} tiene una duración imposible: {e['seconds']!r}.")
        if not isinstance(e["values"], dict):
            raise ValueError(f"La entrada {name} no guarda sus cifras como una tabla.")


def run_notebook(path: Path, profile: str, cache: str | Path | None = None) -> dict:
    """Ejecuta un cuaderno en un proceso nuevo con ``VAEBOOK_PROFILE=profile`` y devuelve su entrada. ``cache``, si
    se da, es su caché de modelos (``VAEBOOK_MODEL_CACHE``); si no, la del entorno."""
    from .bench import git_commit, machine_info

    env = dict(os.environ, VAEBOOK_PROFILE=profile, VAEBOOK_PROGRESS="0", MPLBACKEND="Agg")
    if cache is not None:
        env[MODEL_CACHE_ENV] = str(cache)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.json"
        proc = subprocess.Popen([sys.executable, "-c", _RUNNER, str(path), str(out)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        log = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        result = json.loads(out.read_text()) if out.exists() else {
            "seconds": math.nan, "error": log.decode(errors="replace")[-800:], "values": {}}
    # Segundos de CPU del proceso y de su núcleo: no dependen de cuánto esté cargada la máquina (los de reloj, sí).
    entry = {"seconds": round(result["seconds"], 1), "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
             "threads": torch.get_num_threads(), "max_rss_mb": round(usage.ru_maxrss / 1024),
             "passed": result["error"] is None and os.waitstatus_to_exitcode(status) == 0,
             "values": {k: _parse_value(v) for k, v in result["values"].items()},
             "date": time.strftime("%Y-%m-%d"), "commit": git_commit(), "machine": machine_info(get_device())}
    if not entry["passed"]:
        entry["error"] = result["error"]
    return entry


def merge(profile: str, entries: dict[str, dict]) -> Path:
    """Funde ``entries`` (ruta del cuaderno -> entrada) en el registro de ``profile``; escritura atómica."""
    path = path_for(profile)
    rec = load(profile) or {"version": VERSION, "profile": profile, "notebooks": {}}
    rec["notebooks"].update(entries)
    rec["notebooks"] = dict(sorted(rec["notebooks"].items()))
    check(rec, profile)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, lambda f: f.write(json.dumps(rec, ensure_ascii=False, indent=1) + "\n"), text=True)
    return path


def from_execution_cache(cache_dir: str | Path, profile: str) -> dict[str, dict]:
    """Las entradas del registro que deja ``make book``: lee la caché de ejecución de Jupyter Book (jupyter-cache) y,
    por cada cuaderno del libro, da sus segundos de ejecución y las cifras que pegó (si su última ejecución terminó
    bien) o su error (si falló). Así la ejecución del libro entero, la que publica el HTML, es también el registro,
    sin volver a ejecutar nada. La caché no mide la CPU ni la memoria: esas entradas las dejan en ``None``.
    """
    try:
        from jupyter_cache import get_cache   # llega con Jupyter Book (el extra «book»), como make book
    except ImportError as err:
        raise ImportError("Leer lo que ejecutó make book necesita jupyter-cache: instale el extra del libro "
                          "(pip install -e '.[book]') o ejecute antes «make book».") from err
    from .bench import git_commit, machine_info

    cache_dir = Path(cache_dir)
    if not (cache_dir / "global.db").exists():
        raise ValueError(f"{cache_dir} no es una caché de ejecución de Jupyter Book: ejecute antes «make book».")
    cache = get_cache(str(cache_dir))
    # Lo mismo para todas las entradas: la máquina y el commit se miran una vez, no una por cuaderno.
    common = {"cpu_seconds": None, "threads": None, "max_rss_mb": None, "commit": git_commit(),
              "machine": machine_info(get_device()), "source": "make book"}
    entries = {}
    for project in cache.list_project_records():
        path = Path(project.uri).resolve()
        try:
            rel = str(path.relative_to(ROOT))
        except ValueError:
            continue                      # un cuaderno de otra copia del repositorio
        try:
            record = cache.get_cached_project_nb(project.pk)
        except Exception:                  # noqa: BLE001 - jupyter-cache no exporta una excepción común
            record = None
        if record is None:
            if project.traceback:
                entries[rel] = {"seconds": 0.0, "passed": False, "values": {}, "date": time.strftime("%Y-%m-%d"),
                                "error": project.traceback[-800:], **common}
            continue
        nb = cache.get_cache_bundle(record.pk).nb
        entries[rel] = {"seconds": round(float(record.data.get("execution_seconds", math.nan)), 1), "passed": True,
                        "values": {k: _parse_value(v) for k, v in glued_texts(nb).items()},
                        "date": record.created.strftime("%Y-%m-%d"), **common}
    return entries


def expected_seconds(profile: str, notebooks: list[str]) -> tuple[float, int]:
    """Suma de los segundos registrados de ``notebooks`` en ``profile`` y cuántos de ellos tienen registro."""
    rec = load(profile)
    done = rec["notebooks"] if rec else {}
    known = [done[n]["seconds"] for n in notebooks if n in done]
    return float(sum(known)), len(known)


def announce(profile: str | None = None, notebooks: list[str] | None = None) -> str:
    """La frase que ``make book`` imprime antes de empezar: perfil, dispositivo, cuadernos y duración esperada."""
    from .bench import find_notebooks

    profile = get_profile(profile).name
    notebooks = notebooks or [str(p.relative_to(ROOT)) for p in find_notebooks()]
    device = get_device()
    seconds, known = expected_seconds(profile, notebooks)
    head = f"make book: perfil «{profile}», dispositivo {device.type}, {len(notebooks)} cuadernos."
    if not known:
        return (f"{head} Este perfil aún no tiene registro de duración "
                f"(grábelo con «python -m vaebook_lib.experiments.record --profile {profile}»).")
    rec = load(profile)
    machines = {e["machine"].get("gpu") or e["machine"].get("cpu") for e in rec["notebooks"].values()}
    where = ", ".join(sorted(m for m in machines if m))
    missing = "" if known == len(notebooks) else f"; {len(notebooks) - known} cuadernos sin medir no cuentan"
    return (f"{head} Duración esperada: unos {seconds / 60:.0f} min, medida en {where}{missing}. "
            "En otra máquina puede variar (en una GPU, mucho menos).")


def reads_records(path: Path) -> bool:
    """¿Lee el cuaderno los registros (importa este módulo)? Es el caso de ``04_resultados/02_reproducibilidad``,
    que cita lo que suma cada perfil."""
    if not Path(path).is_file():   # no hay nada que leer: su ejecución dará el error
        return False
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    return any(cell.get("cell_type") == "code" and "experiments.record" in "".join(cell.get("source", ""))
               for cell in nb.get("cells", []))


def recording_order(paths: list[Path]) -> list[Path]:
    """Los cuadernos en el orden en que se graban: los que leen los registros, al final (en su orden). Al grabar el
    libro entero, así citan los segundos ya grabados de todos los demás, no un registro a medio actualizar; el suyo
    propio, que aún no se conoce, es el de la grabación anterior."""
    return sorted(paths, key=reads_records)   # orden estable: los demás, como venían


def main(argv=None) -> None:
    from .bench import find_notebooks

    p = argparse.ArgumentParser(prog="python -m vaebook_lib.experiments.record", description=__doc__.split("\n\n")[0])
    p.add_argument("--profile", default=None, help="fast o full (por defecto, VAEBOOK_PROFILE o full)")
    p.add_argument("--notebooks", nargs="*", default=None, help="rutas, globs o trozos del nombre; por defecto, todos")
    p.add_argument("--announce", action="store_true", help="solo imprimir lo que hará make book y cuánto tardará")
    p.add_argument("--from-cache", metavar="DIR", default=None,
                   help="fundir lo que ejecutó «make book» (su caché, p. ej. _build/.jupyter_cache) sin volver a ejecutar")
    a = p.parse_args(argv)
    profile = get_profile(a.profile).name
    if a.announce:
        print(announce(profile))
        return
    if a.from_cache:
        entries = from_execution_cache(a.from_cache, profile)
        good = {k: e for k, e in entries.items() if e["passed"]}
        path = merge(profile, good)
        for k, e in sorted(entries.items()):
            print(f"{k}: {e['seconds']:.0f} s, {'bien' if e['passed'] else 'FALLA'}, {len(e['values'])} cifras")
        print(f"{len(good)} de {len(entries)} cuadernos fundidos en {path} "
              f"({sum(e['seconds'] for e in good.values()):.0f} s sumados)")
        if len(good) < len(entries):
            raise SystemExit("Algún cuaderno falló en «make book»: su entrada no se funde.")
        return
    failed = []
    # Los segundos grabados son los de construir el libro, como en make test: una caché de modelos vacía al empezar y
    # compartida por los cuadernos de esta ejecución (con la del usuario, quizá caliente, se grabaría lo que tarda
    # cargar). VAEBOOK_MODEL_CACHE, si se da, manda («off»: sin caché).
    with tempfile.TemporaryDirectory(prefix="vaebook-cache-") as folder:
        cache = os.environ.get(MODEL_CACHE_ENV) or folder
        print(f"Caché de modelos de esta grabación: {cache}", flush=True)
        for nb in recording_order(find_notebooks(a.notebooks)):
            rel = str(nb.resolve().relative_to(ROOT))
            entry = run_notebook(nb, profile, cache=cache)
            merge(profile, {rel: entry})   # cuaderno a cuaderno: una sesión cortada no pierde lo hecho
            print(f"{rel}: {entry['seconds']:.0f} s, {entry['max_rss_mb']} MB, "
                  f"{'bien' if entry['passed'] else 'FALLA'}, {len(entry['values'])} cifras", flush=True)
            if not entry["passed"]:
                # Lo que falló y las cifras que llegó a calcular: sin ellas, una ejecución larga fallida no enseña
                # nada.
                print(f"  cifras: {entry['values']}\n  error: {entry.get('error')}", flush=True)
                failed.append(rel)
    if failed:
        raise SystemExit(f"Fallaron: {', '.join(failed)}")


if __name__ == "__main__":
    main()
