"""Comprueba el libro publicado en Chromium sin interfaz y con la red cortada, como lo vería un lector sin conexión.

Uso: python tools/check_html.py _build/html [--toc _toc.yml] [--shots _build/screenshots] [--all]

Sirve el HTML desde 127.0.0.1 y bloquea toda petición que no vaya a ese servidor (las CDN incluidas: el libro
debe traer su MathJax, require.js y gestor de widgets en _static/, ver tools/vendor-js.sh). Abre la página de
inicio y la primera de cada capítulo del índice (``--all``: todas las páginas), guarda una captura de su primera
pantalla en ``--shots`` y falla si encuentra:
- una petición a la red (algo que el libro no sirve por sí mismo);
- una imagen rota (no carga o mide 0 píxeles) o una figura sin imagen;
- matemáticas sin representar: un bloque ``.math`` que MathJax no convirtió, o ``$$``, ``\\(`` o ``\\[`` en el
  texto visible (fuera del código);
- un error de JavaScript (excepción sin capturar o ``console.error``).
Necesita Chromium de Debian (/usr/bin/chromium) y el paquete playwright de PyPI. Sale con 0 si todo está bien,
1 si hay problemas y 2 si no se puede comprobar.
"""
from __future__ import annotations

import functools
import http.server
import re
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from check_static_widgets import CHROMIUM, launch  # noqa: E402

# Errores de la consola que vienen del tema de Jupyter Book 1.x, no del libro, y no cambian lo que ve el lector:
# - sphinx-thebe declara su configuración dos veces en cada página (la segunda falla); el libro no usa Thebe.
# - pydata-sphinx-theme avisa con console.error de que el navegador no tenía modo claro/oscuro guardado.
KNOWN_HARMLESS = (
    re.compile(r"Identifier 'THEBE_JS_URL' has already been declared"),
    re.compile(r"Got invalid theme mode: \. Resetting to auto\."),
    re.compile(r"Failed to load resource"),  # se informa aparte, con su URL (respuestas >= 400)
)


def harmless(message: str) -> bool:
    return any(p.search(message) for p in KNOWN_HARMLESS)

# En el navegador: imágenes rotas, figuras vacías, matemáticas sin representar (fuera del código).
_INSPECT = r"""
() => {
  const problems = [];
  for (const img of document.querySelectorAll('img')) {
    if (!img.complete || img.naturalWidth === 0)
      problems.push('imagen rota: ' + (img.getAttribute('src') || '').slice(0, 120));
  }
  for (const fig of document.querySelectorAll('figure')) {
    if (!fig.querySelector('img, svg, video, canvas')) problems.push('figura sin imagen: ' + (fig.id || fig.className));
  }
  const math = document.querySelectorAll('.math');
  let raw = 0;
  for (const m of math) if (!m.querySelector('mjx-container') && !m.closest('mjx-container')) raw++;
  if (raw) problems.push(`${raw} de ${math.length} bloques de matemáticas sin representar (MathJax no actuó)`);
  const skip = 'pre, code, script, style, textarea, mjx-container, .highlight, .cell_input';
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!el || el.closest(skip) || !el.getClientRects().length) continue;
    const m = n.textContent.match(/\$\$|\\\(|\\\[|\\begin\{/);
    if (m && !seen.has(el)) {
      seen.add(el);
      problems.push('LaTeX sin representar en el texto: «' + n.textContent.trim().slice(0, 80) + '»');
    }
  }
  return {problems, math: math.length, images: document.querySelectorAll('img').length};
}
"""


@dataclass
class PageReport:
    page: str
    problems: list[str] = field(default_factory=list)
    math: int = 0
    images: int = 0
    shot: str | None = None


def available() -> str | None:
    """None si se puede comprobar; si no, el motivo."""
    if not Path(CHROMIUM).exists():
        return "falta Chromium (apt-get install chromium)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "falta el paquete playwright"
    return None


