"""Pruebas del ADGM: cotas frente a log p(x), término de clasificación, gradientes y partición semisupervisada."""
import pytest
import torch

from vaebook_lib.data import ImageData
from vaebook_lib.data.semisupervised import hide_labels
from vaebook_lib.models import ADGM, MODELS
from conftest import assert_reloads_same

SMALL = dict(in_shape=(1, 6, 6), latent_dim=3, aux_dim=2, hidden=(16,))


def _mean_bound(model, x, y=None, reps=300):
    """Media de la cota por ejemplo sobre ``reps`` sorteos, en una sola pasada (x repetido)."""
    yr = None if y is None else y.repeat(reps)
    with torch.no_grad():
        return model(x.repeat(reps, 1, 1, 1), yr).elbo.view(reps, len(x)).mean(0)


def _data(n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.bernoulli(torch.full((n, 1, 6, 6), 0.3), generator=g)
    return x, torch.randint(0, 3, (n,), generator=g)


def test_registered():
    assert MODELS["adgm"] is ADGM


@pytest.mark.parametrize("n_classes", [0, 3])
def test_bound_below_importance_sampling_estimate(n_classes):
    model = ADGM(n_classes=n_classes, **SMALL)
    x, _ = _data(12)
    with torch.no_grad():
        elbo = _mean_bound(model, x)                                           # U(x) (o la ELBO auxiliar)
        log_w = model.log_weights(x, 3000)
        log_p = torch.logsumexp(log_w, 0) - torch.log(torch.tensor(3000.0))
    assert torch.isfinite(elbo).all() and torch.isfinite(log_p).all()
    assert (elbo <= log_p + 0.05).all(), (elbo, log_p)


def test_unsupervised_bound_matches_monte_carlo_weights():
    model = ADGM(**SMALL)
    x, _ = _data(6)
    with torch.no_grad():
        analytic = _mean_bound(model, x, reps=4000)                            # KL de z exacta
        mc = model.log_weights(x, 8000).mean(0)                                # todo por Monte Carlo
    assert torch.allclose(analytic, mc, atol=0.15)


def test_labeled_bound_and_classification_term():
    model = ADGM(n_classes=3, beta=0.0, **SMALL)
    x, y = _data()
    torch.manual_seed(1)
    a = model(x, y)
    model.config.beta = 2.0
    torch.manual_seed(1)
    b = model(x, y)
    assert torch.allclose(b.loss - a.loss, 2.0 * b.terms["ce"], atol=1e-5)
    ce = torch.nn.functional.cross_entropy(b.logits, y)
    assert torch.allclose(b.terms["ce"], ce)
    torch.manual_seed(1)
    c = model(x, torch.full_like(y, -1))                     # sin etiquetas: U(x), sin término de clasificación
    assert not torch.allclose(a.elbo, c.elbo) and c.terms["ce"] == 0
    # log p(x) >= U(x) y log p(x, y) <= log p(x): la cota etiquetada no puede superar a log p(x)
    with torch.no_grad():
        log_p = torch.logsumexp(model.log_weights(x, 4000), 0) - torch.log(torch.tensor(4000.0))
        lab = _mean_bound(model, x, y)
    assert (lab <= log_p + 0.05).all()


def test_unlabeled_term_trains_the_classifier():
    model = ADGM(n_classes=3, **SMALL)
    x, y = _data()
    model(x, torch.full_like(y, -1)).loss.backward()
    assert sum(p.grad.abs().sum() for p in model.q_y.parameters()) > 0
    assert sum(p.grad.abs().sum() for p in model.p_a.parameters()) > 0
    assert model.predict(x).shape == (8,)


def test_hide_labels():
    x = torch.rand(60, 1, 6, 6)
    data = ImageData(x, torch.arange(60) % 3, ("a", "b", "c"))
    semi = hide_labels(data, 6, seed=0, repeat_labeled=3)
    assert len(semi) == 60 + 2 * 6
    base = semi.y[:60]
    assert (base >= 0).sum() == 6 and torch.bincount(base[base >= 0], minlength=3).tolist() == [2, 2, 2]
    assert torch.equal(base[base >= 0], data.y[:60][base >= 0])     # las etiquetas visibles son las verdaderas
    assert (semi.y[60:] >= 0).all()
    with pytest.raises(ValueError, match="múltiplo"):
        hide_labels(data, 5)


def test_save_load_round_trip(tmp_path):
    for model in (ADGM(**SMALL), ADGM(n_classes=3, beta=0.5, **SMALL)):
        assert_reloads_same(model, tmp_path, *_data())


def test_bad_input_raises_spanish_errors():
    model = ADGM(n_classes=3, **SMALL)
    x, y = _data()
    with pytest.raises(ValueError, match="enteros"):
        model(x, y + 5)
    with pytest.raises(ValueError, match="binario"):
        model(torch.full_like(x, 0.5), y)
    with pytest.raises(ValueError, match="etiqueta"):
        model.decode(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="n_classes"):
        ADGM(n_classes=1, **SMALL)
    with pytest.raises(ValueError, match="no clasifica"):
        ADGM(**SMALL).predict(x)


def test_joint_mlp_equals_mlp_on_concatenation():
    from vaebook_lib.models.adgm import _JointMLP
    from vaebook_lib.nets import mlp
    net = _JointMLP(5, 3, (7,), 2)
    ref = mlp((8, 7, 2))
    with torch.no_grad():
        ref[0].weight.copy_(torch.cat([net.lx.weight, net.lu.weight], 1))
        ref[0].bias.copy_(net.lx.bias)
        ref[2].load_state_dict(net.rest[1][0].state_dict())
    x, u = torch.randn(4, 5), torch.randn(6, 4, 3)
    assert torch.allclose(net(x, u), ref(torch.cat([x.expand(6, 4, 5), u], -1)), atol=1e-6)
