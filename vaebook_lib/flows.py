"""Transformaciones invertibles para posteriores no gaussianas: flujos planares y radiales (Rezende y Mohamed,
2015), la red autorregresiva MADE (Germain et al., 2015) y el paso de flujo autorregresivo inverso (IAF,
Kingma et al., 2016).

Convenio: cada transformación devuelve ``(z_nuevo, log_det)`` con ``log_det = log |det dz_nuevo/dz|`` (un valor
por punto), de modo que, por el cambio de variable, ``log q_K(z_K) = log q_0(z_0) - sum_k log_det_k``.
Las versiones funcionales (``planar``, ``radial``) aceptan parámetros con dimensiones de lote (flujos
amortizados: los da el codificador para cada x); las clases ``nn.Module`` guardan parámetros propios.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .config import flush_denormals
from .data.checks import all_finite


def _check_z(z: torch.Tensor, dim: int | None = None) -> None:
    if not isinstance(z, torch.Tensor) or z.ndim < 1:
        raise ValueError("z debe ser un tensor con al menos una dimensión (la del latente).")
    if dim is not None and z.shape[-1] != dim:
        raise ValueError(f"z debe tener {dim} componentes en su última dimensión; se recibió {z.shape[-1]}.")
    if not all_finite(z.detach()):        # una reducción (aminmax), sin grafo: cada paso de flujo lo comprueba
        raise ValueError("z contiene NaN o valores infinitos.")


# --- flujo planar: f(z) = z + u_hat h(w^T z + b), ec. (10)-(12) de Rezende y Mohamed -------------------------
def planar_u_hat(u: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """u_hat = u + (m(w^T u) - w^T u) w / ||w||^2 con m(a) = -1 + softplus(a): garantiza w^T u_hat >= -1,
    condición suficiente para que la transformación con h = tanh sea invertible (apéndice A del artículo)."""
    wu = (w * u).sum(-1, keepdim=True)
    return u + (-1 + F.softplus(wu) - wu) * w / (w * w).sum(-1, keepdim=True).clamp_min(1e-12)


def planar(z: torch.Tensor, u: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Flujo planar. ``u``, ``w``: (..., D) y ``b``: (..., 1), difundibles con ``z`` (..., D).

    log|det| = log|1 + u_hat^T psi(z)| con psi(z) = h'(w^T z + b) w (lema del determinante de matrices).
    """
    u_hat = planar_u_hat(u, w)
    a = (w * z).sum(-1, keepdim=True) + b
    h = torch.tanh(a)
    psi = (1 - h * h) * w
    log_det = torch.log((1 + (u_hat * psi).sum(-1)).abs() + 1e-8)
    return z + u_hat * h, log_det


