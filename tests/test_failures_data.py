"""Ningún fallo silencioso en los datos (issue 18): cada prueba falla con el código que callaba el problema.

Todas usan un MNIST falso y pequeño en ``tmp_path`` (con sus sumas MD5) y una red simulada: segundos, sin red.
"""
import gzip
import hashlib
import io
import os
import time
import urllib.error

import pytest
import torch

from vaebook_lib import feature_net
from vaebook_lib.config import PROFILES
from vaebook_lib.data import DatasetError, ImageData, idx, load_mnist, vision
from vaebook_lib.data.idx import IdxFile, find_or_fetch

SMALL = PROFILES["fast"].__class__(**{**PROFILES["fast"].__dict__, "n_train": 30, "n_test": 10})
N_TEST_SPLIT = 50


def _md5(b):
    return hashlib.md5(b).hexdigest()


def _idx_gz(array: torch.Tensor) -> bytes:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    return gzip.compress(header + array.numpy().astype("uint8").tobytes())


class FakeMnist:
    """Un MNIST diminuto con sus sumas registradas en ``vision.MNIST_FILES`` y las carpetas aisladas."""

    def __init__(self, root, monkeypatch):
        self.root = root
        g = torch.Generator().manual_seed(0)
        self.blobs = {
            "train-images-idx3-ubyte.gz": _idx_gz(torch.randint(1, 256, (40, 28, 28), generator=g)),
            "train-labels-idx1-ubyte.gz": _idx_gz(torch.arange(40) % 10),
            "t10k-images-idx3-ubyte.gz": _idx_gz(torch.randint(1, 256, (N_TEST_SPLIT, 28, 28), generator=g)),
            "t10k-labels-idx1-ubyte.gz": _idx_gz(torch.arange(N_TEST_SPLIT) % 10),
        }
        names = list(self.blobs)
        spec = {n: IdxFile(n, _md5(self.blobs[n])) for n in names}
        monkeypatch.setattr(vision, "MNIST_FILES", {"train": (spec[names[0]], spec[names[1]]),
                                                    "test": (spec[names[2]], spec[names[3]])})
        monkeypatch.setattr(vision, "MNIST_MIRRORS", ("http://espejo-a/", "http://espejo-b/"))
        monkeypatch.setattr(idx, "DEBIAN_ROOT", root / "debian")
        monkeypatch.setattr(idx, "_UNREACHABLE", {})
        monkeypatch.setenv("VAEBOOK_DATA", str(root / "data"))
        monkeypatch.setenv("VAEBOOK_CACHE", str(root / "cache"))
        monkeypatch.setenv("VAEBOOK_OFFLINE", "1")
        (root / "data" / "mnist").mkdir(parents=True)

    def put(self, *names, content=None):
        for n in names:
            (self.root / "data" / "mnist" / n).write_bytes(self.blobs[n] if content is None else content)


@pytest.fixture
def fake(tmp_path, monkeypatch):
    vision._load_idx_pair.cache_clear()
    vision._announce_carve.cache_clear()
    yield FakeMnist(tmp_path, monkeypatch)
    vision._load_idx_pair.cache_clear()


TEST_FILES = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
TRAIN_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")


def test_absent_train_split_gives_the_announced_carve(fake, capsys):
    fake.put(*TEST_FILES)
    train, test = load_mnist("train", profile=SMALL), load_mnist("test", profile=SMALL)
    assert len(train) == 30 and len(test) == 10 and "recorte" in train.name
    assert "no está la partición de entrenamiento oficial" in capsys.readouterr().out  # y se dice


@pytest.mark.parametrize("bad", [b"", b"no es gzip", "foreign", "truncated"])
def test_present_but_corrupt_train_file_is_an_error_not_a_carve(fake, bad):
    fake.put(*TEST_FILES, *TRAIN_FILES)
    if bad == "foreign":  # un IDX válido pero ajeno (otra descarga, otro conjunto)
        bad = _idx_gz(torch.zeros(40, 28, 28, dtype=torch.uint8))
    elif bad == "truncated":
        bad = fake.blobs[TRAIN_FILES[0]][:-100]
    fake.put(TRAIN_FILES[0], content=bad)
    for profile in (SMALL, PROFILES["full"]):
        with pytest.raises(DatasetError, match="dañado|suma de comprobación") as info:
            load_mnist("train", profile=profile)
        assert not isinstance(info.value, idx.DatasetMissing)
        assert "train-images" in str(info.value)
    with pytest.raises(DatasetError, match="dañado|suma de comprobación"):
        load_mnist("test", profile=SMALL)  # tampoco se recorta la prueba a escondidas


