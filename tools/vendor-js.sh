#!/usr/bin/env bash
# El libro sin CDN: copia MathJax 3, require.js y el gestor de widgets de HTML (paquetes de npm) a una carpeta
# ignorada que _config.yml declara en html_static_path; así cada página los carga de su propio _static/.
# Uso: tools/vendor-js.sh [DESTINO]   (por defecto _build/vendor-static; make book lo llama)
#      tools/vendor-js.sh --fetch-only   (solo la descarga; make browser lo usa para las pruebas del navegador)
# Los paquetes se descargan una vez con npm a $WIDGET_JS (~/.cache/vaebook/widget-js); make browser también lo usa.
set -euo pipefail
fetch_only=0
[ "${1:-}" = --fetch-only ] && fetch_only=1 && shift
dest="${1:-_build/vendor-static}/vaebook-vendor"
js="${WIDGET_JS:-$HOME/.cache/vaebook/widget-js}"
# Las mismas versiones que myst-nb pide a las CDN (html-manager 1.0.6, require.js 2.3.4) y MathJax 3 (Sphinx).
packages=("@jupyter-widgets/html-manager@1.0.6:jupyter-widgets-html-manager-1.0.6" "requirejs@2.3.4:requirejs-2.3.4"
          "mathjax@3.2.2:mathjax-3.2.2")
for spec in "${packages[@]}"; do
  pkg="${spec%%:*}" dir="${spec##*:}"
  [ -d "$js/$dir" ] && continue
  command -v npm >/dev/null || bash "$(dirname "$0")/apt-install.sh" npm
  mkdir -p "$js"
  (cd "$js" && tgz="$(npm pack -q "$pkg" | tail -1)" && rm -rf "$dir.tmp" && mkdir "$dir.tmp" \
    && tar xzf "$tgz" -C "$dir.tmp" && rm "$tgz" && mv "$dir.tmp/package" "$dir" && rmdir "$dir.tmp") \
    || { echo "No se pudo obtener $pkg con npm: el libro no funcionaría sin conexión." >&2; exit 1; }
done
[ "$fetch_only" = 1 ] && exit 0
rm -rf "$dest" && mkdir -p "$dest/html-manager" "$dest/requirejs"
cp -r "$js/mathjax-3.2.2/es5" "$dest/mathjax"
# Sin los .map (varios MB que ningún lector necesita).
find "$js/jupyter-widgets-html-manager-1.0.6/dist" -maxdepth 1 -type f ! -name '*.map' -exec cp {} "$dest/html-manager/" \;
cp "$js/requirejs-2.3.4/require.js" "$dest/requirejs/"
cp "$(dirname "$0")/vaebook-offline.js" "$dest/"
echo "JavaScript del libro (sin CDN) en $dest: $(du -sh "$dest" | cut -f1)"
