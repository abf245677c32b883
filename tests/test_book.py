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


SEEDERS = {"manual_seed", "set_seed"}
FITTERS = {"fit", "fit_cached"}


def unseeded_seed_loops(source: str) -> list[int]:
    """Líneas de los bucles ``for <...seed...> in ...`` que entrenan con ``fit(..., seed=<variable>)`` sin fijar con
    esa variable (``torch.manual_seed`` o ``set_seed``) la semilla global, de la que sale la inicialización del modelo
    que se construye en el bucle: sin ella, la inicialización sale del estado que dejó el entrenamiento anterior, y dos
    «semillas» pueden compartirla (la dispersión entre semillas solo mediría entonces el orden de los lotes)."""
    import ast

    def name_of(call):
        f = call.func
        return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None

    def uses(node, var):
        return any(isinstance(n, ast.Name) and n.id == var for n in ast.walk(node))

    try:
        tree = ast.parse(source)
    except SyntaxError:      # una celda con magias de IPython: no hay bucles que revisar
        return []
    bad = []
    for loop in ast.walk(tree):
        if not (isinstance(loop, ast.For) and isinstance(loop.target, ast.Name) and "seed" in loop.target.id):
            continue
        var = loop.target.id
        calls = [n for stmt in loop.body for n in ast.walk(stmt) if isinstance(n, ast.Call)]
        trains = any(name_of(c) in FITTERS and any(k.arg == "seed" and uses(k.value, var) for k in c.keywords)
                     for c in calls)
        seeds = any(name_of(c) in SEEDERS and c.args and uses(c.args[0], var) for c in calls)
        if trains and not seeds:
            bad.append(loop.lineno)
    return bad


def test_unseeded_seed_loops_is_detected():
    unseeded = ("for seed in range(2):\n    model = AE()\n    fit_cached(model, train, epochs=1, seed=seed)\n")
    seeded = ("for seed in range(2):\n    torch.manual_seed(seed)\n    model = AE()\n"
              "    fit_cached(model, train, epochs=1, seed=seed)\n")
    nested = ("for d in dims:\n    for seed in seeds:\n        model = AE(latent_dim=d)\n"
              "        fit(model, train, epochs=1, seed=seed)\n")
    assert unseeded_seed_loops(unseeded) == [1]
    assert unseeded_seed_loops(seeded) == []
    assert unseeded_seed_loops(nested) == [2]
    assert unseeded_seed_loops("for seed in seeds:\n    set_seed(seed)\n    runs.append(fit(m, d, epochs=1, seed=seed))\n") == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_seed_loop_seeds_the_initialization(path):
    # Una comparación entre semillas mide la dispersión de la inicialización y del orden de los lotes: cada semilla
    # fija la suya antes de construir el modelo (lo que delató el registro de huellas de 02_dispersos y 04_compresion).
    nb = nbformat.read(path, as_version=4)
    bad = [(i, line) for i, c in enumerate(nb.cells) if c.cell_type == "code" for line in unseeded_seed_loops(c.source)]
    assert not bad, f"{path.name}: bucles de semillas sin torch.manual_seed/set_seed (celda, línea): {bad}"
