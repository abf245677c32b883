"""Pruebas del CVAE: dependencia de la condición, cota frente a log p(x|c), máscara de cuadrantes y persistencia."""
import pytest
import torch
from torch.distributions import Bernoulli

from vaebook_lib.models import CVAE, MODELS
from vaebook_lib.models.cvae import CompletionBaseline, quadrant_mask
from conftest import assert_reloads_same

SMALL = dict(in_shape=(1, 8, 8), latent_dim=3, hidden=(16,))


def _data(n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.bernoulli(torch.full((n, 1, 8, 8), 0.3), generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    return x, y


def test_registered_and_conditional():
    assert MODELS["cvae"] is CVAE and CVAE.conditional


def test_output_depends_on_label():
    model = CVAE(**SMALL)
    x, y = _data()
    torch.manual_seed(0)
    a = model(x, y)
    torch.manual_seed(0)
    b = model(x, (y + 1) % 10)
    assert not torch.allclose(a.elbo, b.elbo)
    assert not torch.allclose(a.x_hat, b.x_hat)
    s0 = model.sample(4, y=torch.zeros(4, dtype=torch.long), generator=torch.Generator().manual_seed(1))
    s1 = model.sample(4, y=torch.ones(4, dtype=torch.long), generator=torch.Generator().manual_seed(1))
    assert s0.shape == (4, 1, 8, 8) and not torch.allclose(s0, s1)


def test_prior_network_depends_on_label_and_kl_is_exact():
    model = CVAE(**SMALL)
    x, y = _data(4)
    c = model.condition(x, y)
    qz, pz = model.posterior(x, y), model.prior(c)
    z = qz.rsample((20000,))
    mc_kl = (qz.log_prob(z) - pz.log_prob(z)).sum(-1).mean(0)
    torch.manual_seed(0)
    out = model(x, y)
    assert torch.allclose(mc_kl, torch.distributions.kl_divergence(qz, pz).sum(-1), atol=0.05)
    assert out.terms["kl"] > 0


def test_elbo_below_importance_sampling_estimate():
    model = CVAE(**SMALL)
    x, y = _data(16)
    with torch.no_grad():
        elbo = torch.stack([model(x, y).elbo for _ in range(200)]).mean(0)
        log_w = model.log_weights(x, 4000, y)
        log_p = torch.logsumexp(log_w, 0) - torch.log(torch.tensor(4000.0))
        single = log_w.mean(0)                      # estimación MC de la misma ELBO
    assert (elbo <= log_p + 0.05).all()
    assert torch.allclose(single, elbo, atol=0.3)


def test_quadrant_mask_and_hidden_pixel_likelihood():
    mask = quadrant_mask((1, 28, 28), (2,))
    assert mask.sum() == 196 and mask[0, 0, 14:, :14].all() and mask[0, 0, :14].sum() == 0
    model = CVAE(condition="quadrants", visible=(2,), **SMALL)
    x, _ = _data(4)
    logits = torch.randn(4, 1, 8, 8, requires_grad=True)
    from vaebook_lib.losses import decoder_distribution
    lp = model.target_log_prob(decoder_distribution(logits, "bernoulli", event_dims=3), x)
    expected = (Bernoulli(logits=logits).log_prob(x) * (1 - model.mask)).flatten(1).sum(1)
    assert torch.allclose(lp, expected)
    lp.sum().backward()
    assert (logits.grad * model.mask).abs().sum() == 0          # los píxeles visibles no cuentan
    assert (logits.grad * (1 - model.mask)).abs().sum() > 0
    # la condición solo ve los cuadrantes visibles
    x2 = x.clone()
    x2[..., :4, :] = 1 - x2[..., :4, :]
    assert torch.equal(model.condition(x, None), model.condition(x2, None))


def test_completion_keeps_visible_pixels_and_baseline_is_exact():
    x, _ = _data(4)
    model = CVAE(condition="quadrants", **SMALL)
    done = model.complete(x, generator=torch.Generator().manual_seed(0))
    assert torch.equal(done * model.mask, x * model.mask)
    base = CompletionBaseline(**SMALL)
    with torch.no_grad():
        logits = base.net((x * base.mask).flatten(1)).reshape(4, 1, 8, 8)
        manual = (Bernoulli(logits=logits).log_prob(x) * (1 - base.mask)).flatten(1).sum(1)
        assert torch.allclose(base.log_prob(x), manual)
        assert torch.allclose(base(x).loss, -manual.mean())
        assert torch.equal(base.complete(x) * base.mask, x * base.mask)


def test_save_load_round_trip(tmp_path):
    for model in (CVAE(**SMALL), CVAE(condition="quadrants", visible=(0, 2), **SMALL)):
        assert_reloads_same(model, tmp_path, *_data())


def test_bad_input_raises_spanish_errors():
    model = CVAE(**SMALL)
    x, y = _data()
    with pytest.raises(ValueError, match="etiqueta"):
        model(x)
    with pytest.raises(ValueError, match="enteros"):
        model(x, y + 10)
    with pytest.raises(ValueError, match="binario"):
        model(torch.full_like(x, 0.5), y)
    with pytest.raises(ValueError, match="Condición"):
        CVAE(condition="texto", **SMALL)
    with pytest.raises(ValueError, match="cuadrantes"):
        CVAE(condition="quadrants", visible=(5,), **SMALL)
    with pytest.raises(ValueError, match="quadrants"):
        model.complete(x)
