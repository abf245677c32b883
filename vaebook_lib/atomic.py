"""Escritura atómica de ficheros: la de los modelos guardados, las cachés y los registros.

Se escribe en un fichero temporal de nombre único en la misma carpeta y se renombra al final (``os.replace``): un
guardado interrumpido nunca deja un fichero a medias ni destruye el bueno que hubiera, y dos procesos que escriben
el mismo fichero a la vez no se pisan el temporal (gana el último en renombrar).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import IO, Callable


def write_atomic(path: str | Path, write: Callable[[IO], None], *, text: bool = False) -> None:
    """Llama a ``write(f)`` con un fichero temporal abierto y lo renombra a ``path`` si termina sin error."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with (os.fdopen(fd, "w", encoding="utf-8") if text else os.fdopen(fd, "wb")) as f:
            write(f)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # los permisos de un fichero normal, no los 0600 de mkstemp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
