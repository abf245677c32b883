"""Lectura de ficheros IDX (el formato de MNIST y Fashion-MNIST), sumas de comprobación, búsqueda y descarga.

Orden de búsqueda de cada conjunto: ``$VAEBOOK_DATA/<carpeta>``, la carpeta de Debian
``/usr/share/datasets/<carpeta>``, la caché del usuario (``$XDG_CACHE_HOME/vaebook/<carpeta>``) y, por último,
la descarga a esa caché. Un fichero se acepta si coincide la suma MD5 publicada del ``.gz`` o la de su contenido
descomprimido (Debian recomprime los ``.gz``: su contenido es el conjunto de datos, sus bytes no).

Ningún fallo es silencioso: un fichero presente que no se puede leer o no supera la suma es un error
(:class:`DatasetError`), nunca «no está»; solo un fichero ausente en todas partes da :class:`DatasetMissing`.
Un ``VAEBOOK_DATA`` que no existe es un error, no una carpeta más que se salta.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEBIAN_ROOT = Path("/usr/share/datasets")
_UNREACHABLE: dict[str, str] = {}  # servidores que no respondieron en este proceso, con el motivo
# Un «.part» sin tocar desde hace más que esto es de una descarga muerta: una viva escribe al menos cada
# ``timeout`` (30 s) o falla y borra el suyo.
STALE_PART_S = 600.0


@dataclass(frozen=True)
class IdxFile:
    """Un fichero IDX comprimido con sus sumas MD5 conocidas."""

    name: str
    gz_md5: str
    raw_md5: str | None = None


class DatasetError(ValueError):
    """Un conjunto de datos falta o está corrupto (el mensaje dice cómo conseguirlo)."""


class DatasetMissing(DatasetError):
    """El fichero no está en ninguna carpeta conocida y no se pudo descargar (no hay ninguno corrupto)."""


def cache_root() -> Path:
    """La caché del libro (datos descargados, redes auxiliares): ``$VAEBOOK_CACHE`` o ``$XDG_CACHE_HOME/vaebook``
    (por defecto ``~/.cache/vaebook``)."""
    if os.environ.get("VAEBOOK_CACHE"):
        return Path(os.environ["VAEBOOK_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vaebook"


def check_data_root() -> None:
    """Un ``VAEBOOK_DATA`` mal escrito es un error claro: nunca se ignora en silencio."""
    given = os.environ.get("VAEBOOK_DATA")
    if not given:
        return
    root = Path(given)
    if not root.is_dir():
        relative = ("" if root.is_absolute() else f" La ruta es relativa y se lee desde {Path.cwd()} (los "
                    "cuadernos se ejecutan en su propia carpeta): use una ruta absoluta.")
        raise DatasetError(f"VAEBOOK_DATA={given} no es una carpeta que exista. Corrija la ruta (debe ser la "
                           "carpeta que contiene «mnist/» y/o «fashion-mnist/») o borre la variable para usar "
                           f"la caché y la descarga.{relative}")
    if any(root.glob("*-ubyte.gz")) and not any((root / f).is_dir() for f in ("mnist", "fashion-mnist")):
        raise DatasetError(f"VAEBOOK_DATA={given} contiene los .gz directamente; debe apuntar a la carpeta "
                           f"que contiene «mnist/» o «fashion-mnist/» (p. ej. VAEBOOK_DATA={root.parent}).")


def search_dirs(folder: str) -> list[Path]:
    """Carpetas donde se busca ``folder``, en orden."""
    dirs = []
    if os.environ.get("VAEBOOK_DATA"):
        dirs.append(Path(os.environ["VAEBOOK_DATA"]) / folder)
    dirs += [DEBIAN_ROOT / folder, cache_root() / folder]
    return dirs


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def read_verified(path: Path, spec: IdxFile) -> bytes:
    """Lee ``path`` y devuelve su contenido descomprimido si alguna suma MD5 coincide."""
    try:
        packed = path.read_bytes()
    except PermissionError as err:
        raise DatasetError(f"No hay permiso para leer {path}. Dé permiso de lectura al usuario actual "
                           f"(p. ej. «chmod a+r {path}») o copie el fichero a una carpeta propia.") from err
    except OSError as err:
        raise DatasetError(f"No se puede leer {path} ({err}). Compruebe el fichero o bórrelo y vuelva a "
                           "obtenerlo.") from err
    try:
        raw = gzip.decompress(packed)
    except (OSError, EOFError) as err:
        raise DatasetError(f"El fichero {path} está dañado (no se puede descomprimir: {err}). "
                           "Bórrelo y vuelva a obtenerlo.") from err
    if md5(packed) != spec.gz_md5 and (spec.raw_md5 is None or md5(raw) != spec.raw_md5):
        raise DatasetError(f"El fichero {path} no supera la suma de comprobación MD5 (está corrupto o no es "
                           "el original). Bórrelo y vuelva a obtenerlo.")
    return raw


def parse_idx(raw: bytes, path: Path | str = "<memoria>") -> np.ndarray:
    """Convierte los bytes de un fichero IDX de enteros sin signo de 8 bits en un array de NumPy."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DatasetError(f"{path} no es un fichero IDX de bytes sin signo.")
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    if len(raw) != header + int(np.prod(shape)):
        raise DatasetError(f"{path}: el tamaño no corresponde a la forma {shape} de su cabecera.")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def clean_stale_parts(dest: Path, now: float | None = None, max_age: float = STALE_PART_S) -> list[Path]:
    """Borra los ``<dest>*.part`` abandonados por descargas interrumpidas (sin escribir desde ``max_age`` s).

    Una descarga viva escribe al menos cada pocos segundos, así que su ``.part`` nunca se toca.
    """
    now = time.time() if now is None else now
    removed = []
    for part in dest.parent.glob(dest.name + "*.part"):
        try:
            if part.stat().st_mtime < now - max_age:
                part.unlink()
                removed.append(part)
        except OSError:  # la borró otro proceso, o no es nuestra: no es motivo para fallar la descarga
            pass
    return removed


