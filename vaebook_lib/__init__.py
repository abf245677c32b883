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

__all__ = ["History", "ImageData", "MODELS", "Profile", "binarize", "evaluate", "fit", "get_device",
           "get_profile", "load", "load_fashion_mnist", "load_formas", "load_mnist", "log_likelihood_is",
           "sample_toy", "save", "set_seed"]
