"""VAE con los remedios clásicos del colapso de la posterior, como opciones de configuración:

- recocido de la KL (Bowman et al., 2015): pérdida = -E_q[log p(x|z)] + w(t) KL, w crece de 0 a 1 (``warmup``);
- bits libres (Kingma et al., 2016): pérdida = -E_q[log p(x|z)] + sum_j max(lambda, E_lote[KL_j]) (``free_bits``):
  por debajo de lambda nats una dimensión no paga KL ni recibe su gradiente (no se le garantizan lambda nats).

El término «elbo» es siempre la ELBO verdadera (peso 1, sin bits libres): las curvas son comparables.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.distributions import kl_divergence

from ..losses import free_bits_kl
from ..schedules import linear_ramp
from .vae import VAE, VAEConfig, VAEOutput, elbo_output


@dataclass
class AnnealedVAEConfig(VAEConfig):
    warmup: float = 0.0        # fracción del entrenamiento en que el peso de la KL sube de 0 a 1 (0: sin recocido)
    free_bits: float = 0.0     # lambda: nats de KL por dimensión que no se penalizan (0: sin bits libres)

    def __post_init__(self):
        super().__post_init__()
        if self.warmup < 0 or self.free_bits < 0:
            raise ValueError("warmup y free_bits deben ser >= 0.")


class AnnealedVAE(VAE):
    """VAE gaussiano con recocido de la KL y bits libres."""

    key = "vae_annealed"
    Config = AnnealedVAEConfig

    def __init__(self, config: AnnealedVAEConfig | None = None, **overrides):
        super().__init__(config, **overrides)
        # Búfer (no atributo): el peso recocido se guarda y se carga con el modelo; uno cargado a mitad del
        # recocido sigue con el peso al que llegó, no vuelve a 0.
        self.register_buffer("kl_weight", torch.tensor(1.0 if self.config.warmup == 0 else 0.0))

    def schedule(self, progress: float) -> None:
        self.kl_weight.fill_(linear_ramp(progress, ramp=self.config.warmup))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> VAEOutput:
        qz, z, px, rec = self.encode_sample_decode(x)
        kl_dims = kl_divergence(qz, self.prior(z))    # (lote, D)
        kl = kl_dims.sum(-1)
        if self.config.free_bits > 0:
            loss = rec.mean() + free_bits_kl(kl_dims, self.config.free_bits)
        else:
            loss = rec.mean() + self.kl_weight * kl.mean()
        return elbo_output(rec, {"kl": kl}, px, z, qz, loss=loss)
