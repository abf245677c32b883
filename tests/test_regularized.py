import pytest
import torch

from vaebook_lib import fit
from vaebook_lib.models import (MODELS, ContractiveAE, DenoisingAE, DenoisingOutput, KSparseAE, SparseAE, load,
                                save)
from vaebook_lib.regularizers import jacobian_frobenius_sq

SHAPE = (1, 6, 6)
KEYS = ("sparse_ae", "ksparse_ae", "denoising_ae", "contractive_ae")


def tiny(key, **kw):
    base = dict(in_shape=SHAPE, latent_dim=8, hidden=(10,))
    if key == "ksparse_ae":
        base.update(hidden=(), activation="identity", k=3)
    base.update(kw)
    return MODELS[key](**base)


@pytest.mark.parametrize("key", KEYS)
def test_registered_and_save_load_round_trip(key, tmp_path):
    model = tiny(key)
    assert MODELS[key] is type(model)
    model.eval()
    x = torch.rand(5, *SHAPE)
    save(model, tmp_path / "m.pt")
    again = load(tmp_path / "m.pt")
    assert type(again) is type(model) and again.config == model.config
    assert torch.allclose(again.encode(x), model.encode(x))
    assert torch.allclose(again.reconstruct(x), model.reconstruct(x))


@pytest.mark.parametrize("key", KEYS)
def test_gradients_reach_encoder_and_decoder(key):
    model = tiny(key)
    out = model(torch.rand(4, *SHAPE))
    out.loss.backward()
    assert "loss" in out.terms and "recon" in out.terms
    for part in (model.encoder, model.decoder):
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in part.parameters())


@pytest.mark.parametrize("key", KEYS)
def test_bad_input_spanish_error(key):
    model = tiny(key)
    with pytest.raises(ValueError, match="forma"):
        model(torch.rand(4, 1, 5, 5))
    with pytest.raises(ValueError, match="debe estar en"):
        model(torch.rand(4, *SHAPE) + 2)


def test_sparse_loss_by_hand():
    model = SparseAE(in_shape=SHAPE, latent_dim=4, hidden=(5,), lam=0.3, norm="l1", weights=(0.5, 2.0))
    x = torch.rand(3, *SHAPE)
    out = model(x)
    h1 = torch.relu(model.encoder.body[1][0](x.flatten(1)))
    z = torch.relu(model.encoder.body[1][2](h1))
    x_hat = torch.sigmoid(model.decoder(z))
    rec = ((x_hat - x) ** 2).sum((1, 2, 3)).mean()
    pen = (0.5 * h1.abs().sum(1) + 2.0 * z.abs().sum(1)).mean()
    assert torch.allclose(out.z, z)
    assert out.terms["sparsity"].item() == pytest.approx(pen.item(), rel=1e-5)
    assert out.loss.item() == pytest.approx((rec + 0.3 * pen).item(), rel=1e-5)
    model.config.norm = "l2"
    out2 = SparseAE(model.config)
    out2.load_state_dict(model.state_dict())
    pen2 = (0.5 * h1.norm(dim=1) + 2.0 * z.norm(dim=1)).mean()
    assert out2(x).terms["sparsity"].item() == pytest.approx(pen2.item(), rel=1e-5)


def test_sparse_bad_config():
    with pytest.raises(ValueError, match="pesos"):
        SparseAE(in_shape=SHAPE, hidden=(5,), weights=(1.0,))
    with pytest.raises(ValueError, match="Norma"):
        SparseAE(in_shape=SHAPE, norm="l0")


def test_sparse_penalty_makes_codes_sparser():
    x = torch.rand(256, *SHAPE) ** 3
    active = {}
    for lam in (0.0, 1.0):
        m = SparseAE(in_shape=SHAPE, latent_dim=16, hidden=(), lam=lam)
        fit(m, x, epochs=30, batch_size=64, lr=3e-3, seed=0, device="cpu")
        active[lam] = (m.encode(x) > 0).float().mean().item()
    assert active[1.0] < 0.5 * active[0.0]


def test_ksparse_keeps_exactly_k_units_and_anneals():
    model = KSparseAE(in_shape=SHAPE, latent_dim=12, k=3)
    x = torch.rand(20, *SHAPE)
    model.eval()
    assert ((model.encode(x) != 0).sum(1) == 3).all()
    model.train()
    model.schedule(0.0)
    assert model.k_now == 12
    model.schedule(0.25)
    assert model.k_now == round(12 + (3 - 12) * 0.5)
    model.schedule(0.75)
    assert model.k_now == 3 and ((model(x).z != 0).sum(1) == 3).all()
    with pytest.raises(ValueError, match="k debe"):
        KSparseAE(in_shape=SHAPE, latent_dim=12, k=13)


