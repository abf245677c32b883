"""Términos de regularización de los autocodificadores (survey, sección 1.4).

- dispersión por penalización: L_sparsity = E_x[ sum_l w_l ||h_l|| ] con norma L1 o L2 (Ng, 2011);
- dispersión k: conservar solo las k activaciones mayores del código (Makhzani y Frey, 2013);
- contractiva: L_contractive = E_x ||grad_x E_phi(x)||_F^2 (Rifai et al., 2011), exacta con ``torch.func`` y,
  para un codificador de una capa sigmoide, por su forma cerrada;
- el exceso de error de un DAE con ruido gaussiano pequeño, que tiende a sigma^2 ||J_r(x)||_F^2, y ese jacobiano de
  la reconstrucción r = D(E(x)), exacto por la regla de la cadena a través del código.

Convenio: cada término se suma sobre las dimensiones y se promedia sobre el lote.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.func import jacrev, vjp, vmap

NORMS = ("l1", "l2")


def activation_penalty(activations: Sequence[torch.Tensor], weights: Sequence[float], norm: str = "l1"
                       ) -> torch.Tensor:
    """sum_l w_l ||h_l|| (l: cada capa) por ejemplo, promediado sobre el lote (la norma L2 no va al cuadrado)."""
    if norm not in NORMS:
        raise ValueError(f"Norma desconocida {norm!r}; use «l1» o «l2».")
    if len(activations) != len(weights):
        raise ValueError(f"Hay {len(activations)} capas pero {len(weights)} pesos w_l: deben coincidir.")
    if any(w < 0 for w in weights):
        raise ValueError(f"Los pesos w_l deben ser no negativos; se recibió {tuple(weights)}.")
    order = 1 if norm == "l1" else 2
    total = 0.0
    for h, w in zip(activations, weights):
        total = total + w * torch.linalg.vector_norm(h.flatten(1), ord=order, dim=1)
    return torch.as_tensor(total).mean()


def k_sparse(h: torch.Tensor, k: int) -> torch.Tensor:
    """Deja las k activaciones mayores de cada fila de ``h`` (B, n) y pone a cero las demás."""
    if h.ndim != 2:
        raise ValueError(f"El código debe tener forma (lote, n); se recibió {tuple(h.shape)}.")
    if not 1 <= k <= h.shape[1]:
        raise ValueError(f"k debe estar entre 1 y {h.shape[1]}; se recibió {k}.")
    idx = h.topk(k, dim=1).indices
    mask = torch.zeros_like(h).scatter_(1, idx, 1.0)
    return h * mask


HIDDEN_ACTIVATIONS = (nn.ReLU, nn.ELU, nn.Tanh, nn.Sigmoid)


def count_hidden_layers(net: nn.Module) -> int:
    """Número de capas ocultas (módulos de activación) de una red secuencial como las de ``nets``."""
    return sum(isinstance(m, HIDDEN_ACTIVATIONS) for m in net.modules())


def layer_activations(net: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """Salidas h_l de cada capa oculta (tras su activación) y la salida final de una red secuencial.

    Recorre los módulos hoja en orden, así que solo vale para redes hechas de ``nn.Sequential`` anidados
    (los ``Encoder`` de :mod:`vaebook_lib.nets`, MLP o convolucionales).
    """
    modules = [m for m in net.modules() if not isinstance(m, nn.Sequential) and m is not net] or [net]
    hidden: list[torch.Tensor] = []
    out = x
    for m in modules:
        out = m(out)
        if isinstance(m, HIDDEN_ACTIVATIONS):
            hidden.append(out)
    return [*hidden, out]


def _per_example(f: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
    """``f`` de lotes como función de un solo ejemplo (lo que ``vmap`` recorre)."""
    return lambda v: f(v.unsqueeze(0)).squeeze(0)


def jacobian_frobenius_sq(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """||J_f(x_i)||_F^2 de cada ejemplo, exacto con ``torch.func`` (jacrev dentro de vmap): tensor (B,).

    ``f`` recibe un lote y devuelve un lote; el gradiente fluye hacia los parámetros que ``f`` usa.
    """
    jac = vmap(jacrev(_per_example(f)))(x)     # (B, *salida, *entrada)
    return jac.pow(2).flatten(1).sum(1)


def composed_jacobian_frobenius_sq(encode: Callable[[torch.Tensor], torch.Tensor],
                                   decode: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """||J_r(x_i)||_F^2 de la reconstrucción r = decode(encode(x)), exacto, por la regla de la cadena: tensor (B,).

    J_r = J_D(z) J_E(x) con z = E(x) de d dimensiones, así que ||J_r||_F^2 = tr(J_E^T J_D^T J_D J_E) = suma de
    (J_E J_E^T) * (J_D^T J_D), dos matrices d x d. En vez de las n pasadas hacia atrás del jacobiano entero de la
    composición (n = 784 salidas de una imagen), bastan d para J_E y d para J_D^T: la vjp del decodificador,
    u -> J_D^T u, es lineal en u y su jacobiano es J_D^T (todo en modo inverso). Con un código de 32 dimensiones, el
    mismo valor que :func:`jacobian_frobenius_sq` de la composición (prueba) con una fracción del trabajo.
    """
    def decoder_jacobian_t(zi):                                 # J_D(z)^T: (d, *salida)
        out, back = vjp(_per_example(decode), zi)
        return jacrev(lambda u: back(u)[0])(torch.zeros_like(out))

    z = encode(x)
    if z.ndim != 2:
        raise ValueError(f"encode debe dar un código plano (lote, d); dio la forma {tuple(z.shape)}.")
    j_enc = vmap(jacrev(_per_example(encode)))(x).flatten(2)    # (B, d, entrada)
    j_dec_t = vmap(decoder_jacobian_t)(z).flatten(2)            # (B, d, salida)
    return ((j_enc @ j_enc.transpose(1, 2)) * (j_dec_t @ j_dec_t.transpose(1, 2))).sum((1, 2))


def sigmoid_contractive_penalty(weight: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """Forma cerrada de ||J||_F^2 para h = sigmoid(W x + b): sum_j (h_j (1 - h_j))^2 sum_i W_ji^2. Tensor (B,)."""
    if weight.ndim != 2 or h.ndim != 2 or h.shape[1] != weight.shape[0]:
        raise ValueError(f"W debe ser (n, d) y h (lote, n); se recibió W {tuple(weight.shape)} y h {tuple(h.shape)}.")
    return ((h * (1 - h)).pow(2) * weight.pow(2).sum(1)).sum(1)


@torch.no_grad()
def denoising_excess(r: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, sigma: float,
                     n_samples: int = 32, generator: torch.Generator | None = None) -> torch.Tensor:
    """(E_eps ||r(x + eps) - x||^2 - ||r(x) - x||^2) / sigma^2 con eps ~ N(0, sigma^2 I), por ejemplo (B,).

    Se promedian pares antitéticos (eps, -eps), que anulan el término lineal; cuando sigma -> 0 el resultado
    tiende a ||J_r(x)||_F^2 más la curvatura de r (nula si r es lineal a trozos): el DAE con ruido pequeño es una
    penalización contractiva de la reconstrucción con lambda = sigma^2.
    """
    if sigma <= 0 or n_samples <= 0:
        raise ValueError(f"sigma y n_samples deben ser positivos; se recibió sigma={sigma}, n_samples={n_samples}.")
    base = (r(x) - x).pow(2).flatten(1).sum(1)
    total = torch.zeros_like(base)
    for _ in range(n_samples):
        eps = sigma * torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
        plus = (r(x + eps) - x).pow(2).flatten(1).sum(1)
        minus = (r(x - eps) - x).pow(2).flatten(1).sum(1)
        total += 0.5 * (plus + minus) - base
    return total / n_samples / sigma ** 2


def hoyer_sparsity(h: torch.Tensor) -> torch.Tensor:
    """Medida de dispersión de Hoyer por fila, (sqrt(d) - ||h||_1 / ||h||_2) / (sqrt(d) - 1), en [0, 1].

    Vale 1 si solo una unidad está activa y 0 si todas valen lo mismo; no cambia al reescalar h, así que no se
    deja engañar por un código que encoge mientras el decodificador crece. Filas nulas cuentan como 1.
    """
    if h.ndim != 2 or h.shape[1] < 2:
        raise ValueError(f"El código debe tener forma (lote, d) con d >= 2; se recibió {tuple(h.shape)}.")
    n = h.shape[1]
    l1 = torch.linalg.vector_norm(h, ord=1, dim=1)
    l2 = torch.linalg.vector_norm(h, ord=2, dim=1)
    ratio = torch.where(l2 > 0, l1 / l2.clamp_min(torch.finfo(h.dtype).tiny), torch.ones_like(l1))
    return (n ** 0.5 - ratio) / (n ** 0.5 - 1)