def test_full_profile_test_split_does_not_need_the_train_files(fake):
    fake.put(*TEST_FILES)
    assert len(load_mnist("test", profile=PROFILES["full"])) == N_TEST_SPLIT
    with pytest.raises(DatasetError, match="entrenamiento oficial"):
        load_mnist("train", profile=PROFILES["full"])


def test_real_train_split_is_used_when_present(fake):
    fake.put(*TEST_FILES, *TRAIN_FILES)
    train = load_mnist("train", profile=SMALL)
    assert train.name == "MNIST" and len(train) == 40


def test_mistyped_vaebook_data_is_an_error_not_ignored(fake, monkeypatch):
    # El fichero está en la caché: antes, un VAEBOOK_DATA mal escrito se saltaba en silencio y se usaba esta.
    cache = fake.root / "cache" / "mnist"
    cache.mkdir(parents=True)
    for n in TEST_FILES:
        (cache / n).write_bytes(fake.blobs[n])
    monkeypatch.setenv("VAEBOOK_DATA", str(fake.root / "dato"))
    with pytest.raises(DatasetError, match="VAEBOOK_DATA=.*dato no es una carpeta que exista.*Corrija"):
        load_mnist("test", profile=PROFILES["full"])
    monkeypatch.chdir(fake.root)
    monkeypatch.setenv("VAEBOOK_DATA", "../shared/data")  # relativa: depende de la carpeta del cuaderno
    with pytest.raises(DatasetError, match="no es una carpeta que exista.*relativa.*ruta absoluta"):
        load_mnist("test", profile=PROFILES["full"])
    # Apuntar a la carpeta «mnist» misma (en vez de a la que la contiene) también se dice.
    fake.put(*TEST_FILES)
    monkeypatch.setenv("VAEBOOK_DATA", str(fake.root / "data" / "mnist"))
    with pytest.raises(DatasetError, match="contiene los .gz directamente"):
        load_mnist("test", profile=PROFILES["full"])
    monkeypatch.delenv("VAEBOOK_DATA")
    assert len(load_mnist("test", profile=PROFILES["full"])) == N_TEST_SPLIT  # sin la variable: la caché


@pytest.mark.parametrize("n", [-5, 0, 2.5, "10", True, N_TEST_SPLIT + 1])
def test_bad_n_is_refused(fake, n):
    fake.put(*TEST_FILES, *TRAIN_FILES)
    with pytest.raises(ValueError, match="n debe"):
        load_mnist("test", n, profile=SMALL)


def test_good_n_takes_the_first_examples(fake):
    fake.put(*TEST_FILES, *TRAIN_FILES)
    full = load_mnist("test", profile=SMALL)
    part = load_mnist("test", 7, profile=SMALL)
    assert len(part) == 7 and torch.equal(part.x, full.x[:7]) and torch.equal(part.y, full.y[:7])
    assert len(load_mnist("test", N_TEST_SPLIT, profile=SMALL)) == N_TEST_SPLIT


def test_editing_a_loaded_dataset_does_not_corrupt_later_loads(fake):
    fake.put(*TEST_FILES, *TRAIN_FILES)
    before = load_mnist("test", profile=SMALL).x.sum()
    assert before > 0
    for n in (None, 5):
        d = load_mnist("test", n, profile=SMALL)
        d.x.mul_(0)
        d.y.fill_(3)
    again = load_mnist("test", profile=SMALL)
    assert again.x.sum() == before and again.y[:3].tolist() == [0, 1, 2]


def test_subset_is_a_copy():
    d = ImageData(torch.ones(6, 1, 2, 2), torch.arange(6), ("a",), factors=torch.ones(6, 2))
    for n in (3, None, 6):
        s = d.subset(n)
        s.x.mul_(0)
        s.y.fill_(-1)
        s.factors.fill_(0)
    assert d.x.sum() == 24 and d.y.tolist() == list(range(6)) and d.factors.sum() == 12
    for bad in (-5, 0, 7, 2.0):
        with pytest.raises(ValueError, match="n debe"):
            d.subset(bad)