def test_denoising_reconstructs_the_clean_input():
    model = DenoisingAE(in_shape=SHAPE, latent_dim=4, hidden=(), corruptions=("mask",), noise_level=0.5)
    x = torch.rand(8, *SHAPE)
    torch.manual_seed(3)
    out = model(x)
    assert isinstance(out, DenoisingOutput)
    assert (out.x_tilde == 0).float().mean() > 0.3
    # la reconstrucción sale de T(x) y se compara con x
    x_hat = model.decode(model.encode(out.x_tilde))
    assert torch.allclose(out.x_hat, x_hat)
    assert out.loss.item() == pytest.approx(((x_hat - x) ** 2).sum((1, 2, 3)).mean().item(), rel=1e-5)
    zero = DenoisingAE(model.config, noise_level=0.0)
    zero.load_state_dict(model.state_dict())
    assert torch.equal(zero(x).x_tilde, x)
    with pytest.raises(ValueError, match="corrupciones"):
        DenoisingAE(in_shape=SHAPE, corruptions=("niebla",))


def test_contractive_penalty_equals_closed_form():
    torch.manual_seed(0)
    exact = ContractiveAE(in_shape=SHAPE, latent_dim=5, hidden=(), penalty="jacrev", lam=0.7)
    closed = ContractiveAE(exact.config, penalty="closed_form")
    closed.load_state_dict(exact.state_dict())
    x = torch.rand(6, *SHAPE)
    a, b = exact.contractive(x), closed.contractive(x)
    assert torch.allclose(a, b, atol=1e-6)
    out = exact(x)
    assert out.loss.item() == pytest.approx((out.terms["recon"] + 0.7 * a.mean()).item(), rel=1e-5)
    assert exact(x).terms["contractive"].item() == pytest.approx(closed(x).terms["contractive"].item(), rel=1e-5)


def test_contractive_deep_encoder_uses_exact_jacobian():
    model = ContractiveAE(in_shape=SHAPE, latent_dim=3, hidden=(7,))
    x = torch.rand(4, *SHAPE)
    # jacobiano por diferencias finitas en doble precisión
    m = model.double()
    xd = x.double()
    eps = 1e-6
    flat = xd.flatten(1)
    jac = torch.stack([(m.encode((flat + eps * e).view_as(xd)) - m.encode((flat - eps * e).view_as(xd))) / (2 * eps)
                       for e in torch.eye(flat.shape[1], dtype=torch.float64)], -1)
    assert torch.allclose(m.contractive(xd), jac.pow(2).sum((1, 2)), rtol=1e-5)
    with pytest.raises(ValueError, match="forma cerrada"):
        ContractiveAE(in_shape=SHAPE, hidden=(7,), penalty="closed_form")


def test_contractive_training_reduces_jacobian():
    x = torch.rand(256, *SHAPE)
    norms = {}
    for lam in (0.0, 1.0):
        m = ContractiveAE(in_shape=SHAPE, latent_dim=8, hidden=(), lam=lam, penalty="closed_form")
        fit(m, x, epochs=20, batch_size=64, lr=3e-3, seed=0, device="cpu")
        norms[lam] = jacobian_frobenius_sq(m.encode, x).mean().item()
    assert norms[1.0] < 0.5 * norms[0.0]


def test_denoising_random_level_varies_the_corruption():
    model = DenoisingAE(in_shape=SHAPE, latent_dim=4, hidden=(), corruptions=("mask",), noise_level=0.8,
                        random_level=True)
    x = torch.rand(64, *SHAPE) * 0.5 + 0.5          # sin ceros: los ceros de T(x) son la máscara
    rates = [(model(x).x_tilde == 0).float().mean().item() for _ in range(40)]
    assert min(rates) < 0.3 and max(rates) > 0.5 and max(rates) < 0.85


def test_sparse_conv_encoder_counts_conv_layers():
    model = SparseAE(in_shape=(1, 28, 28), latent_dim=6, hidden=(), arch="conv", lam=0.1)
    hs = model.activations(torch.rand(2, 1, 28, 28))
    assert len(hs) == len(model.layer_weights) == 3      # dos convoluciones con ReLU y el código
    assert torch.isfinite(model(torch.rand(2, 1, 28, 28)).loss)
    with pytest.raises(ValueError, match="pesos"):
        SparseAE(in_shape=(1, 28, 28), hidden=(), arch="conv", weights=(1.0, 1.0))
