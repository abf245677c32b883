"""Codificadores y decodificadores: perceptrones multicapa y redes convolucionales pequeñas (28, 32 o 64 px)."""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

ACTIVATIONS = {"relu": nn.ReLU, "elu": nn.ELU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "identity": nn.Identity}


def mlp(sizes: tuple[int, ...] | list[int], activation: str = "relu") -> nn.Sequential:
    """Capas lineales ``sizes[0] -> ... -> sizes[-1]`` con ``activation`` entre ellas (no tras la última)."""
    if len(sizes) < 2 or any(s <= 0 for s in sizes):
        raise ValueError(f"Tamaños de capa no válidos: {sizes}.")
    if activation not in ACTIVATIONS:
        raise ValueError(f"Activación desconocida {activation!r}; use una de {sorted(ACTIVATIONS)}.")
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


def _conv_plan(side: int) -> int:
    """Número de reducciones a la mitad (convoluciones de paso 2) hasta un lado de 7 u 4 píxeles."""
    steps = 0
    while side % 2 == 0 and side > 7:
        side //= 2
        steps += 1
    if steps == 0:
        raise ValueError(f"La red convolucional necesita un lado par mayor que 7; se recibió {side}.")
    return steps


CHANNELS = (32, 32, 64, 64)


class Encoder(nn.Module):
    """Imagen (B, C, H, W) -> vector (B, out_dim). ``arch`` es ``mlp`` o ``conv``."""

    def __init__(self, in_shape: tuple[int, ...], out_dim: int, hidden: tuple[int, ...] = (400,),
                 arch: str = "mlp", activation: str = "relu"):
        super().__init__()
        if arch == "mlp":
            self.body = nn.Sequential(nn.Flatten(), mlp((math.prod(in_shape), *hidden, out_dim), activation))
        elif arch == "conv":
            c, side = in_shape[0], in_shape[-1]
            steps = _conv_plan(side)
            chans = (c, *CHANNELS[:steps])
            convs: list[nn.Module] = []
            for a, b in zip(chans[:-1], chans[1:]):
                convs += [nn.Conv2d(a, b, 4, stride=2, padding=1), ACTIVATIONS[activation]()]
            flat = chans[-1] * (side // 2 ** steps) ** 2
            self.body = nn.Sequential(*convs, nn.Flatten(), mlp((flat, *hidden, out_dim), activation))
        else:
            raise ValueError(f"Arquitectura desconocida {arch!r}; use «mlp» o «conv».")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class Decoder(nn.Module):
    """Vector (B, in_dim) -> imagen (B, *out_shape) sin activación final (logits o medias según el modelo)."""

    def __init__(self, in_dim: int, out_shape: tuple[int, ...], hidden: tuple[int, ...] = (400,),
                 arch: str = "mlp", activation: str = "relu"):
        super().__init__()
        self.out_shape = tuple(out_shape)
        if arch == "mlp":
            self.body = nn.Sequential(mlp((in_dim, *hidden, math.prod(out_shape)), activation),
                                      nn.Unflatten(1, self.out_shape))
        elif arch == "conv":
            c, side = out_shape[0], out_shape[-1]
            steps = _conv_plan(side)
            chans = (*reversed(CHANNELS[:steps]), c)
            small = side // 2 ** steps
            layers: list[nn.Module] = [mlp((in_dim, *hidden, chans[0] * small * small), activation),
                                       ACTIVATIONS[activation](), nn.Unflatten(1, (chans[0], small, small))]
            for i, (a, b) in enumerate(zip(chans[:-1], chans[1:])):
                layers.append(nn.ConvTranspose2d(a, b, 4, stride=2, padding=1))
                if i < steps - 1:
                    layers.append(ACTIVATIONS[activation]())
            self.body = nn.Sequential(*layers)
        else:
            raise ValueError(f"Arquitectura desconocida {arch!r}; use «mlp» o «conv».")

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(z)


class MaskedConv2d(nn.Conv2d):
    """Convolución enmascarada de PixelCNN: el tipo «A» no ve la posición actual, el «B» sí (nunca las
    posteriores en orden de lectura)."""

    def __init__(self, mask_type: str, c_in: int, c_out: int, k: int):
        super().__init__(c_in, c_out, k, padding=k // 2)
        if mask_type not in ("A", "B"):
            raise ValueError(f"Tipo de máscara desconocido {mask_type!r}; use «A» o «B».")
        mask = torch.ones_like(self.weight)
        mask[:, :, k // 2, k // 2 + (mask_type == "B"):] = 0
        mask[:, :, k // 2 + 1:] = 0
        self.register_buffer("mask", mask)

    def forward(self, x):
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


class Pointwise(nn.Conv2d):
    """Convolución 1 x 1 (los mismos parámetros y el mismo resultado que ``nn.Conv2d(c_in, c_out, 1)``). Con un solo
    canal de entrada o de salida, que es lo que usa la PixelCNN de la biblioteca con imágenes en gris, la calcula como
    un producto con difusión (y una suma sobre los canales): en CPU, la convolución genérica con un canal es varias
    veces más lenta que esas dos operaciones elementales."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__(c_in, c_out, 1)

    def forward(self, x):
        c_out, c_in = self.weight.shape[:2]
        if c_in != 1 and c_out != 1:
            return super().forward(x)
        w = self.weight.view(1, c_out * c_in, 1, 1)
        y = x * w if c_in == 1 else (x * w).sum(1, keepdim=True)
        return y + self.bias.view(1, c_out, 1, 1)
