"""Interfaz común de los modelos: configuración, salida con nombre, validación de entradas, guardar y cargar."""
from __future__ import annotations

import contextlib
import functools
import math
import numbers
import pickle
import types
import typing
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from torch.distributions import Distribution, Normal

from ..atomic import write_atomic
from ..data.checks import check_images
from ..losses import LIKELIHOODS
from ..report import enumeration


@dataclass(frozen=True)
class Range:
    """Intervalo admisible de un campo numérico (de cada elemento, si el campo es una tupla)."""

    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    finite: bool = True      # también rechaza ±inf

    def __contains__(self, v: float) -> bool:
        if self.finite and not math.isfinite(v):
            return False
        return (v > self.low if self.low_open else v >= self.low) and v <= self.high

    def __str__(self) -> str:
        lo = f"{'>' if self.low_open else '>='} {self.low:g}" if self.low > -math.inf else ""
        hi = f"<= {self.high:g}" if self.high < math.inf else ""
        return enumeration(p for p in (lo, hi, "finito" if self.finite else "") if p)


POSITIVE = Range(0.0, low_open=True)
NONNEGATIVE = Range(0.0)


class _ConfigMeta(type):
    """Claves desconocidas -> ValueError en español con las válidas (en ``Config(...)`` y en ``replace``)."""

    def __call__(cls, *args, **kwargs):
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(kwargs) - names)
        if unknown:
            raise ValueError(f"{cls.__name__} no tiene el campo {', '.join(map(repr, unknown))}; "
                             f"los campos son: {', '.join(sorted(names))}.")
        return super().__call__(*args, **kwargs)


@functools.cache
def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in fields(cls)}


def _type_name(tp) -> str:
    return getattr(tp, "__name__", str(tp))


