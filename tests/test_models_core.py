import math

import pytest
import torch
from torch.distributions import Normal

from vaebook_lib.losses import decoder_distribution, kl_to_standard_normal
from vaebook_lib.models import AE, MODELS, VAE, load, save


def binary_batch(n=8, shape=(1, 28, 28)):
    return torch.bernoulli(torch.full((n, *shape), 0.3))


def test_catalog_has_stable_keys():
    assert MODELS["ae"] is AE and MODELS["vae"] is VAE
    assert all(cls.key == key for key, cls in MODELS.items())


def test_analytic_kl_matches_monte_carlo():
    q = Normal(torch.tensor([[0.5, -1.0, 2.0]]), torch.tensor([[0.3, 1.5, 0.8]]))
    z = q.sample((200000,))
    mc = (q.log_prob(z) - Normal(0.0, 1.0).log_prob(z)).sum(-1).mean()
    closed = 0.5 * (q.loc ** 2 + q.scale ** 2 - 1 - 2 * q.scale.log()).sum()
    assert torch.allclose(kl_to_standard_normal(q), closed)
    assert abs(mc.item() - closed.item()) < 0.02


def test_decoder_likelihoods_against_hand_formulas():
    raw = torch.tensor([[0.0, 2.0, -1.0]])
    x = torch.tensor([[1.0, 0.0, 1.0]])
    bern = decoder_distribution(raw, "bernoulli").log_prob(x)
    p = torch.sigmoid(raw)
    assert torch.allclose(bern, (x * p.log() + (1 - x) * (1 - p).log()).sum(-1))
    gauss = decoder_distribution(raw, "gaussian", sigma=0.5).log_prob(x)
    hand = (-0.5 * ((x - p) / 0.5) ** 2 - math.log(0.5) - 0.5 * math.log(2 * math.pi)).sum(-1)
    assert torch.allclose(gauss, hand)
    with pytest.raises(ValueError, match="Verosimilitud desconocida"):
        decoder_distribution(raw, "poisson")


def test_vae_loss_is_negative_elbo_with_its_terms():
    vae = VAE(latent_dim=4, hidden=(32,))
    x = binary_batch()
    out = vae(x)
    assert torch.allclose(out.loss, -out.elbo.mean())
    assert torch.allclose(out.terms["elbo"], -(out.terms["recon"] + out.terms["kl"]))
    assert torch.allclose(out.terms["kl"], kl_to_standard_normal(out.qz).mean())
    out.loss.backward()
    assert all(p.grad is not None for p in vae.parameters())  # el gradiente llega a codificador y decodificador


def test_vae_elbo_is_the_mean_log_weight():
    """E_q[log p(x,z) - log q(z|x)] con muchas muestras coincide con la ELBO de KL analítica."""
    torch.manual_seed(0)
    vae = VAE(latent_dim=3, hidden=(16,))
    x = binary_batch(4)
    with torch.no_grad():
        out = vae(x)
        mc_elbo = vae.log_weights(x, 20000).mean(0)
        rec = torch.stack([-vae.likelihood(vae.posterior(x).rsample()).log_prob(x) for _ in range(2000)]).mean(0)
    analytic = -(rec + kl_to_standard_normal(out.qz))
    assert torch.allclose(mc_elbo, analytic, atol=0.3)


def test_vae_shapes_sampling_and_decoding():
    vae = VAE(latent_dim=5, hidden=(16,), arch="conv")
    x = binary_batch(3)
    assert vae.encode(x).shape == (3, 5)
    assert vae.decode(torch.zeros(2, 5)).shape == (2, 1, 28, 28)
    s = vae.sample(6, generator=torch.Generator().manual_seed(0))
    assert s.shape == (6, 1, 28, 28) and 0 <= s.min() and s.max() <= 1
    assert vae.log_weights(x, 7).shape == (7, 3)


def _one_pixel(fill: float, value: float) -> torch.Tensor:
    """Un lote binario válido salvo un píxel."""
    x = torch.full((2, 1, 28, 28), fill)
    x[1, 0, 13, 7] = value
    return x


