"""VAE que solo cambian el término de reconstrucción: log-cosh, consistencia de rasgos (DFC) y MS-SSIM.

Los tres conservan el codificador gaussiano, el prior N(0, I) y la KL analítica del VAE; el decodificador da
intensidades en [0, 1] (sigmoide) y la pérdida de reconstrucción sustituye a -log p(x|z). Convenio del libro:
cada término se suma sobre los píxeles (o rasgos) y se promedia sobre el lote.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch

from ..data.checks import check_images
from ..feature_net import FeatureNet
from ..losses import kl_to_standard_normal
from .base import NONNEGATIVE, Range
from .vae import VAE, VAEConfig, VAEOutput

# Pesos de escala de Wang et al. (2003) para 5 escalas; con 3 escalas usamos los tres primeros renormalizados.
MS_SSIM_BETAS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def log_cosh(t: torch.Tensor, a: float) -> torch.Tensor:
    """f(t; a) = (1/a) log cosh(a t), calculada de forma estable: |at| + log(1 + e^{-2|at|}) - log 2.

    Para |t| pequeño se comporta como a t^2 / 2 (como el error cuadrático); para |t| grande como
    |t| - log(2)/a (como el error absoluto).
    """
    if a <= 0:
        raise ValueError(f"El parámetro a de log-cosh debe ser positivo; se recibió {a}.")
    u = (a * t).abs()
    return (u + torch.nn.functional.softplus(-2 * u) - math.log(2)) / a


def _check_pair(x, y, what: str) -> None:
    """Dos lotes (N, C, H, W) de la misma forma, de coma flotante, sin NaN y en [0, 1] (el rango de datos 1 que
    suponen las constantes del SSIM): una reducción por lote, el diagnóstico fino solo al fallar."""
    for name, t in (("x", x), ("y", y)):
        if not isinstance(t, torch.Tensor):
            raise ValueError(f"{what}: {name} debe ser un tensor de PyTorch; se recibió {type(t).__name__}.")
    if x.shape != y.shape or x.ndim != 4:
        raise ValueError(f"{what} necesita dos lotes (N, C, H, W) de la misma forma; se recibió "
                         f"{tuple(x.shape)} y {tuple(y.shape)}.")
    for name, t in (("x", x), ("y", y)):
        check_images(t.detach(), tuple(t.shape[1:]), name=f"{what}: {name}")   # sin grafo: solo se mira


def _check_ms_ssim(x, y, scales, kernel_size):
    _check_pair(x, y, "MS-SSIM")
    if not 1 <= scales <= len(MS_SSIM_BETAS):
        raise ValueError(f"El número de escalas debe estar entre 1 y {len(MS_SSIM_BETAS)}; se recibió {scales}.")
    if min(x.shape[-2:]) <= (kernel_size - 1) * max(1, scales - 1) ** 2:   # el límite de torchmetrics
        raise ValueError(f"Imágenes de {tuple(x.shape[-2:])} px son pequeñas para {scales} escalas.")


def _betas(scales: int) -> tuple[float, ...]:
    b = torch.tensor(MS_SSIM_BETAS[:scales], dtype=torch.float64)
    return tuple((b / b.sum()).tolist())


def ms_ssim_reference(x: torch.Tensor, y: torch.Tensor, scales: int = 3, kernel_size: int = 5, sigma: float = 1.0
                      ) -> torch.Tensor:
    """MS-SSIM de torchmetrics (la referencia), un valor por ejemplo; ver :func:`ms_ssim`."""
    from torchmetrics.functional.image import multiscale_structural_similarity_index_measure  # lento de importar

    _check_ms_ssim(x, y, scales, kernel_size)
    return multiscale_structural_similarity_index_measure(x, y, kernel_size=kernel_size, sigma=sigma,
                                                          data_range=1.0, betas=_betas(scales), reduction="none")


def _window_radius(sigma: float) -> int:
    """Radio de la ventana gaussiana truncada de torchmetrics (lado 2r + 1), que es también su relleno."""
    return int(3.5 * sigma + 0.5)


def _ssim_maps(x: torch.Tensor, y: torch.Tensor, sigma: float) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Los mapas del SSIM de torchmetrics en cada píxel, (SSIM completo, contraste y estructura), y el relleno.

    Ventana gaussiana de desviación ``sigma`` truncada como en torchmetrics, relleno por reflexión y las constantes
    de Wang et al. con un rango de datos de 1. Filtra con una convolución por canales (``groups``) de un solo lote:
    en CPU, la convolución de un canal que usa torchmetrics (y su gradiente, sobre todo) es varias veces más lenta.
    """
    pad = _window_radius(sigma)
    k = 2 * pad + 1                             # tamaño real de la ventana gaussiana en torchmetrics
    d = torch.arange((1 - k) / 2, (1 + k) / 2, dtype=x.dtype, device=x.device)
    g = torch.exp(-(d / sigma).pow(2) / 2)
    g = g / g.sum()
    window = torch.outer(g, g)
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    b, c, h, w = x.shape
    xp = torch.nn.functional.pad(x, (pad,) * 4, mode="reflect")
    yp = torch.nn.functional.pad(y, (pad,) * 4, mode="reflect")
    stack = torch.cat((xp, yp, xp * xp, yp * yp, xp * yp), dim=1)            # (B, 5C, H', W')
    n = stack.shape[1] * b
    out = torch.nn.functional.conv2d(stack.reshape(1, n, *stack.shape[-2:]),
                                     window.expand(n, 1, k, k), groups=n).view(b, 5, c, h, w)
    mx, my, exx, eyy, exy = out.unbind(1)
    vx, vy = (exx - mx * mx).clamp_min(0), (eyy - my * my).clamp_min(0)
    upper, lower = 2 * (exy - mx * my) + c2, vx + vy + c2
    return ((2 * mx * my + c1) * upper) / ((mx * mx + my * my + c1) * lower), upper / lower, pad


