import gzip
import hashlib

import pytest
import torch

from conftest import needs_mnist
from vaebook_lib.config import PROFILES
from vaebook_lib.data import (FACTOR_SIZES, DatasetError, batches, binarize, load_fashion_mnist, load_formas,
                              load_mnist, mixture_of_gaussians, render, sample_factors, sample_toy)
from vaebook_lib.data import idx, vision
from vaebook_lib.data.idx import IdxFile, find_or_fetch, parse_idx, read_verified


def _idx_bytes(array):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    return header + array.numpy().astype("uint8").tobytes()


def test_parse_idx_roundtrip_and_corruption():
    a = torch.randint(0, 256, (3, 4, 5), dtype=torch.uint8)
    assert torch.equal(torch.from_numpy(parse_idx(_idx_bytes(a)).copy()), a)
    with pytest.raises(ValueError, match="no es un fichero IDX"):
        parse_idx(b"\x00\x00\x09\x01" + b"\x00" * 8)
    with pytest.raises(ValueError, match="tamaño"):
        parse_idx(_idx_bytes(a)[:-1])


def test_checksum_accepts_gz_or_content_md5_and_rejects_corruption(tmp_path):
    raw = _idx_bytes(torch.arange(10, dtype=torch.uint8))
    packed = gzip.compress(raw)
    path = tmp_path / "f.gz"
    path.write_bytes(packed)
    md5 = lambda b: hashlib.md5(b).hexdigest()  # noqa: E731
    assert read_verified(path, IdxFile("f.gz", md5(packed))) == raw
    assert read_verified(path, IdxFile("f.gz", "0" * 32, md5(raw))) == raw  # recomprimido (Debian)
    with pytest.raises(DatasetError, match="suma de comprobación"):
        read_verified(path, IdxFile("f.gz", "0" * 32, "1" * 32))
    path.write_bytes(packed[:-5])  # truncado
    with pytest.raises(DatasetError, match="dañado|suma"):
        read_verified(path, IdxFile("f.gz", md5(packed)))


