"""Catálogo de modelos: ``MODELS`` asocia a cada clave estable su clase."""
from .ae import AE, AEConfig
from .base import Model, ModelConfig, Output, load, save
from .contractive import ContractiveAE, ContractiveAEConfig
from .denoising import DenoisingAE, DenoisingAEConfig, DenoisingOutput
from .sparse import KSparseAE, KSparseAEConfig, SparseAE, SparseAEConfig
from .vae import VAE, VAEConfig, VAEOutput

MODELS: dict[str, type[Model]] = {cls.key: cls for cls in (AE, VAE, SparseAE, KSparseAE, DenoisingAE, ContractiveAE)}

__all__ = ["AE", "AEConfig", "MODELS", "Model", "ModelConfig", "Output", "VAE", "VAEConfig", "VAEOutput",
           "load", "save"]
