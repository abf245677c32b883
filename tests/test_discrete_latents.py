"""Pruebas de las piezas de latentes categóricos: Gumbel-softmax, KL a la uniforme, temperatura, pureza."""
import math

import pytest
import torch

from vaebook_lib.discrete_latents import (code_purity, gumbel_softmax, gumbel_temperature, kl_to_uniform,
                                          one_hot_argmax, sample_one_hot)


def test_gumbel_softmax_lies_on_simplex():
    logits = torch.randn(500, 4, 7)
    y = gumbel_softmax(logits, 0.8)
    assert y.shape == logits.shape
    assert (y >= 0).all()
    assert torch.allclose(y.sum(-1), torch.ones(500, 4), atol=1e-5)


def test_gumbel_softmax_tends_to_one_hot_as_temperature_falls():
    logits = torch.randn(2000, 10)
    means = [gumbel_softmax(logits, tau).max(-1).values.mean().item() for tau in (5.0, 1.0, 0.3, 0.05)]
    assert all(a < b for a, b in zip(means, means[1:])), means
    assert means[0] < 0.5
    assert means[-1] > 0.97


def test_gumbel_softmax_argmax_follows_the_categorical():
    # Truco de Gumbel-max: el argmax de la muestra relajada se distribuye como Cat(softmax(logits)).
    probs = torch.tensor([0.5, 0.3, 0.15, 0.05])
    y = gumbel_softmax(probs.log().expand(40000, 4), 0.5)
    freq = torch.bincount(y.argmax(-1), minlength=4).float() / 40000
    assert torch.allclose(freq, probs, atol=0.012), freq


def test_hard_sample_is_exactly_one_hot_and_passes_gradient():
    logits = torch.randn(64, 5, 6, requires_grad=True)
    y = gumbel_softmax(logits, 0.7, hard=True)
    assert set(y.detach().unique().tolist()) == {0.0, 1.0}
    assert (y.detach().sum(-1) == 1).all()
    (y * torch.randn_like(y)).sum().backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0


def test_sample_one_hot_and_argmax_are_one_hot():
    logits = torch.randn(100, 3, 4)
    for y in (sample_one_hot(logits), one_hot_argmax(logits)):
        assert ((y == 0) | (y == 1)).all() and (y.sum(-1) == 1).all()
    assert torch.equal(one_hot_argmax(logits).argmax(-1), logits.argmax(-1))


def test_kl_to_uniform_is_log_k_minus_entropy():
    logits = torch.randn(8, 3, 5)
    q = logits.softmax(-1)
    entropy = -(q * q.log()).sum(-1)
    expected = (math.log(5) - entropy).sum(-1)
    assert torch.allclose(kl_to_uniform(logits), expected, atol=1e-5)
    assert (kl_to_uniform(logits) >= 0).all()


def test_kl_to_uniform_is_zero_for_uniform_and_log_k_for_one_hot():
    assert torch.allclose(kl_to_uniform(torch.zeros(4, 2, 10)), torch.zeros(4), atol=1e-6)
    peaked = torch.full((1, 1, 10), -1e4)
    peaked[..., 3] = 0
    assert torch.allclose(kl_to_uniform(peaked), torch.tensor([math.log(10)]), atol=1e-4)


def test_temperature_schedule_values():
    assert gumbel_temperature(0, 1.0, 0.5, 1e-3) == 1.0
    assert gumbel_temperature(100, 1.0, 0.5, 1e-3) == pytest.approx(math.exp(-0.1))
    assert gumbel_temperature(10_000, 1.0, 0.5, 1e-3) == 0.5          # recortada a tau_min
    # Actualización cada 500 pasos: constante dentro de cada tramo.
    assert gumbel_temperature(499, 1.0, 0.5, 1e-4, every=500) == 1.0
    assert gumbel_temperature(700, 1.0, 0.5, 1e-4, every=500) == pytest.approx(math.exp(-0.05))


def test_code_purity():
    codes = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2])
    labels = torch.tensor([5, 5, 1, 3, 3, 0, 1, 1])
    assert code_purity(codes, labels) == pytest.approx(6 / 8)
    assert code_purity(labels, labels) == 1.0
    assert code_purity(torch.zeros(8, dtype=torch.long), labels) == pytest.approx(3 / 8)


@pytest.mark.parametrize("call, word", [
    (lambda: gumbel_softmax(torch.randn(3, 4), 0.0), "temperatura"),
    (lambda: gumbel_softmax(torch.randn(3, 1), 1.0), "categorías"),
    (lambda: kl_to_uniform(torch.tensor([[float("nan"), 0.0]])), "NaN"),
    (lambda: gumbel_temperature(-1), "paso"),
    (lambda: gumbel_temperature(0, tau0=0.3, tau_min=0.5), "tau_min"),
    (lambda: code_purity(torch.tensor([0, 1]), torch.tensor([0])), "etiquetas"),
])
def test_bad_input_raises_spanish_value_error(call, word):
    with pytest.raises(ValueError, match=word):
        call()
