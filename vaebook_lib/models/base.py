"""Interfaz común de los modelos: configuración, salida con nombre, validación de entradas, guardar y cargar."""
from __future__ import annotations

import os
import pickle
import tempfile
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
    """Guarda el modelo como ``state_dict`` más su clave de catálogo y su configuración.

    Se escribe en un fichero temporal de la misma carpeta y se renombra al final: un guardado interrumpido
    nunca destruye el fichero bueno que hubiera.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise ValueError(f"No existe la carpeta {path.parent} donde guardar el modelo; créela antes.")
    blob = {"key": model.key, "config": asdict(model.config), "state_dict": model.state_dict()}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(blob, f)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # los permisos de un fichero normal, no los 0600 de mkstemp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _read_blob(path: Path, map_location) -> dict:
    """El diccionario guardado por :func:`save`, o un error claro que dice qué le pasa al fichero."""
    if not path.is_file():
        raise FileNotFoundError(f"No existe el fichero de modelo {path}.")
    try:
        blob = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        raise ValueError(f"El fichero {path} contiene objetos de Python que no son tensores (o está dañado), así "
                         "que no se ha cargado. NO lo cargue con weights_only=False: un fichero así puede "
                         "ejecutar código arbitrario al abrirlo. Guarde los modelos con vaebook_lib.save.") from err
    except Exception as err:  # bytes dañados: torch deja salir EOFError, RuntimeError, IndexError, ValueError...
        raise ValueError(f"El fichero {path} está vacío, truncado o no es un modelo guardado con torch "
                         f"({type(err).__name__}: {err}). Vuelva a guardarlo con vaebook_lib.save.") from err
    if not isinstance(blob, dict) or not {"key", "config", "state_dict"} <= blob.keys():
        got = sorted(blob) if isinstance(blob, dict) else type(blob).__name__
        raise ValueError(f"El fichero {path} no es un modelo guardado con vaebook_lib.save: se esperaba un "
                         f"diccionario con «key», «config» y «state_dict»; contiene {got}.")
    if not isinstance(blob["config"], dict) or not isinstance(blob["state_dict"], dict):
        raise ValueError(f"El fichero {path} está dañado: «config» y «state_dict» deben ser diccionarios.")
    return blob


def load(path: str | Path, map_location: str | torch.device | None = "cpu") -> Model:
    """Carga un modelo guardado con :func:`save` (``weights_only=True``: ningún objeto arbitrario se ejecuta).

    La configuración guardada debe tener exactamente los campos de la del modelo: un campo de más o de menos
    es un error que los nombra (rellenarlo con el valor por defecto cambiaría el modelo en silencio).
    """
    from . import MODELS

    path = Path(path)
    blob = _read_blob(path, map_location)
    if blob["key"] not in MODELS:
        raise ValueError(f"El fichero {path} no contiene un modelo conocido (clave {blob['key']!r}).")
    cls = MODELS[blob["key"]]
    names = {f.name for f in fields(cls.Config) if f.init}
    unknown, missing = sorted(set(blob["config"]) - names), sorted(names - set(blob["config"]))
    if unknown or missing:
        raise ValueError(f"La configuración guardada en {path} no corresponde a {cls.Config.__name__}: "
                         f"campos desconocidos {unknown}, campos que faltan {missing}. El fichero es de otra "
                         "versión de la biblioteca; vuelva a entrenar y guardar el modelo.")
    try:
        config = cls.Config(**{k: _tuples(v) for k, v in blob["config"].items()})
    except (TypeError, ValueError) as err:
        raise ValueError(f"La configuración guardada en {path} no es válida: {err}") from err
    model = cls(config)
    try:
        model.load_state_dict(blob["state_dict"])
    except RuntimeError as err:
        raise ValueError(f"Los pesos de {path} no encajan con un {cls.__name__} de esa configuración: "
                         f"{err}") from err
    return model
