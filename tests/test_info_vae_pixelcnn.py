"""El InfoVAE con decodificador PixelCNN (info_vae_pixelcnn) y la información mutua I_q(x; z) de un conjunto."""
import inspect
import math

import pytest
import torch
from torch.distributions import Normal

from conftest import assert_reloads_same
from vaebook_lib.comparison import comparable_keys, not_comparable
from vaebook_lib.divergences import mmd
from vaebook_lib.losses import kl_to_standard_normal
from vaebook_lib.models import (MODELS, VARIANTS, InfoVAE, Model, PixelCNNInfoVAE, PixelCNNInfoVAEConfig, PixelCNNVAE,
                                load, save)
from vaebook_lib.models.beta_tcvae import kl_decomposition, mutual_information
from vaebook_lib.models.vae_pixelcnn import PixelCNNDecoding

SMALL = dict(in_shape=(1, 6, 6), latent_dim=3, hidden=(16,), channels=8, n_layers=1, mask_size=3)


def binary_batch(n=8, seed=0, shape=(1, 6, 6)):
    return torch.bernoulli(torch.full((n, *shape), 0.4), generator=torch.Generator().manual_seed(seed))


# --- el modelo ---------------------------------------------------------------------------------------------

def test_outside_the_catalogue_but_importable_and_loadable():
    assert "info_vae_pixelcnn" not in MODELS and VARIANTS["info_vae_pixelcnn"] is PixelCNNInfoVAE
    assert "info_vae_pixelcnn" not in comparable_keys() and "info_vae_pixelcnn" not in not_comparable()
    assert issubclass(PixelCNNInfoVAE, InfoVAE) and issubclass(PixelCNNInfoVAE, PixelCNNDecoding)
    assert issubclass(PixelCNNVAE, PixelCNNDecoding)
    for name in ("encode", "decode", "posterior", "forward", "sample", "log_weights"):   # la interfaz común
        assert inspect.signature(getattr(PixelCNNInfoVAE, name)).parameters.keys() >= \
            inspect.signature(getattr(Model, name)).parameters.keys()


def test_the_two_kernel_fields_do_not_clash():
    """``kernel`` es el núcleo del MMD, como en el InfoVAE; el lado de la capa A es ``mask_size``."""
    m = PixelCNNInfoVAE(**SMALL, kernel="imq")
    assert m.config.kernel == "imq" and m.decoder.first.kernel_size == (3, 3)
    assert PixelCNNInfoVAE().decoder.first.kernel_size == (7, 7)           # por defecto, la de PixelCNNVAE
    z = torch.randn(16, 3)
    torch.manual_seed(2)
    pen = m.penalty(z)
    torch.manual_seed(2)
    assert torch.allclose(pen, mmd(z, torch.randn(16, 3), kernel="imq"))
    with pytest.raises(ValueError, match="kernel"):
        PixelCNNInfoVAE(**{**SMALL, "kernel": 7})                           # el núcleo del MMD es un texto


def test_loss_is_the_infovae_one_with_the_autoregressive_likelihood():
    """rec + (1 - alpha) KL + (alpha + lambda - 1) MMD, con rec = -log p(x|z) de la PixelCNN; «elbo», la verdadera."""
    m = PixelCNNInfoVAE(**SMALL, alpha=0.25, lambda_=3.0)
    x = binary_batch()
    torch.manual_seed(1)
    out = m(x)
    torch.manual_seed(1)
    qz = m.posterior(x)
    z = qz.rsample()
    rec = -m.likelihood(z, x).log_prob(x)
    kl = kl_to_standard_normal(qz)
    pen = m.penalty(z)
    assert torch.allclose(out.loss, rec.mean() + 0.75 * kl.mean() + 2.25 * pen, rtol=1e-5)
    assert torch.allclose(out.terms["elbo"], -(rec + kl).mean(), rtol=1e-5)
    assert torch.allclose(out.terms["mmd"], pen) and torch.allclose(out.terms["recon"], rec.mean())


def test_gradients_reach_encoder_and_decoder():
    m = PixelCNNInfoVAE(**SMALL)
    m(binary_batch()).loss.backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert next(m.encoder.parameters()).grad.abs().sum() > 0 and m.decoder.first.weight.grad.abs().sum() > 0


