"""Pruebas del VAE estructurado de dos capas: producto de gaussianas, coherencia de la ELBO y persistencia."""
import pytest
import torch
from torch.distributions import Normal

from vaebook_lib.models import MODELS, StructuredVAE
from vaebook_lib.models.structured_vae import precision_weighted
from conftest import assert_reloads_same

SMALL = dict(in_shape=(1, 6, 6), latent_dim=4, top_dim=2, hidden=(16,), top_hidden=(8,))


def _x(n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.bernoulli(torch.full((n, 1, 6, 6), 0.3), generator=g)


def test_registered():
    assert MODELS["structured_vae"] is StructuredVAE


def test_precision_weighted_is_the_normalised_product():
    p = Normal(torch.tensor([0.5, -1.0]), torch.tensor([1.0, 0.3]))
    d = Normal(torch.tensor([2.0, 0.0]), torch.tensor([0.5, 2.0]))
    q = precision_weighted(p, d)
    z = torch.linspace(-3, 3, 7).unsqueeze(-1).expand(7, 2)
    diff = p.log_prob(z) + d.log_prob(z) - q.log_prob(z)        # constante en z si q ∝ p·d
    assert torch.allclose(diff, diff[:1].expand_as(diff), atol=1e-5)
    assert (q.scale < torch.minimum(p.scale, d.scale)).all()


def test_elbo_consistent_with_log_weights_and_below_is_estimate():
    model = StructuredVAE(**SMALL)
    x = _x(16)
    with torch.no_grad():
        elbo = torch.stack([model(x).elbo for _ in range(300)]).mean(0)
        log_w = model.log_weights(x, 4000)
        mc_elbo = log_w.mean(0)
        log_p = torch.logsumexp(log_w, 0) - torch.log(torch.tensor(4000.0))
    assert torch.isfinite(elbo).all() and torch.isfinite(log_p).all()
    assert torch.allclose(elbo, mc_elbo, atol=0.3)           # KL exactas frente a Monte Carlo
    assert (elbo <= log_p + 0.05).all()
    assert (log_p - elbo).mean() > 0.1                        # la cota no es trivialmente exacta


def test_terms_add_up_and_gradients_reach_both_layers():
    model = StructuredVAE(**SMALL)
    out = model(_x())
    t = out.terms
    assert torch.allclose(t["elbo"], -(t["recon"] + t["kl1"] + t["kl2"]), atol=1e-4)
    assert t["kl1"] >= 0 and t["kl2"] >= 0 and out.z2.shape == (8, 2)
    out.loss.backward()
    for net in (model.up, model.top_down, model.encoder, model.data_term, model.decoder):
        assert sum(p.grad.abs().sum() for p in net.parameters()) > 0


def test_ancestral_samples():
    model = StructuredVAE(**SMALL)
    s = model.sample(5, generator=torch.Generator().manual_seed(0))
    assert s.shape == (5, 1, 6, 6) and ((s >= 0) & (s <= 1)).all()
    s2 = model.sample(5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(s, s2)


def test_save_load_round_trip(tmp_path):
    model, x = StructuredVAE(**SMALL), _x()
    other = assert_reloads_same(model, tmp_path, x)
    assert torch.allclose(model.encode(x), other.encode(x))


def test_bad_input_raises_spanish_errors():
    with pytest.raises(ValueError, match="forma"):
        StructuredVAE(**SMALL)(torch.zeros(2, 1, 5, 5))
    with pytest.raises(ValueError, match="top_dim"):
        StructuredVAE(**{**SMALL, "top_dim": 0})
    with pytest.raises(ValueError, match="capa oculta"):
        StructuredVAE(**{**SMALL, "hidden": ()})
