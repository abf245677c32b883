"""MMD (núcleos IMQ y RBF, estimadores sesgado e insesgado) y Wasserstein en rodajas frente a la matemática."""
import math

import pytest
import torch

from vaebook_lib.divergences import imq_kernel, mmd, random_directions, rbf_kernel, sliced_wasserstein


@pytest.mark.parametrize("kernel", ["imq", "rbf"])
def test_mmd_of_a_sample_with_itself(kernel):
    x = torch.randn(120, 4)
    # El estadístico V de una muestra consigo misma es exactamente 0 ...
    assert mmd(x, x, kernel, unbiased=False).abs() < 1e-6
    # ... y el U queda en O(1/n): con S = suma fuera de la diagonal, U = 2 S/(n(n-1)) - 2 (S + n k(0))/n^2
    # = -2 (k(0) - media fuera de la diagonal)/n, que está en [-2 k(0)/n, 0] (k(0) = 7 escalas en IMQ, 1 en RBF).
    k0 = 7.0 if kernel == "imq" else 1.0
    u = float(mmd(x, x, kernel))
    assert -2 * k0 / len(x) <= u <= 0.0


@pytest.mark.parametrize("kernel", ["imq", "rbf"])
def test_unbiased_mmd_has_zero_mean_under_the_null(kernel):
    g = torch.Generator().manual_seed(1)
    reps, n = 400, 8
    u = torch.stack([mmd(torch.randn(n, 2, generator=g), torch.randn(n, 2, generator=g), kernel)
                     for _ in range(reps)])
    v = torch.stack([mmd(torch.randn(n, 2, generator=g), torch.randn(n, 2, generator=g), kernel, unbiased=False)
                     for _ in range(reps)])
    se = u.std() / math.sqrt(reps)
    assert u.mean().abs() < 4 * se                  # insesgado: media 0
    assert v.mean() > 10 * se                       # el sesgado, con n pequeño, está claramente por encima


@pytest.mark.parametrize("kernel", ["imq", "rbf"])
def test_mmd_grows_with_a_shift(kernel):
    x, y = torch.randn(150, 3), torch.randn(150, 3)
    values = [float(mmd(x, y + s, kernel)) for s in (0.0, 0.5, 1.0, 2.0)]
    assert values == sorted(values) and values[-1] > 20 * abs(values[0])


def test_rbf_mmd_matches_a_hand_computation():
    x, y = torch.tensor([[0.0], [1.0]]), torch.tensor([[0.0], [2.0]])
    e = math.exp
    # k(a, b) = exp(-(a - b)^2 / 2): sigma^2 = 1, es decir, scale = 2 sigma^2 = 2
    kxy = (1 + e(-2) + e(-0.5) + e(-0.5)) / 4
    biased = (2 + 2 * e(-0.5)) / 4 + (2 + 2 * e(-2)) / 4 - 2 * kxy
    unbiased = e(-0.5) + e(-2) - 2 * kxy
    assert float(mmd(x, y, "rbf", scale=2.0, unbiased=False)) == pytest.approx(biased, abs=1e-6)
    assert float(mmd(x, y, "rbf", scale=2.0)) == pytest.approx(unbiased, abs=1e-6)
    assert biased == pytest.approx((1 - e(-0.5)) / 2) and unbiased == pytest.approx((e(-2) - 1) / 2)


def test_kernels_match_their_formulas():
    a, b = torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, 4.0]])
    assert float(imq_kernel(a, b, c=5.0, scales=(1.0,))) == pytest.approx(5 / (5 + 25))
    assert float(imq_kernel(a, b, c=5.0, scales=(1.0, 2.0))) == pytest.approx(5 / 30 + 10 / 35)
    assert float(rbf_kernel(a, b, sigma2=2.0)) == pytest.approx(math.exp(-25 / 4))


def test_sliced_wasserstein_zero_for_equal_samples_and_grows_with_shift():
    x = torch.randn(256, 5)
    g = torch.Generator().manual_seed(0)
    assert float(sliced_wasserstein(x, x, 50, generator=g)) == 0.0
    values = [float(sliced_wasserstein(x, x + s, 50, generator=torch.Generator().manual_seed(0)))
              for s in (0.0, 0.5, 1.0, 2.0)]
    assert values == sorted(values) and values[-1] > 1.0


def test_sliced_wasserstein_in_one_dimension_is_exact_w2():
    x, y = torch.randn(100, 1), 2 * torch.randn(100, 1) + 1
    exact = (x.flatten().sort().values - y.flatten().sort().values).pow(2).mean()
    assert float(sliced_wasserstein(x, y, 7)) == pytest.approx(float(exact), rel=1e-5)


def test_sliced_wasserstein_of_a_translation_is_mean_squared_projection():
    # Para y = x + v, cada rodaja vale (theta . v)^2 y E[(theta . v)^2] = ||v||^2 / d con theta uniforme.
    d = 4
    x, v = torch.randn(64, d), torch.tensor([1.0, -2.0, 0.5, 3.0])
    sw = sliced_wasserstein(x, x + v, 20000, generator=torch.Generator().manual_seed(3))
    assert float(sw) == pytest.approx(float(v.pow(2).sum() / d), rel=0.05)
    theta = random_directions(1000, d, torch.Generator().manual_seed(4))
    assert torch.allclose(theta.norm(dim=1), torch.ones(1000))


def test_bad_inputs_raise_spanish_errors():
    with pytest.raises(ValueError, match="dimensión"):
        mmd(torch.randn(5, 2), torch.randn(5, 3))
    with pytest.raises(ValueError, match="Núcleo"):
        mmd(torch.randn(5, 2), torch.randn(5, 2), kernel="laplace")
    with pytest.raises(ValueError, match="tantas muestras"):
        sliced_wasserstein(torch.randn(5, 2), torch.randn(6, 2))
    with pytest.raises(ValueError, match="NaN"):
        mmd(torch.full((5, 2), float("nan")), torch.randn(5, 2))
    with pytest.raises(ValueError, match="muestras"):
        mmd(torch.randn(5), torch.randn(5))
