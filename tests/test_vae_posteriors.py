"""Pruebas de los VAE con posteriores más ricas (vae_fullcov, vae_planar, vae_iaf) y de vae_annealed."""
import math

import pytest
import torch
from torch.distributions import MultivariateNormal, Normal, kl_divergence

from vaebook_lib.losses import free_bits_kl, kl_warmup_weight
from vaebook_lib.metrics import active_units, log_likelihood_is
from vaebook_lib.models import MODELS, AnnealedVAE, VAEFullCov, VAEIAF, VAEPlanar, load, save

SMALL = dict(in_shape=(1, 6, 6), latent_dim=3, hidden=(16,))


def binary_batch(n=8, seed=0):
    return torch.bernoulli(torch.full((n, 1, 6, 6), 0.4), generator=torch.Generator().manual_seed(seed))


def test_catalog_keys():
    for key, cls in [("vae_fullcov", VAEFullCov), ("vae_planar", VAEPlanar), ("vae_iaf", VAEIAF),
                     ("vae_annealed", AnnealedVAE)]:
        assert MODELS[key] is cls


def test_fullcov_scale_tril_and_log_prob():
    torch.manual_seed(0)
    m = VAEFullCov(**SMALL)
    with torch.no_grad():
        for p in m.encoder.parameters():
            p.normal_(0, 0.3)   # que L tenga elementos bajo la diagonal bien distintos de cero
    x = binary_batch()
    mu, L = m.scale_tril(x)
    assert torch.all(torch.triu(L, 1) == 0) and (torch.diagonal(L, dim1=-2, dim2=-1) > 0).all()
    assert torch.tril(L, -1).abs().min() >= 0 and torch.tril(L, -1).abs().sum() > 0.1
    # cambio de variable: log q(z) = log N(eps; 0, I) - sum_i log L_ii, con z = mu + L eps
    eps = torch.randn(5, *mu.shape)
    z = mu + (L @ eps.unsqueeze(-1)).squeeze(-1)
    by_hand = Normal(0, 1).log_prob(eps).sum(-1) - torch.diagonal(L, dim1=-2, dim2=-1).log().sum(-1)
    assert torch.allclose(m.posterior(x).log_prob(z), by_hand, atol=1e-4)
    # Sigma = L L^T
    assert torch.allclose(m.posterior(x).covariance_matrix, L @ L.transpose(-1, -2), atol=1e-5)


def test_fullcov_sample_covariance_is_LLt():
    torch.manual_seed(0)
    m = VAEFullCov(**SMALL)
    with torch.no_grad():
        for p in m.encoder.parameters():
            p.normal_(0, 0.3)
    x = binary_batch(1)
    z = m.posterior(x).rsample((40000,))[:, 0]
    mu, L = m.scale_tril(x)
    sigma = (L @ L.transpose(-1, -2))[0]
    assert torch.allclose(torch.cov(z.T), sigma, atol=0.05 * float(sigma.abs().max().detach()))


def test_fullcov_kl_matches_monte_carlo():
    torch.manual_seed(0)
    m = VAEFullCov(**SMALL)
    x = binary_batch(2)
    q = m.posterior(x)
    z = q.sample((100000,))
    mc = (q.log_prob(z) - Normal(0, 1).log_prob(z).sum(-1)).mean(0)
    prior = MultivariateNormal(torch.zeros(3), torch.eye(3))
    assert torch.allclose(mc, torch.distributions.kl_divergence(q, prior), atol=0.02)


@pytest.mark.parametrize("cls", [VAEFullCov, VAEPlanar, VAEIAF, AnnealedVAE])
def test_forward_terms_and_is_bound(cls):
    torch.manual_seed(0)
    m = cls(**SMALL)
    x = binary_batch()
    out = m(x)
    assert set(out.terms) >= {"loss", "recon", "kl", "elbo"}
    assert float(out.terms["elbo"]) == pytest.approx(-float(out.terms["recon"] + out.terms["kl"]), rel=1e-5)
    out.loss.backward()
    assert all(p.grad is not None for p in m.encoder.parameters())
    # log p(x) por IS con muchas muestras >= ELBO media (cota, en esperanza; margen holgado)
    m.eval()
    with torch.no_grad():
        lw = m.log_weights(x, 2000)
        elbo = lw.mean(0)
        nll_is = -log_likelihood_is(m, x, k=2000)
    assert lw.shape == (2000, len(x))
    assert (-nll_is >= elbo - 1e-3).all()


