import numpy as np
import pytest
import torch

from vaebook_lib.metrics import frechet_distance, knn_accuracy


def test_frechet_distance_closed_forms():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(20000, 3, generator=g, dtype=torch.float64)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    shift = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    assert frechet_distance(a, a + shift) == pytest.approx(float((shift ** 2).sum()), rel=1e-6)
    # En una dimensión: (mu_a - mu_b)^2 + (sigma_a - sigma_b)^2.
    x = torch.randn(50000, 1, generator=g, dtype=torch.float64)
    sd, mu = x.std(unbiased=True).item(), x.mean().item()
    expected = ((3 * mu + 1) - mu) ** 2 + (3 * sd - sd) ** 2
    assert frechet_distance(x, 3 * x + 1) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_grows_with_the_difference():
    g = torch.Generator().manual_seed(1)
    a = torch.randn(5000, 4, generator=g)
    d = [frechet_distance(a, torch.randn(5000, 4, generator=g) * s) for s in (1.0, 1.5, 3.0)]
    assert d[0] < 0.05 < d[1] < d[2]


def test_knn_accuracy_on_separable_and_random_codes():
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(400) % 4
    codes = torch.nn.functional.one_hot(labels).float() * 5 + 0.1 * torch.randn(400, 4, generator=g)
    assert knn_accuracy(codes[:300], labels[:300], codes[300:], labels[300:]) == 1.0
    noise = torch.randn(400, 4, generator=g)
    assert knn_accuracy(noise[:300], labels[:300], noise[300:], labels[300:]) < 0.45


def test_bad_input():
    with pytest.raises(ValueError, match="misma dimensión"):
        frechet_distance(torch.randn(10, 2), torch.randn(10, 3))
    with pytest.raises(ValueError, match="NaN"):
        frechet_distance(torch.full((10, 2), float("nan")), torch.randn(10, 2))
    with pytest.raises(ValueError, match="etiqueta"):
        knn_accuracy(torch.randn(10, 2), torch.zeros(9), torch.randn(5, 2), torch.zeros(5))
