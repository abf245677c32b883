"""Pruebas del modelo lineal-gaussiano: identidades exactas de la inferencia variacional."""
import math

import pytest
import torch
from torch.distributions import MultivariateNormal

from vaebook_lib.models import MODELS, LinearGaussian, load, save
from vaebook_lib.train import fit


def _model(q_family="full", D=4, d=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    m = LinearGaussian.from_weights(torch.randn(D, d, generator=g), torch.randn(D, generator=g), sigma=0.7,
                                    q_family=q_family)
    return m, m.sample(16, generator=g)


def _random_q(n, d, g):
    L = torch.tril(torch.randn(d, d, generator=g) * 0.5, -1) + torch.diag(torch.rand(d, generator=g) + 0.2)
    return MultivariateNormal(torch.randn(n, d, generator=g), scale_tril=L)


def test_registered():
    assert MODELS["linear_gaussian"] is LinearGaussian


def test_log_marginal_matches_numerical_integral():
    # D = 1, d = 1: log p(x) = log ∫ p(x|z) p(z) dz por cuadratura en una rejilla fina
    m = LinearGaussian.from_weights(torch.tensor([[1.3]]), torch.tensor([0.4]), sigma=0.6)
    x = torch.tensor([[-1.0], [0.5], [2.5]])
    z = torch.linspace(-10, 10, 20001)[:, None, None]
    log_joint = m.likelihood(z).log_prob(x) + m.prior(z).log_prob(z).sum(-1)
    quad = torch.logsumexp(log_joint, 0) + math.log(20 / 20000)
    assert torch.allclose(m.log_marginal(x), quad, atol=1e-4)


def test_true_posterior_is_bayes_rule():
    # log p(z|x) = log p(x|z) + log p(z) - log p(x) en cualquier z
    m, x = _model()
    z = torch.randn(5, len(x), 2)
    lhs = m.true_posterior(x).log_prob(z)
    rhs = m.likelihood(z).log_prob(x) + m.prior(z).log_prob(z).sum(-1) - m.log_marginal(x)
    assert torch.allclose(lhs, rhs, atol=1e-4)


def test_elbo_identity_and_bound_for_many_q():
    m, x = _model()
    g = torch.Generator().manual_seed(1)
    for _ in range(10):
        q = _random_q(len(x), 2, g)
        elbo, kl, logp = m.elbo(x, q), m.kl_to_posterior(x, q), m.log_marginal(x)
        assert torch.allclose(elbo + kl, logp, atol=1e-4)      # log p(x) = ELBO + KL(q || p(z|x))
        assert (elbo <= logp + 1e-5).all() and (kl > 0).all()


def test_elbo_equals_log_marginal_at_true_posterior():
    m, x = _model()
    assert torch.allclose(m.elbo(x, m.true_posterior(x)), m.log_marginal(x), atol=1e-4)
    assert not torch.allclose(m.elbo(x), m.log_marginal(x), atol=1e-2)   # el codificador inicial no es exacto
    m.set_optimal_encoder()
    assert torch.allclose(m.elbo(x), m.log_marginal(x), atol=1e-4)
    assert torch.allclose(m.kl_to_posterior(x), torch.zeros(len(x)), atol=1e-4)


def test_mean_field_optimum_leaves_a_gap_and_is_optimal():
    # columnas de W casi paralelas: la posterior exacta tiene correlación fuerte entre z_1 y z_2
    W = torch.tensor([[1.0, 0.9], [0.8, 1.0], [0.5, 0.6], [-0.3, -0.2]])
    m = LinearGaussian.from_weights(W, sigma=0.5, q_family="diagonal")
    x = m.sample(16, generator=torch.Generator().manual_seed(0))
    m.set_optimal_encoder()
    best = m.elbo(x)
    assert (m.log_marginal(x) - best > 1e-3).all()          # la familia diagonal no alcanza la posterior correlada
    with torch.no_grad():
        for p in (m.A, m.c, m.q_log_scale):
            p.add_(0.05 * torch.randn_like(p))
    assert (m.elbo(x) < best).all()


def test_closed_form_elbo_matches_monte_carlo():
    m, x = _model()
    q = _random_q(len(x), 2, torch.Generator().manual_seed(2))
    lw = m.log_weights(x, 20000, q=q)                        # ELBO = E_q[log w]
    se = lw.std(0) / len(lw) ** 0.5
    assert ((lw.mean(0) - m.elbo(x, q)).abs() < 4 * se + 1e-3).all()


def test_analytic_kl_matches_monte_carlo():
    m, x = _model()
    q = _random_q(len(x), 2, torch.Generator().manual_seed(3))
    p = m.true_posterior(x)
    z = q.sample((20000,))
    log_ratio = q.log_prob(z) - p.log_prob(z)
    se = log_ratio.std(0) / len(z) ** 0.5
    assert ((log_ratio.mean(0) - m.kl_to_posterior(x, q)).abs() < 4 * se + 1e-3).all()


def test_forward_terms_and_gradients():
    m, x = _model()
    out = m(x)
    assert torch.allclose(out.terms["elbo"], m.elbo(x).mean())
    assert torch.allclose(out.terms["recon"] + out.terms["kl"], out.terms["loss"])
    out.loss.backward()
    for name in ("W", "b", "A", "c", "q_log_scale"):
        assert getattr(m, name).grad is not None and getattr(m, name).grad.abs().sum() > 0, name


def test_training_by_elbo_closes_the_gap():
    m, x = _model(seed=4)
    data = m.sample(500, generator=torch.Generator().manual_seed(5))
    gap0 = (m.log_marginal(data) - m.elbo(data)).mean().item()
    hist = fit(m, data, epochs=80, batch_size=500, lr=0.1, seed=0, device="cpu", progress=False)
    gap = (m.log_marginal(data) - m.elbo(data)).mean().item()
    assert hist.train["loss"][-1] < hist.train["loss"][0]
    assert gap < 0.05 * gap0


def test_save_load_roundtrip(tmp_path):
    m, x = _model("diagonal")
    save(m, tmp_path / "lg.pt")
    m2 = load(tmp_path / "lg.pt")
    assert isinstance(m2, LinearGaussian) and m2.config == m.config
    assert torch.allclose(m2.elbo(x), m.elbo(x)) and torch.allclose(m2.log_marginal(x), m.log_marginal(x))


def test_bad_input():
    m, x = _model()
    with pytest.raises(ValueError, match="forma"):
        m.log_marginal(torch.zeros(3, 5))
    with pytest.raises(ValueError, match="NaN"):
        m.elbo(torch.full((2, 4), float("nan")))
    with pytest.raises(ValueError, match="MultivariateNormal"):
        m.elbo(x, MultivariateNormal(torch.zeros(len(x), 3), torch.eye(3)))
    with pytest.raises(ValueError, match="Familia"):
        LinearGaussian(q_family="mixta")
    with pytest.raises(ValueError, match="vectores"):
        LinearGaussian(in_shape=(1, 28, 28))
