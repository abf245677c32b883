"""Red de rasgos para la pérdida de consistencia de rasgos (DFC-VAE): un clasificador CNN pequeño.

Hou et al. (2017) usan las activaciones de una VGG-19 preentrenada en ImageNet. Aquí no se descarga nada:
entrenamos una vez un clasificador pequeño sobre los mismos datos y guardamos sus pesos en la caché del
usuario (``~/.cache/vaebook`` o ``$VAEBOOK_CACHE``), con una clave que incluye el conjunto y su tamaño.
"""
from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from .atomic import write_atomic
from .config import flush_denormals, set_seed
from .data.idx import cache_root
from .data.batches import batches
from .data.vision import ImageData

CHANNELS = (8, 16, 32)


def _max_pool_2x2(x: torch.Tensor) -> torch.Tensor:
    """``F.max_pool2d(x, 2)``, con el camino más rápido en CPU de cada caso (el resultado es el mismo).

    Sin gradiente (evaluar rasgos), el máximo de las cuatro rejillas desplazadas de cada ventana: seis veces más
    rápido que ``max_pool2d`` en NCHW. Con gradiente (el DFC-VAE), ``max_pool2d`` con los canales al final.
    """
    if (torch.is_grad_enabled() and x.requires_grad) or x.shape[-1] % 2 or x.shape[-2] % 2:
        return F.max_pool2d(x.contiguous(memory_format=torch.channels_last), 2).contiguous()
    return torch.maximum(torch.maximum(x[..., ::2, ::2], x[..., 1::2, ::2]),
                         torch.maximum(x[..., ::2, 1::2], x[..., 1::2, 1::2]))


class FeatureNet(nn.Module):
    """Tres bloques conv 3x3 + ReLU (28, 14 y 7 px: max-pool entre bloques) y una capa lineal a las clases.

    ``features(x)`` devuelve las activaciones ReLU de los tres bloques (el análogo de relu1_1, relu2_1 y
    relu3_1 de la VGG en el DFC-VAE «123»). Sin normalización por lotes ni dropout: se comporta igual en
    modo ``train`` y ``eval``.
    """

    def __init__(self, in_channels: int = 1, n_classes: int = 10, side: int = 28):
        super().__init__()
        chans = (in_channels, *CHANNELS)
        self.blocks = nn.ModuleList(nn.Conv2d(a, b, 3, padding=1) for a, b in zip(chans[:-1], chans[1:]))
        self.head = nn.Linear(chans[-1] * (side // 4) ** 2, n_classes)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for i, conv in enumerate(self.blocks):
            if i > 0:
                x = _max_pool_2x2(x)
            x = F.relu(conv(x))
            feats.append(x)
        return feats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)[-1].flatten(1))


def cache_dir() -> Path:
    """Carpeta de la caché, la misma que la de los datos descargados (:func:`vaebook_lib.data.idx.cache_root`)."""
    return cache_root()


@flush_denormals()   # subnormales como cero: en CPU, operar con ellos es decenas de veces más lento
def train_feature_net(data: ImageData, epochs: int = 1, batch_size: int = 64, lr: float = 2e-3,
                      seed: int = 0) -> FeatureNet:
    """Entrena el clasificador con entropía cruzada (un bucle corto propio: no es un modelo generativo)."""
    if not isinstance(data, ImageData):
        raise ValueError("train_feature_net espera un ImageData con imágenes y etiquetas.")
    gen = set_seed(seed)
    net = FeatureNet(data.x.shape[1], len(data.classes))
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    for _ in range(epochs):
        for xb, yb in batches(data.x, data.y, batch_size=batch_size, shuffle=True, generator=gen):
            loss = F.cross_entropy(net(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return net.eval().requires_grad_(False)


@torch.no_grad()
def accuracy(net: FeatureNet, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fracción de aciertos del clasificador."""
    return float((net(x).argmax(1) == y).float().mean())


def get_feature_net(data: ImageData, epochs: int = 1, seed: int = 0, directory: str | Path | None = None
                    ) -> FeatureNet:
    """El clasificador de ``data``: lo carga de la caché si existe y, si no, lo entrena y lo guarda.

    La clave del fichero es el nombre del conjunto, su tamaño, las épocas y la semilla; se carga con
    ``weights_only=True`` (solo tensores, ningún objeto arbitrario).
    """
    if not isinstance(data, ImageData):
        raise ValueError("get_feature_net espera un ImageData con imágenes y etiquetas.")
    folder = Path(directory) if directory is not None else cache_dir()
    slug = re.sub(r"[^0-9A-Za-z]+", "_", data.name).strip("_").lower() or "datos"
    path = folder / f"feature_net_{slug}_{len(data.x)}_e{epochs}_s{seed}.pt"
    net = FeatureNet(data.x.shape[1], len(data.classes))
    if path.exists():
        try:
            net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        except Exception as err:  # bytes dañados: torch deja salir EOFError, RuntimeError, IndexError...
            raise ValueError(f"La red de rasgos guardada en {path} está dañada ({type(err).__name__}). "
                             "Bórrela: se volverá a entrenar la próxima vez.") from err
        return net.eval().requires_grad_(False)
    net = train_feature_net(data, epochs=epochs, seed=seed)
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(path, lambda f: torch.save(net.state_dict(), f))  # dos procesos a la vez no se pisan
    return net


# La red de rasgos con la que se ENTRENA el DFC-VAE no puede ser la que luego lo EVALÚA (la distancia de Fréchet
# de la comparativa usa ``get_feature_net`` con la semilla 0): el modelo aprendería a agradar a su propia métrica.
DFC_SEED = 1


def dfc_feature_net(data: ImageData, epochs: int = 1, directory: str | Path | None = None) -> FeatureNet:
    """El clasificador con el que se entrena el DFC-VAE: otro entrenamiento (semilla ``DFC_SEED``) distinto del
    evaluador de la comparativa, guardado en la caché con su propia clave."""
    return get_feature_net(data, epochs=epochs, seed=DFC_SEED, directory=directory)
