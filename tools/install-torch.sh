#!/usr/bin/env bash
# Instala PyTorch en el entorno del intérprete $1 si aún no lo tiene (make setup lo llama).
#   VAEBOOK_TORCH=...  se pide eso a pip, tal cual (la CI: «torch==2.13.0»); manda sobre todo lo demás.
#   Linux sin nvidia-smi: la rueda CPU del índice de PyTorch (unos cientos de MB en vez de varios GB de CUDA);
#                         si ese índice no responde, el torch de PyPI por defecto.
#   Con GPU NVIDIA, o fuera de Linux: el torch de PyPI por defecto.
# VAEBOOK_TORCH_CPU_INDEX cambia el índice CPU. Las pruebas (tests/test_packaging.py) pasan un «python» falso.
set -u
py="${1:?uso: tools/install-torch.sh PYTHON}"
cpu_index="${VAEBOOK_TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}"

run() {
  echo "+ $*"
  "$@"
}

if "$py" -c "import torch" 2>/dev/null; then
  exit 0  # ya hay un torch: no se toca (Colab, una instalación CUDA hecha a mano...)
fi
if [ -n "${VAEBOOK_TORCH:-}" ]; then
  run "$py" -m pip install -q "$VAEBOOK_TORCH"
  exit $?
fi
if [ "$(uname -s)" = Linux ] && ! command -v nvidia-smi >/dev/null 2>&1; then
  echo "Sin GPU NVIDIA (no hay nvidia-smi): se instala la versión CPU de PyTorch."
  if run "$py" -m pip install -q --retries 1 --timeout 30 --index-url "$cpu_index" torch; then
    exit 0
  fi
  echo "Aviso: el índice CPU de PyTorch ($cpu_index) no responde; se instala el torch de PyPI." >&2
fi
run "$py" -m pip install -q torch
