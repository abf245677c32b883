"""Log-cosh, DFC (con su red de rasgos en caché) y MS-SSIM: fórmulas, límites, gradientes y caché."""
import math

import pytest
import torch

from conftest import needs_mnist
from vaebook_lib.data import ImageData
from vaebook_lib.feature_net import FeatureNet, accuracy, get_feature_net
from vaebook_lib.metrics import sharpness
from vaebook_lib.models import MODELS
from vaebook_lib.models.recon_losses import DFCVAE, LogCoshVAE, MSSSIMVAE, log_cosh, ms_ssim, ms_ssim_reference, ssim


def _gray(n=8, seed=0):
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


def test_registered():
    assert MODELS["logcosh_vae"] is LogCoshVAE and MODELS["dfcvae"] is DFCVAE and MODELS["msssim_vae"] is MSSSIMVAE


def test_log_cosh_hand_computation_and_limits():
    t = torch.tensor([0.3, -0.7, 1.5])
    for a in (0.5, 2.0, 10.0):
        hand = torch.tensor([math.log(math.cosh(a * v)) / a for v in t.tolist()])
        assert torch.allclose(log_cosh(t, a), hand, atol=1e-6)
    big = torch.tensor([50.0, -80.0])
    assert torch.allclose(log_cosh(big, 1.0), big.abs() - math.log(2), atol=1e-5)       # |t| - log2 / a
    assert torch.allclose(log_cosh(big, 4.0), big.abs() - math.log(2) / 4, atol=1e-5)
    small = torch.tensor([1e-3, -2e-3])
    assert torch.allclose(log_cosh(small, 10.0), 10.0 * small.pow(2) / 2, rtol=1e-3)     # a t^2 / 2
    huge = log_cosh(torch.tensor([1e3]), 100.0)                                           # sin desbordarse
    assert torch.isfinite(huge).all()


def test_logcosh_vae_reconstruction_term():
    m = LogCoshVAE(a=3.0)
    x = _gray()
    out = m(x)
    hand = (torch.log(torch.cosh(3.0 * (out.x_hat - x))) / 3.0).sum(dim=(1, 2, 3)).mean()
    assert torch.allclose(out.terms["recon"], hand.detach(), rtol=1e-4)
    assert torch.allclose(out.loss.detach(), out.terms["recon"] + out.terms["kl"], rtol=1e-5)


def test_ms_ssim_of_an_image_with_itself_is_one_and_falls_with_noise():
    x = _gray(4)
    assert torch.allclose(ms_ssim(x, x), torch.ones(4), atol=1e-5)
    g = torch.Generator().manual_seed(1)
    noise = torch.randn(x.shape, generator=g)
    values = [float(ms_ssim((x + s * noise).clamp(0, 1), x).mean()) for s in (0.05, 0.2, 0.5)]
    assert values[0] < 1 and values == sorted(values, reverse=True)


@pytest.mark.parametrize("scales", [1, 2, 3])
def test_ms_ssim_matches_torchmetrics_values_and_gradients(scales):
    x = _gray(6)
    noisy = (x + 0.15 * torch.randn(x.shape, generator=torch.Generator().manual_seed(2))).clamp(0, 1)
    a = noisy.clone().requires_grad_(True)
    b = noisy.clone().requires_grad_(True)
    fast, ref = ms_ssim(a, x, scales), ms_ssim_reference(b, x, scales)
    assert torch.allclose(fast, ref, atol=1e-5)
    fast.sum().backward()
    ref.sum().backward()
    assert torch.allclose(a.grad, b.grad, atol=1e-5)


