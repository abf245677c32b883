"""Cifras de la ejecución en la prosa del libro.

Una frase con un número calculado lo toma de la celda que lo calcula, nunca se escribe a mano:

    from vaebook_lib.report import glue
    glue("elbo_diag", e_diag["elbo"])          # en una celda de código

y en una celda de texto del mismo cuaderno: ``{glue:text}`elbo_diag:.1f` ``. Al construir el libro, myst-nb
sustituye el rol por el valor de esta ejecución (en el perfil que sea). Donde myst-nb no está (Colab, un Jupyter
sin el extra ``book``), ``glue`` imprime ``nombre = valor`` para que el lector vea la cifra bajo la celda.
"""
from __future__ import annotations

import math
import numbers
import re

import numpy as np
import torch

try:  # myst-nb viene con el extra «book» (Jupyter Book); en Colab no está.
    from myst_nb import glue as _myst_glue
except ImportError:  # pragma: no cover - depende del entorno
    _myst_glue = None

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _plain(value):
    """Convierte tensores y escalares de NumPy de un elemento en números de Python (su texto es el número)."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"glue espera un número; se recibió un tensor de forma {tuple(value.shape)}.")
        value = value.item()
    elif isinstance(value, np.ndarray):
        if value.size != 1:
            raise ValueError(f"glue espera un número; se recibió un array de forma {value.shape}.")
        value = value.item()
    elif isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (numbers.Number, str)):
        raise ValueError(f"glue espera un número o un texto; se recibió {type(value).__name__}.")
    if isinstance(value, numbers.Real) and not math.isfinite(value):
        raise ValueError(f"glue recibió {value!r}: una cifra no finita no puede ir en el texto (¿divergió el "
                         "entrenamiento?).")
    return value


class _Text(str):
    """Un texto cuya representación es él mismo (sin comillas), para pegarlo en la prosa."""

    def __repr__(self) -> str:
        return str(self)


def enumeration(items) -> str:
    """Los textos de ``items`` como se enumeran en español: «a», «a y b», «a, b y c»; vacío si no hay ninguno."""
    items = [str(i) for i in items]
    return ", ".join(items[:-1]) + " y " + items[-1] if len(items) > 1 else "".join(items)


def glue(name: str, value, *, quiet: bool | None = None):
    """Registra ``value`` con el nombre ``name`` para citarlo en el texto con ``{glue:text}`name` ``.

    Devuelve el valor convertido (un ``float``/``int`` de Python o un ``str``). ``quiet=None`` imprime la cifra solo
    donde myst-nb falta; ``True``/``False`` lo fuerzan.
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"El nombre de glue debe ser un identificador (letras, cifras y _); se recibió {name!r}.")
    value = _plain(value)
    if _myst_glue is not None:
        # Un texto se pega sin comillas: {glue:text} muestra la representación text/plain, que para un str de
        # Python es su repr ('fast'); con _Text es el texto tal cual.
        _myst_glue(name, _Text(value) if isinstance(value, str) else value, display=False)
    if quiet is False or (quiet is None and _myst_glue is None):
        print(f"{name} = {value}")
    return value


def recorded(notebook: str, name: str, profile: str = "full"):
    """La cifra ``name`` que el cuaderno ``notebook`` (p. ej. ``"book/02_vae/08_covarianza_completa.ipynb"``) pegó
    en la ejecución registrada del perfil ``profile`` (:mod:`vaebook_lib.experiments.record`), o ``None`` si el registro aún
    no la trae. Sirve para que el texto cite, y compruebe, lo que solo se ve a escala completa."""
    entry = _passing_entry(notebook, profile)
    return None if entry is None else entry["values"].get(name)


def _passing_entry(notebook: str, profile: str) -> dict | None:
    """La entrada de ``notebook`` en el registro de ``profile`` si su ejecución terminó bien; si no, ``None``."""
    from .experiments.record import load

    entry = (load(profile) or {}).get("notebooks", {}).get(notebook)
    return entry if entry is not None and entry.get("passed") else None


def _check_here(here, who: str) -> None:
    """Las cifras de esta ejecución: un diccionario no vacío nombre -> cifra; si no, ``ValueError``."""
    if not isinstance(here, dict) or not here or not all(isinstance(k, str) for k in here):
        raise ValueError(f"{who} espera un diccionario no vacío nombre -> cifra de esta ejecución.")