def _coerce(name: str, value: Any, tp: Any) -> Any:
    """``value`` convertido al tipo declarado ``tp`` del campo, o ValueError en español."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):          # «X | None»
        if value is None and type(None) in args:
            return None
        (tp,) = [a for a in args if a is not type(None)]
        return _coerce(name, value, tp)
    if origin is tuple:                                    # «tuple[X, ...]»
        if not isinstance(value, (tuple, list)):
            raise ValueError(f"{name} debe ser una tupla (o lista) de {_type_name(args[0])}; "
                             f"se recibió {value!r}.")
        return tuple(_coerce(f"{name}[{i}]", v, args[0]) for i, v in enumerate(value))
    if isinstance(value, (torch.Tensor, np.ndarray)) and value.ndim == 0:
        value = value.item()                               # un escalar de torch o NumPy vale como número
    if tp is bool:
        if not isinstance(value, (bool, np.bool_)):
            raise ValueError(f"{name} debe ser True o False; se recibió {value!r}.")
        return bool(value)
    if tp is int:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
            raise ValueError(f"{name} debe ser un entero; se recibió {value!r} ({type(value).__name__}).")
        return int(value)
    if tp is float:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            raise ValueError(f"{name} debe ser un número real; se recibió {value!r} ({type(value).__name__}).")
        if math.isnan(value):
            raise ValueError(f"{name} no puede ser NaN.")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ValueError(f"{name} debe ser un texto (str); se recibió {value!r}.")
        return value
    return value


@dataclass
class ModelConfig(metaclass=_ConfigMeta):
    """Configuración común. Cada modelo la extiende con los hiperparámetros de su artículo.

    Todos los campos se validan en un solo sitio (``__post_init__``): el tipo, a partir de la anotación del
    campo (un ``int`` no acepta 2.5 ni "2"; una tupla no acepta un entero suelto; ningún real acepta NaN), y el
    rango, declarado en ``bounds`` (cada subclase añade los de sus campos; se juntan a lo largo de la herencia).
    """

    in_shape: tuple[int, ...] = (1, 28, 28)
    latent_dim: int = 20
    hidden: tuple[int, ...] = (400,)
    arch: str = "mlp"                 # «mlp» o «conv»
    likelihood: str = "bernoulli"     # «bernoulli» (datos binarios) o «gaussian» (intensidades en [0, 1])
    sigma: float = 0.1                # desviación típica fija del decodificador gaussiano

    bounds: ClassVar[dict[str, Range]] = {"in_shape": POSITIVE, "latent_dim": POSITIVE, "hidden": POSITIVE,
                                          "sigma": POSITIVE}

    def __post_init__(self):
        cls = type(self)
        all_bounds = {}
        for klass in reversed(cls.__mro__):
            all_bounds.update(vars(klass).get("bounds", {}))
        for name, tp in _field_types(cls).items():
            value = _coerce(name, getattr(self, name), tp)
            setattr(self, name, value)
            rng = all_bounds.get(name)
            if rng is not None and value is not None:
                for v in (value if isinstance(value, tuple) else (value,)):
                    if v not in rng:
                        raise ValueError(f"{name} debe ser {rng}; se recibió {value!r}.")
        if self.likelihood not in LIKELIHOODS:
            raise ValueError(f"Verosimilitud desconocida {self.likelihood!r}; use una de {LIKELIHOODS}.")


@dataclass
class Output:
    """Salida con nombre de una pasada hacia delante.

    ``loss`` es el escalar que se minimiza; ``terms`` guarda cada término como escalar (media sobre el lote)
    para el historial (separados del grafo al construir la salida); ``x_hat`` es la reconstrucción en el
    espacio de los datos y ``z`` el código con que se obtuvo: en todos los modelos, **una muestra de q(z|x)** (en
    los deterministas, q es un punto y z es el código E(x)).
    """

    loss: torch.Tensor
    terms: dict[str, torch.Tensor] = field(default_factory=dict)
    x_hat: torch.Tensor | None = None
    z: torch.Tensor | None = None

    def __post_init__(self):
        # Los términos son para el historial: se separan del grafo aquí, una vez, y no en cada modelo.
        self.terms = {k: v.detach() if isinstance(v, torch.Tensor) else v for k, v in self.terms.items()}


class Unsupported(NotImplementedError, ValueError):
    """Lo que un modelo del catálogo no sabe hacer (un AE no genera, un modelo determinista no tiene posterior).

    Es a la vez ``NotImplementedError`` (el método existe en la interfaz pero este modelo no lo implementa) y
    ``ValueError`` (como el resto de los errores de uso de la biblioteca): se captura con cualquiera de los dos."""


def gaussian_from_params(params: torch.Tensor) -> Normal:
    """N(mu, diag sigma^2) a partir de la salida de una red ``[mu, log sigma^2]`` (la última dimensión, en dos
    mitades). Es la única manera en que los modelos del libro leen los parámetros de una gaussiana diagonal;
    quien da además otros valores (flujos, covarianza completa, JointVAE) los pone **después** de esos 2·D."""
    mu, logvar = params.chunk(2, dim=-1)
    return Normal(mu, torch.exp(0.5 * logvar))


class Model(nn.Module):
    """Base de todos los modelos del catálogo (``vaebook_lib.models.MODELS``).

    **Interfaz común.** Todos los modelos tienen los mismos métodos con la misma firma; el código genérico
    (comparativa, métricas, inferencia) los llama sin mirar de qué clase es el modelo:

    - ``forward(x, y=None) -> Output``: la pérdida y sus términos (``Output.z`` es una muestra de q(z|x));
    - ``posterior(x, y=None)``: la distribución q(z|x) (una ``torch.distributions``);
    - ``encode(x, y=None)``: el código determinista (la media de q(z|x) en los modelos variacionales);
    - ``decode(z, y=None)``: la imagen media de p(x|z) (o la salida del decodificador determinista);
    - ``sample(n, *, y=None, generator=None)``: ``n`` imágenes nuevas con z de la previa (``generator`` fija el azar);
    - ``log_weights(x, k, y=None)``: log p(x, z) - log q(z|x) para k muestras z ~ q(z|x), tensor (k, lote).

    ``y`` son las etiquetas: los modelos condicionales (``conditional``) las usan y los demás las ignoran, como
    en ``forward``. Lo que un modelo no puede hacer (un AE no muestrea, el VQ-VAE sin previa tampoco) lo rechaza
    la clase base con un error :class:`Unsupported` (``NotImplementedError`` y ``ValueError``) que lo explica, no
    la ausencia del método.
    """

    key: ClassVar[str] = ""
    Config: ClassVar[type[ModelConfig]] = ModelConfig
    conditional: ClassVar[bool] = False  # True si ``forward`` necesita las etiquetas ``y``
    # True si hay una verosimilitud que estimar: ``log_weights`` existe y la pérdida es esa verosimilitud (o su
    # cota). False en los deterministas y en los que optimizan otra cosa (WAE, VAE con otra reconstrucción):
    # su -log p(x) mediría un modelo que el entrenamiento nunca optimizó, y la comparativa no la calcula.
    likelihood_objective: ClassVar[bool] = False
    # Por qué el modelo no entra en la comparativa del capítulo 4 ("" = sí entra).
    not_comparable: ClassVar[str] = ""
    # True si su arquitectura es parte del método: en la comparativa conserva la suya (no el MLP común).
    own_architecture: ClassVar[bool] = False

    def __init__(self, config: ModelConfig | None = None, **overrides: Any):
        super().__init__()
        config = config if config is not None else self.Config()
        # Exactamente su clase: una subclase (BetaVAEConfig para un VAE) construiría otro modelo en silencio
        # e ignoraría sus campos propios (beta).
        if type(config) is not self.Config:
            raise ValueError(f"{type(self).__name__} espera una configuración {self.Config.__name__}; se recibió "
                             f"{type(config).__name__}, que es la de otro modelo (sus campos propios se ignorarían).")
        self.config = replace(config, **overrides) if overrides else config

    # --- la interfaz: cada modelo implementa lo que sabe hacer ----------------------------------------------
    def _refuse(self, what: str) -> Unsupported:
        return Unsupported(f"{type(self).__name__} («{self.key}») no {what}.")

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> Output:  # pragma: no cover
        raise self._refuse("define su pérdida (forward)")

    def posterior(self, x: torch.Tensor, y: torch.Tensor | None = None) -> Distribution:
        """q(z|x): la posterior aproximada que da el codificador."""
        raise self._refuse("tiene una posterior q(z|x): su codificador es determinista o no lo tiene")

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Código determinista (la media de q(z|x) en los modelos variacionales)."""
        raise self._refuse("codifica imágenes")

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Imagen media de p(x|z) (o la salida del decodificador en los autocodificadores deterministas)."""
        raise self._refuse("decodifica códigos")

    def sample(self, n: int, *, y: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` imágenes nuevas: z de la previa y la imagen media de p(x|z)."""
        raise self._refuse("genera: no tiene una previa sobre su código de la que muestrear")

    def log_weights(self, x: torch.Tensor, k: int, y: torch.Tensor | None = None) -> torch.Tensor:
        """log w = log p(x, z) - log q(z|x) para k muestras z ~ q(z|x): tensor (k, lote)."""
        raise self._refuse("tiene una verosimilitud que estimar (log_weights)")

    def randn(self, *shape: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Ruido N(0, I) de forma ``shape`` en el dispositivo del modelo. Se sortea en la CPU con ``generator``:
        la misma semilla da los mismos números en CPU y en GPU."""
        return torch.randn(*shape, generator=generator).to(self.device)

    # --- comunes -----------------------------------------------------------------------------------------
    def schedule(self, progress: float) -> None:
        """Gancho llamado por el bucle antes de cada lote con el avance del entrenamiento en [0, 1]."""

    def check_input(self, x: torch.Tensor) -> None:
        """Valida un lote de imágenes: ver :meth:`check_batch` y :func:`~vaebook_lib.data.checks.check_images`."""
        self.check_batch(x)
        check_images(x, self.config.in_shape, binary=self.config.likelihood == "bernoulli")

    def check_batch(self, x: torch.Tensor, name: str = "x") -> None:
        """Lo común a toda entrada: un tensor, un lote no vacío y, si es de coma flotante, del tipo del modelo.

        Política de tipos: se rechaza (no se convierte en silencio) un lote float16/float64 para un modelo
        float32; el mensaje dice cómo convertir uno u otro. Cuesta dos comparaciones, sin pasar por los datos.
        """
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"{name} debe ser un tensor de PyTorch; se recibió {type(x).__name__}.")
        if x.ndim and x.shape[0] == 0:
            raise ValueError(f"{name} es un lote vacío (forma {tuple(x.shape)}): se necesita al menos un ejemplo.")
        if x.is_floating_point():
            dtype = self.dtype
            if x.dtype != dtype:
                raise ValueError(f"{name} es {x.dtype} pero los parámetros del modelo son {dtype}: convierta el "
                                 f"lote con x.to({dtype}) (o el modelo con model.to({x.dtype})).")

    @staticmethod
    def check_labels(y: torch.Tensor, n: int | None, n_classes: int, allow_unknown: bool = False) -> torch.Tensor:
        """Etiquetas enteras en [0, n_classes) (o -1 = desconocida, si ``allow_unknown``), una por ejemplo
        (``n`` ejemplos; ``None``: cualquier longitud).

        Un tensor de coma flotante se rechaza: ``long()`` truncaría 2.7 a 2 sin avisar.
        """
        low = -1 if allow_unknown else 0
        what = f"un vector de enteros en [{low}, {n_classes})" + (" (-1 = sin etiqueta)" if allow_unknown else "")
        if not isinstance(y, torch.Tensor) or y.dtype == torch.bool or y.is_floating_point() or y.is_complex():
            kind = y.dtype if isinstance(y, torch.Tensor) else type(y).__name__
            raise ValueError(f"y debe ser {what}; se recibió {kind} (convierta con y.long() si son enteros).")
        if y.ndim != 1 or (n is not None and len(y) != n):
            raise ValueError(f"y debe ser {what} de la longitud del lote ({n}); se recibió la forma {tuple(y.shape)}.")
        if len(y) and (y.min() < low or y.max() >= n_classes):
            raise ValueError(f"y debe ser {what}; se recibió el rango [{y.min()}, {y.max()}].")
        return y.long()

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """La imagen media de p(x|z) con z = ``encode(x)``, en modo evaluación."""
        with evaluating(self):
            return self.decode(self.encode(x, y), y)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        """El tipo de coma flotante de los parámetros (float32 salvo ``model.double()`` o similar)."""
        return next(p.dtype for p in self.parameters() if p.is_floating_point())


@contextlib.contextmanager
def evaluating(model: nn.Module):
    """``with evaluating(model):`` pone el modelo en modo evaluación y, al salir (también si algo falla), lo
    deja en el modo en que estaba."""
    was = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was)


@torch.no_grad()
def encode_all(model: Model, x: torch.Tensor, y: torch.Tensor | None = None, batch_size: int = 1000) -> torch.Tensor:
    """``model.encode`` de todos los ejemplos de ``x`` (y sus etiquetas ``y``) por lotes, en modo evaluación y en
    el dispositivo del modelo; el resultado, en la CPU."""
    device = next(model.parameters()).device
    ys = [None] * len(x) if y is None else y.split(batch_size)
    with evaluating(model):
        parts = [(model.encode(xb.to(device)) if yb is None else model.encode(xb.to(device), yb.to(device))).cpu()
                 for xb, yb in zip(x.split(batch_size), ys)]
    return torch.cat(parts)


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
    write_atomic(path, lambda f: torch.save(blob, f))


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
    from . import MODELS, VARIANTS

    path = Path(path)
    blob = _read_blob(path, map_location)
    known = {**MODELS, **VARIANTS}     # el catálogo y las variantes que quedan fuera de él
    if blob["key"] not in known:
        raise ValueError(f"El fichero {path} no contiene un modelo conocido (clave {blob['key']!r}).")
    cls = known[blob["key"]]
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