@pytest.mark.parametrize("sigma, size", [(1.5, 28), (1.5, 8), (1.0, 12)])
def test_ssim_matches_torchmetrics_values_and_gradients(sigma, size):
    """El SSIM rápido es el de torchmetrics (data_range=1, ventana gaussiana), valores y gradientes, también en
    imágenes apenas mayores que el relleno por reflexión."""
    from torchmetrics.functional.image import structural_similarity_index_measure

    g = torch.Generator().manual_seed(3)
    x = torch.rand(5, 1, size, size, generator=g)
    noisy = (x + 0.2 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    a, b = noisy.clone().requires_grad_(True), noisy.clone().requires_grad_(True)
    fast = ssim(a, x, sigma)
    ref = structural_similarity_index_measure(b, x, sigma=sigma, data_range=1.0, reduction="none")
    assert fast.shape == (5,) and torch.allclose(fast, ref, atol=1e-5)
    fast.sum().backward()
    ref.sum().backward()
    assert torch.allclose(a.grad, b.grad, atol=1e-5)
    assert torch.allclose(ssim(x, x, sigma), torch.ones(5), atol=1e-5)
    assert (ssim(noisy, x, sigma) < 0.99).all()


def test_ssim_rejects_bad_input():
    x = torch.rand(2, 1, 8, 8)
    with pytest.raises(ValueError, match="misma forma"):
        ssim(x, x[:1])
    with pytest.raises(ValueError, match="misma forma"):
        ssim(x[0], x[0])
    with pytest.raises(ValueError, match="positiva"):
        ssim(x, x, sigma=0.0)
    with pytest.raises(ValueError, match="pequeñas"):
        ssim(torch.rand(2, 1, 5, 5), torch.rand(2, 1, 5, 5))


@pytest.mark.parametrize("fn", [ssim, ms_ssim, ms_ssim_reference])
def test_ssim_and_ms_ssim_reject_nan_integers_and_out_of_range(fn):
    x = torch.rand(2, 1, 28, 28)
    nan = x.clone()
    nan[1, 0, 3, 4] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        fn(nan, x)
    with pytest.raises(ValueError, match="NaN"):
        fn(x, nan)
    with pytest.raises(ValueError, match="coma flotante"):
        fn((255 * x).to(torch.uint8), (255 * x).to(torch.uint8))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        fn(255 * x, x)
    with pytest.raises(ValueError, match="tensor"):
        fn(x.numpy(), x)


def test_msssim_vae_reconstruction_term():
    m = MSSSIMVAE()
    x = _gray()
    out = m(x)
    hand = 784 * (1 - ms_ssim(out.x_hat.detach(), x))
    assert torch.allclose(out.terms["recon"], hand.mean(), rtol=1e-4)


def test_dfcvae_loss_and_frozen_features():
    net = FeatureNet()
    m = DFCVAE(feature_net=net, alpha=1.0, beta=0.5)
    x = _gray()
    out = m(x)
    fh = net.features(out.x_hat)
    fx = net.features(x)
    # Hou et al., ec. 5: cada capa normalizada por 1/(2 C H W) (C, H, W de esa capa), no la suma sin normalizar
    sizes = [(8, 28, 28), (16, 14, 14), (32, 7, 7)]
    assert [tuple(a.shape[1:]) for a in fx] == sizes
    hand = sum(0.5 * (a - b).pow(2).sum(dim=(1, 2, 3)) / (c * h * w)
               for a, b, (c, h, w) in zip(fx, fh, sizes)).mean()
    assert torch.allclose(out.terms["recon"], hand.detach(), rtol=1e-4)
    assert torch.allclose(out.loss.detach(), 0.5 * out.terms["recon"] + out.terms["kl"], rtol=1e-5)
    out.loss.backward()
    assert all(p.grad is None for p in m.features.parameters())          # la red de rasgos no se entrena
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in m.decoder.parameters())
    m.train()
    assert not m.features.training