def beside_record(notebook: str, here: dict, profile: str = "full") -> dict | None:
    """Pone las cifras ``here`` de esta ejecución (nombre de ``glue`` -> valor) junto a las que el mismo cuaderno
    pegó en la ejecución registrada de ``profile`` e imprime la tabla. Devuelve las cifras registradas (solo las
    que el registro trae) o ``None`` si el cuaderno aún no tiene una ejecución registrada que terminase bien.

    Con ella, una comprobación puede afirmar a escala completa lo que la ejecución rápida no alcanza a mostrar::

        full = beside_record("book/02_vae/09_desafios.ipynb", {"active_fb": active_fb})
        if full is not None:
            assert full["active_fb"] >= ...
    """
    _check_here(here, "beside_record")
    entry = _passing_entry(notebook, profile)
    if entry is None:
        print(f"El registro del perfil «{profile}» aún no trae una ejecución completa de {notebook}: "
              f"grábela con «python -m vaebook_lib.experiments.record --profile {profile} --notebooks {notebook}».")
        return None
    found = {k: entry["values"][k] for k in here if k in entry["values"]}
    def fmt(x) -> str:
        return f"{x:14.4g}" if isinstance(x, (int, float)) else f"{str(x):>14}"

    width = max(len(k) for k in here)
    print(f"{'cifra':<{width}} | {'esta ejecución':>14} | {'registro ' + profile:>14}")
    for k, v in here.items():
        r = found.get(k)
        print(f"{k:<{width}} | {fmt(_plain(v))} | {fmt(r) if r is not None else '—':>14}")
    m = entry.get("machine", {})
    print(f"(registro del {entry['date']}, commit {entry['commit']}, {m.get('gpu') or m.get('cpu', '?')}, "
          f"{entry['seconds']:.0f} s)")
    return found


def regimes(notebook: str, here: dict, profile: str | None = None) -> dict[str, dict | None]:
    """Las cifras de ``notebook`` en cada régimen de entrenamiento (un perfil: ``fast``, ``full``), para afirmar lo
    que el texto dice de cada uno. El del perfil que corre (``profile`` o ``VAEBOOK_PROFILE``) son las cifras
    ``here`` de esta ejecución; los demás, las de la ejecución registrada de su perfil (``None`` si aún no la hay),
    con la tabla de :func:`beside_record` impresa. Así cada comprobación afirma la ejecución en curso y, con el
    registro, el régimen que no corre::

        r = regimes("book/02_vae/10_flujos.ipynb", {"kl": kl})
        if r["fast"] is not None:
            assert r["fast"]["kl"] > ...      # lo que el texto dice del entrenamiento corto
        if r["full"] is not None:
            assert r["full"]["kl"] < ...      # y lo que dice del completo

    Un registro que trae el cuaderno pero no alguna de las cifras (grabado antes de que se pegara) da
    ``ValueError``: la comprobación no se salta en silencio.
    """
    from .config import PROFILES, get_profile

    _check_here(here, "regimes")
    current = get_profile(profile).name
    out: dict[str, dict | None] = {}
    for name in PROFILES:
        if name == current:
            out[name] = {k: _plain(v) for k, v in here.items()}
            continue
        found = beside_record(notebook, here, profile=name)
        missing = sorted(set(here) - set(found)) if found is not None else []
        if missing:
            raise ValueError(f"El registro del perfil «{name}» de {notebook} no trae {missing}: vuelva a grabarlo con "
                             f"«python -m vaebook_lib.experiments.record --profile {name} --notebooks {notebook}».")
        out[name] = found
    return out


def show_source(obj):
    """Muestra el código fuente de una función, clase o método de ``vaebook_lib`` como bloque resaltado.

    Así el texto enseña las pocas líneas de la biblioteca que explica y nunca se desfasa de ellas. En un cuaderno
    (IPython presente) devuelve un ``IPython.display.Code`` con lenguaje python, que Jupyter y el libro muestran
    resaltado; sin IPython imprime el código y devuelve el texto. Un objeto ajeno a ``vaebook_lib`` da
    ``ValueError``.
    """
    import inspect
    import textwrap

    target = inspect.unwrap(obj.fget if isinstance(obj, property) else obj)
    module = inspect.getmodule(target)
    name = getattr(module, "__name__", "") or ""
    if not (inspect.isfunction(target) or inspect.ismethod(target) or inspect.isclass(target)) or not (
            name == "vaebook_lib" or name.startswith("vaebook_lib.")):
        raise ValueError(f"show_source solo muestra funciones, clases o métodos de vaebook_lib; se recibió "
                         f"{obj!r} (módulo {name or 'desconocido'}).")
    source = inspect.getsource(target)
    try:
        from IPython.display import Code
    except ImportError:  # pragma: no cover - depende del entorno
        print(source)
        return source
    return Code(textwrap.dedent(source), language="python")
