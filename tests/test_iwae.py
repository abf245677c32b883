"""Pruebas de la IWAE y la MIWAE: identidades de la cota, monotonía en k, gradientes y persistencia."""
import math

import pytest
import torch

from vaebook_lib.models import IWAE, MIWAE, MODELS, VAE
from vaebook_lib.models.iwae import importance_weighted_bound
from conftest import assert_reloads_same

SMALL = dict(in_shape=(1, 6, 6), latent_dim=3, hidden=(16,))


def _x(n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.bernoulli(torch.full((n, 1, 6, 6), 0.3), generator=g)


def test_registered():
    assert MODELS["iwae"] is IWAE and MODELS["miwae"] is MIWAE


def test_k1_equals_single_sample_elbo_with_same_draws():
    vae = VAE(**SMALL)
    iwae = IWAE(k=1, **SMALL)
    iwae.load_state_dict(vae.state_dict())
    x = _x()
    torch.manual_seed(3)
    out_i = iwae(x)
    torch.manual_seed(3)
    out_v = vae(x)                                  # mismo sorteo de z
    z, qz = out_v.z, out_v.qz
    log_ratio = (vae.prior(z).log_prob(z) - qz.log_prob(z)).sum(-1)
    expected = -out_v.terms["recon"] + log_ratio.mean()
    assert torch.allclose(out_i.terms["bound"], expected, atol=1e-4)
    assert torch.allclose(out_i.loss, -out_i.terms["bound"])       # se informa la cota, no un sustituto


def test_k1_matches_analytic_elbo_in_expectation():
    vae = VAE(**SMALL)
    miwae = MIWAE(m=4000, k=1, **SMALL)            # 4000 cotas L_1 independientes promediadas
    miwae.load_state_dict(vae.state_dict())
    x = _x(4)
    with torch.no_grad():
        mc = miwae(x).terms["bound"]
        qz = vae.posterior(x)
        # ELBO analítica: E_q[log p(x|z)] por MC con muchas muestras + KL exacta
        z = qz.rsample((4000,))
        rec = vae.likelihood(z).log_prob(x.expand(4000, *x.shape)).mean(0)
        kl = torch.distributions.kl_divergence(qz, vae.prior(qz.loc)).sum(-1)
        analytic = (rec - kl).mean()
    assert abs(float(mc - analytic)) < 0.1


def test_bound_increases_with_k_and_stays_below_log_px():
    torch.manual_seed(1)
    model = MIWAE(m=400, k=1, **SMALL)
    x = _x(16, seed=2)
    bounds = []
    with torch.no_grad():
        for k in (1, 2, 8, 32):
            model.config.k = k
            torch.manual_seed(10 + k)
            bounds.append(float(model(x).terms["bound"]))
        model.config.m, model.config.k = 2, 2000
        log_px = float(model(x).terms["bound"])
    assert all(b2 > b1 + 0.02 for b1, b2 in zip(bounds, bounds[1:])), bounds
    assert bounds[-1] <= log_px + 0.05, (bounds, log_px)


def test_detached_weights_give_the_gradient_of_the_bound():
    lw = torch.randn(3, 7, 5, requires_grad=True)
    importance_weighted_bound(lw).sum().backward()
    g_detached = lw.grad.clone()
    lw.grad = None
    ((torch.logsumexp(lw, 1) - math.log(7)).mean(0)).sum().backward()
    assert torch.allclose(g_detached, lw.grad, atol=1e-6)
    assert torch.allclose(g_detached, torch.softmax(lw.detach(), 1) / 3, atol=1e-6)
    value = importance_weighted_bound(lw)
    assert torch.allclose(value, (torch.logsumexp(lw, 1) - math.log(7)).mean(0))


def test_model_gradient_equals_gradient_of_logsumexp_bound():
    model = IWAE(k=6, **SMALL)
    x = _x()
    torch.manual_seed(5)
    model(x).loss.backward()
    g1 = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    torch.manual_seed(5)
    log_w = model.log_weights(x, 6)
    (-(torch.logsumexp(log_w, 0) - math.log(6)).mean()).backward()
    g2 = [p.grad for p in model.parameters()]
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(g1, g2))
    assert all(a.abs().sum() > 0 for a in g1)      # llega gradiente al codificador y al decodificador


def test_miwae_m1_equals_iwae_and_k1_equals_average_elbo():
    iwae = IWAE(k=4, **SMALL)
    miwae = MIWAE(m=1, k=4, **SMALL)
    miwae.load_state_dict(iwae.state_dict())
    x = _x()
    torch.manual_seed(7)
    a = iwae(x)
    torch.manual_seed(7)
    b = miwae(x)
    assert torch.allclose(a.loss, b.loss)
    miwae.config.m, miwae.config.k = 5, 1
    torch.manual_seed(8)
    c = miwae(x)
    torch.manual_seed(8)
    log_w = miwae.log_weights(x, 5)                # las mismas 5 muestras
    assert torch.allclose(c.terms["bound"], log_w.mean(), atol=1e-4)
    assert torch.allclose(c.terms["bound"], c.terms["elbo"], atol=1e-4)


def test_save_load_round_trip(tmp_path):
    assert_reloads_same(MIWAE(m=2, k=3, **SMALL), tmp_path, _x())


def test_bad_input_raises_spanish_errors():
    with pytest.raises(ValueError, match="binario"):
        IWAE(**SMALL)(torch.full((2, 1, 6, 6), 0.5))
    with pytest.raises(ValueError, match="entero positivo"):
        MIWAE(k=0, **SMALL)
    with pytest.raises(ValueError, match="MIWAE"):
        IWAE(m=2, **SMALL)
