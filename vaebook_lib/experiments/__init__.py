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
