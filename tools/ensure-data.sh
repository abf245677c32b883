#!/usr/bin/env bash
# Fashion-MNIST completo: el paquete de Debian dataset-fashion-mnist, si no está ya en algún sitio conocido.
set -u
for d in "${VAEBOOK_DATA:-/nonexistent}/fashion-mnist" /usr/share/datasets/fashion-mnist "${XDG_CACHE_HOME:-$HOME/.cache}/vaebook/fashion-mnist"; do
  [ -f "$d/train-images-idx3-ubyte.gz" ] && exit 0
done
echo "Instalando Fashion-MNIST (paquete de Debian dataset-fashion-mnist)..."
bash "$(dirname "$0")/apt-install.sh" dataset-fashion-mnist \
  || echo "Aviso: sin Fashion-MNIST local; la biblioteca intentará descargarlo (necesita internet)." >&2
exit 0
