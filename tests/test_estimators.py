"""Pruebas de los estimadores del gradiente: insesgados frente al gradiente exacto; varianzas comparadas."""
import pytest
import torch

from vaebook_lib.estimators import (gradient_variance, reparameterized_gradients, score_function_gradients)

A = torch.tensor([1.0, -2.0, 0.5])
MU = torch.tensor([0.3, 0.1, -0.4])
LOG_SIGMA = torch.tensor([-0.2, 0.3, 0.0])


def f(z):
    # E_q[||z - a||^2] = ||mu - a||^2 + sum sigma^2: gradiente exacto 2 (mu - a) y 2 sigma^2
    return ((z - A) ** 2).sum()


EXACT = torch.cat([2 * (MU - A), 2 * LOG_SIGMA.exp() ** 2])


@pytest.mark.parametrize("estimator,kwargs", [(score_function_gradients, {}),
                                              (score_function_gradients, {"baseline": 5.0}),
                                              (reparameterized_gradients, {})])
def test_unbiased(estimator, kwargs):
    g = estimator(f, MU, LOG_SIGMA, 40000, generator=torch.Generator().manual_seed(0), **kwargs).flat()
    se = g.std(0) / len(g) ** 0.5
    assert ((g.mean(0) - EXACT).abs() < 4 * se + 1e-4).all()


def test_estimators_differ_from_a_wrong_gradient():
    # la prueba anterior puede fallar: con el signo cambiado la media queda lejos
    g = reparameterized_gradients(f, MU, LOG_SIGMA, 40000, generator=torch.Generator().manual_seed(0)).flat()
    assert ((g.mean(0) + EXACT).abs() > 0.5).any()


def test_reparameterization_has_lower_variance():
    gen = torch.Generator().manual_seed(1)
    v_sf = gradient_variance(score_function_gradients, f, MU, LOG_SIGMA, 10, repeats=400, generator=gen)
    v_rp = gradient_variance(reparameterized_gradients, f, MU, LOG_SIGMA, 10, repeats=400, generator=gen)
    assert v_rp * 5 < v_sf


def test_variance_falls_as_one_over_n():
    gen = torch.Generator().manual_seed(2)
    v1 = gradient_variance(reparameterized_gradients, f, MU, LOG_SIGMA, 1, repeats=4000, generator=gen)
    v16 = gradient_variance(reparameterized_gradients, f, MU, LOG_SIGMA, 16, repeats=4000, generator=gen)
    assert 12 < v1 / v16 < 21


def test_reparameterized_single_sample_is_exact_for_linear_f():
    # f lineal: grad_mu f(mu + sigma eps) = a para cada eps (varianza nula)
    g = reparameterized_gradients(lambda z: (z * A).sum(), MU, LOG_SIGMA, 5)
    assert torch.allclose(g.mu, A.expand(5, 3))


def test_bad_input():
    with pytest.raises(ValueError, match="muestras"):
        score_function_gradients(f, MU, LOG_SIGMA, 0)
    with pytest.raises(ValueError, match="misma forma"):
        reparameterized_gradients(f, MU, LOG_SIGMA[:2], 10)
    with pytest.raises(ValueError, match="repeticiones"):
        gradient_variance(score_function_gradients, f, MU, LOG_SIGMA, 10, repeats=1)