def ssim(x: torch.Tensor, y: torch.Tensor, sigma: float = 1.5) -> torch.Tensor:
    """SSIM de cada par de imágenes en [0, 1] (Wang et al., 2004): un valor por ejemplo, 1 si son iguales.

    El mismo cálculo que ``structural_similarity_index_measure`` de torchmetrics con ``data_range=1`` y sus valores
    por defecto (ventana gaussiana con sigma = 1,5 px, 11 x 11; las pruebas lo comprueban), con el filtrado por
    canales de :func:`_ssim_maps`: con 2000 imágenes de 28 x 28 px, un tercio del tiempo en CPU (medido).
    """
    _check_pair(x, y, "El SSIM")
    if sigma <= 0:
        raise ValueError(f"La desviación de la ventana debe ser positiva; se recibió {sigma}.")
    if min(x.shape[-2:]) <= _window_radius(sigma):                            # el relleno por reflexión
        raise ValueError(f"Imágenes de {tuple(x.shape[-2:])} px son pequeñas para una ventana con sigma = {sigma}.")
    return _ssim_maps(x, y, sigma)[0].flatten(1).mean(1)


def ms_ssim(x: torch.Tensor, y: torch.Tensor, scales: int = 3, kernel_size: int = 5, sigma: float = 1.0
            ) -> torch.Tensor:
    """MS-SSIM de cada par de imágenes en [0, 1] (Wang et al., 2003): un valor por ejemplo, 1 si son iguales.

    Con imágenes de 28 px caben 3 escalas (28, 14 y 7 px); la ventana es gaussiana con sigma = 1 px (torchmetrics
    la trunca a 9 x 9 px; ``kernel_size`` solo entra en su comprobación de tamaño) y los pesos son los tres
    primeros de Wang et al., renormalizados para que sumen 1. Reproduce exactamente el cálculo de
    torchmetrics (:func:`ms_ssim_reference`, con ``normalize="relu"``; las pruebas lo comprueban), pero filtra
    con una convolución por canales (``groups``): en CPU, el gradiente de la convolución de un solo canal que
    usa torchmetrics es unas diez veces más lento y haría impracticable el entrenamiento.
    """
    _check_ms_ssim(x, y, scales, kernel_size)
    factors = []
    for s in range(scales):
        full, cs, pad = _ssim_maps(x, y, sigma)
        if s == scales - 1:                       # última escala: SSIM completo (luminancia incluida)
            factors.append(torch.relu(full.flatten(1).mean(1)))
        else:                                     # escalas finas: solo contraste y estructura
            h, w = x.shape[-2:]
            factors.append(torch.relu(cs[..., pad:h - pad, pad:w - pad].flatten(1).mean(1)))
            x, y = torch.nn.functional.avg_pool2d(x, 2), torch.nn.functional.avg_pool2d(y, 2)
    betas = torch.tensor(_betas(scales), dtype=x.dtype, device=x.device)
    return torch.prod(torch.stack(factors) ** betas[:, None], dim=0)