def test_generation_is_binary_and_reproducible():
    m = PixelCNNInfoVAE(**SMALL)
    a = m.sample(4, generator=torch.Generator().manual_seed(0))
    assert a.shape == (4, 1, 6, 6) and set(a.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(a, m.sample(4, generator=torch.Generator().manual_seed(0)))
    assert m.log_weights(binary_batch(3), 5).shape == (5, 3)


@pytest.mark.parametrize("bad, word", [(dict(mask_size=4), "mask_size"), (dict(channels=0), "channels"),
                                       (dict(likelihood="gaussian"), "bernoulli"), (dict(in_shape=(6, 6)), "in_shape"),
                                       (dict(kernel="laplace"), "Núcleo desconocido"),
                                       (dict(alpha=1.5), "alpha")])
def test_bad_configs_are_spanish_value_errors(bad, word):
    with pytest.raises(ValueError, match=word):
        PixelCNNInfoVAE(**{**SMALL, **bad})


def test_each_class_refuses_the_config_of_the_other():
    with pytest.raises(ValueError, match="espera una configuración PixelCNNInfoVAEConfig"):
        PixelCNNInfoVAE(PixelCNNVAE.Config())
    for cls in (PixelCNNVAE, InfoVAE):      # InfoVAE: su configuración es la madre de PixelCNNInfoVAEConfig
        with pytest.raises(ValueError, match=f"espera una configuración {cls.Config.__name__}"):
            cls(PixelCNNInfoVAEConfig())


def test_bad_inputs_are_value_errors():
    m = PixelCNNInfoVAE(**SMALL)
    with pytest.raises(ValueError):
        m(torch.full((2, 1, 6, 6), 0.5))                 # no binaria
    with pytest.raises(ValueError):
        m(binary_batch(2, shape=(1, 5, 5)))              # forma equivocada
    with pytest.raises(ValueError, match="lote vacío"):
        m(binary_batch(0))


def test_save_load_round_trip(tmp_path):
    m = PixelCNNInfoVAE(**SMALL, alpha=0.5, lambda_=10.0, kernel="imq")
    x = binary_batch()
    other = assert_reloads_same(m, tmp_path, x)
    assert isinstance(other, PixelCNNInfoVAE) and other.config.mask_size == 3 and other.config.kernel == "imq"
    g = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    assert torch.equal(m.eval().reconstruct(x, generator=g()), other.eval().reconstruct(x, generator=g()))
    save(PixelCNNVAE(in_shape=(1, 6, 6), latent_dim=3, hidden=(16,), kernel=3), tmp_path / "v.pt")
    assert type(load(tmp_path / "v.pt")) is PixelCNNVAE                 # el catálogo sigue cargando lo suyo


# --- la información mutua ------------------------------------------------------------------------------------

def brute_force_mi(loc, scale, z):
    """(1/N) sum_i [log q(z_i|x_i) - log (1/N) sum_j q(z_i|x_j)], con bucles y torch.distributions."""
    n = len(loc)
    total = 0.0
    for i in range(n):
        own = Normal(loc[i], scale[i]).log_prob(z[i]).sum()
        mix = torch.logsumexp(torch.stack([Normal(loc[j], scale[j]).log_prob(z[i]).sum() for j in range(n)]), 0)
        total += own - (mix - math.log(n))
    return total / n


def test_matches_brute_force_on_a_tiny_set():
    g = torch.Generator().manual_seed(0)
    loc = torch.randn(5, 3, generator=g, dtype=torch.float64)
    scale = 0.3 + torch.rand(5, 3, generator=g, dtype=torch.float64)
    z = loc + scale * torch.randn(5, 3, generator=g, dtype=torch.float64)
    got = mutual_information(Normal(loc, scale), z)
    assert torch.isclose(got, brute_force_mi(loc, scale, z), atol=1e-10)
    assert torch.isclose(got, kl_decomposition(Normal(loc, scale), z, 5, "mss")["mi"].mean())   # el mismo estimador


def test_zero_when_the_posterior_ignores_x():
    loc, scale = torch.full((200, 4), 0.7), torch.full((200, 4), 1.3)
    mi = mutual_information(Normal(loc, scale), generator=torch.Generator().manual_seed(0))
    assert abs(float(mi)) < 1e-6


def test_close_to_log_n_when_posteriors_are_narrow_and_far_apart():
    n = 300
    loc = 10.0 * torch.randn(n, 6, generator=torch.Generator().manual_seed(0))
    mi = mutual_information(Normal(loc, torch.full_like(loc, 1e-2)), generator=torch.Generator().manual_seed(1))
    assert math.log(n) - 1e-3 < float(mi) <= math.log(n) + 1e-9


def test_never_above_log_n_and_reproducible_with_a_generator():
    g = torch.Generator().manual_seed(4)
    loc, scale = torch.randn(50, 2, generator=g), 0.05 + torch.rand(50, 2, generator=g)
    qz = Normal(loc, scale)
    a = mutual_information(qz, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, mutual_information(qz, generator=torch.Generator().manual_seed(7)))
    assert 0 < float(a) <= math.log(50) + 1e-9
    assert not a.requires_grad


@pytest.mark.parametrize("qz, z, word", [
    (Normal(torch.zeros(5), torch.ones(5)), None, r"forma \(N, d\)"),                    # sin dimensión latente
    (Normal(torch.zeros(1, 3), torch.ones(1, 3)), None, "al menos dos imágenes"),
    (Normal(torch.zeros(5, 3), torch.ones(5, 3)), torch.zeros(4, 3), "una muestra por imagen"),
    (Normal(torch.zeros(5, 3), torch.ones(5, 3)), torch.zeros(5, 3, 1), "una muestra por imagen"),
    (torch.zeros(5, 3), None, "Normal"),
])
def test_bad_shapes_are_spanish_value_errors(qz, z, word):
    with pytest.raises(ValueError, match=word):
        mutual_information(qz, z)