@pytest.mark.parametrize("cls", [VAEPlanar, VAEIAF])
def test_flow_log_q_matches_change_of_variables(cls):
    """log q_K de la muestra = log q_0(z_0) - log|det| con el jacobiano de autograd del flujo completo."""
    torch.manual_seed(0)
    m = cls(**SMALL).double()
    x = binary_batch(1).double()
    q0, extra = m.base(x)
    z0 = q0.sample()
    _, log_det = m.flow(z0, extra)
    J = torch.func.jacrev(lambda v: m.flow(v[None], extra)[0][0])(z0[0])
    assert float(log_det[0].detach()) == pytest.approx(float(torch.linalg.slogdet(J.detach())[1]), abs=1e-6)


def test_iaf_gradients_reach_made():
    m = VAEIAF(**SMALL)
    m(binary_batch()).loss.backward()
    for step in m.steps:
        assert step.made.out.weight.grad.abs().sum() > 0
        assert step.made.context.weight.grad.abs().sum() > 0


def test_planar_flow_applies_step_k_with_the_kth_block_of_parameters():
    """Los K pasos del VAE planar, a mano: el paso k usa el bloque k de (u, w, b) que da el codificador, en orden,
    con los mismos valores y los mismos gradientes que cortando ``extra`` paso a paso."""
    from vaebook_lib.flows import planar

    torch.manual_seed(0)
    d, steps = 3, 4
    model = VAEPlanar(in_shape=(1, 4, 4), latent_dim=d, hidden=(8,), flow_length=steps)
    z0 = torch.randn(2, 5, d)
    extra = torch.randn(2, 5, steps * (2 * d + 1), requires_grad=True)
    z, log_det = model.flow(z0, extra)
    ref_z, ref_ld = z0, torch.zeros(2, 5)
    for k in range(steps):
        p = extra[..., k * (2 * d + 1):(k + 1) * (2 * d + 1)]
        ref_z, ld = planar(ref_z, p[..., :d], p[..., d:2 * d], p[..., 2 * d:])
        ref_ld = ref_ld + ld
    torch.testing.assert_close(z, ref_z)
    torch.testing.assert_close(log_det, ref_ld)
    grad, = torch.autograd.grad((z.sum() + log_det.sum()), extra)
    ref_grad, = torch.autograd.grad((ref_z.sum() + ref_ld.sum()), extra)
    torch.testing.assert_close(grad, ref_grad)


def test_planar_zero_length_is_diagonal_vae():
    torch.manual_seed(0)
    m = VAEPlanar(flow_length=0, **SMALL)
    x = binary_batch()
    z, log_q = m.posterior_sample(x)
    q0, _ = m.base(x)
    assert torch.allclose(log_q, q0.log_prob(z).sum(-1))


def test_kl_warmup_schedule_values():
    assert kl_warmup_weight(0.0, 0.5) == 0.0
    assert kl_warmup_weight(0.25, 0.5) == pytest.approx(0.5)
    assert kl_warmup_weight(0.5, 0.5) == 1.0 and kl_warmup_weight(0.9, 0.5) == 1.0
    assert kl_warmup_weight(0.0, 0.0) == 1.0
    m = AnnealedVAE(warmup=0.4, **SMALL)
    assert m.kl_weight == 0.0
    m.schedule(0.1)
    assert m.kl_weight == pytest.approx(0.25)
    with pytest.raises(ValueError, match="progress"):
        kl_warmup_weight(1.5, 0.5)


def test_free_bits_clamp_value():
    kl = torch.tensor([[0.1, 2.0, 0.0], [0.3, 4.0, 0.0]])   # medias por dimensión: 0.2, 3.0, 0.0
    assert float(free_bits_kl(kl, 0.5)) == pytest.approx(0.5 + 3.0 + 0.5)
    assert float(free_bits_kl(kl, 0.0)) == pytest.approx(3.2)
    # por debajo de lambda no hay gradiente: la dimensión no se empuja hacia la prior
    kl = kl.clone().requires_grad_()
    free_bits_kl(kl, 0.5).backward()
    assert torch.equal(kl.grad[:, 0], torch.zeros(2)) and torch.equal(kl.grad[:, 1], torch.full((2,), 0.5))
    with pytest.raises(ValueError, match="forma"):
        free_bits_kl(torch.zeros(3), 0.5)



