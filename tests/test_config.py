import pytest
import torch

from vaebook_lib.config import PROFILES, get_device, get_profile, profile_with, set_seed


def test_profile_from_environment(monkeypatch):
    monkeypatch.setenv("VAEBOOK_PROFILE", "fast")
    assert get_profile().name == "fast"
    monkeypatch.setenv("VAEBOOK_PROFILE", "FULL")
    assert get_profile() is PROFILES["full"]
    monkeypatch.delenv("VAEBOOK_PROFILE")
    assert get_profile().name == "full"  # los lectores obtienen el perfil completo por defecto


def test_fast_profile_is_smaller_than_full():
    fast, full = PROFILES["fast"], PROFILES["full"]
    assert fast.n_train is not None and full.n_train is None
    assert fast.epochs < full.epochs and fast.k_is < full.k_is and fast.seeds < full.seeds
    assert full.k_is == 5000  # el protocolo de evaluación publicado


def test_unknown_profile_is_a_spanish_error(monkeypatch):
    monkeypatch.setenv("VAEBOOK_PROFILE", "turbo")
    with pytest.raises(ValueError, match="Perfil desconocido"):
        get_profile()
    with pytest.raises(ValueError, match="desconocidos"):
        profile_with(nope=1)


def test_seed_makes_torch_deterministic():
    set_seed(3)
    a = torch.randn(5)
    set_seed(3)
    assert torch.equal(a, torch.randn(5))
    with pytest.raises(ValueError, match="semilla"):
        set_seed(-1)


def test_device_override(monkeypatch):
    monkeypatch.setenv("VAEBOOK_DEVICE", "cpu")
    assert get_device().type == "cpu"
    monkeypatch.delenv("VAEBOOK_DEVICE")
    assert get_device().type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_extension_comparisons_use_several_seeds():
    # Las comparaciones entre modelos del capítulo 3 miran la dispersión: hacen falta al menos dos semillas.
    fast, full = get_profile("fast"), get_profile("full")
    assert 2 <= fast.ext_seeds < full.ext_seeds
