"""Catálogo de modelos: ``MODELS`` asocia a cada clave estable su clase."""
from .ae import AE, AEConfig
from .base import Model, ModelConfig, Output, load, save
from .vae import VAE, VAEConfig, VAEOutput
from .iwae import IWAE, MIWAE
from .cvae import CVAE
from .structured_vae import StructuredVAE
from .adgm import ADGM

MODELS: dict[str, type[Model]] = {cls.key: cls for cls in (AE, VAE, IWAE, MIWAE, CVAE, StructuredVAE, ADGM)}

__all__ = ["AE", "AEConfig", "MODELS", "Model", "ModelConfig", "Output", "VAE", "VAEConfig", "VAEOutput",
           "load", "save"]
