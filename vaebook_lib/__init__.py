"""vaebook_lib: la biblioteca del libro VAEbook (autocodificadores y VAE, en español).

Los cuadernos importan de aquí un puñado de nombres; cada módulo tiene su propio propósito:
``config`` (perfiles, semillas, dispositivo) -> ``data`` -> ``nets`` -> ``models`` -> ``losses``/``metrics``
-> ``train`` -> ``viz``/``widgets``.
"""
from .config import Profile, get_device, get_profile, set_seed
from .data import ImageData, binarize, load_fashion_mnist, load_formas, load_mnist, sample_toy
from .metrics import log_likelihood_is
from .models import MODELS, load, save
from .train import History, evaluate, fit

__version__ = "0.1.0"

# PyTorch (al menos desde la 2.13) arranca cada proceso con una semilla al azar: un modelo creado antes de la
# primera ``set_seed`` nacía con otros pesos en cada ejecución, y un cuaderno daba otras cifras cada vez (así
# falló, una vez de cada pocas, una comprobación del VQ-VAE). Al importar la biblioteca se fija la semilla 0:
# todo cuaderno es reproducible desde su primera celda, sin pedírselo al lector.
set_seed(0)

__all__ = ["History", "ImageData", "MODELS", "Profile", "binarize", "evaluate", "fit", "get_device",
           "get_profile", "load", "load_fashion_mnist", "load_formas", "load_mnist", "log_likelihood_is",
           "sample_toy", "save", "set_seed"]
