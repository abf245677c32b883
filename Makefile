# VAEbook: dos órdenes hacen toda la preparación.
#   make book   ejecuta todos los cuadernos y construye el HTML en _build/html (perfil VAEBOOK_PROFILE, «full» por defecto)
#   make test   pruebas unitarias + nbval sobre todos los cuadernos en el perfil «fast»
# Variables: VAEBOOK_TORCH (qué pedir a pip si falta torch, p. ej. «torch==2.13.0»; sin ella, en Linux sin GPU
# NVIDIA se pide la rueda CPU de PyTorch: tools/install-torch.sh), VAEBOOK_DATA, PYTHON.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.vaebook-installed
# Segundo entorno de las pruebas: .venv con ipywidgets 7.7 (el de Colab) encima (tools/venv-ipywidgets7.sh).
VENV_W7 ?= .venv-ipywidgets7
STAMP_W7 := $(VENV_W7)/.vaebook-installed
# Un cuaderno con recorrido latente, que también se ejecuta con ipywidgets 7.7.
W7_NOTEBOOK ?= book/02_vae/05_aevb.ipynb
VAEBOOK_PROFILE ?= full
WIDGET_JS ?= $(HOME)/.cache/vaebook/widget-js
export WIDGET_JS

.PHONY: book test setup data browser clean bench

setup: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "Falta $(PYTHON) (>= 3.10)"; exit 1; }
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { bash tools/apt-install.sh python3-venv && $(PYTHON) -m venv $(VENV); }
	$(PY) -m pip install -q --upgrade pip
	bash tools/install-torch.sh $(PY)
	$(PY) -m pip install -q -e ".[book,test]"
	touch $(STAMP)

$(STAMP_W7): $(STAMP) tools/venv-ipywidgets7.sh
	bash tools/venv-ipywidgets7.sh $(PY) $(VENV_W7)
	touch $(STAMP_W7)

data:
	@bash tools/ensure-data.sh

browser: $(STAMP)
	@bash tools/ensure-browser.sh

# El libro sin CDN: MathJax, require.js y el gestor de widgets se copian de npm a _build/vendor-static (ignorada),
# que _config.yml sirve en _static/. Después, Chromium con la red cortada revisa el resultado: los deslizadores
# de los widgets, y en la portada y la primera página de cada capítulo, imágenes, matemáticas y errores de JS,
# con una captura de cada una en _build/screenshots.
book: $(STAMP) data browser
	@VAEBOOK_PROFILE=$(VAEBOOK_PROFILE) $(PY) -m vaebook_lib.experiments.record --announce
	@$(PY) tools/book_cache.py _build/.jupyter_cache $(VAEBOOK_PROFILE)
	bash tools/vendor-js.sh _build/vendor-static
	VAEBOOK_PROFILE=$(VAEBOOK_PROFILE) VAEBOOK_PROGRESS=0 $(VENV)/bin/jupyter-book build . -W --keep-going
	@$(PY) tools/check_static_widgets.py _build/html; rc=$$?; [ $$rc -ne 1 ] || exit 1
	@$(PY) tools/check_html.py _build/html --toc _toc.yml --shots _build/screenshots; rc=$$?; [ $$rc -ne 1 ] || exit 1

# La caché de modelos entrenados (vaebook_lib.model_cache) empieza vacía en cada make test y la comparten todos los
# cuadernos de la ejecución: cada entrenamiento distinto se hace de verdad una vez, en el primer cuaderno que lo pide,
# y otro que pide exactamente el mismo lo carga (los mismos pesos, curvas y generadores aleatorios que si lo
# entrenara: tests/test_model_cache.py). Ninguna prueba depende de que esté caliente.
TEST_MODELS := $(CURDIR)/_build/test-models
test: $(STAMP) $(STAMP_W7) data browser
	rm -rf $(TEST_MODELS)
	VAEBOOK_MODEL_CACHE=$(TEST_MODELS) VAEBOOK_PROFILE=fast VAEBOOK_PROGRESS=0 MPLBACKEND=Agg OMP_NUM_THREADS=1 $(PY) -m pytest -n 2 --dist loadfile \
	  --nbval-lax --nbval-current-env --nbval-cell-timeout=600 -p no:cacheprovider tests book
	@echo "== Con ipywidgets 7.7 (Colab): pruebas de los widgets y $(W7_NOTEBOOK) =="
	VAEBOOK_MODEL_CACHE=$(TEST_MODELS) VAEBOOK_PROFILE=fast VAEBOOK_PROGRESS=0 MPLBACKEND=Agg OMP_NUM_THREADS=1 $(VENV_W7)/bin/python -m pytest -q -n 2 --dist loadfile \
	  --nbval-lax --nbval-current-env --nbval-cell-timeout=600 -p no:cacheprovider -k "not static_html" \
	  tests/test_widgets.py $(W7_NOTEBOOK)

bench: $(STAMP) data
	VAEBOOK_PROFILE=fast $(PY) -m vaebook_lib.bench

clean:
	rm -rf _build