def download(url: str, dest: Path, spec: IdxFile, timeout: float = 30.0) -> None:
    """Descarga ``url`` en ``dest`` de forma atómica: nunca queda un fichero a medias ni uno sin verificar."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_parts(dest)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=dest.name, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            while chunk := resp.read(1 << 20):
                out.write(chunk)
        read_verified(Path(tmp), spec)
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _present(path: Path) -> bool:
    """¿Existe ``path``? Una carpeta sin permiso de lectura es un error claro, no «no está»."""
    try:
        return path.exists()
    except PermissionError as err:
        raise DatasetError(f"No hay permiso para entrar en {path.parent}. Dé permiso de lectura y paso al "
                           f"usuario actual (p. ej. «chmod a+rx {path.parent}»).") from err


def _is_network_error(err: BaseException) -> bool:
    """Sin red o servidor caído (se recuerda en el proceso); un código HTTP (404, 503) no lo es."""
    if isinstance(err, urllib.error.HTTPError):
        return False
    return isinstance(err, (urllib.error.URLError, TimeoutError, ConnectionError))


def find_or_fetch(folder: str, spec: IdxFile, mirrors: tuple[str, ...], how_to: str,
                  allow_download: bool = True) -> np.ndarray:
    """Busca ``spec`` en las carpetas conocidas; si no está, lo descarga a la caché. Error claro si no se puede.

    Un fichero presente pero ilegible o corrupto da :class:`DatasetError` (no se busca otro: sería ocultar el
    problema); solo si no está en ninguna parte ni se puede descargar se lanza :class:`DatasetMissing`.
    """
    check_data_root()
    for d in search_dirs(folder):
        path = d / spec.name
        if _present(path):
            return parse_idx(read_verified(path, spec), path)
    errors = []
    if allow_download and os.environ.get("VAEBOOK_OFFLINE", "") not in ("1", "true", "yes"):
        dest = cache_root() / folder / spec.name
        for base in mirrors:
            if base in _UNREACHABLE:  # ya falló en este proceso: sin red no se reintenta en cada carga
                errors.append(f"{base}: {_UNREACHABLE[base]}")
                continue
            try:
                download(base + spec.name, dest, spec)
                return parse_idx(read_verified(dest, spec), dest)
            except (OSError, DatasetError) as err:  # URLError y HTTPError son OSError
                if _is_network_error(err):
                    _UNREACHABLE[base] = str(err)
                errors.append(f"{base}: {err}")
    where = ", ".join(str(d) for d in search_dirs(folder))
    detail = ("; intentos de descarga: " + " | ".join(errors)) if errors else ""
    raise DatasetMissing(f"No se encuentra {spec.name} ({folder}). Se buscó en: {where}{detail}. {how_to}")
