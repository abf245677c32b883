"""Programas del libro, no biblioteca: cada módulo se ejecuta con ``python -m vaebook_lib.experiments.<módulo>``.

- :mod:`~vaebook_lib.experiments.bench`: banco de pruebas de rendimiento (también ``python -m vaebook_lib.bench``);
- :mod:`~vaebook_lib.experiments.pythae_bench`: la comparación con pythae que el banco lanza con ``--pythae``;
- :mod:`~vaebook_lib.experiments.reproducibility`: la tabla de cifras publicadas frente a las nuestras;
- :mod:`~vaebook_lib.experiments.distributed_demo`: un entrenamiento con ``torchrun`` (DDP) de principio a fin;
- :mod:`~vaebook_lib.experiments.record`: el registro de una ejecución del libro (``make book`` lo anuncia y
  :func:`vaebook_lib.report.recorded` lo lee).

Usan la biblioteca (``fit``, los modelos, los datos); la biblioteca no depende de ellos, salvo la lectura del
registro.
"""

import json
from pathlib import Path


def read_json(path: Path, fix: str = "") -> dict | None:
    """El JSON de un registro, ``None`` si el fichero no existe; uno que no es JSON válido es un error en español
    que dice cómo arreglarlo (``fix``)."""
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"El registro {path} no es JSON válido ({err}){': ' + fix if fix else ''}.") from err