class _Response(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


def _server(fake, calls, missing=(), status=404):
    """Un ``urlopen`` simulado: sirve los ficheros falsos salvo ``missing``, que responde ``status``."""
    def urlopen(url, timeout):
        calls.append(url)
        name = url.rsplit("/", 1)[1]
        if name in missing:
            raise urllib.error.HTTPError(url, status, "Not Found", {}, None)
        return _Response(fake.blobs[name])
    return urlopen


@pytest.mark.parametrize("status", [404, 503])
def test_an_http_error_does_not_mark_the_mirror_dead(fake, monkeypatch, status):
    calls = []
    monkeypatch.delenv("VAEBOOK_OFFLINE")
    monkeypatch.setattr(idx.urllib.request, "urlopen", _server(fake, calls, missing=TRAIN_FILES, status=status))
    # El fichero de entrenamiento da 404 en ambos espejos: falta (recorte del perfil fast) ...
    test = load_mnist("test", profile=SMALL)
    assert len(test) == 10 and "recorte" in test.name
    # ... pero el de prueba sí se descargó del mismo espejo, que sigue vivo.
    assert "http://espejo-a/t10k-images-idx3-ubyte.gz" in calls
    assert idx._UNREACHABLE == {}
    assert (fake.root / "cache" / "mnist" / "t10k-images-idx3-ubyte.gz").is_file()


def test_a_network_error_still_marks_the_mirror_dead(fake, monkeypatch):
    calls = []

    def offline(url, timeout):
        calls.append(url)
        raise urllib.error.URLError("sin red")

    monkeypatch.delenv("VAEBOOK_OFFLINE")
    monkeypatch.setattr(idx.urllib.request, "urlopen", offline)
    for name in ("a.gz", "b.gz"):
        with pytest.raises(idx.DatasetMissing, match="sin red"):
            find_or_fetch("x", IdxFile(name, "0" * 32), mirrors=("http://espejo-a/",), how_to="")
    assert calls == ["http://espejo-a/a.gz"]


def test_stale_part_files_are_cleaned_and_live_ones_kept(fake, monkeypatch):
    dest = fake.root / "cache" / "mnist" / TEST_FILES[1]
    dest.parent.mkdir(parents=True)
    stale = dest.parent / (dest.name + "abc123.part")   # el nombre que deja un mkstemp interrumpido
    live = dest.parent / (dest.name + "xyz789.part")
    other = dest.parent / "otro-fichero.gz"
    for p in (stale, live, other):
        p.write_bytes(b"a medias")
    old = time.time() - 2 * idx.STALE_PART_S
    os.utime(stale, (old, old))
    os.utime(other, (old, old))
    monkeypatch.setattr(idx.urllib.request, "urlopen", _server(fake, []))
    idx.download("http://espejo-a/" + dest.name, dest, vision.MNIST_FILES["test"][1])
    assert dest.is_file() and not stale.exists() and live.exists() and other.exists()


def test_two_processes_caching_the_feature_net_do_not_collide(tmp_path, monkeypatch):
    """Simula dos procesos: mientras el primero escribe su temporal, el segundo escribe y renombra el suyo."""
    data = ImageData(torch.rand(8, 1, 28, 28), torch.arange(8) % 2, ("a", "b"), "juguete")
    monkeypatch.setattr(feature_net, "train_feature_net",
                        lambda d, epochs, seed: feature_net.FeatureNet(1, 2).eval().requires_grad_(False))
    real_save = torch.save
    state = {"nested": False}

    def save_then_other_process(obj, f, *a, **k):
        real_save(obj, f, *a, **k)
        if not state["nested"]:
            state["nested"] = True
            feature_net.get_feature_net(data, directory=tmp_path)  # el «otro proceso» termina antes

    monkeypatch.setattr(torch, "save", save_then_other_process)
    net = feature_net.get_feature_net(data, directory=tmp_path)
    assert isinstance(net, feature_net.FeatureNet)
    assert [p.suffix for p in tmp_path.iterdir()] == [".pt"]  # ningún temporal huérfano
    monkeypatch.setattr(torch, "save", real_save)
    feature_net.get_feature_net(data, directory=tmp_path)  # se vuelve a cargar sin error


def test_a_corrupt_cached_feature_net_is_a_clear_error(tmp_path):
    data = ImageData(torch.rand(8, 1, 28, 28), torch.arange(8) % 2, ("a", "b"), "juguete")
    (tmp_path / "feature_net_juguete_8_e1_s0.pt").write_bytes(b"truncado")
    with pytest.raises(ValueError, match="dañada.*Bórrela"):
        feature_net.get_feature_net(data, directory=tmp_path)


def test_unreadable_data_file_is_a_clear_error(fake, monkeypatch):
    fake.put(*TEST_FILES, *TRAIN_FILES)
    real = type(fake.root).read_bytes

    def denied(self):
        if self.name == TEST_FILES[0]:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(type(fake.root), "read_bytes", denied)
    with pytest.raises(DatasetError, match="No hay permiso para leer.*chmod"):
        load_mnist("test", profile=SMALL)


def test_unreadable_data_folder_is_a_clear_error(fake, monkeypatch):
    fake.put(*TEST_FILES, *TRAIN_FILES)
    real = type(fake.root).exists

    def denied(self):
        if self.parent.name == "mnist" and self.parent.parent.name == "data":
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(type(fake.root), "exists", denied)
    with pytest.raises(DatasetError, match="No hay permiso para entrar en.*chmod"):
        load_mnist("test", profile=SMALL)
