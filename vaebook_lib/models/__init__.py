"""Catálogo de modelos: ``MODELS`` asocia a cada clave estable su clase."""
from .ae import AE, AEConfig
from .base import Model, ModelConfig, Output, load, save
from .vae import VAE, VAEConfig, VAEOutput
from .recon_losses import DFCVAE, LogCoshVAE, MSSSIMVAE
from .vq_vae import PixelCNNPrior, VQVAE
from .wae import SWAE, WAE, InfoVAE

MODELS: dict[str, type[Model]] = {cls.key: cls for cls in (AE, VAE, WAE, SWAE, InfoVAE, LogCoshVAE, DFCVAE, MSSSIMVAE, VQVAE, PixelCNNPrior)}

__all__ = ["AE", "AEConfig", "MODELS", "Model", "ModelConfig", "Output", "VAE", "VAEConfig", "VAEOutput",
           "load", "save"]
