import os

os.environ.setdefault("VAEBOOK_PROFILE", "fast")
os.environ.setdefault("VAEBOOK_PROGRESS", "0")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402
import torch  # noqa: E402


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


def has_mnist() -> bool:
    from vaebook_lib.data.idx import search_dirs
    return any((d / "t10k-images-idx3-ubyte.gz").is_file() for d in search_dirs("mnist"))


needs_mnist = pytest.mark.skipif(not has_mnist(), reason="MNIST no está disponible (VAEBOOK_DATA)")


def assert_reloads_same(model, tmp_path, *inputs, seed=0):
    """Guarda y carga ``model``: misma clase, misma configuración y, con el mismo azar, la misma pérdida.

    Devuelve el modelo cargado para las comprobaciones propias de cada modelo.
    """
    from vaebook_lib.models import load, save

    save(model, tmp_path / "m.pt")
    other = load(tmp_path / "m.pt")
    assert type(other) is type(model) and other.config == model.config
    torch.manual_seed(seed)
    a = model(*inputs).loss
    torch.manual_seed(seed)
    b = other(*inputs).loss
    assert torch.allclose(a, b)
    return other
