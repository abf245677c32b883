"""Invalida la caché de ejecución de Jupyter Book (jupyter-cache) cuando cambia lo que sus claves no ven.

jupyter-cache reutiliza la salida de un cuaderno mientras su código no cambie; no sabe nada de ``vaebook_lib`` ni
del perfil. ``make book`` llama a este programa antes de construir: si el hash del código de la biblioteca o el
perfil difieren de los de la última construcción, borra la caché y todo se vuelve a ejecutar.

    python tools/book_cache.py _build/.jupyter_cache PERFIL
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from vaebook_lib.model_cache import code_hash  # noqa: E402


def main(cache: str, profile: str) -> str:
    folder = Path(cache)
    stamp = folder / "vaebook-stamp"
    want = f"{profile} {code_hash()}"
    if stamp.exists() and stamp.read_text().strip() == want:
        return f"Caché de ejecución vigente (perfil {profile}, misma biblioteca): solo se ejecuta lo que cambió."
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    stamp.write_text(want + "\n")
    return f"Caché de ejecución nueva (perfil {profile} o biblioteca distintos): se ejecutan todos los cuadernos."


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    print(main(*sys.argv[1:]))