def _kl_to_prior(mu, log_sigma):
    return kl_divergence(Normal(mu, log_sigma.exp()), Normal(0.0, 1.0))


def test_free_bits_no_penalty_below_lambda_and_ordinary_kl_above():
    """Bits libres con lambda = 0.5: las dimensiones cuya KL media queda por debajo de lambda no pagan nada ni
    reciben gradiente de la KL; las de encima pagan su KL ordinaria, con el gradiente de la forma cerrada."""
    lam = 0.5
    # (lote, D); en la dimensión 1 un ejemplo pasa de lambda y el otro no, pero su media queda por debajo: cuenta
    # la media del lote (ec. 15 del artículo), no cada ejemplo
    mu = torch.tensor([[0.2, 0.3, 2.0], [0.0, 1.2, 2.5]], requires_grad=True)
    log_sigma = torch.tensor([[0.0, -0.1, 0.3], [-0.05, 0.0, -0.2]], requires_grad=True)
    kl = _kl_to_prior(mu, log_sigma)
    closed = 0.5 * (mu ** 2 + (2 * log_sigma).exp() - 1) - log_sigma                 # KL(N(mu, s) || N(0, 1))
    assert torch.allclose(kl, closed)
    per_dim = closed.mean(0).detach()
    assert per_dim[0] < lam and per_dim[1] < lam < per_dim[2] and closed[1, 1] > lam
    loss = free_bits_kl(kl, lam)
    assert float(loss.detach()) == pytest.approx(2 * lam + float(per_dim[2]))
    g_mu, g_ls = torch.autograd.grad(loss, (mu, log_sigma))
    assert torch.equal(g_mu[:, :2], torch.zeros(2, 2)) and torch.equal(g_ls[:, :2], torch.zeros(2, 2))
    # encima de lambda: d E_lote[KL] / d mu = mu / lote y d / d log s = (s^2 - 1) / lote
    n = mu.shape[0]
    assert torch.allclose(g_mu[:, 2], mu[:, 2].detach() / n)
    assert torch.allclose(g_ls[:, 2], ((2 * log_sigma[:, 2].detach()).exp() - 1) / n)


def test_free_bits_do_not_push_the_kl_up_to_lambda():
    """Optimizando solo el término de bits libres (descenso de gradiente), una dimensión por debajo de lambda se
    queda exactamente donde estaba, aunque tenga 0 nats, y una por encima baja hasta lambda y se para. Sin bits
    libres, la KL ordinaria las lleva todas hacia 0."""
    lam = 0.5

    def descend(free_bits):
        mu = torch.tensor([0.0, 0.3, 2.0], requires_grad=True)     # KL inicial: 0, 0.045 y 2 nats
        log_sigma = torch.zeros(3, requires_grad=True)
        opt = torch.optim.SGD([mu, log_sigma], lr=0.05)
        for _ in range(400):
            opt.zero_grad()
            free_bits_kl(_kl_to_prior(mu, log_sigma)[None], free_bits).backward()
            opt.step()
        return _kl_to_prior(mu, log_sigma).detach()

    start = _kl_to_prior(torch.tensor([0.0, 0.3, 2.0]), torch.zeros(3))
    kl = descend(lam)
    assert torch.equal(kl[:2], start[:2]), f"una dimensión por debajo de lambda se movió: {kl[:2]} != {start[:2]}"
    assert 0.9 * lam <= kl[2] <= lam, f"la dimensión de 2 nats debería bajar hasta lambda = {lam}: {kl[2]:.3f}"
    plain = descend(0.0)
    assert (plain < 1e-3).all() and plain[1] < 0.1 * start[1], f"sin bits libres la KL debería ir a 0: {plain}"


