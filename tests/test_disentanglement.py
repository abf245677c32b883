"""Métricas de desenredo sobre códigos sintéticos con respuesta conocida."""
import numpy as np
import pytest
import torch

from vaebook_lib import MODELS
from vaebook_lib.disentanglement import (FactorSource, beta_vae_score, disentanglement_scores, factor_vae_score,
                                 formas_source, mig, mig_score, represent_with)

SOURCE = FactorSource((4, 5, 6, 8), lambda f: f.float())
SIZES = dict(n_points=2000, n_train=200, n_eval=100, batch_size=32)


def identity(x):
    return x.numpy()


def random_code(x):
    return np.random.default_rng(len(x)).normal(size=(len(x), 4))


def mixed(x):
    """Cada dimensión mezcla dos factores: un código enredado."""
    f = x.numpy() / np.array([4, 5, 6, 8])
    return np.stack([f[:, 0] + f[:, 1], f[:, 0] - f[:, 1], f[:, 2] + f[:, 3], f[:, 2] - f[:, 3]], axis=1)


def test_factors_score_near_top_random_near_bottom():
    top = disentanglement_scores(identity, SOURCE, **SIZES)
    low = disentanglement_scores(random_code, SOURCE, **SIZES)
    assert top["mig"] > 0.95 and top["beta_vae"] > 0.95 and top["factor_vae"] > 0.95
    assert low["mig"] < 0.05
    assert low["beta_vae"] < 0.5 and low["factor_vae"] < 0.5      # el azar está en 1/4


def test_mixed_code_scores_lower_mig():
    assert mig_score(mixed, SOURCE, 2000) < mig_score(identity, SOURCE, 2000) - 0.3


def test_permuted_scaled_code_keeps_scores():
    """Las métricas no dependen del orden ni de la escala de las dimensiones del código."""
    def permuted(x):
        return identity(x)[:, [2, 0, 3, 1]] * np.array([3.0, -0.5, 10.0, 2.0])
    assert mig_score(permuted, SOURCE, 2000) == pytest.approx(mig_score(identity, SOURCE, 2000), abs=1e-9)
    assert factor_vae_score(permuted, SOURCE, 200, 100, 32, 2000)["eval_accuracy"] > 0.95


def test_mig_closed_form():
    # Código = factor 0 dos veces: las dos dimensiones empatan y MIG del factor 0 es 0; el factor 1, sin
    # información en el código, da 0 también.
    rng = np.random.default_rng(0)
    f = rng.integers(0, 4, size=(1000, 2))
    codes = np.stack([f[:, 0], f[:, 0]], axis=1).astype(float)
    assert mig(codes, f) == pytest.approx(0.0, abs=1e-12)
    codes = np.stack([f[:, 0], np.zeros(1000)], axis=1)
    assert mig(codes, f[:, :1]) == pytest.approx(1.0)


def test_collapsed_dims_do_not_vote():
    def half_dead(x):
        z = identity(x).copy()
        z[:, 3] = 0.0
        return z
    out = factor_vae_score(half_dead, SOURCE, 200, 100, 32, 2000)
    assert out["active_dims"] == 3
    assert 0.6 < out["eval_accuracy"] < 0.9          # el factor 3 (1/4 de los votos) se pierde


def test_bad_input_spanish():
    with pytest.raises(ValueError, match="mismas filas"):
        mig(np.zeros((10, 3)), np.zeros((9, 2)))
    with pytest.raises(ValueError, match="dos dimensiones"):
        mig(np.zeros((10, 1)), np.zeros((10, 2)))
    with pytest.raises(ValueError, match="entero"):
        beta_vae_score(identity, SOURCE, n_train=1)
    with pytest.raises(ValueError, match="representación"):
        mig_score(lambda x: np.zeros(len(x)), SOURCE, 100)
    with pytest.raises(ValueError, match="NaN"):
        mig_score(lambda x: np.full((len(x), 3), np.nan), SOURCE, 100)


