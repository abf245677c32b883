"""Interfaz común de los modelos: configuración, salida con nombre, validación de entradas, guardar y cargar."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from ..losses import LIKELIHOODS, check_images


@dataclass
class ModelConfig:
    """Configuración común. Cada modelo la extiende con los hiperparámetros de su artículo."""

    in_shape: tuple[int, ...] = (1, 28, 28)
    latent_dim: int = 20
    hidden: tuple[int, ...] = (400,)
    arch: str = "mlp"                 # «mlp» o «conv»
    likelihood: str = "bernoulli"     # «bernoulli» (datos binarios) o «gaussian» (intensidades en [0, 1])
    sigma: float = 0.1                # desviación típica fija del decodificador gaussiano

    def __post_init__(self):
        self.in_shape = tuple(self.in_shape)
        self.hidden = tuple(self.hidden)
        if self.latent_dim <= 0:
            raise ValueError(f"latent_dim debe ser positivo; se recibió {self.latent_dim}.")
        if self.likelihood not in LIKELIHOODS:
            raise ValueError(f"Verosimilitud desconocida {self.likelihood!r}; use una de {LIKELIHOODS}.")


@dataclass
class Output:
    """Salida con nombre de una pasada hacia delante.

    ``loss`` es el escalar que se minimiza; ``terms`` guarda cada término como escalar (media sobre el lote)
    para el historial; ``x_hat`` es la reconstrucción en el espacio de los datos y ``z`` el código.
    """

    loss: torch.Tensor
    terms: dict[str, torch.Tensor] = field(default_factory=dict)
    x_hat: torch.Tensor | None = None
    z: torch.Tensor | None = None


class Model(nn.Module):
    """Base de todos los modelos del catálogo (``vaebook_lib.models.MODELS``)."""

    key: ClassVar[str] = ""
    Config: ClassVar[type[ModelConfig]] = ModelConfig
    conditional: ClassVar[bool] = False  # True si ``forward`` necesita las etiquetas ``y``
    # False si la pérdida no es la verosimilitud del decodificador (o su cota): WAE, VAE con otra reconstrucción.
    # Entonces su -log p(x) mediría un modelo que el entrenamiento nunca optimizó, y la comparativa no la calcula.
    likelihood_objective: ClassVar[bool] = True

    def __init__(self, config: ModelConfig | None = None, **overrides: Any):
        super().__init__()
        config = config if config is not None else self.Config()
        if not isinstance(config, self.Config):
            raise ValueError(f"{type(self).__name__} espera una configuración {self.Config.__name__}.")
        self.config = replace(config, **overrides) if overrides else config

    # --- a implementar por cada modelo -------------------------------------------------------------------
    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> Output:  # pragma: no cover
        raise NotImplementedError

    def encode(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        """Código determinista (la media de q(z|x) en los modelos variacionales)."""
        raise NotImplementedError

    def decode(self, z: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        """Imagen media de p(x|z) (o la salida del decodificador en los autocodificadores deterministas)."""
        raise NotImplementedError

    # --- comunes -----------------------------------------------------------------------------------------
    def schedule(self, progress: float) -> None:
        """Gancho llamado por el bucle antes de cada lote con el avance del entrenamiento en [0, 1]."""

    def check_input(self, x: torch.Tensor) -> None:
        check_images(x, self.config.in_shape, binary=self.config.likelihood == "bernoulli")

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        was = self.training
        self.eval()
        out = self.decode(self.encode(x))
        self.train(was)
        return out

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device


def _tuples(value):
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def save(model: Model, path: str | Path) -> None:
    """Guarda el modelo como ``state_dict`` más su clave de catálogo y su configuración."""
    torch.save({"key": model.key, "config": asdict(model.config), "state_dict": model.state_dict()}, path)


def load(path: str | Path, map_location: str | torch.device | None = "cpu") -> Model:
    """Carga un modelo guardado con :func:`save` (``weights_only=True``: ningún objeto arbitrario se ejecuta)."""
    from . import MODELS

    blob = torch.load(path, map_location=map_location, weights_only=True)
    if blob.get("key") not in MODELS:
        raise ValueError(f"El fichero {path} no contiene un modelo conocido (clave {blob.get('key')!r}).")
    cls = MODELS[blob["key"]]
    names = {f.name for f in fields(cls.Config)}
    config = cls.Config(**{k: _tuples(v) for k, v in blob["config"].items() if k in names})
    model = cls(config)
    model.load_state_dict(blob["state_dict"])
    return model
