#!/usr/bin/env bash
# Instala paquetes de Debian/Ubuntu si apt se puede usar (como root o con sudo sin contraseña).
set -u
if ! command -v apt-get >/dev/null; then echo "apt-get no está disponible: instale a mano: $*" >&2; exit 1; fi
if [ "$(id -u)" = 0 ]; then SUDO=""; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
  echo "No hay permisos para apt-get: instale a mano con «sudo apt-get install $*»" >&2; exit 1; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y -qq "$@" >/dev/null 2>&1 || { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "$@"; }
