"""log_likelihood_is sobre un modelo cuya verosimilitud marginal se conoce en forma cerrada.

p(z) = N(0, I), p(x|z) = N(z, s^2 I)  =>  p(x) = N(0, (1 + s^2) I)  y  p(z|x) = N(x / (1 + s^2), s^2 / (1 + s^2) I).
"""
import math

import pytest
import torch
from torch import nn
from torch.distributions import Normal

from vaebook_lib.metrics import log_likelihood_is


class Conjugate(nn.Module):
    def __init__(self, s=0.5, q_shift=0.0, q_scale=1.0):
        super().__init__()
        self.s, self.q_shift, self.q_scale = s, q_shift, q_scale
        self.dummy = nn.Parameter(torch.zeros(()))

    def exact(self, x):
        return Normal(0.0, math.sqrt(1 + self.s ** 2)).log_prob(x).sum(-1)

    def log_weights(self, x, k):
        v = self.s ** 2 / (1 + self.s ** 2)
        q = Normal(x / (1 + self.s ** 2) + self.q_shift, math.sqrt(v) * self.q_scale)
        z = q.sample((k,))
        return (Normal(z, self.s).log_prob(x).sum(-1) + Normal(0.0, 1.0).log_prob(z).sum(-1)
                - q.log_prob(z).sum(-1))


def test_exact_posterior_gives_exact_likelihood_for_any_k():
    model, x = Conjugate(), torch.randn(6, 3)
    for k in (1, 7):
        assert torch.allclose(log_likelihood_is(model, x, k), model.exact(x), atol=1e-4)


def test_estimate_converges_from_below_with_k():
    torch.manual_seed(0)
    model, x = Conjugate(q_shift=0.6, q_scale=1.6), torch.randn(200, 2)
    exact = model.exact(x).mean().item()
    gaps = [exact - log_likelihood_is(model, x, k, chunk=300).mean().item() for k in (1, 10, 100, 1000)]
    # k = 1 es la ELBO: su hueco es la KL(q || p(z|x)), grande con esta q desplazada.
    assert gaps[0] > 1.0 and 0 < gaps[1] < gaps[0] / 5
    # Con k grande el hueco desaparece (salvo ruido de Monte Carlo, del orden de 0.03 nats aquí).
    assert all(abs(g) < 0.06 for g in gaps[2:])


def test_chunking_does_not_change_the_estimator():
    model, x = Conjugate(q_shift=0.3), torch.randn(4, 2)
    torch.manual_seed(1)
    a = log_likelihood_is(model, x, 600, chunk=600)
    torch.manual_seed(1)
    b = log_likelihood_is(model, x, 600, chunk=250)
    assert torch.allclose(a, b, atol=0.05)


def test_bad_arguments():
    with pytest.raises(ValueError, match="entero positivo"):
        log_likelihood_is(Conjugate(), torch.randn(2, 2), 0)
    with pytest.raises(ValueError, match="log_weights"):
        log_likelihood_is(nn.Linear(2, 2), torch.randn(2, 2), 3)
