#!/usr/bin/env bash
# Segundo entorno de las pruebas: el de .venv con ipywidgets 7.7 (el que trae Colab) encima, sin copiar nada más.
# Uso: tools/venv-ipywidgets7.sh PYTHON_DE_.venv CARPETA   (make lo llama una vez y lo sella, como .venv)
# El entorno nuevo solo contiene ipywidgets 7.7.x y sus compañeros de época; un .pth añade detrás el
# site-packages de .venv (torch, pytest, nbval, vaebook_lib editable...), así que sus propios paquetes mandan.
set -euo pipefail
main_py="${1:?uso: tools/venv-ipywidgets7.sh PYTHON CARPETA}"
dest="${2:?uso: tools/venv-ipywidgets7.sh PYTHON CARPETA}"
rm -rf "$dest"
"$main_py" -m venv --without-pip "$dest"
# Primero ipywidgets 7.7 (sin dependencias: el resto ya está en .venv), después el .pth; en ese orden pip no ve
# el ipywidgets 8 de .venv ni intenta desinstalarlo.
"$main_py" -m pip --python "$dest/bin/python" install -q --no-deps \
  "ipywidgets>=7.7,<7.8" "widgetsnbextension>=3.6,<3.7" "jupyterlab_widgets>=1.1,<1.2" "ipython_genutils>=0.2,<0.3"
main_site="$("$main_py" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
own_site="$("$dest/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo "import site; site.addsitedir('$main_site')" > "$own_site/zz-vaebook-main-venv.pth"
"$dest/bin/python" -c 'import ipywidgets, torch, vaebook_lib; assert ipywidgets.__version__.startswith("7.7"), ipywidgets.__version__'
