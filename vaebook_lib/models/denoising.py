"""Autocodificador de atenuación de ruido, DAE (Vincent et al., 2008; survey, 1.4.2).

min E_{x ~ p_datos, T ~ p_T} ||x - (D o E o T)(x)||^2: la entrada se corrompe con una T sorteada en cada lote de la
familia ``corruptions`` (ver :mod:`vaebook_lib.corruption`) y se reconstruye la imagen limpia. Con
``random_level`` también la intensidad del ruido forma parte de T: el DAE no se especializa en un solo nivel.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..corruption import CORRUPTIONS, corrupt_from_family
from .ae import AE, AEConfig
from .base import Output


@dataclass
class DenoisingOutput(Output):
    """Además de la salida común: la entrada corrompida ``x_tilde`` = T(x)."""

    x_tilde: torch.Tensor | None = None


@dataclass
class DenoisingAEConfig(AEConfig):
    corruptions: tuple[str, ...] = CORRUPTIONS   # la familia de la que se sortea T
    noise_level: float = 0.3                     # sigma del gaussiano o probabilidad por píxel de los demás
    random_level: bool = False                   # True: el nivel también se sortea, U(0, noise_level), por lote


class DenoisingAE(AE):
    """Pérdida = ||x - D(E(T(x)))||^2 sumada sobre los píxeles y promediada sobre el lote."""

    key = "denoising_ae"
    Config = DenoisingAEConfig

    def __init__(self, config: DenoisingAEConfig | None = None, **overrides):
        super().__init__(config, **overrides)
        c = self.config
        unknown = [k for k in c.corruptions if k not in CORRUPTIONS]
        if not c.corruptions or unknown:
            raise ValueError(f"Familia de corrupciones no válida {c.corruptions!r}; use tipos de {CORRUPTIONS}.")
        if c.noise_level < 0:
            raise ValueError(f"El nivel de ruido debe ser no negativo; se recibió {c.noise_level}.")

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> DenoisingOutput:
        self.check_input(x)
        level = self.config.noise_level
        if self.config.random_level:
            level = level * float(torch.rand(()))
        x_tilde, _ = corrupt_from_family(x, self.config.corruptions, level)
        z = self.encode(x_tilde)
        x_hat = self.decode(z)
        rec = (x_hat - x).pow(2).flatten(1).sum(1).mean()   # se compara con la x limpia
        return DenoisingOutput(loss=rec, terms={"loss": rec, "recon": rec}, x_hat=x_hat, z=z,
                               x_tilde=x_tilde)
