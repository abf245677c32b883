"""Comprobaciones estructurales del libro: índice, cuadernos sin salidas, celda de Colab, citas y perfiles."""
import re
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import nb as nbtool  # noqa: E402

NOTEBOOKS = sorted((ROOT / "book").rglob("*.ipynb"))
PAGES = NOTEBOOKS + sorted((ROOT / "book").rglob("*.md"))
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))


def toc_files():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]]

    def walk(entries):
        for e in entries:
            if "file" in e:
                files.append(e["file"])
            walk(e.get("sections", []))

    for part in toc.get("parts", []):
        walk(part["chapters"])
    return files


def test_toc_lists_exactly_the_pages_that_exist():
    listed = toc_files()
    assert len(listed) == len(set(listed)), "Hay páginas repetidas en _toc.yml"
    existing = {p.relative_to(ROOT).with_suffix("").as_posix() for p in PAGES}
    assert set(listed) == existing, f"Sobran o faltan en _toc.yml: {set(listed) ^ existing}"


def test_config_is_spanish_with_colab_and_bibliography():
    assert CONFIG["sphinx"]["config"]["language"] == "es"
    assert CONFIG["launch_buttons"]["colab_url"].startswith("https://colab.research.google.com")
    assert CONFIG["repository"]["branch"] == "main"
    assert CONFIG["only_build_toc_files"] is True
    assert CONFIG["execute"]["execute_notebooks"] in ("force", "cache") and CONFIG["execute"]["raise_on_error"]


def test_bibliography_holds_the_survey_references():
    bib = (ROOT / "references.bib").read_text(encoding="utf-8")
    keys = re.findall(r"^@\w+\{([^,]+),", bib, re.M)
    assert len(keys) == len(set(keys))
    survey = ["ackley1985", "hinton1993", "kingma2013", "burda2015", "vandenoord2017", "subramanian2020"]
    assert set(survey) <= set(keys) and len(keys) >= 46  # las 45 del survey y el propio survey


def test_every_citation_exists():
    bib = set(re.findall(r"^@\w+\{([^,]+),", (ROOT / "references.bib").read_text(encoding="utf-8"), re.M))
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for group in re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", text):
            for key in group.split(","):
                assert key.strip() in bib, f"{page.name} cita {key!r}, que no está en references.bib"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_clean_and_starts_with_the_colab_cell(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "El cuaderno tiene salidas guardadas"
    assert code[0].source == nbtool.colab_source(CONFIG["repository"]["url"]), (
        "La celda de Colab no coincide con la URL de _config.yml: ejecute «python tools/nb.py sync»")
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    # Los cuadernos piden tamaños al perfil y nunca preguntan cuál es.
    body = "\n".join(c.source for c in code[1:])
    assert "VAEBOOK_PROFILE" not in body and not re.search(r"\.name\s*==\s*['\"](fast|full)", body)
    assert "assert " in code[-1].source, "El cuaderno debe terminar con una celda de comprobación"


GLUE_REF = re.compile(r"\{glue(?::\w+)?\}`([A-Za-z_][A-Za-z0-9_]*)")
GLUE_DEF = re.compile(r"""glue\(\s*["']([A-Za-z_][A-Za-z0-9_]*)["']""")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_glued_number_in_the_prose_is_computed_in_the_notebook(path):
    # Una cifra de la prosa sale de la ejecución: cada {glue:...}`nombre` tiene su glue("nombre", ...) en el código.
    nb = nbformat.read(path, as_version=4)
    refs = {m for c in nb.cells if c.cell_type == "markdown" for m in GLUE_REF.findall(c.source)}
    defs = {m for c in nb.cells if c.cell_type == "code" for m in GLUE_DEF.findall(c.source)}
    assert refs <= defs, f"{path.name}: el texto cita cifras que ninguna celda calcula: {sorted(refs - defs)}"


def test_no_page_title_has_math():
    # El título de cada página sale en la barra lateral de todas las demás, y MathJax solo se carga en las páginas
    # que tienen matemáticas: un título con LaTeX se vería en crudo (lo detectó tools/check_html.py).
    for page in PAGES:
        if page.suffix == ".ipynb":
            title = nbformat.read(page, as_version=4).cells[0].source.splitlines()[0]
        else:
            title = page.read_text(encoding="utf-8").splitlines()[0]
        assert "$" not in title, f"{page.name}: el título lleva matemáticas ({title!r})"


ANGLICISMS = re.compile(r"\b(survey|el prior|del prior|al prior|un prior|los priors)\b", re.I)


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_prose_says_revision_and_previa(path):
    # Un vocabulario: «la revisión» (no «el survey») y «la previa» (no «el prior»). La página de erratas cita la
    # revisión literalmente y el glosario da el término inglés: quedan fuera.
    if path.name in ("erratas.md", "glosario.md"):
        return
    if path.suffix == ".ipynb":
        texts = [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown"]
    else:
        texts = [path.read_text(encoding="utf-8")]
    found = sorted({m.group(0) for t in texts for m in ANGLICISMS.finditer(t)})
    assert not found, f"{path.name}: anglicismos en la prosa: {found}"
