"""Pruebas de la posterior en rejilla y de las brechas por imagen frente al modelo lineal-gaussiano (exacto)."""
import pytest
import torch

from vaebook_lib.models import VAE, LinearGaussian
from vaebook_lib.true_posterior import (FAMILIES, PerImageQ, evaluate_q, fit_per_image, grid_posterior,
                                        inference_gaps)


def _model(sigma=0.5, seed=0, n=4):
    g = torch.Generator().manual_seed(seed)
    # columnas de W casi paralelas: la posterior exacta tiene una correlación fuerte entre z1 y z2
    w = torch.randn(6, 1, generator=g)
    W = torch.cat([w, w + 0.3 * torch.randn(6, 1, generator=g)], 1)
    m = LinearGaussian.from_weights(W, torch.randn(6, generator=g), sigma=sigma, q_family="diagonal")
    return m, m.sample(n, generator=g)


def test_grid_log_px_matches_the_closed_form():
    m, x = _model()
    grid = grid_posterior(m, x, lim=5.0, n=81, n_fine=121)
    assert torch.allclose(grid.log_px, m.log_marginal(x).detach(), atol=2e-3)
    assert (grid.half_log_px - grid.log_px).abs().max() < 2e-3   # la mitad de puntos ya bastaba: la fina es fiable
    # la posterior de la rejilla integra 1 y su media es la de p(z|x)
    dens = grid.log_posterior.exp()
    area = (grid.z1[:, 1] - grid.z1[:, 0]) * (grid.z2[:, 1] - grid.z2[:, 0])
    assert torch.allclose((dens.flatten(1).sum(1) * area), torch.ones(len(x)), atol=2e-3)
    mean_z1 = (dens.sum(1) * grid.z1).sum(1) * area
    assert torch.allclose(mean_z1, m.true_posterior(x).loc[:, 0].detach(), atol=5e-3)
    assert (grid.edge_mass < 1e-8).all()
    # una rejilla que corta la posterior lo delata en la masa del borde
    assert grid_posterior(m, x, lim=0.3, n=31, n_fine=31).edge_mass.max() > 0.01


def test_fine_grid_is_needed_for_narrow_posteriors():
    m, x = _model(sigma=0.02)                       # posterior mucho más estrecha que las celdas gruesas
    grid = grid_posterior(m, x, lim=5.0, n=41, n_fine=121)
    exact = m.log_marginal(x).detach()
    assert torch.allclose(grid.log_px, exact, atol=1e-2)
    assert (grid.coarse_log_px - exact).abs().max() > 0.5
    # la fina con la mitad de puntos se equivoca más, y con una fina que no resuelve la posterior la diferencia
    # entre las dos lo delata (es una cota conservadora del error de la fina)
    assert (grid.half_log_px - exact).abs().max() >= 0.5 * (grid.log_px - exact).abs().max()
    rough = grid_posterior(m, x, lim=5.0, n=41, n_fine=31)
    assert (rough.log_px - exact).abs().max() > 0.5 and (rough.half_log_px - rough.log_px).abs().max() > 0.5


def test_optimal_full_covariance_has_zero_gap_and_diagonal_does_not():
    m, x = _model()
    grid = grid_posterior(m, x, lim=5.0, n=81, n_fine=121)
    rep = inference_gaps(m, x, grid, steps=400, samples=32, eval_samples=4000, lr=0.03,
                         families=("diagonal", "full"))
    gap_full, gap_diag = rep.approximation_gap("full"), rep.approximation_gap("diagonal")
    assert gap_full.abs().max() < 0.03, gap_full
    # la diagonal óptima tiene brecha igual a KL(q* || p(z|x)) > 0: con correlación fuerte, más de 0.2 nats
    assert (gap_diag > 0.2).all(), gap_diag
    # con la q óptima completa (= la posterior) el muestreo de importancia da log p(x) casi sin error
    assert torch.allclose(rep.is_log_px["full"], grid.log_px, atol=0.01)
    # el codificador de partida (q = N(0, I)) deja una brecha de amortización grande
    assert (rep.amortization_gap > 1.0).all()


def test_flows_start_as_the_diagonal_and_then_improve_it():
    m, x = _model()
    with torch.no_grad():
        post = m.true_posterior(x)
        loc, scale = post.loc, post.covariance_matrix.diagonal(0, -2, -1).sqrt()
    eps = torch.randn(64, len(x), 2, generator=torch.Generator().manual_seed(0))
    z_diag, lq_diag = PerImageQ("diagonal", loc, scale).sample(eps)
    z_pl, lq_pl = PerImageQ("planar", loc, scale, flow_length=3).sample(eps)
    assert torch.allclose(z_diag, z_pl, atol=1e-5) and torch.allclose(lq_diag, lq_pl, atol=1e-4)
    z_iaf, _ = PerImageQ("iaf", loc, scale, flow_length=2).sample(eps)
    assert (z_iaf - z_diag).abs().max() < 0.1 * scale.max() + 0.05
    grid = grid_posterior(m, x, lim=5.0, n=81, n_fine=121)
    for fam in ("planar", "iaf"):
        diag = evaluate_q(m, x, PerImageQ("diagonal", loc, scale), 2000)[0]
        fit = fit_per_image(m, x, fam, loc=loc, scale=scale, steps=300, lr=0.02, flow_length=4)
        got = evaluate_q(m, x, fit.q, 2000)[0]
        assert (got > diag + 0.05).all(), (fam, got - diag)
        assert (got < grid.log_px + 0.02).all()     # la ELBO no supera log p(x)


def test_iaf_log_q_matches_autograd_jacobian():
    loc, scale = torch.zeros(1, 2), torch.ones(1, 2)
    q = PerImageQ("iaf", loc, scale, flow_length=2, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        q.w_out.normal_(0, 0.5)
        q.b_out.normal_(0, 0.5)
    eps = torch.randn(1, 1, 2)
    z, log_q = q.sample(eps)
    jac = torch.autograd.functional.jacobian(lambda e: q.sample(e.view(1, 1, 2))[0].view(2), eps.view(2))
    expected = torch.distributions.Normal(0.0, 1.0).log_prob(eps).sum() - torch.logdet(jac)
    assert torch.allclose(log_q.squeeze(), expected, atol=1e-4)


def test_bad_inputs_raise_spanish_errors():
    vae = VAE(latent_dim=3, hidden=(8,))
    x = (torch.rand(2, 1, 28, 28) > 0.5).float()
    with pytest.raises(ValueError, match="latente de dimensión 2"):
        grid_posterior(vae, x)
    m, x = _model()
    with pytest.raises(ValueError, match="Familia desconocida"):
        PerImageQ("radial", torch.zeros(1, 2), torch.ones(1, 2))
    with pytest.raises(ValueError, match="scale ser positiva"):
        PerImageQ("full", torch.zeros(1, 2), torch.zeros(1, 2))
    with pytest.raises(ValueError, match="steps"):
        fit_per_image(m, x, "full", loc=torch.zeros(4, 2), scale=torch.ones(4, 2), steps=0)
    grid = grid_posterior(m, x, n=21, n_fine=21)
    with pytest.raises(ValueError, match="diagonal"):
        inference_gaps(m, x, grid, steps=1, families=("full",))
    assert FAMILIES == ("diagonal", "full", "planar", "iaf")
