"""Autocodificador contractivo, CAE (Rifai et al., 2011; survey, 1.4.3).

min L + lambda * E_x ||grad_x E_phi(x)||_F^2: el jacobiano del codificador respecto a la entrada se calcula
exacto con ``torch.func`` (``penalty="jacrev"``) o, para un codificador de una capa sigmoide, con su forma
cerrada sum_j (h_j (1 - h_j))^2 ||W_j||^2 (``penalty="closed_form"``), mucho más barata.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..nets import ACTIVATIONS
from ..regularizers import jacobian_frobenius_sq, sigmoid_contractive_penalty
from .ae import AE, AEConfig
from .base import Output

PENALTIES = ("jacrev", "closed_form")


@dataclass
class ContractiveAEConfig(AEConfig):
    lam: float = 0.1                   # lambda del survey
    code_activation: str = "sigmoid"   # como en el artículo: h = sigmoid(W x + b)
    penalty: str = "jacrev"            # «jacrev» (cualquier codificador) o «closed_form» (una capa sigmoide)


class ContractiveAE(AE):
    """Pérdida = ||x - D(E(x))||^2 + lambda * ||J_E(x)||_F^2, ambas sumadas por ejemplo y promediadas."""

    key = "contractive_ae"
    Config = ContractiveAEConfig

    def __init__(self, config: ContractiveAEConfig | None = None, **overrides):
        super().__init__(config, **overrides)
        c = self.config
        if c.penalty not in PENALTIES:
            raise ValueError(f"Penalización desconocida {c.penalty!r}; use una de {PENALTIES}.")
        if c.code_activation not in ACTIVATIONS:
            raise ValueError(f"Activación del código desconocida {c.code_activation!r}.")
        if c.penalty == "closed_form" and (c.hidden or c.code_activation != "sigmoid" or c.arch != "mlp"):
            raise ValueError("La forma cerrada solo vale para un codificador de una capa sigmoide: "
                             "hidden=(), code_activation=«sigmoid», arch=«mlp».")
        if c.lam < 0:
            raise ValueError(f"lambda debe ser no negativo; se recibió {c.lam}.")
        self.code_act = ACTIVATIONS[c.code_activation]()

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.code_act(self.encoder(x))

    def first_layer(self) -> nn.Linear:
        return next(m for m in self.encoder.modules() if isinstance(m, nn.Linear))

    def contractive(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        """||grad_x E_phi(x)||_F^2 de cada ejemplo: tensor (B,)."""
        if self.config.penalty == "closed_form":
            h = self.encode(x) if h is None else h
            return sigmoid_contractive_penalty(self.first_layer().weight, h)
        return jacobian_frobenius_sq(self.encode, x)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> Output:
        self.check_input(x)
        z = self.encode(x)
        x_hat = self.decode(z)
        rec = (x_hat - x).pow(2).flatten(1).sum(1).mean()
        contractive = self.contractive(x, z).mean()
        loss = rec + self.config.lam * contractive
        terms = {"loss": loss, "recon": rec, "contractive": contractive}
        return Output(loss=loss, terms=terms, x_hat=x_hat, z=z)
