"""Catálogo de modelos: ``MODELS`` asocia a cada clave estable su clase."""
from .ae import AE, AEConfig
from .base import Model, ModelConfig, Output, load, save
from .vae import VAE, VAEConfig, VAEOutput
from .linear_gaussian import LinearGaussian, LinearGaussianConfig

MODELS: dict[str, type[Model]] = {cls.key: cls for cls in (AE, VAE,
                                                LinearGaussian)}
from .beta_vae import BetaVAE, BetaVAECapacity, BetaVAECapacityConfig, BetaVAEConfig
from .beta_tcvae import BetaTCVAE, BetaTCVAEConfig
from .dip_vae import DIPVAE, DIPVAEConfig

MODELS: dict[str, type[Model]] = {cls.key: cls for cls in (AE, VAE, BetaVAE, BetaVAECapacity, BetaTCVAE, DIPVAE)}

__all__ = ["AE", "AEConfig", "MODELS", "Model", "ModelConfig", "Output", "VAE", "VAEConfig", "VAEOutput",
           "load", "save",
           "LinearGaussian", "LinearGaussianConfig"]
