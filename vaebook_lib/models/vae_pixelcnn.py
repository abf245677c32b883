"""VAE con decodificador autorregresivo: una PixelCNN condicionada a z (van den Oord et al., 2016; Gulrajani et
al., 2016, «PixelVAE"), con el mismo codificador gaussiano que el VAE:

    log p(x|z) = sum_i log Bernoulli(x_i | f_theta(x_<i, z)_i),   i en orden de lectura.

Cada píxel ve los anteriores (convoluciones enmascaradas) y recibe z como un mapa espacial sumado a cada capa. Un
decodificador así puede modelar buena parte de la imagen sin mirar z: es el caso de libro del colapso de la
posterior (Bowman et al., 2015; Chen et al., 2016). Hereda de :class:`AnnealedVAE` sus remedios (``warmup``,
``free_bits``) y su pérdida; el término «elbo» es siempre la ELBO verdadera.

La verosimilitud necesita la imagen (los píxeles anteriores): ``likelihood(z, x)`` la recibe, y este modelo
redefine ``likelihood_at(z, x)``, el gancho por el que la ELBO y ``log_weights`` del VAE evalúan p(x|z);
``decode``/``sample``/``reconstruct`` devuelven **muestras** de p(x|z), píxel a píxel (su media no tiene forma
cerrada), y ``x_hat`` de la salida son las probabilidades de cada píxel dados los anteriores verdaderos.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.distributions import Bernoulli, Independent
from torch.nn import functional as F

from ..nets import Decoder, MaskedConv2d, Pointwise
from .base import evaluating
from .vae_annealed import AnnealedVAE, AnnealedVAEConfig


class PixelCNNDecoder(nn.Module):
    """Logits de p(x_i | x_<i, z): una capa enmascarada «A» de lado ``kernel``, ``n_layers`` capas «B» de 3 x 3
    y una convolución 1 x 1 de salida. z entra como una imagen: la que dibujaría el decodificador del VAE
    (``nets.Decoder``, la misma red), que se suma a cada capa tras una convolución 1 x 1 propia. El camino de z
    tiene así la capacidad del VAE de decodificador factorizado, y la PixelCNN añade el contexto."""

    def __init__(self, in_shape: tuple[int, ...], latent_dim: int, channels: int, n_layers: int, kernel: int,
                 hidden: tuple[int, ...], arch: str):
        super().__init__()
        self.first = MaskedConv2d("A", in_shape[0], channels, kernel)
        self.layers = nn.ModuleList(MaskedConv2d("B", channels, channels, 3) for _ in range(n_layers))
        self.cond = Decoder(latent_dim, in_shape, hidden, arch)
        self.cond_proj = nn.ModuleList(Pointwise(in_shape[0], channels) for _ in range(n_layers + 1))
        self.out = Pointwise(channels, in_shape[0])

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.run(x, self.cond(z))

    @property
    def reach(self) -> int:
        """Cuántas filas por encima de la suya ve el logit de un píxel: las de la capa A (la mitad de su lado) y una
        más por cada capa B de 3 x 3. Nada de más arriba ni de más abajo cambia ese logit."""
        return self.first.kernel_size[0] // 2 + len(self.layers)

    def run(self, x: torch.Tensor, zmap: torch.Tensor) -> torch.Tensor:
        """Los logits con el mapa de z ya calculado (el muestreo lo reutiliza en cada píxel)."""
        h = F.relu(self.first(x) + self.cond_proj[0](zmap))
        for layer, proj in zip(self.layers, self.cond_proj[1:]):
            h = F.relu(layer(h) + proj(zmap))
        return self.out(h)


@dataclass
class PixelCNNVAEConfig(AnnealedVAEConfig):
    channels: int = 16     # canales de cada capa de la PixelCNN
    n_layers: int = 2      # capas «B» de 3 x 3 tras la primera
    kernel: int = 7        # lado de la primera capa, la «A» (su campo receptivo)

    def __post_init__(self):
        super().__post_init__()
        check_pixelcnn_config(self, self.kernel, "kernel")


def check_pixelcnn_config(config, mask: int, mask_name: str) -> None:
    """Lo que exige un decodificador PixelCNN a la configuración: datos binarios, imágenes (canales, alto, ancho),
    canales positivos, ``n_layers >= 0`` y un lado impar ``mask`` (el campo ``mask_name``) para la capa A."""
    if config.likelihood != "bernoulli":
        raise ValueError("El VAE con PixelCNN modela datos binarios: use likelihood='bernoulli'.")
    if len(config.in_shape) != 3:
        raise ValueError(f"in_shape debe ser (canales, alto, ancho); se recibió {config.in_shape}.")
    if config.channels <= 0 or config.n_layers < 0 or mask < 1 or mask % 2 == 0:
        raise ValueError(f"channels debe ser positivo, n_layers >= 0 y {mask_name} un entero impar positivo.")


class PixelCNNDecoding:
    """Lo que un decodificador PixelCNN cambia en un VAE gaussiano: cómo se evalúa p(x|z) (con la imagen) y
    cómo se genera (píxel a píxel). Se combina con una clase de la familia del VAE, que pone la pérdida
    (:class:`PixelCNNVAE`, la ELBO con sus remedios; ``PixelCNNInfoVAE``, la del InfoVAE); esa clase pone en
    ``self.decoder`` el de :meth:`pixelcnn_decoder`."""

    def pixelcnn_decoder(self, mask: int) -> PixelCNNDecoder:
        """El decodificador PixelCNN de la configuración, con una primera capa A de lado ``mask`` (el campo de la
        configuración que lo da se llama distinto en cada clase)."""
        c = self.config
        return PixelCNNDecoder(c.in_shape, c.latent_dim, c.channels, c.n_layers, mask, tuple(reversed(c.hidden)),
                               c.arch)

    def likelihood(self, z: torch.Tensor, x: torch.Tensor | None = None) -> Independent:
        """p(x|z) como producto de Bernoulli, cada una condicionada a los píxeles anteriores de ``x``.

        ``z``: (..., latent_dim); ``x``: (..., canales, alto, ancho) con las mismas dimensiones delanteras. Sin
        ``x`` no hay verosimilitud que evaluar (para generar, :meth:`decode`). El paso de la ELBO
        (``encode_sample_decode``) y los pesos de importancia (``log_weights``) son los del VAE.
        """
        if x is None:
            raise ValueError("El decodificador autorregresivo necesita la imagen x para evaluar p(x|z); "
                             "para generar, use decode(z).")
        lead = z.shape[:-1]
        logits = self.decoder(x.reshape(-1, *self.config.in_shape), z.reshape(-1, z.shape[-1]))
        return Independent(Bernoulli(logits=logits.reshape(*lead, *self.config.in_shape)), 3)

    def likelihood_at(self, z: torch.Tensor, x: torch.Tensor) -> Independent:
        """p(x|z) para evaluarla en ``x``: cada píxel condicionado a los anteriores de esa misma ``x``."""
        return self.likelihood(z, x)

    @torch.no_grad()
    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None, *,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Una muestra x ~ p(x|z) por código, píxel a píxel en orden de lectura (alto x ancho pasadas de la red).

        El azar se sortea en la CPU con ``generator``: la misma semilla da las mismas imágenes en CPU y en GPU. El
        logit de la fila ``i`` solo depende de las ``reach`` filas de encima (y de la suya): la red se pasa por esa
        franja y no por la imagen entera (en 28 x 28, con el contexto grande, 6 filas de 28: unas cinco veces menos
        operaciones; los mismos logits: prueba).
        """
        if z.ndim != 2 or z.shape[1] != self.config.latent_dim:
            raise ValueError(f"z debe tener forma (n, {self.config.latent_dim}); se recibió {tuple(z.shape)}.")
        c, h, w = self.config.in_shape
        x = torch.zeros(len(z), c, h, w, device=self.device)
        z = z.to(self.device)
        u = torch.rand(len(z), c, h, w, generator=generator).to(self.device)
        with evaluating(self):
            zmap = self.decoder.cond(z)
            for i in range(h):
                top = max(0, i - self.decoder.reach)
                band, zband = x[:, :, top:i + 1], zmap[:, :, top:i + 1]
                for j in range(w):
                    probs = torch.sigmoid(self.decoder.run(band, zband)[:, :, i - top, j])
                    x[:, :, i, j] = (u[:, :, i, j] < probs).float()
        return x

    @torch.no_grad()
    def sample(self, n: int, *, y: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` imágenes x ~ p(x|z) con z ~ p(z) (muestras binarias, no medias)."""
        z = torch.randn(n, self.config.latent_dim, generator=generator)
        return self.decode(z, generator=generator)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, y: torch.Tensor | None = None, *,
                    generator: torch.Generator | None = None) -> torch.Tensor:
        """Una muestra de p(x|z) con z = la media de q(z|x): lo que el código conserva de cada imagen."""
        return self.decode(self.encode(x), generator=generator)


class PixelCNNVAE(PixelCNNDecoding, AnnealedVAE):
    """VAE gaussiano con decodificador PixelCNN condicionado a z (con recocido y bits libres opcionales)."""

    key = "vae_pixelcnn"
    Config = PixelCNNVAEConfig
    not_comparable = ("decodificador autorregresivo: reconstruir y muestrear cuestan una pasada por píxel; "
                      "se mide en el capítulo 2 (colapso de la posterior)")

    def __init__(self, config: PixelCNNVAEConfig | None = None, **overrides):
        super().__init__(config, **overrides)
        self.decoder = self.pixelcnn_decoder(self.config.kernel)