def test_on_a_model_and_formas():
    model = MODELS["vae"](in_shape=(1, 32, 32), latent_dim=4, hidden=(32,))
    src = formas_source(32)
    rep = represent_with(model)
    x = src.observe(src.sample(10, torch.Generator().manual_seed(0)))
    assert x.shape == (10, 1, 32, 32)
    assert np.allclose(rep(x), model.encode(x).detach().numpy(), atol=1e-6)
    scores = disentanglement_scores(rep, src, n_points=200, n_train=20, n_eval=10, batch_size=8)
    assert set(scores) == {"mig", "beta_vae", "factor_vae"}
    assert all(0.0 <= v <= 1.0 for v in scores.values())


def test_kl_per_dimension_sums_to_kl():
    from vaebook_lib.disentanglement import kl_per_dimension
    model = MODELS["vae"](in_shape=(1, 8, 8), latent_dim=3, hidden=(16,))
    x = torch.bernoulli(torch.full((50, 1, 8, 8), 0.4), generator=torch.Generator().manual_seed(0))
    per_dim = kl_per_dimension(model, x, batch_size=16)
    model.eval()
    assert per_dim.shape == (3,) and (per_dim >= 0).all()
    assert per_dim.sum().item() == pytest.approx(model(x).terms["kl"].item(), rel=1e-5)
    with pytest.raises(ValueError, match="posterior"):
        kl_per_dimension(MODELS["ae"](in_shape=(1, 8, 8), latent_dim=3, hidden=(16,)), x)


def test_summarize_and_table():
    from vaebook_lib.disentanglement import format_table, summarize
    s = summarize([{"mig": 0.1, "recon": 10.0}, {"mig": 0.3, "recon": 14.0}])
    assert s["mig"][0] == pytest.approx(0.2) and s["mig"][1] == pytest.approx(np.std([0.1, 0.3], ddof=1))
    one = summarize([{"mig": 0.5}])["mig"]
    assert one[0] == 0.5 and np.isnan(one[1])
    table = format_table({"vae": s, "ae": {"recon": 3.0, "mig": one}}, {"recon": "reconstrucción", "mig": "MIG"})
    lines = table.splitlines()
    assert "0.200 ± 0.141" in lines[2] and "12.000 ± 2.828" in lines[2] and lines[0].startswith("modelo")
    assert lines[3].split() == ["ae", "3.000", "0.500"]
    with pytest.raises(ValueError, match="resumir"):
        summarize([])


def test_train_and_score_unknown_key():
    from vaebook_lib.disentanglement import train_and_score
    with pytest.raises(ValueError, match="desconocido"):
        train_and_score("no_existe", None, None, config={}, seed=0, epochs=1, batch_size=8, lr=1e-3,
                        source=SOURCE, sizes={})


def test_train_and_score_reproducible():
    from vaebook_lib import load_formas
    from vaebook_lib.disentanglement import train_and_score
    train, test = load_formas(256, size=16, seed=0), load_formas(64, size=16, seed=1)
    kw = dict(config=dict(in_shape=(1, 16, 16), latent_dim=3, hidden=(32,)), epochs=1, batch_size=64, lr=1e-3,
              source=formas_source(16), sizes=dict(n_points=200, n_train=20, n_eval=10, batch_size=8))
    a, model = train_and_score("beta_vae", train, test, seed=3, **kw)
    b, _ = train_and_score("beta_vae", train, test, seed=3, **kw)
    c, _ = train_and_score("beta_vae", train, test, seed=4, **kw)
    assert a == b and a != c
    assert set(a) == {"recon", "mig", "beta_vae", "factor_vae"} and a["recon"] > 0
    assert not model.training


def test_scores_are_computed_in_chunks():
    """Con muchos puntos las imágenes se dibujan por trozos (nunca más de ~8192 a la vez)."""
    seen = []

    def observe(f):
        seen.append(len(f))
        return f.float()
    src = FactorSource((4, 5, 6, 8), observe)
    out = beta_vae_score(identity, src, n_train=300, n_eval=20, batch_size=64)
    assert max(seen) <= 8192 and sum(seen) == 2 * 64 * 320
    assert out["eval_accuracy"] > 0.95
    seen.clear()
    factor_vae_score(identity, src, n_train=300, n_eval=20, batch_size=64, n_variance=100)
    assert max(seen) <= 8192 and sum(seen) == 100 + 64 * 320
