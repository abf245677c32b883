"""Modelo generativo profundo auxiliar (ADGM; Maaløe et al., 2016), no supervisado y semisupervisado.

Una variable auxiliar a enriquece la posterior sin cambiar el modelo de x: p(x, z, a) = p(a|x, z) p(x|z) p(z)
y q(a, z|x) = q(a|x) q(z|a, x); la marginal q(z|x) = ∫ q(a|x) q(z|a, x) da es una mezcla infinita, no una
gaussiana. Con etiquetas y (sec. 2.3 del artículo): p(x, y, z, a) = p(a|x, y, z) p(x|y, z) p(y) p(z) y
q(a, y, z|x) = q(a|x) q(y|a, x) q(z|a, y, x). Cotas por ejemplo (ecs. 12-13):

    L(x, y) = E_{q(a|x) q(z|a,x,y)}[log p(x|y,z) + log p(a|x,y,z) + log p(y) + log p(z) - log q(a|x) - log q(z|a,y,x)]
    U(x)    = E_{q(a|x)}[ sum_y q(y|a,x) L(x, y, a) + H(q(y|a,x)) ]

más el término de clasificación alpha E[-log q(y|a,x)] en los etiquetados, con alpha = beta (N_l + N_u) / N_l:
por ejemplo etiquetado del lote eso es beta · media de -log q(y|a,x). Etiqueta -1 = desconocida.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Normal, kl_divergence

from ..losses import decoder_distribution
from ..nets import Encoder, mlp
from .base import Model, ModelConfig, Output, evaluating, gaussian_from_params


class _JointMLP(nn.Module):
    """Perceptrón sobre la concatenación [x, u]; la parte lineal de x se calcula una vez para todas las y.

    Equivale exactamente a ``mlp((dim_x + dim_u, *hidden, out))`` sobre ``cat([x, u])``, pero cuando u se repite
    para cada una de las C clases, x no se multiplica C veces por su matriz (la más grande).
    """

    def __init__(self, x_dim: int, u_dim: int, hidden: tuple[int, ...], out: int):
        super().__init__()
        self.lx = nn.Linear(x_dim, hidden[0])
        self.lu = nn.Linear(u_dim, hidden[0], bias=False)
        self.rest = nn.Sequential(nn.ReLU(), mlp((*hidden, out)))

    def forward(self, x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        return self.rest(self.lx(x) + self.lu(u))


@dataclass
class ADGMConfig(ModelConfig):
    aux_dim: int = 20        # dimensión de la variable auxiliar a
    n_classes: int = 0       # 0: ADGM no supervisado; > 0: semisupervisado con y en {0..n_classes-1} o -1
    beta: float = 0.1        # alpha = beta (N_l + N_u) / N_l: peso del término de clasificación

    def __post_init__(self):
        super().__post_init__()
        if self.aux_dim <= 0 or self.n_classes < 0 or self.n_classes == 1 or self.beta < 0:
            raise ValueError("aux_dim debe ser positivo, n_classes 0 o al menos 2, y beta no negativo.")
        if self.arch != "mlp":
            raise ValueError("El ADGM de este libro usa perceptrones (arch='mlp').")


@dataclass
class ADGMOutput(Output):
    elbo: torch.Tensor | None = None     # L(x, y) o U(x) por ejemplo
    logits: torch.Tensor | None = None   # de q(y|a,x), si es semisupervisado


class ADGM(Model):
    """ADGM: q(a|x) q([y|a,x]) q(z|a,[y],x) frente a p(a|x,[y],z) p(x|[y],z) [p(y)] p(z); pérdida = -cota media
    (más beta · entropía cruzada media de los etiquetados del lote, si es semisupervisado)."""

    key = "adgm"
    Config = ADGMConfig
    conditional = True   # acepta etiquetas (-1 = desconocida); el modelo no supervisado las ignora
    likelihood_objective = True

    def __init__(self, config: ADGMConfig | None = None, **overrides):
        super().__init__(config, **overrides)
        c = self.config
        d, C, A, Z = math.prod(c.in_shape), c.n_classes, c.aux_dim, c.latent_dim
        self.q_a = Encoder(c.in_shape, 2 * A, c.hidden)                     # q(a|x)
        self.q_y = _JointMLP(d, A, c.hidden, C) if C else None              # q(y|a,x)
        self.q_z = _JointMLP(d, A + C, c.hidden, 2 * Z)                     # q(z|a,y,x)
        self.p_x = mlp((Z + C, *reversed(c.hidden), d))                     # p(x|y,z)
        self.p_a = _JointMLP(d, Z + C, c.hidden, 2 * A)                     # p(a|x,y,z)

    # --- piezas -----------------------------------------------------------------------------------------------
    def _flat(self, x):
        return x.flatten(1)

    def likelihood(self, z: torch.Tensor, yh: torch.Tensor):
        raw = self.p_x(torch.cat([z, yh], -1)).reshape(*z.shape[:-1], *self.config.in_shape)
        return decoder_distribution(raw, self.config.likelihood, self.config.sigma, len(self.config.in_shape))

    def _onehots(self, n: int) -> torch.Tensor:
        """Todas las clases en one-hot: (C, n, C); sin clases, un tensor vacío (1, n, 0)."""
        C = self.config.n_classes
        if not C:
            return torch.zeros(1, n, 0, device=self.device)
        return torch.eye(C, device=self.device).unsqueeze(1).expand(C, n, C)

    def _bound_given(self, x, a, yh, analytic: bool = True):
        """Para cada y de ``yh`` (Y, B, C): log p(x|y,z) + log p(a|x,y,z) + log p(y) - KL(q(z|a,y,x)||p(z)) con un
        z ~ q(z|a,y,x). Sin ``analytic``, el término de z es el de Monte Carlo log p(z) - log q(z|...).
        Devuelve (cota, log p(x|y,z), z, p(x|y,z)), cada uno con las dimensiones delanteras (Y, B)."""
        Y, B = yh.shape[:2]
        xf = self._flat(x)
        a_ = a.expand(Y, B, -1)
        qz = gaussian_from_params(self.q_z(xf, torch.cat([a_, yh], -1)))
        z = qz.rsample()
        prior = Normal(torch.zeros_like(z), torch.ones_like(z))
        z_term = (-kl_divergence(qz, prior).sum(-1) if analytic
                  else prior.log_prob(z).sum(-1) - qz.log_prob(z).sum(-1))
        px = self.likelihood(z, yh)
        log_px = px.log_prob(x.expand(Y, *x.shape))
        log_pa = gaussian_from_params(self.p_a(xf, torch.cat([z, yh], -1))).log_prob(a_).sum(-1)
        log_py = -math.log(self.config.n_classes) if self.config.n_classes else 0.0
        return log_px + log_pa + log_py + z_term, log_px, z, px

    def posterior_aux(self, x: torch.Tensor) -> Normal:
        """q(a|x)."""
        return gaussian_from_params(self.q_a(x))

    def posterior_latent(self, x: torch.Tensor, a: torch.Tensor, y_onehot: torch.Tensor | None = None) -> Normal:
        """q(z|a,[y],x) para a de forma (..., lote, aux_dim)."""
        u = a if y_onehot is None else torch.cat([a, y_onehot.expand(*a.shape[:-1], -1)], -1)
        return gaussian_from_params(self.q_z(self._flat(x), u))

    def classify_logits(self, x: torch.Tensor, a: torch.Tensor | None = None) -> torch.Tensor:
        """Logits de q(y|a,x); sin ``a``, con a en la media de q(a|x)."""
        if not self.config.n_classes:
            raise ValueError("El ADGM no supervisado (n_classes=0) no clasifica.")
        a = self.posterior_aux(x).loc if a is None else a
        return self.q_y(self._flat(x), a)

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.classify_logits(x).argmax(-1)

    # --- interfaz del catálogo -----------------------------------------------------------------------------
    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Media de q(z|a,y,x) con a en su media y, si hay clases, la etiqueta ``y`` dada o, sin ella (o donde
        vale -1), la clase más probable según q(y|a,x)."""
        a = self.posterior_aux(x).loc
        C = self.config.n_classes
        if C:
            guess = self.classify_logits(x, a).argmax(-1)
            y = guess if y is None else torch.where(self._labels(y, len(x)) >= 0, y, guess)
            yh = F.one_hot(y, C).to(x.dtype)
        else:
            yh = x.new_zeros(len(x), 0)
        return self.posterior_latent(x, a, yh).loc

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        C = self.config.n_classes
        if C and y is None:
            raise ValueError("El ADGM semisupervisado necesita la etiqueta y para decodificar.")
        yh = F.one_hot(self.check_labels(y, len(z), C), C).to(z.dtype) if C else z.new_zeros(*z.shape[:-1], 0)
        return self.likelihood(z, yh).mean

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """decode(encode(x)) con la etiqueta ``y`` o, sin ella, la clase que predice q(y|a,x)."""
        with evaluating(self):
            if self.config.n_classes and y is None:
                y = self.predict(x)
            return self.decode(self.encode(x, y), y)

    @torch.no_grad()
    def sample(self, n: int, *, y: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Imágenes medias de p(x|y,z), z ~ N(0, I) (y ~ uniforme si no se da)."""
        C = self.config.n_classes
        z = self.randn(n, self.config.latent_dim, generator=generator)
        if C and y is None:
            y = torch.randint(0, C, (n,), generator=generator).to(self.device)
        return self.decode(z, y)

    def _labels(self, y, n):
        C = self.config.n_classes
        if not C or y is None:
            return None if not C else torch.full((n,), -1, dtype=torch.long, device=self.device)
        return self.check_labels(y, n, C, allow_unknown=True)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> ADGMOutput:
        self.check_input(x)
        y = self._labels(y, len(x))
        qa = self.posterior_aux(x)
        a = qa.rsample()
        log_qa = qa.log_prob(a).sum(-1)
        inner, log_px, z_all, px = self._bound_given(x, a, self._onehots(len(x)))          # (Y, B)
        terms = {}
        if not self.config.n_classes:
            elbo, rec = inner[0] - log_qa, -log_px[0]
            loss = -elbo.mean()
            logits = None
            pick_y = torch.zeros_like(elbo, dtype=torch.long)
        else:
            logits = self.classify_logits(x, a)
            qy = logits.softmax(-1).T                                              # (C, B)
            labeled = y >= 0
            idx = y.clamp(min=0)
            pick = inner.gather(0, idx[None]).squeeze(0)
            entropy = -(qy * logits.log_softmax(-1).T).sum(0)
            elbo = torch.where(labeled, pick, (qy * inner).sum(0) + entropy) - log_qa   # L(x,y) o U(x)
            rec = torch.where(labeled, -log_px.gather(0, idx[None]).squeeze(0), -(qy * log_px).sum(0))
            ce = F.cross_entropy(logits[labeled], y[labeled]) if labeled.any() else logits.sum() * 0
            loss = -elbo.mean() + self.config.beta * ce
            terms["ce"] = ce
            pick_y = torch.where(labeled, y, logits.argmax(-1))
        terms = {"loss": loss, "recon": rec.mean(), "elbo": elbo.mean(), **terms}
        # z y x_hat: los de la etiqueta dada o, sin ella, los de la clase más probable según q(y|a,x)
        rows = torch.arange(len(x), device=x.device)
        z, x_hat = z_all[pick_y, rows], px.mean[pick_y, rows]
        return ADGMOutput(loss=loss, terms=terms, x_hat=x_hat, z=z, elbo=elbo.detach(), logits=logits)

    def log_weights(self, x: torch.Tensor, k: int, y: torch.Tensor | None = None) -> torch.Tensor:
        """log w de p(x, [y,] a, z) / q(a, [y,] z | x) con a, y, z muestreados de q: (k, lote). Estima log p(x),
        con y marginalizada: las etiquetas ``y`` no se usan."""
        qa = self.posterior_aux(x)
        a = qa.rsample((k,))                                                        # (k, B, A)
        log_q = qa.log_prob(a).sum(-1)
        C = self.config.n_classes
        if C:
            logits = self.q_y(self._flat(x), a)
            qy = torch.distributions.Categorical(logits=logits)
            y = qy.sample()
            yh, log_q = F.one_hot(y, C).float(), log_q + qy.log_prob(y)
        else:
            yh = x.new_zeros(k, len(x), 0)
        inner = self._bound_given(x, a, yh, analytic=False)[0]
        return inner - log_q
