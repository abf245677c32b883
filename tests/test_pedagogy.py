"""Cada cuaderno es una lección: objetivos, requisitos, ideas clave, ejercicios con soluciones ocultas, figuras
de cada familia de modelos, enlaces al glosario y referencias cruzadas en lugar de «el cuaderno anterior»."""
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "book").rglob("*.ipynb"))
GLOSSARY = (ROOT / "book" / "apendices" / "glosario.md").read_text(encoding="utf-8")
TERMS = {t.strip().lower() for t in re.findall(r"^(\S[^\n]*)\n  \S", GLOSSARY.split("```{glossary}", 1)[1], re.M)}

# Cuadernos de los capítulos 1 a 3 que no presentan una familia de modelos nueva (no necesitan su figura).
NO_NEW_FAMILY = {
    "02_vae/01_modelos_probabilisticos",  # sí dibuja el modelo gráfico, pero no es un modelo del catálogo
    "03_extensiones/12_comparativa_desenredo",
}
DIAGRAM = re.compile(r"\b(graphical_model|encoder_decoder_sketch|reparametrization_diagram|[a-z_]+_diagram|"
                     r"[a-z_]+_sketch)\(")


def _id(p: Path) -> str:
    return p.relative_to(ROOT / "book").with_suffix("").as_posix()


def _cells(path: Path):
    return nbformat.read(path, as_version=4).cells


def _markdown(path: Path) -> str:
    return "\n".join(c.source for c in _cells(path) if c.cell_type == "markdown")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_id)
def test_opens_with_goals_and_prerequisites(path):
    md = _markdown(path)
    head = md.split("\n## ", 1)[0] if "Lo que aprenderás" in md.split("\n## ", 1)[0] else md[:4000]
    assert "Lo que aprenderás" in head, "El cuaderno debe abrir con «Lo que aprenderás»"
    goals = head.split("Lo que aprenderás", 1)[1]
    bullets = re.findall(r"^\s*[-*] ", goals.split("Requisitos previos", 1)[0], re.M)
    assert 3 <= len(bullets) <= 5, f"«Lo que aprenderás» debe tener de 3 a 5 objetivos, tiene {len(bullets)}"
    assert re.search(r"Requisitos previos[^\n]*\n?[^\n]*\{doc\}", head), \
        "Los requisitos previos deben enlazar los cuadernos con {doc}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_id)
def test_closes_with_key_ideas_and_exercises_with_hidden_solutions(path):
    md = _markdown(path)
    assert "## Ideas clave" in md, "Falta la sección «Ideas clave»"
    assert "## Ejercicios" in md, "Falta la sección «Ejercicios»"
    exercises = md.split("## Ejercicios", 1)[1]
    statement = exercises.split("```{admonition}", 1)[0]
    n = len(re.findall(r"^\d+\. ", statement, re.M))
    assert 2 <= n <= 4, f"Debe haber de 2 a 4 ejercicios, hay {n}"
    assert "(Lápiz y papel)" in statement, "Falta un ejercicio de lápiz y papel"
    assert "(Programación)" in statement, "Falta un ejercicio de programación"
    assert re.search(r"```\{admonition\} Soluciones?\n:class: dropdown", exercises), \
        "Las soluciones van en un desplegable ({admonition} con :class: dropdown)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_id)
def test_coding_solution_runs_as_a_hidden_cell(path):
    cells = _cells(path)
    start = next((i for i, c in enumerate(cells) if c.cell_type == "markdown" and "## Ejercicios" in c.source),
                 None)
    assert start is not None, "Falta la sección «Ejercicios»"
    solutions = [c for c in cells[start:] if c.cell_type == "code" and c.source.lstrip().startswith("# Solución")]
    assert solutions, "La solución del ejercicio de programación debe ser una celda de código («# Solución ...»)"
    for c in solutions:
        tags = set(c.metadata.get("tags", []))
        assert tags & {"hide-cell", "hide-input"}, "La celda de la solución debe estar oculta (hide-cell)"
        assert "assert " in c.source, "La solución debe comprobar su resultado con un assert"


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if _id(p).split("/")[0][:2] in ("01", "02", "03")
                                  and _id(p) not in NO_NEW_FAMILY], ids=_id)
def test_every_model_family_has_a_figure_and_its_code_on_the_page(path):
    code = "\n".join(c.source for c in _cells(path) if c.cell_type == "code")
    assert DIAGRAM.search(code), "El cuaderno presenta una familia de modelos: dibuje su figura con vaebook_lib.diagrams"
    assert "show_source(" in code, "Muestre en la página el código de la biblioteca que implementa el modelo (show_source)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_id)
def test_terms_link_to_the_glossary(path):
    md = _markdown(path)
    used = re.findall(r"\{term\}`([^`]+)`", md)
    assert used, "El cuaderno debe enlazar sus términos al glosario con {term}"
    for t in used:
        target = re.search(r"<([^>]+)>$", t)
        name = (target.group(1) if target else t).strip().lower()
        assert name in TERMS, f"{{term}}`{t}` no está en el glosario"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_id)
def test_cross_references_are_links(path):
    md = _markdown(path)
    vague = re.findall(r"(?:el|del|al) (?:cuaderno|capítulo) (?:anterior|siguiente|próximo)", md, re.I)
    assert not vague, f"Use {{doc}} en lugar de {vague}"


@pytest.mark.parametrize("path", NOTEBOOKS + sorted((ROOT / "book").rglob("*.md")), ids=_id)
def test_every_doc_link_points_to_a_page(path):
    text = path.read_text(encoding="utf-8")
    for target in re.findall(r"\{doc\}`(?:[^`<]*<)?([^`>]+)>?`", text):
        page = (path.parent / target).resolve()
        assert page.with_suffix(".ipynb").exists() or page.with_suffix(".md").exists(), \
            f"{{doc}}`{target}` no apunta a ninguna página del libro"


def test_markdown_never_hides_a_role_or_breaks_inline_math():
    # Dos maneras de que la página muestre texto crudo: un {glue:text} dentro de comillas invertidas (no se
    # interpreta) y una línea que empieza por «- » o «+ » con una fórmula en línea abierta (se vuelve una lista).
    import re

    for path in NOTEBOOKS:
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "markdown":
                continue
            text = re.sub(r"```.*?```", "", re.sub(r"\$\$.*?\$\$", "", cell.source, flags=re.S), flags=re.S)
            assert not re.search(r"`\{glue:", text), f"{path.name}: un {{glue:text}} entre comillas invertidas"
            for para in text.split("\n\n"):
                open_math = False
                for line in para.split("\n"):
                    assert not (open_math and re.match(r"\s*[-+*]\s", line)), \
                        f"{path.name}: «{line.strip()[:40]}» parte una fórmula en línea (Markdown la toma por lista)"
                    open_math ^= line.count("$") % 2 == 1