def test_annealed_vae_free_bits_gradient_is_the_reconstruction_below_lambda():
    """Con lambda por encima de la KL de todas las dimensiones, el gradiente de la pérdida del VAE es el de la
    reconstrucción sola: la KL no empuja el codificador hacia la prior."""
    torch.manual_seed(0)
    x = binary_batch()
    m = AnnealedVAE(free_bits=100.0, **SMALL)
    torch.manual_seed(1)
    out = m(x)
    params = [p for p in m.parameters() if p.requires_grad]
    g_loss = torch.autograd.grad(out.loss, params, retain_graph=True)
    torch.manual_seed(1)
    out2 = m(x)
    rec = out2.loss - free_bits_kl(torch.zeros(1, 3), 100.0)       # la pérdida menos la constante 3 * lambda
    g_rec = torch.autograd.grad(rec, params)
    for a, b in zip(g_loss, g_rec):
        assert torch.allclose(a, b, atol=1e-6)
    plain = AnnealedVAE(**SMALL)
    plain.load_state_dict(m.state_dict())
    torch.manual_seed(1)
    g_plain = torch.autograd.grad(plain(x).loss, list(plain.parameters()))
    assert any(not torch.allclose(a, b, atol=1e-6) for a, b in zip(g_loss, g_plain)), \
        "sin bits libres la KL debería cambiar el gradiente del codificador"

def test_annealed_loss_uses_weight_and_free_bits():
    torch.manual_seed(0)
    x = binary_batch()
    m = AnnealedVAE(warmup=0.5, **SMALL)
    m.schedule(0.0)
    torch.manual_seed(1)
    out = m(x)
    assert float(out.loss.detach()) == pytest.approx(float(out.terms["recon"]), rel=1e-5)     # peso 0: solo la reconstrucción
    fb = AnnealedVAE(free_bits=100.0, **SMALL)
    fb.load_state_dict(m.state_dict())
    torch.manual_seed(1)
    out = fb(x)
    assert float(out.loss.detach()) == pytest.approx(float(out.terms["recon"]) + 3 * 100.0, rel=1e-5)


class _FixedEncoder(torch.nn.Module):
    """Modelo falso: E_q[z|x] = (x0, 0.05 x0, constante), con varianzas conocidas sobre x."""

    def __init__(self):
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def encode(self, x):
        a = x[:, 0]
        return torch.stack([a, 0.05 * a, torch.ones_like(a)], 1)


def test_active_units_known_answer():
    x = torch.randn(5000, 1)          # Var(x0) = 1: dimensiones con varianza 1, 0.0025 y 0
    n, var = active_units(_FixedEncoder(), x)
    assert n == 1
    assert var[0] == pytest.approx(1.0, abs=0.06) and var[1] == pytest.approx(0.0025, abs=3e-4) and var[2] == 0
    assert active_units(_FixedEncoder(), x, threshold=0.001)[0] == 2
    with pytest.raises(ValueError, match="ejemplos"):
        active_units(_FixedEncoder(), x[:1])


@pytest.mark.parametrize("cls", [VAEFullCov, VAEPlanar, VAEIAF, AnnealedVAE])
def test_save_load_round_trip(cls, tmp_path):
    torch.manual_seed(0)
    kw = dict(free_bits=0.3) if cls is AnnealedVAE else {}
    m = cls(**SMALL, **kw).eval()
    path = tmp_path / "m.pt"
    save(m, path)
    m2 = load(path).eval()
    assert type(m2) is cls and m2.config == m.config
    x = binary_batch()
    torch.manual_seed(3)
    a = m.log_weights(x, 4)
    torch.manual_seed(3)
    b = m2.log_weights(x, 4)
    assert torch.allclose(a, b) and torch.allclose(m.encode(x), m2.encode(x))


@pytest.mark.parametrize("cls", [VAEFullCov, VAEPlanar, VAEIAF, AnnealedVAE])
def test_bad_input_spanish_error(cls):
    m = cls(**SMALL)
    with pytest.raises(ValueError, match="binario"):
        m(torch.full((2, 1, 6, 6), 0.5))
    with pytest.raises(ValueError, match="forma"):
        m(torch.zeros(2, 1, 5, 5))


def test_bad_config_spanish_error():
    with pytest.raises(ValueError, match="flow_length"):
        VAEPlanar(flow_length=-1)
    with pytest.raises(ValueError, match="free_bits"):
        AnnealedVAE(free_bits=-1.0)
    with pytest.raises(ValueError, match="flow_length"):
        VAEIAF(flow_length=-2)
