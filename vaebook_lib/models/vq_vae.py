"""VQ-VAE (van den Oord et al., 2017) y el prior autorregresivo sobre sus códigos (una PixelCNN diminuta).

El codificador da una rejilla z_e(x) de vectores de dimensión D; cada uno se sustituye por el vector más
cercano del libro de códigos {e_1, ..., e_K}. Pérdida (ec. 3 del artículo, con sg = «detener el gradiente»):

    L = -log p(x | z_q(x)) + ||sg[z_e(x)] - e||^2 + beta ||z_e(x) - sg[e]||^2

El decodificador recibe z_q por la «vía recta» (straight-through): hacia delante ve z_q y hacia atrás copia su
gradiente en z_e. Con ``ema=True`` el libro de códigos no se aprende por gradiente sino con medias móviles
exponenciales de los z_e asignados a cada código (apéndice del artículo) y el segundo término desaparece.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn import functional as F

from ..distributed import all_reduce_sum
from ..losses import decoder_distribution
from ..nets import MaskedConv2d
from .base import Model, ModelConfig, Output, Unsupported


def code_perplexity(indices: torch.Tensor, n_codes: int) -> torch.Tensor:
    """exp(H(p)) de la frecuencia de uso de los códigos: K si se usan todos por igual, 1 si solo uno."""
    if indices.dtype not in (torch.int64, torch.int32) or indices.numel() == 0:
        raise ValueError("Los índices de código deben ser un tensor entero no vacío.")
    if indices.min() < 0 or indices.max() >= n_codes:
        raise ValueError(f"Los índices de código deben estar en [0, {n_codes}).")
    p = torch.bincount(indices.flatten(), minlength=n_codes).float() / indices.numel()
    return torch.exp(-(p * torch.log(p.clamp_min(1e-12))).sum())


@dataclass
class VQVAEOutput(Output):
    """Además de la salida común: cada término sin separar del grafo (para ver por dónde pasa el gradiente)
    y los índices de los códigos elegidos (lote, H, W)."""

    recon: torch.Tensor | None = None
    codebook: torch.Tensor | None = None
    commitment: torch.Tensor | None = None
    codes: torch.Tensor | None = None


@dataclass
class VQVAEConfig(ModelConfig):
    latent_dim: int = 16              # D, dimensión de cada vector del libro de códigos
    hidden: tuple[int, ...] = (16, 32)  # canales de las dos convoluciones de paso 2 (28 -> 14 -> 7)
    arch: str = "conv"
    n_codes: int = 64                 # K, tamaño del libro de códigos
    beta: float = 0.25                # peso del término de compromiso (el valor del artículo)
    ema: bool = False                 # actualizar el libro de códigos con medias móviles
    decay: float = 0.99               # gamma de las medias móviles
    data_init: bool = False           # iniciar los códigos con z_e del primer lote (no está en el artículo)

    def __post_init__(self):
        super().__post_init__()
        if self.arch != "conv" or len(self.hidden) != 2:
            raise ValueError("El VQ-VAE usa arch='conv' y dos capas ocultas (canales) en hidden.")
        if self.n_codes < 2 or self.beta < 0 or not 0 < self.decay < 1:
            raise ValueError("VQ-VAE necesita n_codes >= 2, beta >= 0 y 0 < decay < 1.")


class VQVAE(Model):
    """VQ-VAE para imágenes de 28 px: rejilla de 7 x 7 códigos de un libro de K vectores de dimensión D."""

    key = "vq_vae"
    Config = VQVAEConfig
    own_architecture = True   # la rejilla convolucional de códigos es parte del método

    def __init__(self, config: VQVAEConfig | None = None, **overrides):
        super().__init__(config, **overrides)
        c = self.config
        ch, (h1, h2), d = c.in_shape[0], c.hidden, c.latent_dim
        self.encoder = nn.Sequential(nn.Conv2d(ch, h1, 4, 2, 1), nn.ReLU(), nn.Conv2d(h1, h2, 4, 2, 1), nn.ReLU(),
                                     nn.Conv2d(h2, d, 1))
        self.decoder = nn.Sequential(nn.Conv2d(d, h2, 3, 1, 1), nn.ReLU(), nn.ConvTranspose2d(h2, h1, 4, 2, 1),
                                     nn.ReLU(), nn.ConvTranspose2d(h1, ch, 4, 2, 1))
        self.codebook = nn.Parameter(torch.empty(c.n_codes, d).uniform_(-1 / c.n_codes, 1 / c.n_codes),
                                     requires_grad=not c.ema)
        self.register_buffer("ema_count", torch.ones(c.n_codes))
        self.register_buffer("ema_sum", self.codebook.detach().clone())
        self.register_buffer("initialized", torch.tensor(not c.data_init))
        self.code_prior = None   # la previa autorregresiva de sus códigos, cuando se ajusta (ver use_prior)

    # --- cuantización ----------------------------------------------------------------------------------
    def quantize(self, z_e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Vecino más próximo en el libro de códigos: (z_q (B, D, H, W), índices (B, H, W))."""
        b, d, h, w = z_e.shape
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, d)
        idx = torch.cdist(flat, self.codebook).argmin(1)
        z_q = self.codebook[idx].view(b, h, w, d).permute(0, 3, 1, 2)
        return z_q, idx.view(b, h, w)

    @torch.no_grad()
    def _data_init(self, z_e: torch.Tensor) -> None:
        """Copia K vectores z_e del primer lote de entrenamiento en el libro: ningún código nace lejos de los datos
        (remedio habitual contra los códigos «muertos»; el artículo inicia los códigos al azar)."""
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, z_e.shape[1])
        pick = torch.randperm(len(flat), device=flat.device)[: self.config.n_codes]
        pick = pick.repeat(-(-self.config.n_codes // len(pick)))[: self.config.n_codes]
        self.codebook.copy_(flat[pick])
        # Con DDP cada proceso ve otro lote: todos toman los códigos iniciales del proceso 0.
        if dist.is_available() and dist.is_initialized():
            dist.broadcast(self.codebook.data, src=0)
        self.ema_sum.copy_(self.codebook)
        self.ema_count.fill_(1.0)
        self.initialized.fill_(True)

    @torch.no_grad()
    def _ema_update(self, z_e: torch.Tensor, idx: torch.Tensor) -> None:
        """N_i <- gamma N_i + (1 - gamma) n_i;  m_i <- gamma m_i + (1 - gamma) sum z_e;  e_i = m_i / N_i.

        Con DDP, n_i y sum z_e se suman sobre todos los procesos antes de actualizar: el libro de códigos es el
        que daría un único proceso con el lote combinado (sin esto, cada proceso lo movía con sus datos y DDP
        volvía a copiar los búferes del proceso 0, así que solo los datos de ese proceso contaban).
        """
        g = self.config.decay
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, z_e.shape[1])
        onehot = F.one_hot(idx.flatten(), self.config.n_codes).type_as(flat)
        stats = torch.cat([onehot.sum(0)[:, None], onehot.T @ flat], dim=1)      # (K, 1 + D): n_i y sum z_e
        all_reduce_sum(stats)
        self.ema_count.mul_(g).add_(stats[:, 0], alpha=1 - g)
        self.ema_sum.mul_(g).add_(stats[:, 1:], alpha=1 - g)
        self.codebook.copy_(self.ema_sum / self.ema_count.clamp_min(1e-12)[:, None])

    # --- interfaz del catálogo -------------------------------------------------------------------------
    def codes(self, x: torch.Tensor) -> torch.Tensor:
        """Índices (B, 7, 7) de los códigos de cada imagen."""
        return self.quantize(self.encoder(x))[1]

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.quantize(self.encoder(x))[0]

    def likelihood(self, z_q: torch.Tensor):
        return decoder_distribution(self.decoder(z_q), self.config.likelihood, self.config.sigma, 3)

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Imagen media de p(x|z_q) para una rejilla de vectores del libro z (B, D, H, W)."""
        return self.likelihood(z).mean

    def decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        return self.decode(self.codebook[codes].permute(0, 3, 1, 2))

    def use_prior(self, prior: "PixelCNNPrior") -> "VQVAE":
        """Asocia al VQ-VAE la previa autorregresiva ajustada a sus códigos (una :class:`PixelCNNPrior`): desde
        entonces :meth:`sample` genera. La previa no pasa a ser parte del modelo (ni de lo que guarda ``save``)."""
        if not isinstance(prior, PixelCNNPrior) or prior.config.n_codes != self.config.n_codes:
            raise ValueError(f"La previa debe ser una PixelCNNPrior con n_codes={self.config.n_codes}.")
        self.__dict__["code_prior"] = prior     # fuera de los submódulos: no entra en el state_dict
        return self

    @torch.no_grad()
    def sample(self, n: int, *, y: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Imágenes nuevas: códigos muestreados de la previa autorregresiva (:meth:`use_prior`) y decodificados."""
        if self.code_prior is None:
            raise Unsupported("El VQ-VAE no tiene una previa propia sobre sus códigos: ajuste una PixelCNNPrior "
                              "a los códigos y asóciela con vq.use_prior(prior) antes de generar.")
        return self.decode_codes(self.code_prior.sample(n, generator=generator).to(self.device))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> VQVAEOutput:
        self.check_input(x)
        z_e = self.encoder(x)
        if self.training and not bool(self.initialized):
            self._data_init(z_e.detach())
        z_q, idx = self.quantize(z_e)
        codebook = (z_q - z_e.detach()).pow(2).flatten(1).sum(1).mean()      # ||sg[z_e] - e||^2
        commitment = (z_e - z_q.detach()).pow(2).flatten(1).sum(1).mean()    # ||z_e - sg[e]||^2
        z_st = z_e + (z_q - z_e).detach()       # vía recta: valor z_q, gradiente hacia z_e
        px = self.likelihood(z_st)
        recon = -px.log_prob(x).mean()
        if self.config.ema:
            if self.training:
                self._ema_update(z_e.detach(), idx)
            loss = recon + self.config.beta * commitment
        else:
            loss = recon + codebook + self.config.beta * commitment
        terms = {"loss": loss, "recon": recon, "codebook": codebook, "commitment": commitment,
                 "perplexity": code_perplexity(idx, self.config.n_codes)}
        return VQVAEOutput(loss=loss, terms=terms, x_hat=px.mean, z=z_q, recon=recon, codebook=codebook,
                           commitment=commitment, codes=idx)


@dataclass
class PixelCNNPriorConfig(ModelConfig):
    in_shape: tuple[int, ...] = (7, 7)   # la rejilla de códigos
    n_codes: int = 64
    channels: int = 16
    n_layers: int = 2                    # capas «B» 3 x 3 tras la primera capa «A» 5 x 5


class PixelCNNPrior(Model):
    """p(c) = prod_i p(c_i | c_<i) sobre la rejilla de códigos en orden de lectura (PixelCNN diminuta).

    Pérdida: -log p(c) sumado sobre las posiciones de la rejilla y promediado sobre el lote (en nats).
    """

    key = "pixelcnn_prior"
    Config = PixelCNNPriorConfig
    not_comparable = "previa autorregresiva sobre los códigos del VQ-VAE, no un autocodificador"

    def __init__(self, config: PixelCNNPriorConfig | None = None, **overrides):
        super().__init__(config, **overrides)
        c = self.config
        self.embed = nn.Embedding(c.n_codes, c.channels)
        layers: list[nn.Module] = [MaskedConv2d("A", c.channels, c.channels, 5), nn.ReLU()]
        for _ in range(c.n_layers):
            layers += [MaskedConv2d("B", c.channels, c.channels, 3), nn.ReLU()]
        layers.append(nn.Conv2d(c.channels, c.n_codes, 1))
        self.net = nn.Sequential(*layers)

    def check_input(self, x: torch.Tensor) -> None:
        """Sus datos ``x`` son rejillas de códigos enteros (lote, H, W), no imágenes."""
        codes = x
        if not isinstance(codes, torch.Tensor) or codes.dtype != torch.long:
            raise ValueError("Los códigos deben ser un tensor de enteros (torch.long).")
        self.check_batch(codes, "codes")
        if tuple(codes.shape[1:]) != tuple(self.config.in_shape):
            raise ValueError(f"Los códigos deben tener forma (lote, {self.config.in_shape}); "
                             f"se recibió {tuple(codes.shape)}.")
        if codes.numel() and (codes.min() < 0 or codes.max() >= self.config.n_codes):
            raise ValueError(f"Los códigos deben estar en [0, {self.config.n_codes}).")

    def logits(self, codes: torch.Tensor) -> torch.Tensor:
        return self.net(self.embed(codes).permute(0, 3, 1, 2))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> Output:
        """-log p(c) de cada rejilla de códigos ``x`` (lote, H, W); ``y`` se ignora."""
        self.check_input(x)
        nll = F.cross_entropy(self.logits(x), x, reduction="none").flatten(1).sum(1)
        loss = nll.mean()
        return Output(loss=loss, terms={"loss": loss, "nll": loss})

    @torch.no_grad()
    def sample(self, n: int, *, y: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` rejillas de códigos (enteros (n, H, W), no imágenes) por muestreo ancestral: una posición tras
        otra, cada una condicionada a las anteriores."""
        h, w = self.config.in_shape
        codes = torch.zeros(n, h, w, dtype=torch.long, device=self.device)
        for i in range(h):
            for j in range(w):
                probs = F.softmax(self.logits(codes)[:, :, i, j], dim=1)
                codes[:, i, j] = torch.multinomial(probs.cpu(), 1, generator=generator).squeeze(1).to(self.device)
        return codes
