"""Entrenar una vez (issue 20): los cuadernos entrenan los modelos del catálogo a través de la caché de modelos.

``fit`` solo aparece donde el texto enseña el bucle o donde el modelo no es del catálogo; cada excepción dice por qué.
"""
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "book").rglob("*.ipynb"))

# cuaderno -> (línea que llama a fit, razón)
ALLOWED = {
    ("01_autocodificadores/01_autocodificador", "history = fit(ae,"): "enseña el bucle de entrenamiento",
    ("02_vae/10_flujos", "def fit(name, flows, seed):"): "ajuste 2-D de densidades, ningún modelo del catálogo",
    ("02_vae/10_flujos", "= [fit(name,"): "la función local de arriba",
    ("02_vae/10_flujos", "= [fit(\"U1\","): "la función local de arriba",
    ("03_extensiones/02_cvae", "h_b = fit(b_m,"): "CompletionBaseline, una línea base que no es del catálogo",
}
CALL = re.compile(r"(?<![\w.])fit\(")


def _id(p: Path) -> str:
    return p.relative_to(ROOT / "book").with_suffix("").as_posix()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_id)
def test_catalogue_models_train_through_the_cache(path):
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        for line in cell.source.splitlines():
            line = line.strip()
            if not CALL.search(line) or line.startswith("#") or "show_source(" in line:
                continue
            assert any(nb == _id(path) and line.startswith(start) or (nb == _id(path) and start in line)
                       for nb, start in ALLOWED), \
                f"{line!r}: entrene los modelos del catálogo con fit_cached (o añada la excepción con su razón)"


def test_every_exception_is_still_needed():
    lines = {(_id(p), ln.strip()) for p in NOTEBOOKS for c in nbformat.read(p, as_version=4).cells
             if c.cell_type == "code" for ln in c.source.splitlines()}
    for nb, start in ALLOWED:
        assert any(n == nb and start in ln for n, ln in lines), f"La excepción {nb}: {start!r} ya no hace falta"