@pytest.mark.parametrize("bad, word", [
    (torch.rand(2, 784), "forma"),
    (torch.full((2, 1, 28, 28), float("nan")), "NaN"),
    (torch.full((2, 1, 28, 28), 2.0), r"\[0, 1\]"),
    (torch.full((2, 1, 28, 28), 0.5), "binario"),
    (torch.full((2, 1, 28, 28), float("inf")), "infinitos"),
    (torch.full((2, 1, 28, 28), -float("inf")), "infinitos"),
    (_one_pixel(0.0, float("nan")), "NaN"),
    (_one_pixel(0.0, 1e-30), "binario"),
    (_one_pixel(1.0, 1 - 2 ** -24), "binario"),
    (_one_pixel(1.0, -1e-30), r"\[0, 1\]"),
    (torch.ones(2, 1, 28, 28, dtype=torch.uint8), "coma flotante"),
])
def test_bad_input_raises_spanish_value_error(bad, word):
    with pytest.raises(ValueError, match=word):
        VAE(latent_dim=2, hidden=(8,))(bad)


def test_in_unit_interval_catches_every_bad_value_in_one_pass():
    from vaebook_lib.losses import in_unit_interval
    x = torch.rand(64, 784)
    assert in_unit_interval(x) and in_unit_interval(torch.empty(0, 3)) and in_unit_interval(torch.tensor([-0.0, 1.0]))
    for bad in (float("nan"), float("inf"), -float("inf"), 1 + 2 ** -23, -1e-38):
        y = x.clone()
        y[17, 300] = bad
        assert not in_unit_interval(y), bad


def test_binary_images_with_signed_zero_pass():
    VAE(latent_dim=2, hidden=(8,))(torch.tensor([-0.0, 1.0]).repeat(2, 392).view(2, 1, 28, 28))


def test_gaussian_vae_accepts_intensities():
    vae = VAE(latent_dim=2, hidden=(8,), likelihood="gaussian", sigma=0.2)
    out = vae(torch.rand(4, 1, 28, 28))
    assert torch.isfinite(out.loss)
    with pytest.raises(ValueError, match="Verosimilitud"):
        VAE(likelihood="laplace")


def test_ae_loss_is_sum_of_squares_over_pixels():
    ae = AE(latent_dim=3, hidden=(16,))
    x = torch.rand(5, 1, 28, 28)
    out = ae(x)
    assert torch.allclose(out.loss, ((ae.decode(ae.encode(x)) - x) ** 2).sum((1, 2, 3)).mean())
    assert out.z.shape == (5, 3)


def test_linear_autoencoder_reaches_pca_error():
    """Un AE lineal óptimo abarca el subespacio principal: su error iguala al de PCA de rango k."""
    torch.manual_seed(0)
    n, d, k = 400, 10, 3
    x = torch.randn(n, k) @ torch.randn(k, d) * 2 + 0.3 * torch.randn(n, d)
    x = (x - x.mean(0)).reshape(n, 1, 1, d)
    ae = AE(in_shape=(1, 1, d), latent_dim=k, hidden=(), activation="identity", output="identity")
    opt = torch.optim.Adam(ae.parameters(), lr=0.02)
    for _ in range(1500):
        opt.zero_grad()
        ae(x).loss.backward()
        opt.step()
    s = torch.linalg.svdvals(x.reshape(n, d))
    pca_error = (s[k:] ** 2).sum() / n
    assert abs(ae(x).loss.item() - pca_error.item()) < 0.01 * pca_error.item()


@pytest.mark.parametrize("key", ["ae", "vae"])
def test_save_and_load_give_same_outputs(tmp_path, key):
    model = MODELS[key](latent_dim=3, hidden=(16,), arch="conv")
    path = tmp_path / "m.pt"
    save(model, path)
    again = load(path)
    assert type(again) is type(model) and again.config == model.config
    x = binary_batch(2)
    assert torch.allclose(model.decode(model.encode(x)), again.decode(again.encode(x)))


def test_load_rejects_unknown_files(tmp_path):
    torch.save({"key": "gan", "config": {}, "state_dict": {}}, tmp_path / "x.pt")
    with pytest.raises(ValueError, match="modelo conocido"):
        load(tmp_path / "x.pt")
