"""MNIST y Fashion-MNIST como tensores: imágenes ``float32`` en [0, 1] de forma (N, 1, 28, 28) y etiquetas."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from numbers import Integral

import torch

from ..config import Profile, get_profile
from .idx import DatasetError, DatasetMissing, IdxFile, find_or_fetch


def _check_n(n, available: int, what: str) -> None:
    """``n`` es ``None`` (todo) o un entero entre 1 y ``available``; si no, un error claro."""
    if n is None:
        return
    if isinstance(n, bool) or not isinstance(n, Integral):
        raise ValueError(f"n debe ser un entero positivo o None (todo {what}); se recibió {n!r}.")
    if not 1 <= n <= available:
        raise ValueError(f"n debe estar entre 1 y {available} (el tamaño de {what}); se recibió {n}. "
                         "Use n=None para tomarlo entero.")


@dataclass
class ImageData:
    """Un conjunto de imágenes con sus etiquetas (y, si los hay, sus factores generadores)."""

    x: torch.Tensor
    y: torch.Tensor
    classes: tuple[str, ...]
    name: str = ""
    factors: torch.Tensor | None = None
    factor_names: tuple[str, ...] = field(default_factory=tuple)
    factor_sizes: tuple[int, ...] = field(default_factory=tuple)

    def __len__(self) -> int:
        return len(self.x)

    def subset(self, n: int | None) -> "ImageData":
        """Copia de los ``n`` primeros ejemplos (todos si ``n`` es ``None``); ``n`` mayor que el conjunto es un
        error, no un conjunto más pequeño de lo pedido.

        Es una copia, no una vista: modificarla en su sitio no cambia el original.
        """
        _check_n(n, len(self), f"«{self.name or 'el conjunto'}»")
        n = len(self) if n is None else n
        f = None if self.factors is None else self.factors[:n].clone()
        return ImageData(self.x[:n].clone(), self.y[:n].clone(), self.classes, self.name, f,
                         self.factor_names, self.factor_sizes)

    def select(self, mask_or_index: torch.Tensor) -> "ImageData":
        """Los ejemplos indicados por una máscara booleana o unos índices."""
        f = None if self.factors is None else self.factors[mask_or_index]
        return ImageData(self.x[mask_or_index], self.y[mask_or_index], self.classes, self.name, f,
                         self.factor_names, self.factor_sizes)


MNIST_FILES = {
    "train": (IdxFile("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                      "6bbc9ace898e44ae57da46a324031adb"),
              IdxFile("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432",
                      "a25bea736e30d166cdddb491f175f624")),
    "test": (IdxFile("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3",
                     "2646ac647ad5339dbf082846283269ea"),
             IdxFile("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c",
                     "27ae3e4e09519cfbb04c329615203637")),
}
FASHION_FILES = {
    "train": (IdxFile("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                      "f4a8712d7a061bf5bd6d2ca38dc4d50a"),
              IdxFile("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe",
                      "9018921c3c673c538a1fc5bad174d6f9")),
    "test": (IdxFile("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79",
                     "8181f5470baa50b63fa0f6fddb340f0a"),
             IdxFile("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310",
                     "15d484375f8d13e6eb1aabb0c3f46965")),
}
MNIST_MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/",
                 "https://storage.googleapis.com/cvdf-datasets/mnist/")
FASHION_MIRRORS = ("https://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                   "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/")
FASHION_CLASSES = ("camiseta", "pantalón", "jersey", "vestido", "abrigo", "sandalia", "camisa",
                   "zapatilla", "bolso", "botín")
DIGITS = tuple(str(i) for i in range(10))
MNIST_HOW = ("Con conexión a internet se descarga sola; sin ella, copie los cuatro ficheros .gz oficiales de "
             "MNIST en una carpeta «mnist» y apunte VAEBOOK_DATA a la carpeta que la contiene.")
FASHION_HOW = ("En Debian/Ubuntu: «sudo apt-get install dataset-fashion-mnist»; con conexión a internet se "
               "descarga sola; o copie los cuatro ficheros .gz en una carpeta «fashion-mnist» y apunte "
               "VAEBOOK_DATA a la carpeta que la contiene.")


def _check_split(split: str) -> None:
    if split not in ("train", "test"):
        raise ValueError(f"Partición desconocida {split!r}: use «train» o «test».")


@lru_cache(maxsize=8)
def _load_idx_pair(folder: str, split: str, allow_download: bool = True):
    # Caché del proceso, en bytes (uint8: 47 MB la partición de entrenamiento, no 188 en float32): sus tensores
    # nunca salen de este módulo sin copiar, y solo las imágenes pedidas pasan a [0, 1] (véase ``_hand_out``).
    files, mirrors, how = ((MNIST_FILES, MNIST_MIRRORS, MNIST_HOW) if folder == "mnist"
                           else (FASHION_FILES, FASHION_MIRRORS, FASHION_HOW))
    img_spec, lab_spec = files[split]
    images = find_or_fetch(folder, img_spec, mirrors, how, allow_download)
    labels = find_or_fetch(folder, lab_spec, mirrors, how, allow_download)
    if images.shape[0] != labels.shape[0] or images.shape[1:] != (28, 28):
        raise DatasetError(f"Los ficheros de {folder} ({split}) no tienen la forma esperada.")
    return torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(labels.copy()).long()


def _hand_out(x: torch.Tensor, y: torch.Tensor, part: slice, n: int | None, classes, name: str,
              what: str) -> ImageData:
    """``x[part][:n]`` en [0, 1] (float32, una copia) y sus etiquetas (copiadas): quien las reciba puede cambiarlas
    sin tocar la caché. Solo se convierten las ``n`` imágenes pedidas."""
    x, y = x[part], y[part]
    _check_n(n, len(x), what)
    n = len(x) if n is None else n
    return ImageData(x[:n].float().div_(255.0), y[:n].clone(), classes, name)


def load_fashion_mnist(split: str = "train", n: int | None = None) -> ImageData:
    """Fashion-MNIST completo (60 000 de entrenamiento, 10 000 de prueba); ``n`` toma los primeros."""
    _check_split(split)
    x, y = _load_idx_pair("fashion-mnist", split)
    return _hand_out(x, y, slice(None), n, FASHION_CLASSES, "Fashion-MNIST", f"la partición «{split}»")


def load_mnist(split: str = "train", n: int | None = None, profile: Profile | None = None) -> ImageData:
    """MNIST. Sin la partición de entrenamiento oficial, el perfil ``fast`` recorta ambas de la de prueba.

    En ese caso las primeras ``profile.n_train`` imágenes de la partición de prueba oficial hacen de
    entrenamiento y las ``profile.n_test`` últimas de prueba (disjuntas); se avisa con una línea impresa.
    Solo un fichero de entrenamiento *ausente* lleva a ese recorte: uno presente pero corrupto o ajeno es un
    error en todos los perfiles. El perfil ``full`` se niega a recortar: sus cifras deben venir de las
    particiones oficiales.
    """
    _check_split(split)
    profile = profile or get_profile()
    if split == "test" and profile.name != "fast":  # sin recorte posible: la prueba no depende de la de entrenamiento
        x, y = _load_idx_pair("mnist", "test")
        return _hand_out(x, y, slice(None), n, DIGITS, "MNIST", "la partición «test»")
    try:
        train = _load_idx_pair("mnist", "train")
    except DatasetMissing as err:
        if profile.name != "fast":
            raise DatasetError(f"{err} El perfil «{profile.name}» necesita la partición de entrenamiento oficial "
                               "de MNIST (60 000 imágenes).") from err
        x, y = _load_idx_pair("mnist", "test")
        n_train, n_test = profile.n_train or 8000, profile.n_test or 2000
        if n_train + n_test > len(x):
            raise DatasetError("La partición de prueba de MNIST no basta para el recorte del perfil fast.") from err
        _announce_carve(n_train, n_test)
        part = slice(0, n_train) if split == "train" else slice(len(x) - n_test, len(x))
        return _hand_out(x, y, part, n, DIGITS, "MNIST (recorte de la partición de prueba)",
                         f"el recorte «{split}» del perfil fast")
    x, y = train if split == "train" else _load_idx_pair("mnist", "test")
    return _hand_out(x, y, slice(None), n, DIGITS, "MNIST", f"la partición «{split}»")


@lru_cache(maxsize=None)
def _announce_carve(n_train: int, n_test: int) -> None:
    print(f"MNIST: no está la partición de entrenamiento oficial; perfil fast: se entrena con las {n_train} "
          f"primeras imágenes de la partición de prueba oficial y se evalúa con las {n_test} últimas.")
