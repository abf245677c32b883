#!/usr/bin/env bash
# Para las pruebas en el navegador (widgets estáticos, tools/check_html.py): Chromium de Debian y el JavaScript
# de los widgets y de MathJax, de npm.
set -u
command -v chromium >/dev/null || bash "$(dirname "$0")/apt-install.sh" chromium \
  || echo "Aviso: sin Chromium, la prueba de widgets en el HTML estático no podrá ejecutarse." >&2
# El JavaScript de los widgets (y MathJax) de npm, el mismo que tools/vendor-js.sh copia al libro.
bash "$(dirname "$0")/vendor-js.sh" --fetch-only \
  || echo "Aviso: no se pudo obtener el JavaScript de los widgets y MathJax con npm." >&2
exit 0
