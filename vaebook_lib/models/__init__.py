"""Catálogo de modelos: ``MODELS`` asocia a cada clave estable su clase."""
from .adgm import ADGM
from .ae import AE, AEConfig
from .base import Model, ModelConfig, Output, Unsupported, encode_all, evaluating, gaussian_from_params, load, save
from .beta_tcvae import BetaTCVAE, BetaTCVAEConfig
from .beta_vae import BetaVAE, BetaVAECapacity, BetaVAECapacityConfig, BetaVAEConfig
from .categorical_vae import CategoricalVAE, CategoricalVAEConfig
from .contractive import ContractiveAE, ContractiveAEConfig
from .cvae import CVAE, CompletionBaseline
from .denoising import DenoisingAE, DenoisingAEConfig, DenoisingOutput
from .dip_vae import DIPVAE, DIPVAEConfig
from .info_vae_pixelcnn import PixelCNNInfoVAE, PixelCNNInfoVAEConfig
from .iwae import IWAE, MIWAE
from .joint_vae import JointVAE, JointVAEConfig
from .linear_gaussian import LinearGaussian, LinearGaussianConfig
from .recon_losses import DFCVAE, LogCoshVAE, MSSSIMVAE
from .sparse import KSparseAE, KSparseAEConfig, SparseAE, SparseAEConfig
from .structured_vae import StructuredVAE
from .vae import VAE, VAEConfig, VAEOutput
from .vq_vae import PixelCNNPrior, VQVAE
from .vae_annealed import AnnealedVAE, AnnealedVAEConfig
from .vae_flows import VAEIAF, VAEIAFConfig, VAEPlanar, VAEPlanarConfig
from .vae_fullcov import VAEFullCov, VAEFullCovConfig
from .vae_pixelcnn import PixelCNNVAE, PixelCNNVAEConfig
from .wae import SWAE, WAE, InfoVAE

MODELS: dict[str, type[Model]] = {cls.key: cls for cls in (
    # capítulo 1: autocodificadores
    AE, SparseAE, KSparseAE, DenoisingAE, ContractiveAE,
    # capítulo 2: autocodificadores variacionales
    LinearGaussian, VAE, VAEFullCov, AnnealedVAE, PixelCNNVAE, VAEPlanar, VAEIAF,
    # capítulo 3: extensiones
    IWAE, MIWAE, CVAE, ADGM, StructuredVAE,
    WAE, SWAE, InfoVAE, LogCoshVAE, DFCVAE, MSSSIMVAE, VQVAE, PixelCNNPrior,
    BetaVAE, BetaVAECapacity, BetaTCVAE, DIPVAE, CategoricalVAE, JointVAE,
)}

# Variantes que no son modelos de la revisión: fuera del catálogo (y de la comparativa), pero ``load`` las conoce.
VARIANTS: dict[str, type[Model]] = {cls.key: cls for cls in (PixelCNNInfoVAE,)}

__all__ = (["MODELS", "VARIANTS", "Model", "ModelConfig", "Output", "Unsupported", "encode_all", "evaluating",
            "gaussian_from_params", "load", "save", "CompletionBaseline"]
           + [c.__name__ for c in (*MODELS.values(), *VARIANTS.values())])
