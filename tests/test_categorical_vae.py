"""Pruebas del VAE categórico con Gumbel-softmax (Jang et al., 2016)."""
import itertools
import math

import pytest
import torch

from vaebook_lib.discrete_latents import gumbel_temperature, kl_to_uniform
from vaebook_lib.metrics import log_likelihood_is
from vaebook_lib.models import MODELS, CategoricalVAE, load, save


def small(**kw):
    base = dict(in_shape=(1, 8, 8), latent_dim=3, categories=4, hidden=(32,))
    base.update(kw)
    return CategoricalVAE(**base)


def binary(n=16, side=8):
    return (torch.rand(n, 1, side, side) > 0.5).float()


def is_one_hot(z, k):
    z = z.reshape(*z.shape[:-1], -1, k)
    return bool(((z == 0) | (z == 1)).all() and (z.sum(-1) == 1).all())


def test_registered_with_paper_defaults():
    m = MODELS["categorical_vae"]()
    assert isinstance(m, CategoricalVAE)
    assert (m.config.latent_dim, m.config.categories, m.config.tau0, m.config.tau_min) == (20, 10, 1.0, 0.5)
    assert m.encoder(torch.zeros(1, 1, 28, 28)).shape == (1, 200)


def test_training_uses_relaxed_samples_and_eval_uses_exact_one_hot():
    m, x = small(), binary()
    m.train()
    out = m(x)
    assert out.z.shape == (16, 12) and not is_one_hot(out.z, 4)
    assert torch.allclose(out.z.view(16, 3, 4).sum(-1), torch.ones(16, 3), atol=1e-5)
    m.eval()
    assert is_one_hot(m(x).z, 4)
    assert is_one_hot(m.encode(x), 4)


def test_straight_through_gives_one_hot_forward_and_gradients():
    m, x = small(straight_through=True), binary()
    out = m(x)
    assert is_one_hot(out.z.detach(), 4)
    out.loss.backward()
    assert m.encoder.body[-1][-1].weight.grad.abs().sum() > 0
    assert m.decoder.body[0][-1].weight.grad.abs().sum() > 0


def test_loss_is_recon_plus_kl_to_uniform():
    m, x = small(), binary()
    out = m(x)
    assert torch.allclose(out.terms["kl"], kl_to_uniform(out.logits).mean())
    assert torch.allclose(out.loss, out.terms["recon"] + out.terms["kl"], atol=1e-4)
    assert torch.allclose(out.terms["elbo"], -out.loss.detach())


def test_schedule_anneals_temperature_per_step():
    m = small(tau0=1.0, tau_min=0.5, anneal_rate=0.01, anneal_every=10)
    taus = []
    for _ in range(200):
        m.schedule(0.0)
        taus.append(float(m.tau))
    expected = [gumbel_temperature(s, 1.0, 0.5, 0.01, 10) for s in range(200)]
    assert taus == pytest.approx(expected)
    assert taus[0] == 1.0 and taus[15] == pytest.approx(math.exp(-0.1)) and taus[-1] == 0.5
    assert int(m.step) == 200
    assert m(binary()).terms["tau"] == pytest.approx(0.5)


def test_mean_log_weight_matches_eval_elbo():
    # E_q[log w] = ELBO con la KL analítica: Monte Carlo frente a forma cerrada.
    m, x = small(), binary(8)
    m.eval()
    with torch.no_grad():
        lw = m.log_weights(x, 4000).mean(0)
        elbo_mc = m(x.repeat(4000, 1, 1, 1)).elbo.view(4000, 8).mean(0)
    assert torch.allclose(lw, elbo_mc, atol=0.25), (lw, elbo_mc)


def test_importance_sampling_recovers_exact_log_likelihood():
    # Con N=2, K=3 hay 9 códigos: log p(x) = log sum_c p(c) p(x|c) se calcula exactamente.
    m, x = small(latent_dim=2, categories=3), binary(5)
    m.eval()
    with torch.no_grad():
        codes = torch.stack([torch.cat([torch.eye(3)[a], torch.eye(3)[b]])
                             for a, b in itertools.product(range(3), repeat=2)])
        log_px_c = m.likelihood(codes.unsqueeze(1).expand(9, 5, 6)).log_prob(x.expand(9, *x.shape))
        exact = torch.logsumexp(log_px_c - math.log(9), dim=0)
        est = log_likelihood_is(m, x, k=3000)
        elbo = m(x).elbo
    assert torch.allclose(est, exact, atol=0.05), (est, exact)
    assert (exact >= torch.stack([m(x).elbo for _ in range(200)]).mean(0) - 0.05).all()
    assert elbo.shape == (5,)


def test_category_grid_sets_one_variable():
    m, x = small(), binary(2)
    m.eval()
    z0 = m.encode(x)
    grid = m.category_grid(z0, var=1)
    assert grid.shape == (4 * 2, 1, 8, 8)
    z = z0.view(2, 3, 4).clone()
    z[:, 1] = torch.eye(4)[2]
    assert torch.allclose(grid[2 * 2:3 * 2], m.decode(z.flatten(1)))


def test_sample_shape_and_range():
    s = small().sample(5, generator=torch.Generator().manual_seed(0))
    assert s.shape == (5, 1, 8, 8) and (s >= 0).all() and (s <= 1).all()


def test_save_load_round_trip(tmp_path):
    m, x = small(straight_through=True, anneal_rate=0.05, anneal_every=1), binary()
    for _ in range(7):
        m.schedule(0.0)
    save(m, tmp_path / "cat.pt")
    m2 = load(tmp_path / "cat.pt")
    assert isinstance(m2, CategoricalVAE) and m2.config == m.config
    assert float(m2.tau) == float(m.tau) < 1.0 and int(m2.step) == 7
    m.eval(), m2.eval()
    assert torch.equal(m.encode(x), m2.encode(x))
    assert torch.allclose(m.decode(m.encode(x)), m2.decode(m2.encode(x)))
    torch.manual_seed(3)
    a = m(x).loss
    torch.manual_seed(3)
    assert torch.allclose(a, m2(x).loss)


@pytest.mark.parametrize("call, word", [
    (lambda: small()(torch.rand(4, 1, 8, 8)), "binario"),
    (lambda: small()(binary(4, side=6)), "forma"),
    (lambda: small().decode(torch.zeros(2, 5)), "componentes"),
    (lambda: small().category_grid(torch.zeros(2, 12), var=3), "variable"),
    (lambda: small(categories=1), "categorías"),
    (lambda: small(tau0=0.2, tau_min=0.5), "tau_min"),
])
def test_bad_input_raises_spanish_value_error(call, word):
    with pytest.raises(ValueError, match=word):
        call()
