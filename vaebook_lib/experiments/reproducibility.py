"""Tabla de reproducibilidad: las cifras publicadas de los artículos frente a las nuestras.

Cada fila (:data:`ROWS`) dice qué modelo del catálogo se entrena, con qué configuración, qué cifra publicó su
artículo, con qué protocolo y qué magnitud es (``nll``: -log p(x) estimado por muestreo de importancia;
``neg_elbo``: -ELBO). Nuestro protocolo (:func:`protocol`) sale del perfil: en ``full``, MNIST completo con
binarización dinámica y ``k_is`` muestras de importancia; en ``fast``, un recorte declarado.

El cuaderno del capítulo entrena cada fila con el presupuesto de su perfil (en ``full``, MNIST completo pero pocas
pasadas, para que el libro entero quepa en dos horas de CPU). La ejecución larga, fila a fila, se graba aparte:

    VAEBOOK_PROFILE=full python -m vaebook_lib.experiments.reproducibility --rows VAE --epochs 100

entrena con MNIST completo, mide con ``k = 5000`` sobre toda la prueba y funde la fila en
``book/04_resultados/reproducibilidad_full.json``: un JSON pequeño con la orden, la máquina, la fecha, el commit y,
en cada resultado, su propio protocolo (pasadas, k, imágenes). Así una fila cara se graba en otra sesión (o en
una GPU) sin repetir las demás. El cuaderno lo carga con :func:`load_record` (que valida su forma) y comprueba con
:func:`plausible` las cifras grabadas y que su propia ejecución, más pequeña, cae en un rango creíble.

Las cifras del capítulo 3 (:data:`CHAPTER_ROWS`: el CVAE al completar cuadrantes, el ADGM con 100 etiquetas, la
MIWAE) no se entrenan aquí: las mide el cuaderno de cada capítulo y la tabla las lee en los registros del libro de
cada perfil; :func:`chapter_plausible` las sitúa entre lo publicado y su referencia.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from ..atomic import write_atomic
from ..config import Profile, get_device, get_profile, set_seed
from ..data import binarize, load_mnist
from ..data.checks import check_images
from ..metrics import log_likelihood_is
from ..models import MODELS, Model
from ..model_cache import FitJob, fit_parallel_iter
from ..train import evaluate
from . import read_json
from .bench import git_commit, machine_info

RECORD_VERSION = 1
PROGRAM = "python -m vaebook_lib.experiments.reproducibility"
RECORD_COMMAND = f"VAEBOOK_PROFILE=full {PROGRAM}"
BATCH_SIZE = 20  # el lote del artículo de la IWAE, en todos los perfiles
DEFAULT_RECORD = Path(__file__).resolve().parents[2] / "book" / "04_resultados" / "reproducibilidad_full.json"
METRICS = {"nll": "-log p(x) (muestreo de importancia)", "neg_elbo": "-ELBO"}


@dataclass(frozen=True)
class Row:
    """Una cifra publicada y el modelo del catálogo con que la contrastamos."""

    name: str                 # cómo aparece en la tabla
    key: str                  # clave del catálogo
    config: dict              # configuración del modelo (además de in_shape y likelihood)
    metric: str               # «nll» o «neg_elbo»
    published: float          # nats en la partición de prueba de MNIST
    source: str               # clave bibliográfica
    where: str                # tabla del artículo
    their_protocol: str       # su protocolo, resumido
    differences: str = ""     # en qué se aparta el nuestro, además del presupuesto
    slack: float = 0.0        # nats de más admitidos en el perfil completo por esas diferencias
    below: float = 1.5        # nats de menos admitidos: ruido de la estimación (más si nuestro protocolo es más fuerte)
    confirmed: bool = True    # False: cifra tomada de trabajos que la citan, no del texto del artículo
    paper_epochs: int | None = None   # pasadas del protocolo publicado (None: no las da o no las hemos contrastado)

    def __post_init__(self):
        if self.key not in MODELS:
            raise ValueError(f"Clave desconocida {self.key!r} en la fila {self.name!r}.")
        if self.metric not in METRICS:
            raise ValueError(f"Magnitud desconocida {self.metric!r}; use una de {tuple(METRICS)}.")


IWAE_ARCH = dict(hidden=(200, 200), latent_dim=50)
IWAE_PROTOCOL = ("MNIST binarizado dinámicamente, 784-200-200-50 (tanh), Adam, lote 20, 3280 pasadas; "
                 "-log p(x) con k = 5000")
ROWS: tuple[Row, ...] = (
    Row("VAE", "vae", IWAE_ARCH, "nll", 86.76, "burda2015", "tabla 1, una capa estocástica", IWAE_PROTOCOL,
        "ReLU en vez de tanh", paper_epochs=3280),
    Row("IWAE, k = 5", "iwae", {**IWAE_ARCH, "k": 5}, "nll", 85.54, "burda2015", "tabla 1, una capa estocástica",
        IWAE_PROTOCOL, "ReLU en vez de tanh", paper_epochs=3280),
    Row("IWAE, k = 50", "iwae", {**IWAE_ARCH, "k": 50}, "nll", 84.78, "burda2015", "tabla 1, una capa estocástica",
        IWAE_PROTOCOL, "ReLU en vez de tanh", paper_epochs=3280),
    Row("Flujo planar, K = 80", "vae_planar", dict(hidden=(400,), latent_dim=40, flow_length=80), "neg_elbo", 85.1,
        "rezende2015", "tabla 2", "MNIST binarizado; cota variacional -ELBO",
        "arquitectura del artículo no contrastada: usamos 784-400-40", slack=5.0, below=5.0, confirmed=False),
    Row("IAF", "vae_iaf", dict(hidden=(400,), latent_dim=32), "nll", 79.10, "kingma2016",
        "sección 6.1, mejor modelo", "MNIST binarizado dinámicamente; VAE convolucional con bloques ResNet, "
        "z de dimensión 32, IAF con MADE de dos capas; -log p(x) con 128 muestras de importancia",
        "perceptrón 784-400-32 en vez de la ResNet convolucional: se esperan varios nats peores", slack=10.0),
    Row("Gumbel-softmax, 20 × 10", "categorical_vae", {}, "neg_elbo", 101.5, "jang2016", "tabla 1",
        "MNIST con binarización fija; 20 variables categóricas de 10 clases; SGD con momento; "
        "tau = max(0.5, exp(-r t))", "Adam y binarización dinámica al entrenar (pueden mejorar su cifra)", slack=3.0,
        below=5.0),
)


@dataclass(frozen=True)
class Protocol:
    """Nuestro protocolo, leído del perfil: datos, presupuesto y estimador."""

    profile: str
    n_train: int | None
    n_eval: int
    epochs: int
    batch_size: int
    lr: float
    k_is: int
    data: str = "MNIST, binarización dinámica al entrenar y una binarización fija (semilla 1) al medir"
    lr_final: float | None = None   # con ella, la tasa baja de lr a lr_final de forma exponencial (``fit``)


def protocol(profile: Profile | None = None) -> Protocol:
    p = profile or get_profile()
    return Protocol(p.name, p.repro_n_train, p.repro_n_eval, p.repro_epochs, BATCH_SIZE, p.lr, p.repro_k)


@dataclass(frozen=True)
class Target:
    """El objetivo de calidad que el libro se pone a sí mismo (no una cifra publicada): un VAE MLP corriente, con
    el protocolo de medida de los artículos (MNIST completo, binarización dinámica, -log p(x) con k = 5000 sobre
    toda la prueba), tiene que llegar a ``goal`` nats en ``epochs`` pasadas. Lleva su propio entrenamiento (lote,
    tasa y su descenso, calentamiento de la KL), elegido por nosotros y no por un artículo. ``reference``,
    ``reference_nll`` y ``reference_epochs`` son la cifra ajena con que se compara: de quién es, cuántos nats y con
    cuántas pasadas."""

    name: str
    key: str
    config: dict
    goal: float
    epochs: int
    batch_size: int
    lr: float
    lr_final: float | None
    reference: str            # de quién es la cifra ajena con que se compara
    reference_nll: float      # esa cifra (nats, el mismo protocolo de medida)
    reference_epochs: int     # y sus pasadas
    metric: str = "nll"

    def protocol(self, proto: Protocol) -> Protocol:
        """``proto`` (los datos y el estimador) con el entrenamiento del objetivo."""
        return replace(proto, epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, lr_final=self.lr_final)


# El modelo medido es el VAE de siempre (las mismas redes, previa y verosimilitud; ``vae_annealed`` solo añade el peso
# de la KL al entrenar): el calentamiento sube ese peso de 0 a 1 en el primer 10 % de las pasadas y el resto entrena la
# ELBO verdadera. Elegido con ensayos de 100 pasadas mirando 2000 imágenes de la prueba con k = 500: sin
# calentamiento, 88,56 nats; con él, 87,06; bajando la tasa hasta 1e-5 en vez de 1e-4, 90,18.
TARGET = Target("VAE MLP, objetivo del libro", "vae_annealed", dict(hidden=(500, 500), latent_dim=50, warmup=0.1),
                goal=88.0, epochs=100, batch_size=100, lr=1e-3, lr_final=1e-4,
                reference="el VAE MLP de pythae", reference_nll=89.78, reference_epochs=500)


# El protocolo de la ejecución grabada: MNIST completo, toda la prueba y k = 5000 como en los artículos; las
# pasadas se eligen al grabar (``--epochs``), por fila.
RECORD_N_EVAL = 10000
RECORD_K = 5000


def record_protocol(profile: Profile, epochs: int | None = None, k: int | None = None,
                    n_eval: int | None = None) -> Protocol:
    """El protocolo de una ejecución grabada. En ``full``, el de los artículos: las 60 000 imágenes de
    entrenamiento (el cuaderno del perfil completo usa menos, para caber en su presupuesto), ``RECORD_K`` muestras
    de importancia y ``RECORD_N_EVAL`` imágenes de prueba; en otro perfil, los tamaños del perfil. ``epochs``,
    ``k`` y ``n_eval`` los sustituyen si se dan."""
    proto = protocol(profile)
    full = profile.name == "full"
    return replace(proto, n_train=None if full else proto.n_train, epochs=epochs or proto.epochs,
                   k_is=k or (RECORD_K if full else proto.k_is),
                   n_eval=n_eval or (RECORD_N_EVAL if full else proto.n_eval))


def build(row: Row | Target, seed: int = 0) -> Model:
    cls = MODELS[row.key]
    torch.manual_seed(seed)
    return cls(cls.Config(in_shape=(1, 28, 28), likelihood="bernoulli", **row.config))


def data(profile: Profile | None = None, proto: Protocol | None = None):
    """Los datos del protocolo (por defecto, el del perfil): el conjunto de entrenamiento y las ``n_eval`` imágenes
    de prueba, binarizadas una vez con una semilla fija (las mismas para todas las filas)."""
    profile = profile or get_profile()
    proto = proto or protocol(profile)
    train = load_mnist("train", proto.n_train, profile=profile)
    test = load_mnist("test", profile=profile)
    return train, binarize(test.x[:proto.n_eval], torch.Generator().manual_seed(1))


def _fit_job(row: Row | Target, proto: Protocol, train, seed: int) -> FitJob:
    """El entrenamiento de la fila con el protocolo (el modelo, recién construido con la semilla)."""
    return FitJob(build(row, seed), train, epochs=proto.epochs, batch_size=proto.batch_size, lr=proto.lr, seed=seed,
                  lr_final=proto.lr_final, binarize=True, desc=row.name)


def _measure(row: Row | Target, job: FitJob, history, proto: Protocol, x_eval: torch.Tensor, seed: int) -> dict:
    """Mide en ``x_eval`` el modelo ya entrenado de la fila; ``seconds``: su entrenamiento más esta medida."""
    start = time.perf_counter()
    model = job.model
    neg_elbo = -evaluate(model, x_eval)["elbo"]
    set_seed(seed + 1)
    nll = -log_likelihood_is(model, x_eval, proto.k_is).mean().item()
    value = nll if row.metric == "nll" else neg_elbo
    return {"name": row.name, "key": row.key, "metric": row.metric, "value": value, "nll": nll,
            "neg_elbo": neg_elbo, "config": dict(row.config), "train_loss_first": history.train["loss"][0],
            "train_loss_last": history.train["loss"][-1],
            "seconds": history.seconds + time.perf_counter() - start, "protocol": asdict(proto)}


def run_row(row: Row | Target, proto: Protocol, train, x_eval: torch.Tensor, seed: int = 0,
            progress: bool | None = None) -> dict:
    """Entrena la fila con el protocolo y la mide en ``x_eval``; devuelve un diccionario serializable."""
    return run_rows([row], proto, train, x_eval, seed, progress)[0]


def run_rows(rows, proto: Protocol, train, x_eval: torch.Tensor, seed: int = 0, progress: bool | None = None
             ) -> list[dict]:
    """Como :func:`run_row` para varias filas, entrenadas a la vez (:func:`~vaebook_lib.model_cache.fit_parallel_iter`;
    cada fila se mide como en serie, con los generadores aleatorios que dejó su entrenamiento)."""
    jobs = [_fit_job(row, proto, train, seed) for row in rows]
    return [_measure(row, job, history, proto, x_eval, seed)
            for row, job, history in zip(rows, jobs, fit_parallel_iter(jobs, progress=progress))]


def run(rows=ROWS, profile: Profile | None = None, seed: int = 0, progress: bool | None = None) -> list[dict]:
    """Todas las filas con el protocolo del perfil."""
    profile = profile or get_profile()
    train, x_eval = data(profile)
    return run_rows(rows, protocol(profile), train, x_eval, seed, progress)


# --- el registro de una ejecución completa ------------------------------------------------------------------
def make_record(results: list[dict], proto: Protocol, command: str) -> dict:
    return {"version": RECORD_VERSION, "command": command, "machine": machine_info(get_device()),
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "commit": git_commit(), "protocol": asdict(proto),
            "results": results}


_REQUIRED = {"version", "command", "machine", "date", "protocol", "results"}


def load_record(path: str | Path = DEFAULT_RECORD) -> dict | None:
    """El registro grabado por una ejecución completa, o ``None`` si no existe. Uno mal formado es un error."""
    path = Path(path)
    rec = read_json(path, "vuelva a grabarlo con «python -m vaebook_lib.experiments.reproducibility»")
    if rec is None:
        return None
    missing = _REQUIRED - set(rec) if isinstance(rec, dict) else _REQUIRED
    if missing:
        raise ValueError(f"Al registro {path} le faltan los campos {sorted(missing)}.")
    if rec["version"] != RECORD_VERSION:
        raise ValueError(f"El registro {path} tiene la versión {rec['version']}; se esperaba {RECORD_VERSION}.")
    for r in rec["results"]:
        if not {"name", "metric", "value"} <= set(r) or not math.isfinite(r["value"]):
            raise ValueError(f"Resultado mal formado en {path}: {r}.")
    return rec


# --- ¿es creíble? -----------------------------------------------------------------------------------------------
def pixel_baseline(train_x: torch.Tensor, test_x: torch.Tensor, eps: float = 1e-3) -> float:
    """-log p(x) medio (nats) del modelo más simple: un Bernoulli independiente por píxel, con la frecuencia de
    cada píxel en ``train_x`` (recortada a [eps, 1 - eps]). Un modelo que no lo mejora no ha aprendido nada."""
    if len(train_x) == 0 or len(test_x) == 0:
        raise ValueError("Los conjuntos de entrenamiento y de prueba no pueden estar vacíos.")
    check_images(test_x, tuple(train_x.shape[1:]), binary=True, name="test_x")
    p = train_x.float().mean(0).clamp(eps, 1 - eps)
    return -torch.distributions.Bernoulli(probs=p).log_prob(test_x.float()).flatten(1).sum(1).mean().item()


ABOVE_FULL = 5.0  # nats por encima admitidos en el perfil completo (más el ``slack`` de cada fila)


def plausible(value: float, row: Row, profile_name: str, *, ceiling: float | None = None,
              recorded: float | None = None) -> tuple[bool, str]:
    """¿Cae ``value`` (nats, en la magnitud de la fila) en un rango creíble? Devuelve (sí/no, motivo en español).

    - Por debajo, nunca más de ``row.below`` nats mejor que lo publicado (1,5: el ruido de la estimación; más en las
      filas cuyo protocolo puede ser más fuerte que el del artículo): una cifra mucho mejor delata un error (medir
      en los datos de entrenamiento, un estimador mal hecho).
    - Por encima, en el perfil ``full`` hasta ``ABOVE_FULL`` nats más el ``slack`` de la fila; en un perfil reducido
      el techo es ``ceiling``, la cifra del modelo de píxeles independientes en los mismos datos
      (:func:`pixel_baseline`): la ejecución pequeña tiene que haber aprendido algo.
    - Con un registro completo (``recorded``), la ejecución reducida no puede mejorarlo en más de ``row.below`` nats.
    """
    if not math.isfinite(value):
        return False, f"{row.name}: la cifra no es finita ({value})."
    low = row.published - row.below
    if profile_name == "full":
        high = row.published + ABOVE_FULL + row.slack
    elif ceiling is None:
        raise ValueError("En un perfil reducido hace falta el techo (la cifra del modelo de píxeles independientes).")
    else:
        high = ceiling
    if not low <= value <= high:
        return False, (f"{row.name}: {value:.2f} nats fuera de [{low:.2f}, {high:.2f}] "
                       f"(publicado {row.published:.2f}, perfil {profile_name}).")
    if recorded is not None and profile_name != "full" and value < recorded - row.below:
        return False, (f"{row.name}: la ejecución reducida ({value:.2f}) mejora la completa grabada "
                       f"({recorded:.2f}) en más de {row.below} nats.")
    return True, f"{row.name}: {value:.2f} nats en [{low:.2f}, {high:.2f}]."


def recorded_plausible(result: dict, row: Row, ceiling: float) -> tuple[bool, str]:
    """¿Es creíble una fila del registro? Con el presupuesto del artículo (``row.paper_epochs`` pasadas o más), el
    rango del perfil completo; con menos, el de una ejecución reducida (ni mejor que lo publicado ni peor que el
    modelo de píxeles independientes, ``ceiling``): un registro de 100 pasadas no se juzga como uno de 3280."""
    epochs = result.get("protocol", {}).get("epochs")
    at_paper_budget = row.paper_epochs is not None and epochs is not None and epochs >= row.paper_epochs
    return plausible(result["value"], row, "full" if at_paper_budget else "reducido", ceiling=ceiling)


# --- las filas del capítulo 3: las mide el cuaderno de cada capítulo ------------------------------------------
CHAPTER_METRICS = {"ncll": "-log p(ocultos | visible) (muestreo de importancia)", "nll": METRICS["nll"],
                   "error": "error de clasificación en la prueba (%)"}


@dataclass(frozen=True)
class ChapterRow:
    """Una cifra publicada de un modelo del capítulo 3 frente a la que mide el cuaderno de su capítulo.

    Esta tabla no vuelve a entrenar esos modelos: lee la cifra que el cuaderno pega en su texto (``key``) en el
    registro del libro de cada perfil (:mod:`vaebook_lib.experiments.record`), que guarda también su máquina y su
    commit. Nuestra cifra es ``sign`` por el valor pegado (una log-verosimilitud se pega con su signo). La fila la
    juzga :func:`chapter_plausible`: ni mejor que lo publicado más allá de ``below``, ni peor que su referencia
    ``baseline`` (otra cifra pegada por el mismo cuaderno o un valor fijo, como el azar)."""

    name: str
    notebook: str                 # el cuaderno que la mide, como lo nombra el registro
    key: str                      # la cifra que ese cuaderno pega
    metric: str                   # una de CHAPTER_METRICS (menos es mejor en todas)
    published: float
    source: str                   # clave bibliográfica de la cifra publicada
    where: str
    their_protocol: str
    differences: str              # en qué se aparta el nuestro, además del presupuesto
    baseline: str | float         # la referencia que hay que mejorar
    baseline_name: str
    eval_images: str = "n_eval"   # el campo del perfil con las imágenes de prueba con que se mide
    sign: float = 1.0
    below: float = 1.5
    confirmed: bool = True        # False: cifra tomada de trabajos que la citan o la reproducen
    quoted_by: str = ""           # con confirmed=False, la clave bibliográfica de donde se tomó

    def __post_init__(self):
        if self.metric not in CHAPTER_METRICS:
            raise ValueError(f"Magnitud desconocida {self.metric!r}; use una de {tuple(CHAPTER_METRICS)}.")
        if self.sign not in (1.0, -1.0):
            raise ValueError(f"sign debe ser 1 o -1 (se dio {self.sign}).")
        if not self.confirmed and not self.quoted_by:
            raise ValueError(f"{self.name}: una cifra no contrastada debe decir de dónde se tomó (quoted_by).")
        if not isinstance(self.baseline, (str, int, float)) or isinstance(self.baseline, bool):
            raise ValueError("baseline debe ser el nombre de una cifra del cuaderno o un número.")

    def ours(self, values: dict) -> tuple[float, float]:
        """(nuestra cifra, la de la referencia) a partir de las cifras que pegó el cuaderno."""
        missing = [k for k in (self.key, self.baseline) if isinstance(k, str) and k not in values]
        if missing:
            raise ValueError(f"{self.name}: el registro de {self.notebook} no trae {missing}; vuelva a grabarlo.")
        base = self.sign * values[self.baseline] if isinstance(self.baseline, str) else float(self.baseline)
        return self.sign * values[self.key], base


CHAPTER_ROWS: tuple[ChapterRow, ...] = (
    ChapterRow("CVAE, un cuadrante visible", "book/03_extensiones/02_cvae.ipynb", "cll_cvae", "ncll", 71.8,
               "pyro_cvae", "tabla final (CVAE, 1 cuadrante; la red determinista da 100,4)",
               "reproducción del experimento de Sohn et al. en Pyro: se ve el cuadrante inferior izquierdo; "
               "perceptrones de 500 unidades, z de 200 dimensiones, Adam 1e-3, 50 pasadas con parada temprana, "
               "objetivo en gris y estimación por Monte Carlo sobre las 10 000 imágenes de prueba",
               "no es la cifra del artículo (no hemos podido contrastar su tabla 1); una capa oculta de 400 y z de 20 "
               "dimensiones; nuestros píxeles ocultos son "
               "binarios y la estimación usa la red de reconocimiento como propuesta, así que la magnitud se parece "
               "pero no es la misma", "cll_base", "red determinista del mismo cuaderno", sign=-1.0, below=10.0,
               confirmed=False, quoted_by="pyro_cvae"),
    ChapterRow("ADGM, 100 etiquetas", "book/03_extensiones/03_adgm.ipynb", "err_adgm", "error", 0.96, "maaloe2016",
               "MNIST con 100 etiquetas (0,96 ± 0,02 %)",
               "100 etiquetas (10 por clase); perceptrones 500-500, a y z de 100 dimensiones, Adam 3e-4, "
               "1000 pasadas, entropía cruzada de los etiquetados con peso 0,1 N/N_l",
               "una capa oculta de 400 y a y z de 20 dimensiones, y pocas pasadas frente a 1000; el cuaderno mide "
               "que, con este presupuesto, el clasificador memoriza las 100 etiquetas", 90.0, "el azar (10 clases)",
               eval_images="n_test", below=0.5, confirmed=False, quoted_by="badgan_code"),
    ChapterRow("MIWAE", "book/03_extensiones/01_iwae.ipynb", "nll_miwae", "nll", 84.97, "rainforth2018",
               "MIWAE con M = 8, K = 8 (84,97 ± 0,10)", IWAE_PROTOCOL,
               "784-400-20 con ReLU en vez de 784-200-200-50 con tanh; M = 2, K = 2 (las cuatro muestras de la "
               "IWAE del cuaderno) y el k del perfil al medir",
               "nll_vae", "VAE del mismo cuaderno", confirmed=False, quoted_by="pythae_repro"),
)


def chapter_plausible(row: ChapterRow, values: dict) -> tuple[bool, str]:
    """¿Es creíble la cifra de ``row`` que pegó su cuaderno (``values``, las cifras de su entrada del registro)?
    Ni mejor que lo publicado en más de ``row.below`` (con menos presupuesto sería un error) ni peor que su
    referencia. Devuelve (sí/no, motivo en español)."""
    value, base = row.ours(values)
    if not (math.isfinite(value) and math.isfinite(base)):
        return False, f"{row.name}: cifras no finitas ({value}, {base})."
    if value < row.published - row.below:
        return False, (f"{row.name}: {value:.2f} mejora lo publicado ({row.published}) en más de {row.below}: "
                       "con menos presupuesto, eso delata un error.")
    if value >= base:
        return False, f"{row.name}: {value:.2f} no mejora su referencia, {row.baseline_name} ({base:.2f})."
    return True, f"{row.name}: {value:.2f}, entre lo publicado ({row.published}) y su referencia ({base:.2f})."


def chapter_protocol(row: ChapterRow, profile: Profile) -> str:
    """Nuestro protocolo para ``row`` con los tamaños de ``profile`` (los que usa el cuaderno de su capítulo)."""
    p = profile
    text = f"{p.epochs} pasadas por {p.n_train or 60000} imágenes, lotes de {p.batch_size}, {p.ext_seeds} semillas"
    n_eval = getattr(p, row.eval_images) or 10000
    if row.metric in ("ncll", "nll"):
        return f"{text}; k = {p.k_is} sobre {n_eval} imágenes de prueba"
    return f"{text}; medido en {n_eval} imágenes de prueba"


# --- línea de órdenes ---------------------------------------------------------------------------------------
def merge_record(old: dict | None, new: dict) -> dict:
    """Funde el registro ``new`` en ``old``: las filas de ``new`` sustituyen a las del mismo nombre, las demás se
    quedan (cada resultado lleva su protocolo y su orden). Devuelve el registro fundido, en el orden de ``ROWS``."""
    if old is None:
        return new
    if old.get("version") != new.get("version"):
        raise ValueError("No se pueden fundir registros de versiones distintas.")
    by_name = {r["name"]: r for r in old["results"]}
    by_name.update({r["name"]: r for r in new["results"]})
    order = [row.name for row in ROWS] + [TARGET.name]
    results = sorted(by_name.values(), key=lambda r: order.index(r["name"]) if r["name"] in order else len(order))
    return {**new, "results": results}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description="Ejecuta la tabla de reproducibilidad y graba el resultado "
                                                 "(fundido, fila a fila, con el registro que ya hubiera).")
    parser.add_argument("--out", type=Path, default=DEFAULT_RECORD, help="fichero JSON de salida")
    parser.add_argument("--rows", nargs="*", help="solo estas filas (por nombre)")
    parser.add_argument("--epochs", type=int, help="pasadas de entrenamiento (por defecto, las del perfil)")
    parser.add_argument("--k", type=int, help=f"muestras de importancia (por defecto, {RECORD_K} en full)")
    parser.add_argument("--n-eval", type=int, help=f"imágenes de prueba (por defecto, {RECORD_N_EVAL} en full)")
    parser.add_argument("--replace", action="store_true", help="no fundir: escribir solo estas filas")
    parser.add_argument("--target", action="store_true",
                        help=f"el objetivo de calidad del libro ({TARGET.goal:g} nats en {TARGET.epochs} pasadas), con "
                             "su propio entrenamiento; sin --rows, solo él")
    args = parser.parse_args(argv)
    rows = [r for r in ROWS if (not args.rows and not args.target) or r.name in (args.rows or ())]
    if args.rows and len(rows) != len(args.rows):
        parser.error(f"Filas desconocidas; las hay: {', '.join(r.name for r in ROWS)}.")
    if args.target and args.epochs is not None:
        parser.error(f"--epochs no se aplica al objetivo: sus {TARGET.epochs} pasadas son parte de él; grabe las "
                     "filas con --epochs en otra orden.")
    for name in ("epochs", "k", "n_eval"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} debe ser un entero positivo (se dio {value}).")
    profile = get_profile()
    proto = record_protocol(profile, epochs=args.epochs, k=args.k, n_eval=args.n_eval)
    train, x_eval = data(profile, proto)
    results = run_rows(rows, proto, train, x_eval)
    if args.target:
        results.append(run_row(TARGET, TARGET.protocol(proto), train, x_eval))
    command = " ".join([f"VAEBOOK_PROFILE={proto.profile}", PROGRAM,
                        *(argv if argv is not None else sys.argv[1:])])
    record = make_record(results, proto, command)
    for r in results:   # cada resultado guarda de dónde salió: el registro funde grabaciones de días y máquinas distintos
        r.update(command=command, date=record["date"], commit=record["commit"], machine=record["machine"])
    if not args.replace:
        record = merge_record(load_record(args.out), record)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(args.out, lambda f: f.write(json.dumps(record, indent=1, ensure_ascii=False) + "\n"), text=True)
    for r in results:
        print(f"{r['name']:>24}: {METRICS[r['metric']]} = {r['value']:.2f} nats ({r['seconds']:.0f} s)")
    print(f"Registro escrito en {args.out}")
    return record


if __name__ == "__main__":  # pragma: no cover
    main()
