"""tools/check_html.py: el libro revisado en Chromium con la red cortada (páginas de prueba hechas a mano)."""
import base64
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import check_html  # noqa: E402
import check_static_widgets  # noqa: E402

# Un PNG de 1x1 válido.
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==")


def mathjax_dir() -> Path | None:
    js = check_static_widgets.widget_js()
    return None if js is None else next(js[0].parents[1].glob("mathjax-3*/es5"), None)


def test_chapter_pages_are_the_root_and_each_chapter(tmp_path):
    toc = tmp_path / "_toc.yml"
    toc.write_text("format: jb-book\nroot: book/intro\nparts:\n  - caption: A\n    chapters:\n"
                   "      - file: book/a/01\n      - file: book/a/02\n        sections:\n          - file: book/a/02b\n"
                   "  - caption: B\n    chapters:\n      - file: book/fin\n")
    assert check_html.chapter_pages(tmp_path, toc) == ["book/intro.html", "book/a/01.html", "book/a/02.html",
                                                       "book/fin.html"]


def test_theme_noise_is_told_apart_from_real_errors():
    assert check_html.harmless("Identifier 'THEBE_JS_URL' has already been declared")
    assert not check_html.harmless("Cannot read properties of undefined (reading 'Queue')")
    assert not check_html.harmless("ReferenceError: foo is not defined")


def page(body: str, head: str = "") -> str:
    return f"<!doctype html><html><head><meta charset='utf-8'>{head}</head><body>{body}</body></html>"


@pytest.mark.skipif(check_html.available() is not None or mathjax_dir() is None,
                    reason=f"sin navegador o sin MathJax de npm (make browser): {check_html.available()}")
def test_browser_pass_flags_each_kind_of_broken_page(tmp_path):
    shutil.copytree(mathjax_dir(), tmp_path / "mathjax")
    (tmp_path / "ok.png").write_bytes(PNG)
    mathjax = "<script defer src='mathjax/tex-mml-chtml.js'></script>"
    pages = {
        # Bien: matemáticas que MathJax (local) representa, una imagen y una figura que cargan, y «$$» en el código.
        "bien.html": page("<p>Sea <span class='math'>\\(x^2\\)</span>.</p><div class='math'>\\[\\int f\\]</div>"
                          "<figure><img src='ok.png'></figure><pre>print('$$ \\\\( no es LaTeX')</pre>", mathjax),
        "latex_crudo.html": page("<p>La cota $$\\log p(x) \\ge \\mathcal L$$ se cumple.</p>"),
        "sin_mathjax.html": page("<p><span class='math'>\\(x\\)</span></p>"),
        "imagen_rota.html": page("<img src='no_existe.png'>"),
        "figura_vacia.html": page("<figure id='fig-vacia'><figcaption>Nada</figcaption></figure>"),
        "error_js.html": page("<script>undefined_function_here();</script>"),
        "cdn.html": page("<p>x</p>", "<script src='https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml.js'></script>"),
    }
    for name, html in pages.items():
        (tmp_path / name).write_text(html)
    reports = {r.page: r for r in check_html.check(tmp_path, list(pages), shots=tmp_path / "capturas")}
    assert reports["bien.html"].problems == [] and reports["bien.html"].math == 2, reports["bien.html"]
    expected = {"latex_crudo.html": "LaTeX sin representar", "sin_mathjax.html": "sin representar",
                "imagen_rota.html": "imagen rota", "figura_vacia.html": "figura sin imagen",
                "error_js.html": "error de JavaScript", "cdn.html": "petición a la red bloqueada"}
    for name, what in expected.items():
        assert any(what in p for p in reports[name].problems), (name, reports[name].problems)
    assert all(Path(r.shot).stat().st_size > 1000 for r in reports.values())
