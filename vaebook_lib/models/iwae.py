"""IWAE (Burda et al., 2015) y MIWAE (Rainforth et al., 2018): cotas ponderadas por importancia.

Mismo modelo generativo y mismo codificador que el VAE; solo cambia el objetivo. Con k muestras z_i ~ q(z|x),
log w_i = log p(x|z_i) + log p(z_i) - log q(z_i|x) (por muestra, sin la KL analítica) y

    L_k(x) = log (1/k) sum_i w_i          (ec. 8 de Burda et al.; L_1 es la ELBO)

MIWAE promedia M cotas L_k independientes: L_{M,k} = (1/M) sum_m log (1/k) sum_i w_{m,i} (Rainforth et al. llaman
K a nuestro k; en este libro K es el número de pasos de un flujo o de categorías).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .vae import VAE, VAEConfig, VAEOutput, log_density


def importance_weighted_bound(log_w: torch.Tensor) -> torch.Tensor:
    """Cota L_{M,k} por ejemplo a partir de ``log_w`` de forma (M, k, lote).

    Su valor es exactamente (1/M) sum_m [logsumexp_i log w_{m,i} - log k]. Su gradiente se escribe con los pesos
    normalizados w~ = softmax(log w) **separados del grafo**: grad L = sum_i w~_i grad log w_i (ec. 14 de Burda
    et al.), que coincide con el gradiente de la propia cota; los pesos no reciben gradiente.
    """
    if log_w.ndim != 3:
        raise ValueError(f"log_w debe tener forma (M, k, lote); se recibió {tuple(log_w.shape)}.")
    k = log_w.shape[1]
    value = (torch.logsumexp(log_w, dim=1) - math.log(k)).mean(0)
    weights = torch.softmax(log_w, dim=1).detach()            # w~: constantes para el gradiente
    surrogate = (weights * log_w).sum(1).mean(0)
    # valor = la cota; gradiente = el del sustituto (idéntico al de la cota)
    return value.detach() + surrogate - surrogate.detach()


@dataclass
class IWAEOutput(VAEOutput):
    """Además de la salida del VAE: la cota L_{M,K} de cada ejemplo (``elbo`` es L_1 con las mismas muestras)."""

    bound: torch.Tensor | None = None


@dataclass
class MIWAEConfig(VAEConfig):
    m: int = 1   # M: cotas promediadas
    k: int = 5   # k: muestras de importancia por cota


@dataclass
class IWAEConfig(MIWAEConfig):
    m: int = 1   # la IWAE es la MIWAE con M = 1


class MIWAE(VAE):
    """Pérdida = -L_{M,k} media sobre el lote; términos: la cota y la ELBO media de las M·k muestras."""

    key = "miwae"
    Config = MIWAEConfig

    def __init__(self, config: MIWAEConfig | None = None, **overrides):
        super().__init__(config, **overrides)
        for name in ("m", "k"):
            value = getattr(self.config, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} debe ser un entero positivo; se recibió {value!r}.")

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> IWAEOutput:
        self.check_input(x)
        m, k = self.config.m, self.config.k
        qz = self.posterior(x)
        z = qz.rsample((m * k,))                               # las M·K muestras de q(z|x)
        log_w = (self.log_joint(x, z) - log_density(qz, z)).reshape(m, k, len(x))
        bound = importance_weighted_bound(log_w)
        loss = -bound.mean()
        elbo = log_w.detach().mean((0, 1))                    # L_1 estimada con las mismas muestras
        terms = {"loss": loss, "bound": bound.mean(), "elbo": elbo.mean()}
        with torch.no_grad():                                  # solo para mostrar: la imagen de la primera muestra
            x_hat = self.decode(z[0])
        return IWAEOutput(loss=loss, terms=terms, x_hat=x_hat, z=z[0], qz=qz, elbo=elbo, bound=bound.detach())


class IWAE(MIWAE):
    """IWAE: la MIWAE con M = 1 (una sola cota con ``k`` muestras)."""

    key = "iwae"
    Config = IWAEConfig

    def __init__(self, config: IWAEConfig | None = None, **overrides):
        super().__init__(config, **overrides)
        if self.config.m != 1:
            raise ValueError("La IWAE usa una sola cota (m = 1); para M > 1 use la MIWAE.")