def chapter_pages(html_root: Path, toc: Path | None) -> list[str]:
    """La portada y la primera página de cada capítulo del índice (rutas relativas .html); sin índice, todas."""
    if toc is None:
        return sorted(p.relative_to(html_root).as_posix() for p in html_root.rglob("*.html")
                      if not p.relative_to(html_root).parts[0].startswith(("_", ".")))
    data = yaml.safe_load(toc.read_text(encoding="utf-8"))
    files = [data["root"]]

    def first(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            elif entry.get("sections"):
                first(entry["sections"][:1])

    for part in data.get("parts", []):
        first(part.get("chapters"))
    first(data.get("chapters"))
    pages = []
    for f in dict.fromkeys(files):
        rel = Path(f).with_suffix(".html").as_posix()
        pages.append(rel)
    return pages


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _cut_network(route, request=None, *, base: str, blocked: list[str]):
    """Deja pasar lo que sirve el propio libro; bloquea (y anota) todo lo demás."""
    url = route.request.url
    if url.startswith(base) or url.startswith(("data:", "blob:", "about:")):
        return route.continue_()
    blocked.append(url)
    return route.abort()


def check(html_root: Path, pages: list[str], shots: Path | None = None, timeout_ms: int = 30000) -> list[PageReport]:
    """Abre cada página con la red cortada y devuelve lo encontrado en cada una."""
    from playwright.sync_api import sync_playwright

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(html_root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}/"
    reports = []
    try:
        with sync_playwright() as p:
            browser = launch(p)
            for rel in pages:
                report = PageReport(rel)
                reports.append(report)
                if not (html_root / rel).is_file():
                    report.problems.append("la página no existe")
                    continue
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                blocked: list[str] = []
                page.route("**/*", functools.partial(_cut_network, base=base, blocked=blocked))
                page.on("pageerror", lambda e, report=report: harmless(str(e)) or report.problems.append(
                    f"error de JavaScript: {e}"))
                page.on("console", lambda m, report=report: m.type == "error" and not harmless(m.text)
                        and report.problems.append(f"error en la consola: {m.text[:200]}"))
                page.on("response", lambda r, report=report: r.status >= 400 and report.problems.append(
                    f"recurso no encontrado ({r.status}): {r.url[:150]}"))
                page.goto(base + rel, wait_until="load", timeout=timeout_ms)
                # MathJax 3 avisa cuando termina; los widgets se dibujan tras «load».
                page.evaluate("""() => (window.MathJax && MathJax.startup && MathJax.startup.promise)
                                       ? MathJax.startup.promise.then(() => true) : false""")
                if page.locator('script[type="application/vnd.jupyter.widget-state+json"]').count():
                    try:
                        page.wait_for_selector(".widget-subarea *", timeout=timeout_ms)
                    except Exception:  # noqa: BLE001 - se informa como problema de la página
                        report.problems.append("los widgets no se dibujaron")
                page.wait_for_timeout(300)
                found = page.evaluate(_INSPECT)
                report.problems += found["problems"]
                report.math, report.images = found["math"], found["images"]
                report.problems += [f"petición a la red bloqueada: {u[:150]}" for u in dict.fromkeys(blocked)]
                if shots:
                    shots.mkdir(parents=True, exist_ok=True)
                    report.shot = str(shots / (rel.replace("/", "_").removesuffix(".html") + ".png"))
                    page.screenshot(path=report.shot)
                page.close()
            browser.close()
    finally:
        server.shutdown()
    return reports


def main(argv: list[str]) -> int:
    if not argv or argv[0].startswith("-"):
        print(__doc__)
        return 2
    root = Path(argv[0]).resolve()

    def option(name):
        return Path(argv[argv.index(name) + 1]) if name in argv else None

    reason = available()
    if reason:
        print(f"No se puede comprobar el HTML en el navegador: {reason}.")
        return 2
    toc = None if "--all" in argv else option("--toc")
    pages = chapter_pages(root, toc)
    reports = check(root, pages, option("--shots"))
    bad = [r for r in reports if r.problems]
    for r in reports:
        status = "bien" if not r.problems else "MAL"
        print(f"{r.page}: {status} ({r.math} bloques de matemáticas, {r.images} imágenes)")
        for problem in r.problems:
            print(f"    - {problem}")
    print(f"HTML en el navegador, sin red: {len(reports)} páginas, {len(reports) - len(bad)} bien, {len(bad)} con "
          "problemas." + (f" Capturas en {option('--shots')}." if option("--shots") else ""))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