class _ReconLossVAE(VAE):
    """Un VAE cuyo término de reconstrucción lo da ``reconstruction(x, x_hat)`` (un valor por ejemplo)."""

    likelihood_objective = False  # su reconstrucción no es -log p(x|z) del decodificador de Bernoulli

    def reconstruction(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def weights(self) -> tuple[float, float]:
        """Pesos (de la reconstrucción, de la KL); 1 y 1 salvo donde el artículo pone otros."""
        return 1.0, 1.0

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> VAEOutput:
        self.check_input(x)
        qz = self.posterior(x)
        z = qz.rsample()
        x_hat = self.decode(z)                 # media de p(x|z): sigmoide de la salida del decodificador
        rec = self.reconstruction(x, x_hat)
        kl = kl_to_standard_normal(qz)
        w_rec, w_kl = self.weights()
        loss = (w_rec * rec + w_kl * kl).mean()
        terms = {"loss": loss, "recon": rec.mean(), "kl": kl.mean()}   # sin «elbo»: rec no es -log p(x|z)
        return VAEOutput(loss=loss, terms=terms, x_hat=x_hat, z=z, qz=qz)


@dataclass
class LogCoshVAEConfig(VAEConfig):
    likelihood: str = "gaussian"      # datos en [0, 1]; no hace falta binarizar
    a: float = 10.0                   # a grande: más parecido al error absoluto; a pequeño: al cuadrático

    def __post_init__(self):
        super().__post_init__()
        if self.a <= 0:
            raise ValueError(f"El parámetro a de log-cosh debe ser positivo; se recibió {self.a}.")


class LogCoshVAE(_ReconLossVAE):
    """Log-cosh VAE (Chen et al., 2018): pérdida = sum_pixeles (1/a) log cosh(a (x - x_hat)) + KL."""

    key = "logcosh_vae"
    Config = LogCoshVAEConfig

    def reconstruction(self, x, x_hat):
        return log_cosh(x_hat - x, self.config.a).flatten(1).sum(1)


# El beta del artículo (0.5) equilibra rasgos de una VGG-19 sobre fotografías de 0 a 255; con nuestra red pequeña
# sobre imágenes en [0, 1] la KL manda y el código colapsa (lo muestra 06b_dfcvae). El libro declara beta = 0.5 D,
# D = 784 píxeles: el paso de «media» a «suma sobre píxeles» del resto del libro.
DFC_BETA_BOOK = 0.5 * 784


@dataclass
class DFCVAEConfig(VAEConfig):
    likelihood: str = "gaussian"
    alpha: float = 1.0                # peso de la KL (alpha en el artículo)
    beta: float = 0.5                 # peso de la pérdida de rasgos (beta en el artículo)

    bounds: ClassVar[dict[str, Range]] = {"alpha": NONNEGATIVE, "beta": NONNEGATIVE}  # pesos: nunca negativos

    def __post_init__(self):
        super().__post_init__()
        if self.alpha < 0 or self.beta <= 0:
            raise ValueError(f"DFC-VAE necesita alpha >= 0 y beta > 0; se recibió alpha={self.alpha}, "
                             f"beta={self.beta}.")


class DFCVAE(_ReconLossVAE):
    """DFC-VAE (Hou et al., 2017, ec. 5-6): pérdida = alpha KL + beta sum_l ||Phi_l(x) - Phi_l(x_hat)||^2 / (2 C_l H_l W_l).

    Cada capa se normaliza por su tamaño C_l H_l W_l, como en el artículo (el código de los autores usa la media
    de ``nn.MSECriterion``): la suma sin normalizar pesaría miles de veces más frente a la KL. Phi_l son las
    activaciones de los tres bloques de un clasificador fijo (:class:`FeatureNet`), en vez de las de la VGG-19
    del artículo; por eso la escala de los rasgos (y con ella el beta que equilibra rasgos y KL) no es la del
    artículo: beta es un hiperparámetro que el cuaderno declara. Como allí, no hay término de píxeles. El
    clasificador se congela y sus pesos se guardan con el modelo (así ``load`` reproduce las mismas salidas).
    """

    key = "dfcvae"
    Config = DFCVAEConfig

    def __init__(self, config: DFCVAEConfig | None = None, feature_net: FeatureNet | None = None, **overrides):
        super().__init__(config, **overrides)
        c = self.config
        net = feature_net if feature_net is not None else FeatureNet(c.in_shape[0], side=c.in_shape[-1])
        self.features = net.eval().requires_grad_(False)

    def train(self, mode: bool = True):
        super().train(mode)
        self.features.eval()           # la red de rasgos está siempre fija
        return self

    def reconstruction(self, x, x_hat):
        total = 0.0
        for fx, fh in zip(self.features.features(x), self.features.features(x_hat)):
            total = total + 0.5 * (fx - fh).pow(2).flatten(1).mean(1)     # 1/(2 C H W) sum, por ejemplo
        return total

    def weights(self):
        return self.config.beta, self.config.alpha


@dataclass
class MSSSIMVAEConfig(VAEConfig):
    likelihood: str = "gaussian"
    scales: int = 3                   # 28 -> 14 -> 7 px
    kernel_size: int = 5
    sigma: float = 1.0
    # Escala de la disimilitud: reconstrucción = rec_scale · (1 - MS-SSIM). None: D, el número de píxeles (la
    # escala «suma sobre píxeles» del libro). Es un hiperparámetro: fija cuánto pesa la KL frente a la imagen.
    rec_scale: float | None = None

    def __post_init__(self):
        super().__post_init__()
        if self.rec_scale is not None and self.rec_scale <= 0:
            raise ValueError(f"rec_scale debe ser positivo (o None); se recibió {self.rec_scale}.")


class MSSSIMVAE(_ReconLossVAE):
    """MS-SSIM VAE (Snell et al., 2017): reconstrucción = s (1 - MS-SSIM(x, x_hat)), por defecto s = D píxeles.

    Multiplicar por D pone la disimilitud en la escala de «suma sobre los píxeles» del resto del libro (con
    una sola escala, D (1 - SSIM) es exactamente la suma del mapa 1 - SSIM por píxel). Esa escala cambia con el
    tamaño de la imagen y con ella el peso efectivo de la KL: por eso es un hiperparámetro (``rec_scale``).
    """

    key = "msssim_vae"
    Config = MSSSIMVAEConfig

    def reconstruction(self, x, x_hat):
        c = self.config
        scale = math.prod(c.in_shape) if c.rec_scale is None else c.rec_scale
        return scale * (1 - ms_ssim(x_hat, x, c.scales, c.kernel_size, c.sigma))
