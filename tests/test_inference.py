"""Pruebas de la inferencia variacional por punto frente a las soluciones exactas del modelo lineal-gaussiano."""
import pytest
import torch
from torch.distributions import Independent, MultivariateNormal, Normal

import math

from vaebook_lib.inference import (elbo_estimate, fit_local_posteriors, importance_log_weights,
                                  log_likelihood_with_proposal)
from vaebook_lib.models import VAE, LinearGaussian


def _model(seed=0):
    g = torch.Generator().manual_seed(seed)
    m = LinearGaussian.from_weights(torch.randn(5, 2, generator=g), torch.randn(5, generator=g), sigma=0.5,
                                    q_family="diagonal")
    return m, m.sample(8, generator=g)


def _as_mvn(q):
    return MultivariateNormal(q.base_dist.loc, scale_tril=torch.diag_embed(q.base_dist.scale))


def test_elbo_estimate_matches_closed_form():
    m, x = _model()
    post = m.true_posterior(x)
    std = post.covariance_matrix.diagonal(0, -2, -1).sqrt()
    q = Independent(Normal(post.loc + 0.3 * torch.randn(len(x), 2), std), 1)
    est = elbo_estimate(m, x, q, k=20000, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(est, m.elbo(x, _as_mvn(q)), atol=0.05)
    assert not torch.allclose(est, m.log_marginal(x), atol=0.05)


def test_local_vi_reaches_the_mean_field_optimum():
    m, x = _model()
    m.set_optimal_encoder()                      # óptimo diagonal en forma cerrada
    best = m.elbo(x)
    res = fit_local_posteriors(m, x, steps=300, lr=0.05, k=8, generator=torch.Generator().manual_seed(0))
    got = m.elbo(x, _as_mvn(res.q))
    start = m.elbo(x, MultivariateNormal(torch.zeros(len(x), 2), torch.eye(2)))
    assert ((best - got) < 0.1).all() and (got <= best + 1e-4).all()
    assert ((best - start) > 1.0).all()
    assert res.trace[-1] > res.trace[0] and res.seconds > 0
    assert torch.allclose(res.q.base_dist.loc, m.true_posterior(x).loc, atol=0.1)


def test_local_vi_leaves_model_parameters_untouched():
    m, x = _model()
    before = [p.detach().clone() for p in m.parameters()]
    fit_local_posteriors(m, x, steps=5)
    assert all(torch.equal(a, p) and p.grad is None for a, p in zip(before, m.parameters()))


def test_local_vi_improves_a_vae_encoder():
    torch.manual_seed(0)
    vae = VAE(latent_dim=2, hidden=(16,))
    x = (torch.rand(6, 1, 28, 28) > 0.5).float()
    q0 = vae.posterior(x)
    g = torch.Generator().manual_seed(0)
    start = elbo_estimate(vae, x, Independent(q0, 1), k=64, generator=g).mean()
    res = fit_local_posteriors(vae, x, steps=100, lr=0.05, k=4, init=q0, generator=g)
    assert elbo_estimate(vae, x, res.q, k=64, generator=g).mean() > start


def test_importance_log_weights_recover_log_marginal():
    m, x = _model()
    m.set_optimal_encoder()
    q = Independent(Normal(m.posterior(x).loc.detach(), m.q_scale_tril().diagonal().detach().expand(len(x), 2)), 1)
    lw = importance_log_weights(m, x, q, 20000, generator=torch.Generator().manual_seed(0))
    assert lw.shape == (20000, len(x))
    assert torch.allclose(lw.mean(0), m.elbo(x), atol=0.05)                                  # E[log w] = ELBO
    assert torch.allclose(torch.logsumexp(lw, 0) - math.log(20000), m.log_marginal(x), atol=0.02)


def test_log_likelihood_with_proposal_converges_and_chunks_agree():
    m, x = _model()
    post = m.true_posterior(x)
    q = Independent(Normal(post.loc + 0.3, 1.5 * post.covariance_matrix.diagonal(0, -2, -1).sqrt()), 1)
    exact = m.log_marginal(x)
    g = torch.Generator().manual_seed(0)
    gaps = [(exact - log_likelihood_with_proposal(m, x, q, k, generator=g)).mean().item() for k in (1, 30, 3000)]
    assert gaps[0] > gaps[1] > abs(gaps[2]) and abs(gaps[2]) < 0.02
    a = log_likelihood_with_proposal(m, x, q, 3000, batch_size=3, chunk=700, generator=g)
    assert torch.allclose(a, exact, atol=0.1)   # un error al juntar trozos sesgaría en log(k/chunk) ~ 1.5


def test_bad_input():
    m, x = _model()
    with pytest.raises(ValueError, match="steps"):
        fit_local_posteriors(m, x, steps=0)
    with pytest.raises(ValueError, match="forma"):
        fit_local_posteriors(m, x, steps=2, init=Normal(torch.zeros(3, 2), torch.ones(3, 2)))
    with pytest.raises(ValueError, match="k"):
        elbo_estimate(m, x, Independent(Normal(torch.zeros(len(x), 2), 1.0), 1), k=0)
    with pytest.raises(ValueError, match="entero positivo"):
        importance_log_weights(m, x, Independent(Normal(torch.zeros(len(x), 2), 1.0), 1), k=0)
