"""InfoVAE con decodificador autorregresivo: la pérdida de :class:`~vaebook_lib.models.wae.InfoVAE` (Zhao et al.,
2017) con el decodificador PixelCNN de :class:`~vaebook_lib.models.vae_pixelcnn.PixelCNNVAE`.

Es el experimento con el que Zhao et al. motivan el InfoVAE: con un decodificador capaz de modelar la imagen por
sí solo, la ELBO deja que ignore z (la información mutua I(x; z) cae), y el objetivo del InfoVAE, que quita o
rebaja la KL por ejemplo, la conserva. No es un modelo más de la revisión: queda fuera del catálogo ``MODELS``
(y de la comparativa) y ``load`` lo conoce por ``vaebook_lib.models.VARIANTS``.

Un nombre cambia respecto a las dos clases de partida: en ``InfoVAEConfig``, ``kernel`` es el núcleo del MMD
(«rbf» o «imq»), y en ``PixelCNNVAEConfig``, el lado de la primera capa enmascarada. Aquí ``kernel`` sigue siendo
el del MMD, como en el InfoVAE (su pérdida y su validación se heredan sin cambios), y el lado de la máscara se
llama ``mask_size``.
"""
from __future__ import annotations

from dataclasses import dataclass

from .vae_pixelcnn import PixelCNNDecoding, check_pixelcnn_config
from .wae import InfoVAE, InfoVAEConfig


@dataclass
class PixelCNNInfoVAEConfig(InfoVAEConfig):
    channels: int = 16     # canales de cada capa de la PixelCNN
    n_layers: int = 2      # capas «B» de 3 x 3 tras la primera
    mask_size: int = 7     # lado de la primera capa, la «A» (el «kernel» de PixelCNNVAEConfig)

    def __post_init__(self):
        super().__post_init__()
        check_pixelcnn_config(self, self.mask_size, "mask_size")


class PixelCNNInfoVAE(PixelCNNDecoding, InfoVAE):
    """InfoVAE (pérdida rec + (1 - alpha) KL + (alpha + lambda - 1) MMD) con decodificador PixelCNN condicionado a z.

    La pérdida y el MMD son los de :class:`InfoVAE`; la verosimilitud, la generación y la reconstrucción, las de
    :class:`PixelCNNVAE`. El término «elbo» del historial es la ELBO verdadera (KL con peso 1), comparable con la
    de un ``vae_pixelcnn`` del mismo decodificador.
    """

    key = "info_vae_pixelcnn"
    Config = PixelCNNInfoVAEConfig
    not_comparable = ("variante del InfoVAE con decodificador autorregresivo, fuera del catálogo de la revisión; "
                      "se mide en el capítulo 3 (InfoVAE)")

    def __init__(self, config: PixelCNNInfoVAEConfig | None = None, **overrides):
        super().__init__(config, **overrides)
        self.decoder = self.pixelcnn_decoder(self.config.mask_size)
