"""Pruebas del VAE con decodificador autorregresivo (vae_pixelcnn)."""
import itertools

import pytest
import torch
from torch.func import jacrev

from conftest import assert_reloads_same
from vaebook_lib.metrics import log_likelihood_is
from vaebook_lib.models import MODELS, AnnealedVAE, PixelCNNVAE
from vaebook_lib.nets import MaskedConv2d

SMALL = dict(in_shape=(1, 6, 6), latent_dim=3, hidden=(16,), channels=8, n_layers=1, kernel=3)


def binary_batch(n=8, seed=0, shape=(1, 6, 6)):
    return torch.bernoulli(torch.full((n, *shape), 0.4), generator=torch.Generator().manual_seed(seed))


def test_catalog_and_remedies_inherited():
    assert MODELS["vae_pixelcnn"] is PixelCNNVAE and issubclass(PixelCNNVAE, AnnealedVAE)
    m = PixelCNNVAE(**SMALL, free_bits=0.5)
    torch.manual_seed(0)
    out = m(binary_batch())
    # con bits libres cada dimensión cuesta al menos lambda nats en la pérdida, y la «elbo» sigue siendo la verdadera
    assert out.loss >= out.terms["recon"] + 0.5 * 3 - 1e-5
    assert torch.isclose(out.terms["elbo"], -(out.terms["recon"] + out.terms["kl"]))


def test_decoder_is_autoregressive_in_raster_order():
    """d logit_i / d x_j = 0 para todo j >= i (Jacobiano estrictamente triangular inferior en orden de lectura),
    y el contexto sí se usa: hay dependencias de píxeles anteriores."""
    torch.manual_seed(0)
    m = PixelCNNVAE(**SMALL)
    with torch.no_grad():
        for p in m.decoder.parameters():
            p.normal_(0, 0.5)
    z = torch.randn(1, 3)
    x = binary_batch(1)

    def logits(flat):
        return m.decoder(flat.view(1, 1, 6, 6), z).flatten()

    J = jacrev(logits)(x.flatten())
    assert J.shape == (36, 36)
    assert torch.all(torch.triu(J) == 0), "un píxel depende de sí mismo o de uno posterior"
    assert torch.tril(J, -1).abs().sum() > 0, "el decodificador no usa los píxeles anteriores"
    # el campo receptivo: con una capa A de 3 x 3 y una B de 3 x 3, el píxel (3, 3) ve (2, 1) pero no (0, 0)
    row = J[3 * 6 + 3].view(6, 6)
    assert row[2, 1] != 0 and row[0, 0] == 0


def test_latent_changes_every_pixel_logit():
    torch.manual_seed(0)
    m = PixelCNNVAE(**SMALL)
    x = binary_batch(1)
    J = jacrev(lambda z: m.decoder(x, z).flatten())(torch.randn(1, 3))
    assert (J.abs().sum((1, 2)) > 0).all(), "algún píxel no depende de z"


def test_masked_conv_rejects_unknown_type():
    with pytest.raises(ValueError, match="máscara"):
        MaskedConv2d("C", 1, 1, 3)


def test_sampler_draws_from_the_model_distribution():
    """En imágenes de 1 x 2 x 2 se enumeran las 16 imágenes: la frecuencia con que el muestreo píxel a píxel
    produce cada una coincide con exp(log p(x|z)) del modelo."""
    torch.manual_seed(0)
    m = PixelCNNVAE(in_shape=(1, 2, 2), latent_dim=2, hidden=(8,), channels=4, n_layers=1, kernel=3)
    with torch.no_grad():
        for p in m.decoder.parameters():
            p.normal_(0, 1.0)
    z = torch.randn(1, 2)
    n = 20000
    draws = m.decode(z.expand(n, 2), generator=torch.Generator().manual_seed(1))
    assert set(draws.unique().tolist()) <= {0.0, 1.0}
    images = torch.tensor(list(itertools.product([0.0, 1.0], repeat=4))).view(16, 1, 2, 2)
    with torch.no_grad():
        probs = m.likelihood(z.expand(16, 2), images).log_prob(images).exp()
    assert torch.isclose(probs.sum(), torch.tensor(1.0), atol=1e-5)
    codes = (draws.flatten(1) * torch.tensor([8.0, 4.0, 2.0, 1.0])).sum(1).long()
    freq = torch.bincount(codes, minlength=16).float() / n
    assert (freq - probs).abs().max() < 4 * (probs * (1 - probs) / n).sqrt().max() + 1e-3


