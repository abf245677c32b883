#!/usr/bin/env bash
# Para la prueba de los widgets en el HTML estático: Chromium de Debian y el JavaScript de los widgets de npm.
set -u
command -v chromium >/dev/null || bash "$(dirname "$0")/apt-install.sh" chromium \
  || echo "Aviso: sin Chromium, la prueba de widgets en el HTML estático no podrá ejecutarse." >&2
js="${WIDGET_JS:-$HOME/.cache/vaebook/widget-js}"
if ! ls "$js"/jupyter-widgets-html-manager-*/dist >/dev/null 2>&1; then
  command -v npm >/dev/null || bash "$(dirname "$0")/apt-install.sh" npm
  mkdir -p "$js" && (cd "$js" && npm pack -q @jupyter-widgets/html-manager@1.0.6 requirejs@2.3.4 >/dev/null \
    && for f in *.tgz; do tar xzf "$f" && rm -rf "${f%.tgz}" && mv package "${f%.tgz}" && rm "$f"; done) \
    || echo "Aviso: no se pudo obtener el JavaScript de los widgets con npm." >&2
fi
exit 0