def planar_chain(z: torch.Tensor, u: torch.Tensor, w: torch.Tensor, b: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """K flujos planares seguidos, con los parámetros apilados en la penúltima dimensión: ``u``, ``w``:
    (..., K, D) y ``b``: (..., K, 1). Devuelve z_K y la suma de los K log|det|.

    Hace lo mismo que aplicar :func:`planar` K veces (prueba), con menos operaciones en el bucle, que es lo que
    cuesta en CPU con K grande: u_hat y w^T u_hat (igual a m(w^T u)) no dependen de z y se calculan para los K
    pasos a la vez; dentro del bucle solo queda h_k = tanh(w_k^T z + b_k) y z + u_hat_k h_k. Como
    u_hat^T psi = (1 - h^2) w^T u_hat, los K log|det| salen de las h guardadas con una sola operación al final.
    """
    if u.ndim < 2 or u.shape != w.shape or b.shape != (*u.shape[:-1], 1):
        raise ValueError("u y w deben tener forma (..., K, D) y b (..., K, 1); se recibieron "
                         f"{tuple(u.shape)}, {tuple(w.shape)} y {tuple(b.shape)}.")
    u_hat = planar_u_hat(u, w)
    wu_hat = (w * u_hat).sum(-1)                                          # (..., K)
    hs = []
    # ``unbind``: los K trozos con una sola copia hacia atrás (un corte por paso rellenaría de ceros un
    # gradiente del tamaño de todos los parámetros en cada uno).
    for u_k, w_k, b_k in zip(u_hat.unbind(-2), w.unbind(-2), b.unbind(-2)):
        h = torch.tanh((w_k * z).sum(-1, keepdim=True) + b_k)
        z = z + u_k * h
        hs.append(h)
    if not hs:
        return z, torch.zeros(torch.broadcast_shapes(z.shape[:-1], u.shape[:-2]), dtype=z.dtype, device=z.device)
    h = torch.cat(hs, -1)                                                 # (..., K)
    return z, torch.log((1 + (1 - h * h) * wu_hat).abs() + 1e-8).sum(-1)


def radial(z: torch.Tensor, z0: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """Flujo radial f(z) = z + beta_hat h(alpha, r)(z - z0), h = 1/(alpha + r), r = ||z - z0|| (ec. 14).

    ``alpha`` se hace positivo con softplus y beta_hat = -alpha + softplus(beta) >= -alpha (invertibilidad).
    log|det| = (D - 1) log(1 + beta_hat h) + log(1 + beta_hat h + beta_hat h'(r) r).
    """
    d = z.shape[-1]
    alpha = F.softplus(alpha)
    beta_hat = -alpha + F.softplus(beta)
    diff = z - z0
    r = diff.norm(dim=-1, keepdim=True)
    h = 1 / (alpha + r)
    bh = beta_hat * h
    log_det = (d - 1) * torch.log1p(bh) + torch.log1p(bh - beta_hat * h * h * r)
    return z + bh * diff, log_det.squeeze(-1)


def _check_sizes(minimum: int = 1, **sizes: int) -> None:
    """Error en español si algún tamaño no es un entero >= ``minimum`` (``True`` no cuenta como 1)."""
    what = "un entero positivo" if minimum == 1 else f"un entero >= {minimum}"
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"{name} debe ser {what}; se recibió {value!r}.")


class PlanarFlow(nn.Module):
    """Un paso de flujo planar con parámetros propios (u, w, b)."""

    def __init__(self, dim: int):
        super().__init__()
        _check_sizes(dim=dim)
        self.dim = dim
        self.u = nn.Parameter(torch.randn(dim) * 0.1)
        self.w = nn.Parameter(torch.randn(dim) * 0.1)
        self.b = nn.Parameter(torch.zeros(1))

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _check_z(z, self.dim)
        return planar(z, self.u, self.w, self.b)


class PlanarChain(nn.Module):
    """K pasos planares seguidos en un solo flujo, con los parámetros apilados: ``u``, ``w`` (K, D) y ``b`` (K, 1).

    Hace lo mismo que K :class:`PlanarFlow` en una lista (prueba: mismos valores y gradientes, salvo redondeo), con
    la inicialización de K ``PlanarFlow`` creados seguidos, pero con :func:`planar_chain`: en 2-D, donde cada paso
    son operaciones diminutas, el paso de optimización de ``fit_reverse_kl`` con K = 8 y lotes de 256 tarda unos
    3,6 ms en vez de 10 (un hilo, medido en rondas alternas), y Adam actualiza tres tensores en vez de 3K. El
    paso k es ``planar(z, u[k], w[k], b[k])``.
    """

    def __init__(self, dim: int, length: int):
        super().__init__()
        _check_sizes(dim=dim, length=length)
        self.dim = dim
        draws = [(torch.randn(dim) * 0.1, torch.randn(dim) * 0.1) for _ in range(length)]   # el orden de PlanarFlow
        self.u = nn.Parameter(torch.stack([u for u, _ in draws]))
        self.w = nn.Parameter(torch.stack([w for _, w in draws]))
        self.b = nn.Parameter(torch.zeros(length, 1))

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _check_z(z, self.dim)
        return planar_chain(z, self.u, self.w, self.b)


class RadialFlow(nn.Module):
    """Un paso de flujo radial con parámetros propios (z0, alpha, beta)."""

    def __init__(self, dim: int):
        super().__init__()
        _check_sizes(dim=dim)
        self.dim = dim
        self.z0 = nn.Parameter(torch.randn(dim) * 0.5)
        self.alpha = nn.Parameter(torch.zeros(1))
        self.beta = nn.Parameter(torch.zeros(1))

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _check_z(z, self.dim)
        return radial(z, self.z0, self.alpha, self.beta)


# --- MADE: una red cuya salida i solo depende de las entradas 1..i-1 ------------------------------------------
class MaskedLinear(nn.Linear):
    """Capa lineal cuyos pesos se multiplican por una máscara binaria fija."""

    def __init__(self, in_features: int, out_features: int, mask: torch.Tensor):
        super().__init__(in_features, out_features)
        self.register_buffer("mask", mask.float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


class MADE(nn.Module):
    """Red autorregresiva enmascarada: ``n_out`` salidas por dimensión, la salida i-ésima función de z_{<i}.

    Grados: entrada d recibe d (1..D); cada neurona oculta un grado m en 1..D-1 y solo ve entradas con grado
    <= m; la salida d solo ve neuronas con grado < d. Así el jacobiano d salida / d z es estrictamente
    triangular inferior. Un contexto opcional (p. ej. la h del codificador en IAF) entra sin máscara en la
    primera capa oculta y en la salida: puede depender de x, pero no de z.
    """

    def __init__(self, dim: int, hidden: tuple[int, ...] = (64,), context_dim: int = 0, n_out: int = 2,
                 activation: Callable[[], nn.Module] = nn.ELU):
        super().__init__()
        if not hidden:
            raise ValueError("MADE necesita al menos una capa oculta.")
        _check_sizes(dim=dim, n_out=n_out, **{f"hidden[{i}]": h for i, h in enumerate(hidden)})
        _check_sizes(0, context_dim=context_dim)
        self.dim, self.n_out, self.context_dim = dim, n_out, context_dim
        degrees = [torch.arange(1, dim + 1)]
        for h in hidden:
            degrees.append(torch.arange(h) % max(dim - 1, 1) + 1)
        layers = []
        for d_in, d_out in zip(degrees[:-1], degrees[1:]):
            layers.append(MaskedLinear(len(d_in), len(d_out), d_out[:, None] >= d_in[None, :]))
        out_deg = torch.arange(1, dim + 1).repeat(n_out)
        self.hidden = nn.ModuleList(layers)
        self.out = MaskedLinear(len(degrees[-1]), dim * n_out, out_deg[:, None] > degrees[-1][None, :])
        self.context = nn.Linear(context_dim, hidden[0], bias=False) if context_dim else None
        # el contexto llega también a la salida: así incluso la primera dimensión depende de x
        self.context_out = nn.Linear(context_dim, dim * n_out, bias=False) if context_dim else None
        self.act = activation()

    def forward(self, z: torch.Tensor, context: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        """Devuelve ``n_out`` tensores (..., D)."""
        _check_z(z, self.dim)
        if (context is None) != (self.context is None):
            raise ValueError("El contexto debe darse si y solo si la MADE se construyó con context_dim > 0.")
        h = z
        for i, layer in enumerate(self.hidden):
            h = layer(h)
            if i == 0 and context is not None:
                h = h + self.context(context)
            h = self.act(h)
        out = self.out(h) if context is None else self.out(h) + self.context_out(context)
        return out.unflatten(-1, (self.n_out, self.dim)).unbind(-2)


class IAFStep(nn.Module):
    """Paso de IAF con la actualización estable «tipo LSTM» (Kingma et al., 2016, ec. 13-14):

    [m, s] = MADE(z, h);  sigma = sigmoid(s + sesgo);  z' = sigma * z + (1 - sigma) * m;
    log|det dz'/dz| = sum_i log sigma_i (jacobiano triangular con diagonal sigma).

    ``forget_bias`` positivo hace que al principio sigma ~ 1 y el paso sea casi la identidad. Con
    ``reverse=True`` se invierte el orden de las variables antes de aplicar el paso (se alterna entre pasos).
    """

    def __init__(self, dim: int, hidden: tuple[int, ...] = (64,), context_dim: int = 0, forget_bias: float = 1.0,
                 reverse: bool = False):
        super().__init__()
        self.made = MADE(dim, hidden, context_dim, n_out=2)
        self.forget_bias = forget_bias
        self.reverse = reverse

    def forward(self, z: torch.Tensor, context: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if self.reverse:
            z = z.flip(-1)
        m, s = self.made(z, context)
        sigma = torch.sigmoid(s + self.forget_bias)
        z = sigma * z + (1 - sigma) * m
        log_det = F.logsigmoid(s + self.forget_bias).sum(-1)
        return (z.flip(-1) if self.reverse else z), log_det


# --- densidades 2-D definidas por una energía (tabla 1 de Rezende y Mohamed) ---------------------------------
ENERGIES = ("U1", "U2", "U3", "U4")


def energy(name: str, z: torch.Tensor) -> torch.Tensor:
    """Energía U(z) de la densidad no normalizada p(z) ∝ exp(-U(z)), z de forma (..., 2).

    U2, U3 y U4 no decaen a lo largo de z1 (exp(-U) no es integrable en el plano); como las figuras del artículo,
    las limitamos a la ventana |z1| <= 4 con una pared suave 0.5 ((|z1| - 4)_+ / 0.2)^2 fuera de ella.
    """
    if name not in ENERGIES:
        raise ValueError(f"Energía desconocida {name!r}; use una de {ENERGIES}.")
    _check_z(z, 2)
    z1, z2 = z[..., 0], z[..., 1]
    w1 = torch.sin(2 * math.pi * z1 / 4)
    if name == "U1":
        ring = 0.5 * ((z.norm(dim=-1) - 2) / 0.4) ** 2
        return ring - torch.logaddexp(-0.5 * ((z1 - 2) / 0.6) ** 2, -0.5 * ((z1 + 2) / 0.6) ** 2)
    wall = 0.5 * (F.relu(z1.abs() - 4) / 0.2) ** 2
    if name == "U2":
        return 0.5 * ((z2 - w1) / 0.4) ** 2 + wall
    if name == "U3":
        w2 = 3 * torch.exp(-0.5 * ((z1 - 1) / 0.6) ** 2)
        return wall - torch.logaddexp(-0.5 * ((z2 - w1) / 0.35) ** 2, -0.5 * ((z2 - w1 + w2) / 0.35) ** 2)
    w3 = 3 * torch.sigmoid((z1 - 1) / 0.3)
    return wall - torch.logaddexp(-0.5 * ((z2 - w1) / 0.4) ** 2, -0.5 * ((z2 - w1 + w3) / 0.35) ** 2)


def log_partition_2d(name: str, lim: float = 6.0, n: int = 600) -> float:
    """log Z = log ∫ exp(-U(z)) dz por cuadratura en una rejilla [-lim, lim]^2 (exacta a efectos prácticos)."""
    t = torch.linspace(-lim, lim, n, dtype=torch.float64)
    g = torch.stack(torch.meshgrid(t, t, indexing="xy"), -1)
    cell = (t[1] - t[0]) ** 2
    return float(torch.logsumexp(-energy(name, g).flatten(), 0) + torch.log(cell))


class FlowDensity(nn.Module):
    """q_K: una gaussiana N(mu, diag sigma^2) seguida de una cadena de flujos (cada uno ``z -> (z, log_det)``)."""

    def __init__(self, dim: int, flows: list[nn.Module]):
        super().__init__()
        self.dim = dim
        self.loc = nn.Parameter(torch.zeros(dim))
        self.log_scale = nn.Parameter(torch.zeros(dim))
        self.flows = nn.ModuleList(flows)

    def sample(self, n: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` muestras z_K y su log q_K(z_K) (cambio de variable a lo largo de la cadena)."""
        eps = torch.randn(n, self.dim, generator=generator)
        z = self.loc + self.log_scale.exp() * eps
        log_q = (-0.5 * eps ** 2 - 0.5 * math.log(2 * math.pi) - self.log_scale).sum(-1)
        for flow in self.flows:
            z, log_det = flow(z)
            log_q = log_q - log_det
        return z, log_q


def reverse_kl(density: FlowDensity, name: str, n: int, beta: float = 1.0,
               generator: torch.Generator | None = None) -> torch.Tensor:
    """Estimación de KL(q_K || p) - log Z = E_q[log q_K(z) + beta U(z)] (la energía libre del artículo, ec. 15)."""
    z, log_q = density.sample(n, generator)
    return (log_q + beta * energy(name, z)).mean()


@flush_denormals()   # subnormales como cero: en CPU, operar con ellos es decenas de veces más lento
def fit_reverse_kl(density: FlowDensity, name: str, steps: int, batch_size: int = 256, lr: float = 1e-2,
                   seed: int = 0, anneal: int | None = None) -> list[float]:
    """Ajusta ``density`` a exp(-U) minimizando la KL inversa (no hay datos: solo la energía).

    Es un bucle distinto de ``train.fit`` porque aquí no hay datos que recorrer. Como en el artículo, el peso
    de la energía crece de 0.01 a 1 durante los primeros ``anneal`` pasos (por defecto, la mitad). Devuelve la
    energía libre (con beta = 1) de cada paso.
    """
    if steps <= 0 or batch_size <= 0 or lr <= 0:
        raise ValueError("steps, batch_size y lr deben ser positivos.")
    g = torch.Generator().manual_seed(seed)
    anneal = max(steps // 2, 1) if anneal is None else anneal
    # El Adam de un tensor cada vez, no el fusionado de ``fit``: con los pasos planares en un ``PlanarChain`` (tres
    # tensores) el fusionado no es más rápido aquí (medido en rondas alternas), y cambiaría el último bit de cada
    # paso; estos ajustes dependen de la trayectoria (qué semilla reparte la masa de U1 entre los dos modos).
    opt = torch.optim.Adam(density.parameters(), lr=lr)
    trace = []
    for t in range(steps):
        beta = min(1.0, 0.01 + t / anneal)
        z, log_q = density.sample(batch_size, g)
        u = energy(name, z)
        loss = (log_q + beta * u).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        trace.append(float((log_q + u).mean().detach()))
    return trace
