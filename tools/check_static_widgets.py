"""Comprueba en Chromium sin interfaz que los recorridos latentes funcionan en el HTML estático (sin núcleo).

Uso: python tools/check_static_widgets.py _build/html [--require N] [--shots CARPETA]

Abre cada página cuyo estado de widgets incrustado contiene un enlace de cliente (jslink), mueve cada deslizador
con el teclado y comprueba que cambia la imagen visible. El JavaScript de los widgets, que el libro carga de CDN
públicas, se sirve desde los paquetes de npm de $WIDGET_JS (``make browser`` los descarga), así que funciona sin
conexión. Necesita Chromium de Debian (/usr/bin/chromium) y el paquete playwright de PyPI.
Sale con 0 si hay al menos ``--require`` páginas con recorridos y todos los deslizadores responden.
"""
from __future__ import annotations

import functools
import http.server
import os
import re
import sys
import threading
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
# Sin estas opciones, Chromium intenta conectarse a servicios de Google al arrancar (máquinas sin red).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


def launch(playwright):
    """El Chromium de Debian, sin interfaz y sin tráfico propio (lo comparten las dos comprobaciones del HTML)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def widget_js() -> tuple[Path, Path] | None:
    root = Path(os.environ.get("WIDGET_JS", Path.home() / ".cache/vaebook/widget-js"))
    manager = next(root.glob("jupyter-widgets-html-manager-*/dist"), None)
    requirejs = next(root.glob("requirejs-*/require.js"), None)
    return (manager, requirejs) if manager and requirejs else None


def available() -> str | None:
    """None si se puede comprobar; si no, el motivo."""
    if not Path(CHROMIUM).exists():
        return "falta Chromium (apt-get install chromium)"
    if widget_js() is None:
        return "falta el JavaScript de los widgets (make browser)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "falta el paquete playwright"
    return None


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def check(html_root: Path, shots: Path | None = None) -> list[tuple[str, int, bool]]:
    """Devuelve (página, deslizador, respondió) para cada deslizador de cada página con enlaces de cliente."""
    from playwright.sync_api import sync_playwright

    manager, requirejs = widget_js()
    pages = [p for p in sorted(html_root.rglob("*.html"))
             if "LinkModel" in (t := p.read_text(errors="replace")) and "widget-state+json" in t]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(html_root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}/"

    def route(r):
        url = r.request.url
        if url.startswith(base):
            if url.endswith(".html"):  # los hashes de integridad de la CDN no coinciden con las copias de npm
                resp = r.fetch()
                return r.fulfill(response=resp, body=re.sub(r'integrity="[^"]*"', "", resp.text()))
            return r.continue_()
        if "require" in url and url.endswith(".js") and "html-manager" not in url:
            return r.fulfill(path=str(requirejs), content_type="application/javascript")
        m = re.search(r"html-manager@[^/]+/dist/(.+)$", url)
        if m and (manager / m.group(1)).exists():
            return r.fulfill(path=str(manager / m.group(1)))
        return r.abort()

    results = []
    try:
        with sync_playwright() as p:
            browser = launch(p)
            for path in pages:
                rel = path.relative_to(html_root).as_posix()
                page = browser.new_page()
                page.route("**/*", route)
                page.goto(base + rel)
                sliders = page.locator(".widget-slider .noUi-handle")
                page.wait_for_selector(".widget-slider .noUi-handle", timeout=30000)
                images = page.locator(".widget-image")

                def visible():
                    return [i for i in range(images.count()) if images.nth(i).is_visible()]

                for s in range(sliders.count()):
                    before = visible()
                    sliders.nth(s).focus()
                    page.keyboard.press("ArrowRight")
                    page.keyboard.press("ArrowRight")
                    page.wait_for_timeout(300)
                    after = visible()
                    results.append((rel, s, bool(after) and after != before))
                if shots:
                    shots.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(shots / (rel.replace("/", "_") + ".png")), full_page=True)
                page.close()
            browser.close()
    finally:
        server.shutdown()
    return results


def main() -> int:
    root = Path(sys.argv[1]).resolve()
    require = int(sys.argv[sys.argv.index("--require") + 1]) if "--require" in sys.argv else 1
    reason = available()
    if reason:
        print(f"No se pueden comprobar los widgets: {reason}.")
        return 2
    shots = Path(sys.argv[sys.argv.index("--shots") + 1]) if "--shots" in sys.argv else None
    results = check(root, shots)
    for rel, s, ok in results:
        print(f"{rel}: deslizador {s}: {'responde' if ok else 'NO CAMBIA LA IMAGEN'}")
    pages = {r[0] for r in results}
    bad = [r for r in results if not r[2]]
    print(f"Widgets estáticos: {len(pages)} páginas con recorridos, {len(results) - len(bad)} deslizadores "
          f"responden, {len(bad)} no.")
    return 0 if len(pages) >= require and results and not bad else 1


if __name__ == "__main__":
    sys.exit(main())
