"""Catálogo de modelos: ``MODELS`` asocia a cada clave estable su clase."""
from .ae import AE, AEConfig
from .base import Model, ModelConfig, Output, load, save
from .beta_tcvae import BetaTCVAE, BetaTCVAEConfig
from .beta_vae import BetaVAE, BetaVAECapacity, BetaVAECapacityConfig, BetaVAEConfig
from .contractive import ContractiveAE, ContractiveAEConfig
from .denoising import DenoisingAE, DenoisingAEConfig, DenoisingOutput
from .dip_vae import DIPVAE, DIPVAEConfig
from .linear_gaussian import LinearGaussian, LinearGaussianConfig
from .sparse import KSparseAE, KSparseAEConfig, SparseAE, SparseAEConfig
from .vae import VAE, VAEConfig, VAEOutput
from .vae_annealed import AnnealedVAE, AnnealedVAEConfig
from .vae_flows import VAEIAF, VAEIAFConfig, VAEPlanar, VAEPlanarConfig
from .vae_fullcov import VAEFullCov, VAEFullCovConfig

MODELS: dict[str, type[Model]] = {cls.key: cls for cls in (
    # capítulo 1
    AE, SparseAE, KSparseAE, DenoisingAE, ContractiveAE,
    # capítulo 2
    LinearGaussian, VAE, VAEFullCov, AnnealedVAE, VAEPlanar, VAEIAF,
    # capítulo 3
    BetaVAE, BetaVAECapacity, BetaTCVAE, DIPVAE,
)}

__all__ = ["MODELS", "Model", "ModelConfig", "Output", "load", "save"] + [c.__name__ for c in MODELS.values()]
