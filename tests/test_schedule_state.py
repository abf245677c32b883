"""El estado de los calendarios (peso de la KL, k, capacidad, temperatura) viaja con el modelo al guardarlo.

Cada modelo con ``schedule`` se guarda DESPUÉS de avanzar su calendario; el modelo cargado debe tener el mismo
estado y dar la misma pérdida con la misma semilla. Antes de guardarse en búferes, un ``vae_annealed`` cargado
volvía con peso de la KL 0 (su pérdida era solo la reconstrucción) y un ``ksparse_ae`` con el k final.
"""
import pytest
import torch

from vaebook_lib.models import MODELS, load, save
from vaebook_lib.models.base import Model

# Los ajustes que hacen que el calendario cambie algo a mitad del entrenamiento.
OVERRIDES = {
    "vae_annealed": {"warmup": 0.5},
    "vae_pixelcnn": {"warmup": 0.5},
    "ksparse_ae": {"latent_dim": 40, "k": 4},
    "beta_vae_capacity": {"c_max": 20.0},
    "joint_vae": {},
    "categorical_vae": {"anneal_every": 1, "anneal_rate": 0.2},
}
SCHEDULED = sorted(k for k, cls in MODELS.items() if cls.schedule is not Model.schedule)


def test_every_scheduled_model_is_covered():
    assert set(SCHEDULED) == set(OVERRIDES), f"Modelos con calendario sin prueba: {set(SCHEDULED) ^ set(OVERRIDES)}"


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items() if v.ndim == 0}


@pytest.mark.parametrize("key", SCHEDULED)
def test_schedule_state_survives_save_load(key, tmp_path):
    torch.manual_seed(0)
    model = MODELS[key](**OVERRIDES[key])
    fresh = _state(model)
    for step in range(4):             # a mitad del calendario: progreso 0.25
        model.schedule(0.25 * step / 3)
    moved = _state(model)
    assert any(not torch.equal(fresh[k], moved[k]) for k in moved), "el calendario no cambió ningún búfer"
    path = tmp_path / f"{key}.pt"
    save(model, path)
    other = load(path)
    assert all(torch.equal(moved[k], v) for k, v in _state(other).items())
    x = torch.bernoulli(torch.rand(8, *model.config.in_shape, generator=torch.Generator().manual_seed(1)))
    model.train()
    other.train()
    torch.manual_seed(3)
    a = model(x).loss
    torch.manual_seed(3)
    b = other(x).loss
    assert torch.allclose(a, b), f"{key}: la pérdida del modelo cargado ({b.item():.4f}) difiere ({a.item():.4f})"


def test_annealed_vae_loaded_mid_warmup_keeps_the_kl():
    """El caso del error: con warmup > 0, el modelo cargado debe seguir pesando la KL (no solo reconstruir)."""
    model = MODELS["vae_annealed"](warmup=0.5, latent_dim=4, hidden=(32,))
    model.schedule(1.0)
    assert float(model.kl_weight) == 1.0
    other = MODELS["vae_annealed"](model.config)
    other.load_state_dict(model.state_dict())
    assert float(other.kl_weight) == 1.0
