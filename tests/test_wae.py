"""WAE-MMD, SWAE e InfoVAE: el objetivo de cada artículo, sus casos límite y la validación de entradas."""
import pytest
import torch

from vaebook_lib.divergences import mmd, sliced_wasserstein
from vaebook_lib.models import MODELS, VAE
from vaebook_lib.models.wae import SWAE, WAE, InfoVAE


def _gray(n=16):
    return torch.rand(n, 1, 28, 28)


def test_registered_under_their_keys():
    assert MODELS["wae_mmd"] is WAE and MODELS["swae"] is SWAE and MODELS["info_vae"] is InfoVAE


@pytest.mark.parametrize("kernel", ["imq", "rbf"])
def test_wae_loss_is_squared_error_plus_lambda_mmd(kernel):
    m = WAE(kernel=kernel, lambda_=7.0)
    x = _gray()
    torch.manual_seed(1)
    out = m(x)
    z = m.encode(x)
    rec = (x - m.decode(z)).pow(2).sum(dim=(1, 2, 3)).mean()
    torch.manual_seed(1)
    pen = mmd(z, torch.randn_like(z), kernel)
    assert torch.allclose(out.terms["recon"], rec, rtol=1e-5)
    assert torch.allclose(out.terms["penalty"], pen, rtol=1e-4, atol=1e-7)
    # coste escalado por 0.05, como en el código de los autores para MNIST; «recon» es el coste sin escalar
    assert m.config.cost_scale == 0.05
    assert torch.allclose(out.loss, 0.05 * rec + 7.0 * pen, rtol=1e-5)


def test_wae_encoder_is_deterministic_and_penalty_reaches_it():
    m = WAE()
    x = _gray()
    assert torch.equal(m.encode(x), m.encode(x))
    m.zero_grad()
    m.penalty(m.encode(x)).backward()
    assert m.encoder.body[-1][-1].weight.grad.abs().sum() > 0      # la penalización mueve el codificador
    assert all(p.grad is None for p in m.decoder.parameters())      # y no el decodificador


def test_swae_penalty_is_sliced_wasserstein():
    m = SWAE(n_projections=30, lambda_=3.0)
    x = _gray()
    torch.manual_seed(2)
    out = m(x)
    z = m.encode(x)
    torch.manual_seed(2)
    prior = torch.randn_like(z)
    pen = sliced_wasserstein(z, prior, 30)
    assert torch.allclose(out.terms["penalty"], pen, rtol=1e-5)
    assert torch.allclose(out.loss, out.terms["recon"] + 3.0 * pen, rtol=1e-5)


def test_info_vae_with_alpha_0_lambda_1_is_the_vae():
    x = torch.bernoulli(_gray())
    vae = VAE()
    info = InfoVAE(alpha=0.0, lambda_=1.0)
    info.load_state_dict(vae.state_dict())
    torch.manual_seed(3)
    a = vae(x).loss
    torch.manual_seed(3)
    b = info(x).loss
    assert torch.allclose(a, b, rtol=1e-6)


def test_info_vae_weights_follow_the_paper():
    x = torch.bernoulli(_gray())
    m = InfoVAE(alpha=0.5, lambda_=10.0)
    out = m(x)
    t = out.terms
    expected = t["recon"] + (1 - 0.5) * t["kl"] + (0.5 + 10.0 - 1) * t["mmd"]
    assert torch.allclose(out.loss.detach(), expected, rtol=1e-5)
    assert torch.allclose(t["elbo"], -(t["recon"] + t["kl"]), rtol=1e-6)


def test_sample_shapes_and_range():
    for m in (WAE(), SWAE()):
        s = m.sample(5, generator=torch.Generator().manual_seed(0))
        assert s.shape == (5, 1, 28, 28) and s.min() >= 0 and s.max() <= 1


def test_bad_input_raises_spanish_errors():
    with pytest.raises(ValueError, match="forma"):
        WAE()(torch.rand(4, 784))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        SWAE()(torch.rand(4, 1, 28, 28) * 3)
    with pytest.raises(ValueError, match="binario"):
        InfoVAE()(torch.rand(4, 1, 28, 28))
    with pytest.raises(ValueError, match="Núcleo"):
        WAE(kernel="gauss")
    with pytest.raises(ValueError, match="alpha"):
        InfoVAE(alpha=2.0)
    with pytest.raises(ValueError, match="negativo"):
        WAE(lambda_=-1.0)


def test_wae_cost_scale_is_a_declared_hyperparameter():
    x = torch.rand(16, 1, 28, 28, generator=torch.Generator().manual_seed(2))
    a, b = WAE(lambda_=10.0), WAE(lambda_=200.0, cost_scale=1.0)
    b.load_state_dict(a.state_dict())
    torch.manual_seed(0)
    la = a(x).loss
    torch.manual_seed(0)
    lb = b(x).loss
    assert torch.allclose(20 * la, lb, rtol=1e-5)        # s = 0.05 con lambda = 10 es lambda = 200 sin escala
    assert SWAE().config.cost_scale == 1.0
    with pytest.raises(ValueError, match="cost_scale"):
        WAE(cost_scale=0.0)