@pytest.mark.parametrize("kernel, n_layers", [(3, 0), (5, 2), (7, 1)])
def test_the_sampler_band_gives_the_logits_of_the_whole_image(kernel, n_layers):
    """decode pasa la red por las ``reach`` filas de encima de la que genera: en esa fila los logits son los de la
    imagen entera, y las muestras, las mismas que con la imagen entera en cada paso (el mismo azar)."""
    torch.manual_seed(0)
    m = PixelCNNVAE(in_shape=(1, 11, 9), latent_dim=3, hidden=(16,), channels=4, n_layers=n_layers, kernel=kernel)
    assert m.decoder.reach == kernel // 2 + n_layers
    with torch.no_grad():
        for p in m.decoder.parameters():
            p.normal_(0, 0.5)
        x, zmap = binary_batch(5, shape=(1, 11, 9)), m.decoder.cond(torch.randn(5, 3))
        whole = m.decoder.run(x, zmap)
        for i in range(11):
            top = max(0, i - m.decoder.reach)
            band = m.decoder.run(x[:, :, top:i + 1], zmap[:, :, top:i + 1])[:, :, i - top]
            torch.testing.assert_close(band, whole[:, :, i], rtol=1e-5, atol=1e-5)
        # Una fila menos de franja ya no basta (salvo en las primeras filas): reach no es mayor que lo necesario.
        i = 10
        short = m.decoder.run(x[:, :, i - m.decoder.reach + 1:i + 1], zmap[:, :, i - m.decoder.reach + 1:i + 1])
        assert not torch.allclose(short[:, :, -1], whole[:, :, i], atol=1e-4)
        # Las muestras, con el mismo azar: la red sobre la imagen entera en cada píxel (el muestreo de antes).
        z = torch.randn(4, 3)
        u = torch.rand(4, 1, 11, 9, generator=torch.Generator().manual_seed(3))
        ref, full_map = torch.zeros(4, 1, 11, 9), m.decoder.cond(z)
        for i in range(11):
            for j in range(9):
                ref[:, :, i, j] = (u[:, :, i, j] < torch.sigmoid(m.decoder.run(ref, full_map)[:, :, i, j])).float()
    assert torch.equal(m.decode(z, generator=torch.Generator().manual_seed(3)), ref)


def test_decode_is_reproducible_and_validates():
    torch.manual_seed(0)
    m = PixelCNNVAE(**SMALL)
    z = torch.randn(4, 3)
    a = m.decode(z, generator=torch.Generator().manual_seed(0))
    b = m.decode(z, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.shape == (4, 1, 6, 6)
    assert m.sample(5, generator=torch.Generator().manual_seed(0)).shape == (5, 1, 6, 6)
    assert m.reconstruct(binary_batch(3)).shape == (3, 1, 6, 6)
    with pytest.raises(ValueError, match="z debe tener forma"):
        m.decode(torch.randn(4, 5))


def test_forward_gradients_and_bad_input():
    torch.manual_seed(0)
    m = PixelCNNVAE(**SMALL)
    out = m(binary_batch())
    out.loss.backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert next(m.encoder.parameters()).grad.abs().sum() > 0 and m.decoder.first.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError):
        m(torch.full((2, 1, 6, 6), 0.5))          # no binaria
    x = binary_batch(2)
    x[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError):
        m(x)
    with pytest.raises(ValueError):
        m(binary_batch(2, shape=(1, 5, 5)))       # forma equivocada


@pytest.mark.parametrize("bad", [dict(likelihood="gaussian"), dict(kernel=4), dict(channels=0),
                                 dict(n_layers=-1), dict(in_shape=(6, 6))])
def test_config_validation(bad):
    with pytest.raises(ValueError):
        PixelCNNVAE(**{**SMALL, **bad})


def test_importance_weights_agree_with_the_elbo():
    """E_q[log w] = ELBO (un solo z), y el estimador con k muestras queda por encima de la ELBO."""
    torch.manual_seed(0)
    m = PixelCNNVAE(**SMALL).eval()
    x = binary_batch(4)
    with torch.no_grad():
        lw = m.log_weights(x, 4000)
        assert lw.shape == (4000, 4)
        torch.manual_seed(1)
        elbo = torch.stack([m(x).elbo for _ in range(400)]).mean(0)   # KL analítica + recon MC
    assert torch.allclose(lw.mean(0), elbo, atol=0.1)
    ll = log_likelihood_is(m, x, k=200, device="cpu")
    assert (ll >= elbo - 0.05).all()


def test_save_load(tmp_path):
    torch.manual_seed(0)
    assert_reloads_same(PixelCNNVAE(**SMALL), tmp_path, binary_batch())


@pytest.mark.parametrize("mask_type", ["A", "B"])
def test_masked_conv_equals_the_plain_nchw_convolution_with_masked_weights(mask_type):
    """La capa enmascarada es una convolución corriente con los pesos tapados: mismos valores y gradientes."""
    import torch.nn.functional as F

    torch.manual_seed(0)
    conv = MaskedConv2d(mask_type, 3, 5, 5)
    x = torch.randn(2, 3, 9, 9, requires_grad=True)
    y = conv(x)
    ref = F.conv2d(x, conv.weight * conv.mask, conv.bias, padding=2)
    assert y.shape == (2, 5, 9, 9)
    torch.testing.assert_close(y, ref)
    g = torch.autograd.grad(y.square().sum(), (x, conv.weight))
    g_ref = torch.autograd.grad(ref.square().sum(), (x, conv.weight))
    for a, b in zip(g, g_ref):
        torch.testing.assert_close(a, b)
    assert (g[1] * (1 - conv.mask)).abs().max() == 0      # los pesos tapados no reciben gradiente
