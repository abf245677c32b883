"""``python -m vaebook_lib.bench``, la orden documentada del banco de pruebas: ejecuta
:func:`vaebook_lib.experiments.bench.main`, donde está todo el programa."""
from .experiments.bench import main

if __name__ == "__main__":
    main()
