"""Catálogo de modelos: ``MODELS`` asocia a cada clave estable su clase."""
from .ae import AE, AEConfig
from .base import Model, ModelConfig, Output, load, save
from .vae import VAE, VAEConfig, VAEOutput
from .vae_annealed import AnnealedVAE, AnnealedVAEConfig
from .vae_flows import VAEIAF, VAEIAFConfig, VAEPlanar, VAEPlanarConfig
from .vae_fullcov import VAEFullCov, VAEFullCovConfig

MODELS: dict[str, type[Model]] = {cls.key: cls for cls in (AE, VAE, VAEFullCov, VAEPlanar, VAEIAF, AnnealedVAE)}

__all__ = ["AE", "AEConfig", "MODELS", "Model", "ModelConfig", "Output", "VAE", "VAEConfig", "VAEOutput",
           "load", "save"]
