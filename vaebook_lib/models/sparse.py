"""Autocodificadores poco densos (survey, 1.4.1): por penalización de las activaciones y k-disperso.

- ``SparseAE`` (Ng, 2011): min L + lambda * E_x[ sum_l w_l ||h_l|| ], norma L1 o L2 de las activaciones h_l de
  cada capa del codificador (las ocultas y el código, este con ReLU para que «inactivo» sea exactamente 0).
- ``KSparseAE`` (Makhzani y Frey, 2013): el código conserva solo sus k activaciones mayores; sin penalización.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..nets import ACTIVATIONS
from ..regularizers import NORMS, activation_penalty, count_hidden_layers, k_sparse, layer_activations
from ..schedules import linear_ramp
from .ae import AE, AEConfig
from .base import Output


@dataclass
class SparseAEConfig(AEConfig):
    lam: float = 0.01                  # lambda del survey: cuánta dispersión se pide
    norm: str = "l1"                   # «l1» o «l2»: SAE L1 o SAE L2
    weights: tuple[float, ...] = ()    # w_l por capa (ocultas..., código); vacío = todas 1
    code_activation: str = "relu"


class SparseAE(AE):
    """Pérdida = ||x - D(E(x))||^2 + lambda * sum_l w_l ||h_l||, sumada sobre píxeles/unidades, media del lote."""

    key = "sparse_ae"
    Config = SparseAEConfig

    def __init__(self, config: SparseAEConfig | None = None, **overrides):
        super().__init__(config, **overrides)
        c = self.config
        if c.norm not in NORMS:
            raise ValueError(f"Norma desconocida {c.norm!r}; use «l1» o «l2».")
        if c.lam < 0:
            raise ValueError(f"lambda debe ser no negativo; se recibió {c.lam}.")
        if c.code_activation not in ACTIVATIONS:
            raise ValueError(f"Activación del código desconocida {c.code_activation!r}.")
        n_layers = count_hidden_layers(self.encoder) + 1   # capas ocultas (también las convolucionales) + código
        self.layer_weights = tuple(c.weights) if c.weights else (1.0,) * n_layers
        if len(self.layer_weights) != n_layers:
            raise ValueError(f"Se esperaban {n_layers} pesos w_l (capas ocultas + código); "
                             f"se recibió {len(self.layer_weights)}.")
        self.code_act = ACTIVATIONS[c.code_activation]()

    def activations(self, x: torch.Tensor) -> list[torch.Tensor]:
        """[h_1, ..., h_K]: activaciones de las capas ocultas del codificador y, al final, el código."""
        hs = layer_activations(self.encoder, x)
        return [*hs[:-1], self.code_act(hs[-1])]

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.code_act(self.encoder(x))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> Output:
        self.check_input(x)
        hs = self.activations(x)
        z = hs[-1]
        x_hat = self.decode(z)
        rec = (x_hat - x).pow(2).flatten(1).sum(1).mean()
        sparsity = activation_penalty(hs, self.layer_weights, self.config.norm)
        loss = rec + self.config.lam * sparsity
        terms = {"loss": loss, "recon": rec, "sparsity": sparsity}
        return Output(loss=loss, terms=terms, x_hat=x_hat, z=z)


@dataclass
class KSparseAEConfig(AEConfig):
    latent_dim: int = 100
    hidden: tuple[int, ...] = ()       # como en el artículo: codificador y decodificador lineales
    activation: str = "identity"
    k: int = 10                        # unidades activas por ejemplo
    anneal: bool = True                # k baja linealmente de latent_dim a k en la primera mitad (evita unidades muertas)


class KSparseAE(AE):
    """z = soporte_k(W x + b): solo las k activaciones mayores pasan al decodificador; pérdida = ||x - D(z)||^2."""

    key = "ksparse_ae"
    Config = KSparseAEConfig
    own_architecture = True   # el soporte de k unidades y sus capas lineales son parte del método

    def __init__(self, config: KSparseAEConfig | None = None, **overrides):
        super().__init__(config, **overrides)
        if not 1 <= self.config.k <= self.config.latent_dim:
            raise ValueError(f"k debe estar entre 1 y latent_dim={self.config.latent_dim}; se recibió {self.config.k}.")
        # Búfer: el k recocido se guarda y se carga con el modelo (un modelo cargado sigue donde estaba).
        self.register_buffer("k_now", torch.tensor(self.config.k, dtype=torch.long))

    def schedule(self, progress: float) -> None:
        c = self.config
        if c.anneal:
            frac = linear_ramp(progress, ramp=0.5)
            self.k_now.fill_(int(round(c.latent_dim + (c.k - c.latent_dim) * frac)))

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        k = int(self.k_now) if self.training else self.config.k
        return k_sparse(self.encoder(x), k)
