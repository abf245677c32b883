import pytest
import torch

from vaebook_lib.corruption import CORRUPTIONS, corrupt, corrupt_from_family


@pytest.mark.parametrize("kind", CORRUPTIONS)
def test_corruption_keeps_shape_and_range(kind):
    x = torch.rand(16, 1, 28, 28)
    out = corrupt(x, kind, 0.4, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert out.min() >= 0 and out.max() <= 1
    assert not torch.equal(out, x)
    assert torch.equal(corrupt(x, kind, 0.0), x)


def test_mask_and_salt_pepper_rates():
    x = torch.full((200, 1, 28, 28), 0.5)
    g = torch.Generator().manual_seed(0)
    masked = corrupt(x, "mask", 0.3, g)
    assert (masked == 0).float().mean().item() == pytest.approx(0.3, abs=0.01)
    assert torch.equal(masked[masked != 0], x[masked != 0])
    sp = corrupt(x, "salt_pepper", 0.2, g)
    assert (sp == 0).float().mean().item() == pytest.approx(0.1, abs=0.01)
    assert (sp == 1).float().mean().item() == pytest.approx(0.1, abs=0.01)


def test_gaussian_noise_has_the_right_sigma():
    x = torch.full((100, 1, 28, 28), 0.5)
    out = corrupt(x, "gaussian", 0.05, torch.Generator().manual_seed(0))
    assert (out - x).std().item() == pytest.approx(0.05, rel=0.02)  # sin recortes a 0.5 +- 10 sigma


def test_family_draws_every_kind():
    x = torch.rand(4, 1, 28, 28)
    g = torch.Generator().manual_seed(0)
    seen = {corrupt_from_family(x, CORRUPTIONS, 0.2, g)[1] for _ in range(60)}
    assert seen == set(CORRUPTIONS)


def test_bad_input_raises_spanish_errors():
    x = torch.rand(2, 1, 28, 28)
    with pytest.raises(ValueError, match="desconocida"):
        corrupt(x, "borroso", 0.1)
    with pytest.raises(ValueError, match="Nivel"):
        corrupt(x, "mask", 1.5)
    with pytest.raises(ValueError, match="rango|\\[0, 1\\]"):
        corrupt(x * 3, "mask", 0.1)
    with pytest.raises(ValueError, match="vacía"):
        corrupt_from_family(x, (), 0.1)
