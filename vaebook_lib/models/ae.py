"""Autocodificador determinista: x -> E_phi(x) = z -> D_theta(z), entrenado por mínimos cuadrados."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..data.checks import all_finite
from ..nets import Decoder, Encoder
from .base import Model, ModelConfig, Output


@dataclass
class AEConfig(ModelConfig):
    likelihood: str = "gaussian"   # el AE compara intensidades: no hace falta binarizar
    output: str = "sigmoid"        # «sigmoid» (datos en [0, 1]) o «identity» (datos centrados, AE lineal)
    activation: str = "relu"       # «identity» con hidden=() da el autocodificador lineal


class AE(Model):
    """Autocodificador: pérdida = ||x - D(E(x))||^2 sumada sobre los píxeles y promediada sobre el lote."""

    key = "ae"
    Config = AEConfig

    def __init__(self, config: AEConfig | None = None, **overrides):
        super().__init__(config, **overrides)
        c = self.config
        if c.output not in ("sigmoid", "identity"):
            raise ValueError(f"Salida desconocida {c.output!r}; use «sigmoid» o «identity».")
        self.encoder = Encoder(c.in_shape, c.latent_dim, c.hidden, c.arch, c.activation)
        self.decoder = Decoder(c.latent_dim, c.in_shape, tuple(reversed(c.hidden)), c.arch, c.activation)

    def check_input(self, x: torch.Tensor) -> None:
        if self.config.output == "sigmoid":
            super().check_input(x)
            return
        self.check_batch(x)
        # la forma primero (no lee los datos); luego una sola reducción
        if tuple(x.shape[1:]) != self.config.in_shape or not all_finite(x):
            raise ValueError(f"x debe tener forma (lote, {self.config.in_shape}) y valores finitos.")

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        raw = self.decoder(z)
        return torch.sigmoid(raw) if self.config.output == "sigmoid" else raw

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> Output:
        self.check_input(x)
        z = self.encode(x)
        x_hat = self.decode(z)
        rec = (x_hat - x).pow(2).flatten(1).sum(1).mean()
        return Output(loss=rec, terms={"loss": rec, "recon": rec}, x_hat=x_hat, z=z)
