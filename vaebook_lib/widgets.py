"""Recorrido del espacio latente con ipywidgets: vivo en Jupyter/Colab y operativo en el HTML estático.

Para cada dimensión elegida se precalculan los fotogramas del recorrido (un ``Image`` por valor) dentro de un
``ipywidgets.Tab``; un ``IntSlider`` se enlaza en el cliente (``jslink``) con el ``selected_index`` de esa
pestaña, de modo que en el libro publicado, sin núcleo, mover el deslizador cambia la imagen. Con un núcleo
vivo, además, una imagen «combinada» se vuelve a decodificar con los valores de todos los deslizadores.
(Un ``Stack`` no funciona en el gestor de widgets del HTML estático; un ``Tab`` sí.)
Compatible con ipywidgets 7.7 (el que trae Colab) y 8: solo se usan API comunes a ambas (``Tab.set_title``,
no ``Tab.titles``, que solo existe en la 8).
"""
from __future__ import annotations

import io
import math

import ipywidgets as W
import matplotlib
import numpy as np
import torch
from PIL import Image as PILImage


def to_png(img: torch.Tensor, scale: int = 3) -> bytes:
    """Una imagen (C, H, W) en [0, 1] como PNG ampliado ``scale`` veces: C = 1 (gris), 3 (RGB) o 4 (RGBA).

    Dos canales no son una imagen de este libro (PIL los leería como gris + transparencia): se rechazan.
    """
    if img.ndim != 3 or img.shape[0] not in (1, 3, 4):
        raise ValueError(f"Se esperaba una imagen (C, H, W) con 1, 3 o 4 canales; se recibió la forma "
                         f"{tuple(img.shape)}.")
    if not torch.isfinite(img).all():
        raise ValueError("La imagen contiene NaN o valores infinitos (se vería negra).")
    arr = (img.detach().float().cpu().clamp(0, 1) * 255).round().to(torch.uint8)
    arr = arr[0].numpy() if arr.shape[0] == 1 else arr.permute(1, 2, 0).numpy()
    pil = PILImage.fromarray(arr)
    pil = pil.resize((pil.width * scale, pil.height * scale), PILImage.NEAREST)
    buf = io.BytesIO()
    pil.save(buf, format="PNG")
    return buf.getvalue()


@torch.no_grad()
def traversal_frames(decode, z0: torch.Tensor, dim: int, values: torch.Tensor) -> torch.Tensor:
    """Imágenes decodificadas al mover solo la dimensión ``dim`` de ``z0`` por ``values``."""
    if not (torch.isfinite(z0).all() and torch.isfinite(values).all()):
        raise ValueError("z0 y los valores del recorrido deben ser finitos (con NaN o inf los fotogramas salen negros).")
    z = z0.detach().reshape(1, -1).repeat(len(values), 1)
    z[:, dim] = values.to(z)
    return decode(z)


def latent_traversal(model, z0: torch.Tensor | None = None, dims=None, span: float = 3.0, steps: int = 7,
                     live: bool = True, scale: int = 3) -> W.Widget:
    """Widget de recorrido latente de ``model`` alrededor de ``z0`` (el origen por defecto).

    ``dims``: dimensiones a recorrer (por defecto, hasta 6 primeras); ``span``: se recorre [-span, span];
    ``steps``: fotogramas por dimensión (impar, para incluir el 0 relativo a ``z0``).
    """
    latent = model.config.latent_dim
    z0 = torch.zeros(latent) if z0 is None else z0.detach().reshape(-1).cpu()
    if z0.numel() != latent:
        raise ValueError(f"z0 debe tener {latent} componentes; tiene {z0.numel()}.")
    if not torch.isfinite(z0).all():
        raise ValueError(f"z0 debe ser finito; se recibió {z0.tolist()}.")
    dims = list(range(min(latent, 6))) if dims is None else list(dims)
    if not dims or any(not 0 <= d < latent for d in dims):
        raise ValueError(f"Las dimensiones deben estar en [0, {latent - 1}].")
    if steps < 2:
        raise ValueError(f"Se necesitan al menos 2 pasos; se recibió steps={steps}.")
    if not (math.isfinite(span) and span > 0):
        raise ValueError(f"span debe ser un número positivo y finito; se recibió {span}.")
    device = next(model.parameters()).device
    decode = lambda z: model.decode(z.to(device)).cpu()  # noqa: E731
    values = torch.linspace(-span, span, steps)
    mid = steps // 2
    rows, sliders, links = [], [], []
    for d in dims:
        frames = traversal_frames(decode, z0, d, z0[d] + values)
        tab = W.Tab(children=[W.Image(value=to_png(f, scale), format="png") for f in frames])
        for i, v in enumerate(values.tolist()):  # set_title, no titles: Colab trae ipywidgets 7.7
            tab.set_title(i, f"{z0[d].item() + v:+.1f}")
        tab.selected_index = mid
        slider = W.IntSlider(value=mid, min=0, max=steps - 1, description=f"z{d + 1}",
                             readout=False, continuous_update=True)
        links.append(W.jslink((slider, "value"), (tab, "selected_index")))
        sliders.append(slider)
        rows.append(W.VBox([slider, tab], layout=W.Layout(margin="0 10px 10px 0")))
    parts = [W.HTML("<b>Recorrido latente</b>: cada deslizador mueve una dimensión de z "
                    f"en [−{span:g}, {span:g}] alrededor del punto de partida."), W.HBox(rows, layout=W.Layout(flex_flow="row wrap"))]
    if live:
        first = decode(z0.reshape(1, -1))[0]
        combined = W.Image(value=to_png(first, scale * 2), format="png",
                           layout=W.Layout(width=f"{first.shape[-1] * scale * 2}px"))

        def redraw(_=None):
            z = z0.clone()
            for d, s in zip(dims, sliders):
                z[d] = z0[d] + values[s.value]
            combined.value = to_png(decode(z.reshape(1, -1))[0], scale * 2)

        for s in sliders:
            s.observe(redraw, names="value")
        parts += [W.HTML("<b>Combinación</b> (con un núcleo en marcha se decodifica al vuelo con todos los "
                         "deslizadores a la vez):"), combined]
    box = W.VBox(parts)
    box.links = links  # los enlaces de cliente, accesibles para las pruebas
    return box