def test_feature_net_features_match_the_plain_nchw_computation():
    """Los rasgos (y sus gradientes respecto a la imagen) son los de conv + ReLU + max-pool en el formato NCHW de
    siempre: el paso por «canales al final» del max-pool solo cambia la velocidad."""
    import torch.nn.functional as F

    torch.manual_seed(0)
    net = FeatureNet()
    x = torch.rand(4, 1, 28, 28, requires_grad=True)
    feats = net.features(x)
    ref, h = [], x
    for i, conv in enumerate(net.blocks):
        h = F.relu(conv(F.max_pool2d(h, 2) if i > 0 else h))
        ref.append(h)
    assert [f.shape for f in feats] == [(4, 8, 28, 28), (4, 16, 14, 14), (4, 32, 7, 7)]
    for a, b in zip(feats, ref):
        assert a.is_contiguous()
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    with torch.no_grad():                                  # sin gradiente, otro camino: los mismos rasgos
        for a, b in zip(net.features(x.detach()), ref):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
    g, = torch.autograd.grad(sum(f.square().sum() for f in feats), x)
    g_ref, = torch.autograd.grad(sum(f.square().sum() for f in ref), x)
    torch.testing.assert_close(g, g_ref)


def test_feature_net_is_cached_and_reloaded(tmp_path):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(64, 1, 28, 28, generator=g)
    data = ImageData(x, torch.randint(0, 10, (64,), generator=g), tuple("0123456789"), name="juguete")
    net = get_feature_net(data, epochs=1, directory=tmp_path)
    files = list(tmp_path.glob("feature_net_juguete_64_*.pt"))
    assert len(files) == 1
    again = get_feature_net(data, epochs=1, directory=tmp_path)
    assert torch.equal(net(x), again(x))
    assert all(not p.requires_grad for p in again.parameters())
    assert torch.load(files[0], weights_only=True).keys() == net.state_dict().keys()


@needs_mnist
def test_feature_net_learns_mnist(tmp_path):
    from vaebook_lib.data import load_mnist
    train, test = load_mnist("train", 2000), load_mnist("test", 500)
    net = get_feature_net(train, epochs=2, directory=tmp_path)
    assert accuracy(net, test.x, test.y) > 0.8


def test_sharpness():
    assert torch.equal(sharpness(torch.full((2, 1, 5, 5), 0.3)), torch.zeros(2))
    x = torch.tensor([[[[0.0, 1.0], [0.0, 1.0]]]])
    # dx: (1-0)^2 en las dos filas -> media 1; dy: 0 -> total 1
    assert torch.allclose(sharpness(x), torch.tensor([1.0]))
    img = _gray(3)
    blur = torch.nn.functional.avg_pool2d(img, 3, stride=1, padding=1, count_include_pad=False)
    assert (sharpness(blur) < sharpness(img)).all()


def test_bad_input_raises_spanish_errors():
    with pytest.raises(ValueError, match="positivo"):
        log_cosh(torch.zeros(3), 0.0)
    with pytest.raises(ValueError, match="positivo"):
        LogCoshVAE(a=-1.0)
    with pytest.raises(ValueError, match="misma forma"):
        ms_ssim(torch.rand(2, 1, 28, 28), torch.rand(2, 1, 14, 14))
    with pytest.raises(ValueError, match="pequeñas"):
        ms_ssim(torch.rand(2, 1, 28, 28), torch.rand(2, 1, 28, 28), scales=5)
    with pytest.raises(ValueError, match="forma"):
        MSSSIMVAE()(torch.rand(2, 1, 32, 32))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        DFCVAE()(torch.rand(2, 1, 28, 28) - 1)
    with pytest.raises(ValueError, match="ImageData"):
        get_feature_net(torch.rand(2, 1, 28, 28))
    with pytest.raises(ValueError, match="lote"):
        sharpness(torch.rand(28, 28))


def test_msssim_scale_is_a_hyperparameter():
    x = _gray()
    a, b = MSSSIMVAE(), MSSSIMVAE(rec_scale=100.0)
    b.load_state_dict(a.state_dict())
    torch.manual_seed(0)
    ra = a(x).terms["recon"]
    torch.manual_seed(0)
    rb = b(x).terms["recon"]
    assert torch.allclose(rb, ra * 100.0 / 784, rtol=1e-5)        # por defecto, D = 784 píxeles
    with pytest.raises(ValueError, match="rec_scale"):
        MSSSIMVAE(rec_scale=0.0)
