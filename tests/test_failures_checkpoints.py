"""Guardar y cargar modelos sin fallos silenciosos (issue 18): cada prueba falla con el código anterior."""
import os
import pickle
from dataclasses import asdict

import pytest
import torch

from vaebook_lib.models import MODELS, load, save


def small(**kw):
    return MODELS["vae"](latent_dim=2, hidden=(8,), in_shape=(1, 4, 4), **kw)


def test_interrupted_save_keeps_the_previous_good_file(tmp_path, monkeypatch):
    path = tmp_path / "m.pt"
    good = small()
    save(good, path)
    before = path.read_bytes()
    real_save = torch.save

    def dies_halfway(obj, f, *a, **k):
        real_save(obj, f, *a, **k)
        f.truncate(10)  # medio fichero escrito ...
        raise KeyboardInterrupt  # ... y el usuario interrumpe la celda

    monkeypatch.setattr(torch, "save", dies_halfway)
    with pytest.raises(KeyboardInterrupt):
        save(small(), path)
    monkeypatch.setattr(torch, "save", real_save)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["m.pt"]
    again = load(path)
    assert all(torch.equal(a, b) for a, b in zip(good.state_dict().values(), again.state_dict().values()))


def test_saved_file_has_normal_permissions(tmp_path):
    save(small(), tmp_path / "m.pt")
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "m.pt").stat().st_mode & 0o777 == 0o666 & ~umask


def _rewrite(path, **changes):
    blob = torch.load(path, weights_only=True)
    for k, v in changes.items():
        if v is None:
            del blob[k]
        else:
            blob[k] = v
    torch.save(blob, path)


def test_missing_config_field_is_an_error_not_a_default(tmp_path):
    # Un modelo gaussiano cuyo fichero no dice «likelihood» volvía bernoulli sin avisar.
    path = tmp_path / "m.pt"
    save(small(likelihood="gaussian"), path)
    config = asdict(small().config)
    del config["likelihood"]
    _rewrite(path, config=config)
    with pytest.raises(ValueError, match=r"faltan \['likelihood'\]"):
        load(path)


def test_unknown_config_field_is_an_error_not_dropped(tmp_path):
    path = tmp_path / "m.pt"
    save(small(), path)
    _rewrite(path, config={**asdict(small().config), "temperatura": 0.5})
    with pytest.raises(ValueError, match=r"desconocidos \['temperatura'\]"):
        load(path)


@pytest.mark.parametrize("content", [b"", b"truncado", "half"])
def test_empty_or_truncated_file_is_a_clear_error(tmp_path, content):
    path = tmp_path / "m.pt"
    save(small(), path)
    path.write_bytes(path.read_bytes()[:200] if content == "half" else content)
    with pytest.raises(ValueError, match="vacío, truncado"):
        load(path)


@pytest.mark.parametrize("blob", [torch.zeros(3), {"key": "vae", "config": {}}, [1, 2]])
def test_not_a_saved_model_is_a_clear_error(tmp_path, blob):
    torch.save(blob, tmp_path / "m.pt")
    with pytest.raises(ValueError, match="no es un modelo guardado con vaebook_lib.save"):
        load(tmp_path / "m.pt")


def test_weights_of_another_shape_are_a_clear_error(tmp_path):
    path = tmp_path / "m.pt"
    save(small(), path)
    _rewrite(path, state_dict=MODELS["vae"](latent_dim=3, hidden=(8,), in_shape=(1, 4, 4)).state_dict())
    with pytest.raises(ValueError, match="no encajan"):
        load(path)


class Payload:
    def __reduce__(self):  # lo que haría un fichero malicioso al abrirse con weights_only=False
        return (print, ("código arbitrario",))


def test_refused_pickle_warns_against_weights_only_false(tmp_path):
    path = tmp_path / "m.pt"
    torch.save({"key": "vae", "config": Payload(), "state_dict": {}}, path)
    with pytest.raises(ValueError, match="NO lo cargue con weights_only=False.*código arbitrario") as info:
        load(path)
    assert "weights_only=False`" not in str(info.value)  # no se repite el consejo de torch
    assert isinstance(info.value.__cause__, pickle.UnpicklingError)


def test_missing_file_and_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="No existe el fichero"):
        load(tmp_path / "nada.pt")
    with pytest.raises(ValueError, match="No existe la carpeta"):
        save(small(), tmp_path / "no" / "m.pt")