def test_missing_dataset_offline_gives_spanish_instructions(tmp_path, monkeypatch):
    monkeypatch.setenv("VAEBOOK_DATA", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("VAEBOOK_CACHE", raising=False)
    monkeypatch.setattr(idx, "DEBIAN_ROOT", tmp_path / "debian")
    with pytest.raises(DatasetError, match="No se encuentra.*apt-get install"):
        find_or_fetch("fashion-mnist", IdxFile("x.gz", "0" * 32), mirrors=(), how_to="sudo apt-get install x")


def test_interrupted_download_leaves_no_partial_file(tmp_path, monkeypatch):
    def broken(url, timeout):
        raise OSError("conexión cortada")
    monkeypatch.setattr(idx.urllib.request, "urlopen", broken)
    with pytest.raises(OSError):
        idx.download("http://127.0.0.1/x.gz", tmp_path / "x.gz", IdxFile("x.gz", "0" * 32))
    assert list(tmp_path.iterdir()) == []


def test_fashion_mnist_is_real_and_complete():
    train, test = load_fashion_mnist("train"), load_fashion_mnist("test")
    assert train.x.shape == (60000, 1, 28, 28) and test.x.shape == (10000, 1, 28, 28)
    assert train.x.dtype == torch.float32 and 0 <= train.x.min() and train.x.max() == 1
    assert torch.equal(train.y.bincount(), torch.full((10,), 6000))
    assert len(load_fashion_mnist("train", 100)) == 100
    with pytest.raises(ValueError, match="Partición"):
        load_fashion_mnist("validación")


def test_loaded_images_are_copies_and_a_subset_is_the_prefix():
    # La caché del proceso guarda bytes y convierte solo lo pedido: el subconjunto es el prefijo exacto del conjunto
    # entero (x / 255 en float32, bit a bit), y cambiar lo recibido no cambia lo que recibe la siguiente llamada.
    whole, part = load_fashion_mnist("test"), load_fashion_mnist("test", 50)
    assert part.x.dtype == torch.float32 and torch.equal(part.x, whole.x[:50]) and torch.equal(part.y, whole.y[:50])
    raw = vision._load_idx_pair("fashion-mnist", "test")[0]
    assert raw.dtype == torch.uint8 and torch.equal(whole.x, raw.float() / 255)
    part.x.fill_(7.0)
    part.y.fill_(-1)
    again = load_fashion_mnist("test", 50)
    assert torch.equal(again.x, whole.x[:50]) and torch.equal(again.y, whole.y[:50])


needs_mnist_train = pytest.mark.skipif(
    not any((d / "train-images-idx3-ubyte.gz").is_file() for d in idx.search_dirs("mnist")),
    reason="La partición de entrenamiento de MNIST no está (VAEBOOK_DATA)")


def _real_mnist_dir():
    return next(d for d in idx.search_dirs("mnist") if (d / "t10k-images-idx3-ubyte.gz").is_file())


@pytest.fixture
def mnist_without_train(tmp_path, monkeypatch):
    """Solo la partición de prueba oficial (enlazada): como en una máquina sin la de entrenamiento."""
    real = _real_mnist_dir()
    (tmp_path / "data" / "mnist").mkdir(parents=True)
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (tmp_path / "data" / "mnist" / name).symlink_to(real / name)
    monkeypatch.setenv("VAEBOOK_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("VAEBOOK_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("VAEBOOK_OFFLINE", "1")
    monkeypatch.setattr(idx, "DEBIAN_ROOT", tmp_path / "debian")
    vision._load_idx_pair.cache_clear()
    yield
    vision._load_idx_pair.cache_clear()


@needs_mnist
def test_mnist_fast_profile_carves_disjoint_splits(mnist_without_train):
    fast = PROFILES["fast"]
    train, test = load_mnist("train", profile=fast), load_mnist("test", profile=fast)
    assert len(train) == fast.n_train and len(test) == fast.n_test
    assert train.y[:5].tolist() == [7, 2, 1, 0, 4]  # el comienzo conocido de la partición de prueba oficial
    joined = torch.cat([train.x, test.x]).flatten(1)
    assert joined.unique(dim=0).shape[0] > 0.99 * len(joined)


@needs_mnist
def test_mnist_full_profile_refuses_the_carve(mnist_without_train):
    with pytest.raises(DatasetError, match="entrenamiento oficial"):
        load_mnist("train", profile=PROFILES["full"])


@needs_mnist_train
def test_mnist_official_train_split_is_loaded_when_present():
    """Con los ficheros de entrenamiento (p. ej. VAEBOOK_DATA=../shared/data), ningún perfil recorta."""
    vision._load_idx_pair.cache_clear()
    train = load_mnist("train", profile=PROFILES["fast"])
    assert train.name == "MNIST" and train.x.shape == (60000, 1, 28, 28)
    # Recuentos publicados de la partición de entrenamiento y su media de píxel conocida (0,1307).
    assert train.y.bincount().tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert abs(train.x.mean().item() - 0.1307) < 5e-5
    assert train.y[:5].tolist() == [5, 0, 4, 1, 9]
    assert len(load_mnist("test", profile=PROFILES["fast"])) == 10000  # la prueba oficial entera, sin recorte
    assert len(load_mnist("train", 123, profile=PROFILES["full"])) == 123


def test_binarize_is_bernoulli_and_validates():
    x = torch.full((20000,), 0.3)
    b = binarize(x, torch.Generator().manual_seed(0))
    assert set(b.unique().tolist()) <= {0.0, 1.0}
    assert abs(b.mean().item() - 0.3) < 0.02
    with pytest.raises(ValueError, match="intensidades"):
        binarize(torch.tensor([1.5]))


def test_batches_cover_everything_once():
    x, y = torch.arange(10).float(), torch.arange(10)
    got = list(batches(x, y, batch_size=4, shuffle=True, generator=torch.Generator().manual_seed(0)))
    assert [len(b[0]) for b in got] == [4, 4, 2]
    assert sorted(torch.cat([b[1] for b in got]).tolist()) == list(range(10))
    assert all(torch.equal(b[0].long(), b[1]) for b in got)  # x e y siguen emparejados
    with pytest.raises(ValueError, match="mismo número"):
        next(batches(x, y[:3], batch_size=2))


def test_shuffled_batches_are_the_permutation_rows():
    """Los lotes barajados son exactamente las filas de la permutación del generador, en su orden (imágenes con
    sus dimensiones y etiquetas enteras): copiar filas con index_select no cambia qué ve el entrenamiento."""
    x, y = torch.rand(10, 1, 3, 3), torch.arange(10) * 7
    got = list(batches(x, y, batch_size=4, shuffle=True, generator=torch.Generator().manual_seed(3)))
    order = torch.randperm(10, generator=torch.Generator().manual_seed(3))
    for i, (xb, yb) in enumerate(got):
        idx = order[4 * i:4 * i + 4]
        assert torch.equal(xb, x[idx]) and torch.equal(yb, y[idx]) and xb.is_contiguous()


def test_formas_factors_and_images():
    data = load_formas(50, size=32, seed=1)
    assert data.x.shape == (50, 1, 32, 32) and data.factors.shape == (50, 5)
    assert set(data.x.unique().tolist()) <= {0.0, 1.0}
    assert (data.x.flatten(1).sum(1) > 3).all()  # cada imagen contiene una figura
    assert torch.equal(load_formas(50, size=32, seed=1).x, data.x)  # reproducible
    # Los factores determinan la imagen: más escala, más píxeles encendidos.
    f = torch.tensor([[1, 0, 0, 16, 16], [1, 5, 0, 16, 16]])
    small, big = render(f, 64).flatten(1).sum(1)
    assert big > 1.5 * small
    # La posición mueve el centro de masas.
    f = torch.tensor([[0, 3, 0, 0, 16], [0, 3, 0, 31, 16]])
    img = render(f, 64)[:, 0]
    cols = torch.arange(64).float()
    cx = (img.sum(1) * cols).sum(1) / img.sum((1, 2))
    assert cx[1] - cx[0] > 25
    assert (sample_factors(1000, torch.Generator().manual_seed(0)).max(0).values < torch.tensor(FACTOR_SIZES)).all()
    with pytest.raises(ValueError, match="fuera de rango"):
        render(torch.tensor([[3, 0, 0, 0, 0]]))


def test_formas_render_draws_each_shape_with_its_own_equation():
    """Cada figura, con su ecuación (cuadrado |u|, |v| <= 0,8; elipse; corazón de la curva de sexto grado), píxel
    a píxel frente a un cálculo directo de las tres y la elección con ``where``; también con tamaños de trozo que
    dejan una figura sin ejemplos en algún trozo."""
    import math

    g = torch.Generator().manual_seed(3)
    f = sample_factors(300, g)
    size = 24
    coords = (torch.arange(size, dtype=torch.float32) + 0.5) / size
    gy, gx = torch.meshgrid(coords, coords, indexing="ij")
    shape, scale_i, rot_i, px_i, py_i = f.T
    scale = (0.5 + 0.1 * scale_i.float()).view(-1, 1, 1) * 0.18
    theta = (2 * math.pi * rot_i.float() / FACTOR_SIZES[2]).view(-1, 1, 1)
    cx = (0.2 + 0.6 * px_i.float() / (FACTOR_SIZES[3] - 1)).view(-1, 1, 1)
    cy = (0.2 + 0.6 * py_i.float() / (FACTOR_SIZES[4] - 1)).view(-1, 1, 1)
    dx, dy = gx - cx, gy - cy
    u = (torch.cos(theta) * dx + torch.sin(theta) * dy) / scale
    v = (-torch.sin(theta) * dx + torch.cos(theta) * dy) / scale
    square = (u.abs() <= 0.8) & (v.abs() <= 0.8)
    ellipse = u ** 2 + (v / 0.55) ** 2 <= 1.0
    hu, hv = 1.15 * u, -1.15 * v + 0.25
    heart = (hu ** 2 + hv ** 2 - 1) ** 3 - hu ** 2 * hv ** 3 <= 0
    s = shape.view(-1, 1, 1)
    expected = torch.where(s == 0, square, torch.where(s == 1, ellipse, heart)).float().unsqueeze(1)
    for chunk in (4096, 7, 1):
        assert torch.equal(render(f, size, chunk=chunk), expected), chunk


def test_toy_densities():
    for name in ("lunas", "anillos", "mezcla"):
        pts = sample_toy(name, 500, seed=0)
        assert pts.shape == (500, 2) and torch.isfinite(pts).all()
        assert torch.equal(pts, sample_toy(name, 500, seed=0))
    mix = mixture_of_gaussians()
    # La densidad es mayor en el centro de una componente que en el origen.
    assert mix.log_prob(torch.tensor([2.0, 0.0])) > mix.log_prob(torch.zeros(2)) + 5
    with pytest.raises(ValueError, match="desconocida"):
        sample_toy("espiral", 10)


def test_cache_root_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("VAEBOOK_CACHE", raising=False)
    assert idx.cache_root() == tmp_path / "xdg" / "vaebook"
    monkeypatch.setenv("VAEBOOK_CACHE", str(tmp_path / "mine"))
    assert idx.cache_root() == tmp_path / "mine"


def test_unreachable_mirror_is_not_retried_in_the_same_process(tmp_path, monkeypatch):
    calls = []

    def offline(url, timeout):
        calls.append(url)
        raise idx.urllib.error.URLError("sin red")

    monkeypatch.setattr(idx.urllib.request, "urlopen", offline)
    monkeypatch.setattr(idx, "_UNREACHABLE", {})
    monkeypatch.setenv("VAEBOOK_DATA", str(tmp_path))
    monkeypatch.setenv("VAEBOOK_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("VAEBOOK_OFFLINE", raising=False)
    monkeypatch.setattr(idx, "DEBIAN_ROOT", tmp_path / "debian")
    for name in ("a.gz", "b.gz"):
        with pytest.raises(DatasetError, match="sin red"):
            find_or_fetch("x", IdxFile(name, "0" * 32), mirrors=("http://127.0.0.1:9/",), how_to="")
    assert calls == ["http://127.0.0.1:9/a.gz"]
    assert list((tmp_path / "cache" / "x").glob("*")) == []  # ningún fichero a medias


def test_formas_test_size_of_the_full_profile_and_bad_sizes():
    # El perfil completo pide n_test=None («toda la prueba»): en un conjunto sintético son TEST_SIZE imágenes.
    from vaebook_lib.data.formas import TEST_SIZE, sample_factors

    assert len(sample_factors(TEST_SIZE)) == TEST_SIZE
    assert len(load_formas(None, size=16, seed=1)) == TEST_SIZE
    for bad in (0, -3, 2.5, "10", True):
        with pytest.raises(ValueError, match="entero positivo"):
            load_formas(bad, size=16)


@pytest.mark.parametrize("value", [0.5, 1e-6, 1 - 1e-7, 0.999])
def test_a_single_non_binary_pixel_is_refused(value):
    """El camino barato de la comprobación binaria (el máximo de la parte fraccionaria) ve un solo píxel gris entre
    ceros y unos, cerca de 0 o de 1; y deja pasar un lote binario, también el de todo unos (frac(1) = 0)."""
    from vaebook_lib.data.checks import check_images
    x = (torch.rand(16, 1, 4, 4, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    check_images(x, (1, 4, 4), binary=True)
    check_images(torch.ones(2, 1, 4, 4), (1, 4, 4), binary=True)
    x[7, 0, 2, 3] = value
    with pytest.raises(ValueError, match="binario"):
        check_images(x, (1, 4, 4), binary=True)
    check_images(x, (1, 4, 4))   # sin pedir binario, un gris en [0, 1] es válido
