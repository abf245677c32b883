"""Herramienta de mantenimiento de los cuadernos.

  python tools/nb.py new FUENTE.py DESTINO.ipynb   convierte un script jupytext «percent» en cuaderno,
                                                   con la celda de Colab estándar al principio y sin salidas
  python tools/nb.py sync                          reescribe la celda de Colab de todos los cuadernos de book/
                                                   a partir de la URL del repositorio en _config.yml

La URL del repositorio vive solo en _config.yml; tests/test_book.py comprueba que todos los cuadernos coinciden.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
COLAB_TAG = "colab-setup"


def repo_url() -> str:
    text = (ROOT / "_config.yml").read_text(encoding="utf-8")
    m = re.search(r"^repository:\s*\n\s+url:\s*(\S+)", text, re.M)
    if not m:
        raise SystemExit("No se encuentra repository.url en _config.yml")
    return m.group(1)


def colab_source(url: str | None = None) -> str:
    url = url or repo_url()
    return (
        "# Preparación: en Colab (o donde falte) instala vaebook_lib desde el repositorio del libro.\n"
        "# En local y en la integración continua no hace nada.\n"
        "try:\n"
        "    import vaebook_lib\n"
        "except ImportError:\n"
        "    import subprocess, sys\n"
        f"    subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', 'vaebook_lib @ git+{url}.git'], check=True)\n"
    )


def colab_cell():
    return nbformat.v4.new_code_cell(colab_source(), metadata={"tags": [COLAB_TAG, "hide-input"]})


def clean(nb):
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cell.metadata.pop("execution", None)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata.setdefault("language_info", {"name": "python"})
    nb.metadata.pop("jupytext", None)
    return nb


def new(src: str, dest: str) -> None:
    import jupytext

    nb = jupytext.read(src)
    nb.cells = [c for c in nb.cells if COLAB_TAG not in c.metadata.get("tags", [])]
    first_code = next((i for i, c in enumerate(nb.cells) if c.cell_type == "code"), len(nb.cells))
    nb.cells.insert(first_code, colab_cell())
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"c{i:03d}"
    nbformat.write(clean(nb), dest)


def sync() -> None:
    for path in sorted((ROOT / "book").rglob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if COLAB_TAG in cell.metadata.get("tags", []):
                cell.source = colab_source()
        nbformat.write(clean(nb), path)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "new":
        new(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 2 and sys.argv[1] == "sync":
        sync()
    else:
        raise SystemExit(__doc__)
