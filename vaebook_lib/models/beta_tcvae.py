"""beta-TCVAE (Chen et al., 2018): la KL de la ELBO descompuesta en tres términos, cada uno con su peso.

    E_x[KL(q(z|x) || p(z))] = I_q(z; x)                         información mutua dato-código     (alpha)
                               + KL(q(z) || prod_j q(z_j))        correlación total                 (beta)
                               + sum_j KL(q(z_j) || p(z_j))       KL dimensión a dimensión          (gamma)

q(z) = (1/N) sum_i q(z|x_i) es la posterior agregada sobre los N datos (x uniforme sobre ellos); se estima con el
muestreo ponderado del minilote (MWS, «minibatch weighted sampling» de Chen et al.):
    log q(z_i) ~ logsumexp_j log q(z_i|x_j) - log(N B), con B el tamaño del lote.
Ese estimador está sesgado: cuando las posteriores no se solapan subestima log q(z) en log B y cada log q(z_j)
en log N, de modo que la KL por dimensiones registrada sale negativa. Casi todo el sesgo es constante y no
cambia los gradientes; ``sampling="mss"`` pesa la propia muestra con 1/N y da valores interpretables.

Qué es «mss» exactamente: un estimador **insesgado de q(z_i)** (no de log q(z_i): el logaritmo de un
estimador insesgado subestima el logaritmo, por la desigualdad de Jensen, aunque mucho menos que MWS). **No** es
la matriz de pesos estratificada de Chen et al. (``sampling="stratified"``, más abajo, que pesa de otro modo un
elemento por fila); es una simplificación con la misma idea: la muestra z_i viene de
q(z|x_i), así que x_i cuenta con su peso 1/N y los otros B - 1 ejemplos del lote representan a los N - 1 restantes.

``sampling="stratified"`` es el muestreo estratificado del minilote (MSS) tal como lo escribe el apéndice de
Chen et al.: con M = B - 1, la fila i de la matriz de pesos W (W[i, j] pesa log q(z_i | x_j)) da 1/N a la
diagonal (el propio dato de z_i), el peso del estrato (N - M)/(N M) a un solo elemento más, W[i, (i + 1) mod B],
y 1/M a los B - 2 restantes. Cada fila suma uno: 1/N + (N - M)/(N M) + (M - 1)/M = 1, porque
(N - M)/(N M) = 1/M - 1/N. Exige N >= B: con N = B - 1 ese peso del estrato sería nulo, y con menos datos, negativo.
Aviso sobre el código publicado por los autores (``log_importance_weight_matrix`` en ``vae_quant.py`` de
rtqichen/beta-tcvae): rellena la matriz aplanada con paso M + 1 = B, que baja por la columna 0 en lugar de
recorrer la diagonal, de modo que 1/N cae en la columna 0 y el peso del estrato en la columna 1. Es un desliz de
índices conocido (la pull request #1 de ese repositorio y la issue #58 de YannDubs/disentangling-vae lo
señalan); las copias que lo arreglan con paso M + 2 aciertan con la diagonal, pero dejan el elemento que da la
vuelta en la fila M - 1 (que acaba con dos pesos de estrato) y no en la M (que se queda sin ninguno). Aquí se
sigue la fórmula del artículo, no ninguna de las dos versiones del código.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.distributions import Normal

from ..losses import kl_to_standard_normal
from .vae import VAE, VAEConfig, VAEOutput, elbo_output

SAMPLINGS = ("mws", "mss", "stratified")


def log_weight_matrix(batch_size: int, dataset_size: int, sampling: str = "mws", *,
                      dtype: torch.dtype = torch.float64, device: torch.device | str | None = None) -> torch.Tensor:
    """La matriz (B, B) de los logaritmos de los pesos con que se estima q(z_i) = sum_j W[i, j] q(z_i | x_j).

    ``batch_size``: B; ``dataset_size``: N. Cada fila i pesa las B posteriores del lote para la muestra z_i:
    - «mws»: todas con 1/(N B) (la fila suma 1/N: por eso sesga log q(z) hacia abajo).
    - «mss»: la diagonal con 1/N y las otras B - 1 con (N - 1)/(N (B - 1)); la fila suma uno.
    - «stratified»: la matriz de Chen et al. con M = B - 1: la diagonal con 1/N, W[i, (i + 1) mod B] con
      (N - M)/(N M) y el resto con 1/M; la fila suma uno. Necesita N >= B.
    «mss» y «stratified» necesitan B >= 2.
    """
    if dataset_size <= 0:
        raise ValueError(f"dataset_size debe ser positivo; se recibió {dataset_size}.")
    if sampling not in SAMPLINGS:
        raise ValueError(f"Muestreo desconocido {sampling!r}; use uno de {SAMPLINGS}.")
    if batch_size <= 0:
        raise ValueError(f"El lote debe tener al menos un ejemplo; se recibió B = {batch_size}.")
    b, n = batch_size, dataset_size
    if sampling == "mws":
        return torch.full((b, b), -math.log(n * b), dtype=dtype, device=device)
    if b < 2:
        raise ValueError(f"El muestreo «{sampling}» necesita al menos dos ejemplos en el lote; se recibió B = {b}.")
    if sampling == "mss":
        log_w = torch.full((b, b), math.log((n - 1) / (n * (b - 1))) if n > 1 else -math.inf,
                           dtype=dtype, device=device)
    else:
        if n < b:
            raise ValueError(f"El muestreo «stratified» necesita N >= B (N = {n}, B = {b}): con menos datos que "
                             "ejemplos en el lote el peso del estrato, (N - M)/(N M) con M = B - 1, sería nulo o negativo.")
        m = b - 1
        log_w = torch.full((b, b), -math.log(m), dtype=dtype, device=device)
        rows = torch.arange(b, device=device)
        log_w[rows, (rows + 1) % b] = math.log((n - m) / (n * m))      # un elemento por fila: el estrato
    log_w.fill_diagonal_(-math.log(n))                                   # el propio dato de z_i
    return log_w


def kl_decomposition(qz: Normal, z: torch.Tensor, dataset_size: int, sampling: str = "mws") -> dict[str, torch.Tensor]:
    """Los tres términos de la KL por ejemplo (tensores (B,); B, el tamaño del lote), con q(z) estimada en el lote.

    ``qz``: posteriores del lote (B, d); ``z``: una muestra de cada una (B, d); ``dataset_size``: N.
    ``sampling``: «mws» pesa cada ejemplo del lote con 1/(N B) (el estimador del artículo); «mss» pesa la
    propia muestra con 1/N y las otras B - 1 con (N - 1)/(N (B - 1)), que estima q(z_i) sin sesgo (no log q(z_i);
    no es la matriz estratificada de Chen et al., sino una simplificación de su idea; con B = N es exacto);
    «stratified» usa la matriz estratificada de Chen et al. tal como la escribe el artículo (ver
    :func:`log_weight_matrix` y el docstring del módulo).
    Se calcula en float64 y con log sigma: sin ello, con log-varianzas de -50 el gradiente sale NaN.
    Devuelve ``mi``, ``tc``, ``dim_kl`` y ``kl_mc`` = log q(z|x) - log p(z); por construcción
    ``mi + tc + dim_kl == kl_mc`` (el mismo estimador de log q(z) en los tres).
    """
    log_w = log_weight_matrix(z.shape[0], dataset_size, sampling, device=z.device)   # valida antes de calcular
    dtype = z.dtype
    # En float64 y con log sigma: con log-varianzas muy negativas (-50), (z_i - mu_j)^2 / sigma^2 y su gradiente
    # respecto a sigma (que pasa por 1/sigma^4 en Normal.log_prob) desbordan float32 y el gradiente sale NaN.
    z64, loc, log_scale = z.double(), qz.loc.double(), qz.scale.double().log()
    log_qz_x = _log_normal(z64, loc, log_scale).sum(-1)                # log q(z_i | x_i)
    log_p = Normal(torch.zeros_like(z64), torch.ones_like(z64)).log_prob(z64).sum(-1)
    # mat[i, j, d] = log q(z_i,d | x_j): cada muestra evaluada en la posterior de cada ejemplo del lote.
    mat = _log_normal(z64.unsqueeze(1), loc.unsqueeze(0), log_scale.unsqueeze(0))      # (B, B, d)
    log_qz = torch.logsumexp(mat.sum(-1) + log_w, dim=1)                       # log q(z_i)
    log_prod_qzj = torch.logsumexp(mat + log_w.unsqueeze(-1), dim=1).sum(-1)   # sum_d log q(z_i,d)
    parts = {"mi": log_qz_x - log_qz, "tc": log_qz - log_prod_qzj, "dim_kl": log_prod_qzj - log_p,
             "kl_mc": log_qz_x - log_p}
    return {k: v.to(dtype) for k, v in parts.items()}


@torch.no_grad()
def mutual_information(qz: Normal, z: torch.Tensor | None = None, *,
                       generator: torch.Generator | None = None) -> torch.Tensor:
    """La información mutua I_q(x; z) entre las N imágenes de un conjunto y sus códigos, en nats (un escalar).

    ``qz``: las posteriores q(z|x_i) de las N imágenes (``Normal`` de forma (N, d), p. ej. ``model.posterior(x)``);
    ``z``: una muestra z_i ~ q(z|x_i) de cada una (N, d); sin ella se sortea con ``generator``.

    Con x uniforme sobre las N imágenes, la posterior agregada es la mezcla q(z) = (1/N) sum_j q(z|x_j) y
    I = E_x[KL(q(z|x) || q(z))]. Se estima por Monte Carlo con un z_i por imagen:

        I ~ (1/N) sum_i [log q(z_i|x_i) - log q(z_i)],   log q(z_i) = logsumexp_j log q(z_i|x_j) - log N,

    con la mezcla exacta sobre las N imágenes (sin pesos de minilote). Es el término «mi» de
    :func:`kl_decomposition` con el lote igual al conjunto y ``sampling="mss"`` (pesos 1/N en toda la fila).
    Cada sumando es a lo sumo log N (la propia imagen pesa 1/N en la mezcla), así que la estimación no pasa de
    **log N**: con posteriores estrechas y separadas se satura ahí aunque el código distinguiera más imágenes, y
    para comparar códigos que llevan mucha información hace falta N grande. Vale 0 si q(z|x) no depende de x.
    Memoria y tiempo O(N^2 d) (float64): unos miles de imágenes como mucho.
    """
    if not isinstance(qz, Normal):
        raise ValueError("qz debe ser una distribución Normal (la de model.posterior(x)); "
                         f"se recibió {type(qz).__name__}.")
    loc = qz.loc
    if loc.ndim != 2 or loc.shape[0] < 2 or loc.shape[1] < 1:
        raise ValueError("Las posteriores deben tener forma (N, d) con al menos dos imágenes (N >= 2); "
                         f"se recibió {tuple(loc.shape)}.")
    if z is None:
        z = loc + qz.scale * torch.randn(loc.shape, generator=generator, dtype=loc.dtype).to(loc.device)
    elif z.shape != loc.shape:
        raise ValueError(f"z debe tener la forma de las posteriores, {tuple(loc.shape)} (una muestra por imagen); "
                         f"se recibió {tuple(z.shape)}.")
    return kl_decomposition(qz, z, loc.shape[0], sampling="mss")["mi"].mean()


def _log_normal(z: torch.Tensor, loc: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """log N(z; loc, e^{2 log_scale}) escrita con log sigma: -((z - loc) e^{-log sigma})^2 / 2 - log sigma - log(2 pi)/2."""
    return -0.5 * ((z - loc) * torch.exp(-log_scale)).pow(2) - log_scale - 0.5 * math.log(2 * math.pi)


@dataclass
class BetaTCVAEConfig(VAEConfig):
    alpha: float = 1.0                # peso de la información mutua dato-código
    beta: float = 6.0                 # peso de la correlación total
    gamma: float = 1.0                # peso de la KL dimensión a dimensión
    dataset_size: int = 10000         # N, tamaño del conjunto de entrenamiento (para estimar q(z))
    sampling: str = "mws"             # estimador de q(z): «mws» (el del artículo), «mss» o «stratified»

    def __post_init__(self):
        super().__post_init__()
        if min(self.alpha, self.beta, self.gamma) < 0:
            raise ValueError("alpha, beta y gamma deben ser no negativos.")
        if self.dataset_size <= 0:
            raise ValueError(f"dataset_size debe ser positivo; se recibió {self.dataset_size}.")
        if self.sampling not in SAMPLINGS:
            raise ValueError(f"Muestreo desconocido {self.sampling!r}; use uno de {SAMPLINGS}.")


class BetaTCVAE(VAE):
    """Pérdida = E_q[-log p(x|z)] + alpha · MI + beta · TC + gamma · KL_dim (objetivo beta-TCVAE de Chen et al.)."""

    key = "beta_tcvae"
    Config = BetaTCVAEConfig

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> VAEOutput:
        c = self.config
        qz, z, px, rec = self.encode_sample_decode(x)
        parts = kl_decomposition(qz, z, c.dataset_size, c.sampling)
        loss = (rec + c.alpha * parts["mi"] + c.beta * parts["tc"] + c.gamma * parts["dim_kl"]).mean()
        kl = kl_to_standard_normal(qz)
        return elbo_output(rec, {"kl": kl}, px, z, qz, loss=loss, extra={k: v.mean() for k, v in parts.items()})
