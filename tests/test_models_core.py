import math

import numpy as np
import pytest
import torch
from torch.distributions import Normal

from vaebook_lib.losses import decoder_distribution, kl_to_standard_normal
from vaebook_lib.models import AE, MODELS, VAE, ModelConfig, load, save
from vaebook_lib.models.vae import VAEConfig


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
    from vaebook_lib.data.checks import in_unit_interval
    x = torch.rand(64, 784)
    assert in_unit_interval(x) and in_unit_interval(torch.empty(0, 3)) and in_unit_interval(torch.tensor([-0.0, 1.0]))
    for bad in (float("nan"), float("inf"), -float("inf"), 1 + 2 ** -23, -1e-38):
        y = x.clone()
        y[17, 300] = bad
        assert not in_unit_interval(y), bad


def test_all_finite_catches_nan_and_both_infinities_in_one_pass():
    from vaebook_lib.data.checks import all_finite
    x = torch.randn(64, 784) * 1e30
    assert all_finite(x) and all_finite(torch.empty(0, 3)) and all_finite(torch.arange(5))
    for bad in (float("nan"), float("inf"), -float("inf")):
        y = x.clone()
        y[17, 300] = bad
        assert not all_finite(y), bad


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


def test_identity_output_ae_accepts_any_finite_values_and_rejects_the_rest():
    """Con salida «identity» la entrada no tiene que estar en [0, 1], pero sí ser finita y tener la forma."""
    ae = AE(in_shape=(1, 2, 3), latent_dim=2, hidden=(4,), output="identity")
    ae(torch.randn(5, 1, 2, 3) * 100)                                       # negativos y grandes: valen
    for bad in (float("nan"), float("inf"), -float("inf")):
        x = torch.randn(5, 1, 2, 3)
        x[3, 0, 1, 2] = bad
        with pytest.raises(ValueError, match="finitos"):
            ae(x)
    with pytest.raises(ValueError, match="forma"):
        ae(torch.randn(5, 1, 3, 2))


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


# --- ningún fallo silencioso: entradas, configuraciones y KL (issue 18) -------------------------------------
def valid_input(model, n=4, dtype=torch.float32):
    """Un lote válido para ``model`` (códigos para la prior PixelCNN; etiquetas si el modelo las usa)."""
    c = model.config
    if model.key == "pixelcnn_prior":
        return torch.randint(0, c.n_codes, (n, *c.in_shape)), None
    x = torch.rand(n, *c.in_shape)
    x = (x.round() if c.likelihood == "bernoulli" else x).to(dtype)
    n_classes = getattr(c, "n_classes", 0) if getattr(c, "condition", "label") == "label" else 0
    return x, (torch.arange(n) % n_classes if n_classes else None)


@pytest.mark.parametrize("key", sorted(MODELS))
@pytest.mark.parametrize("dtype", [torch.float64, torch.float16])
def test_every_model_refuses_another_float_dtype_clearly(key, dtype):
    model = MODELS[key]()
    x, y = valid_input(model)
    assert torch.isfinite(model(x, y).loss)                    # el lote float32 sí vale
    x = x.to(dtype) if x.is_floating_point() else x.to(dtype)  # los códigos en coma flotante tampoco valen
    with pytest.raises(ValueError, match="float32|enteros"):
        model(x, y)


def test_a_double_model_takes_double_input():
    model = VAE(latent_dim=2, hidden=(8,)).double()
    x, _ = valid_input(model, dtype=torch.float64)
    assert model(x).loss.dtype == torch.float64
    with pytest.raises(ValueError, match=r"x.to\(torch.float64\)"):
        model(x.float())


@pytest.mark.parametrize("key", sorted(MODELS))
def test_every_model_refuses_an_empty_batch(key):
    model = MODELS[key]()
    x, y = valid_input(model, n=0)
    with pytest.raises(ValueError, match="lote vacío"):
        model(x, y)


@pytest.mark.parametrize("bad, word", [
    (dict(latent_dim=2.0), "latent_dim debe ser un entero"),
    (dict(latent_dim="2"), "latent_dim debe ser un entero"),
    (dict(latent_dim=True), "latent_dim debe ser un entero"),
    (dict(latent_dim=0), "latent_dim debe ser > 0"),
    (dict(hidden=400), "hidden debe ser una tupla"),
    (dict(hidden=(400, 0)), "hidden debe ser > 0"),
    (dict(in_shape=(1, 28, 28.5)), r"in_shape\[2\] debe ser un entero"),
    (dict(sigma=float("nan")), "sigma no puede ser NaN"),
    (dict(sigma=float("inf")), "sigma debe ser > 0"),
    (dict(sigma=-0.1), "sigma debe ser > 0"),
    (dict(sigma="0.1"), "sigma debe ser un número real"),
    (dict(arch=1), "arch debe ser un texto"),
    (dict(latnet_dim=2), "no tiene el campo 'latnet_dim'.*latent_dim"),
])
def test_bad_configs_are_spanish_value_errors(bad, word):
    with pytest.raises(ValueError, match=word):
        VAE(**bad)
    with pytest.raises(ValueError, match=word):
        VAEConfig(**bad)


def test_configs_keep_numeric_scalars_from_numpy_and_torch():
    c = VAEConfig(latent_dim=np.int64(3), hidden=[16, np.int32(8)], sigma=torch.tensor(0.25))
    assert c.latent_dim == 3 and type(c.latent_dim) is int and c.hidden == (16, 8) and c.sigma == 0.25
    assert VAEConfig(sigma=1).sigma == 1.0                  # un entero vale como real


@pytest.mark.parametrize("key", sorted(MODELS))
def test_every_config_field_is_checked_by_its_type(key):
    """La validación sale de las anotaciones: vale para cada campo de cada configuración del catálogo."""
    import typing
    from vaebook_lib.models.base import _field_types
    cfg = MODELS[key].Config
    for name, tp in _field_types(cfg).items():
        base = [a for a in typing.get_args(tp) if a is not type(None)][0] if typing.get_origin(tp) is not tuple \
            and typing.get_args(tp) else tp
        bad = {int: 2.5, float: float("nan"), str: 3, bool: 1}.get(base, 7)  # 7: una tupla no es un entero suelto
        with pytest.raises(ValueError, match=name):
            cfg(**{name: bad})


@pytest.mark.parametrize("key", sorted(MODELS))
def test_every_model_refuses_the_config_of_another_model(key):
    cls = MODELS[key]
    assert type(cls(cls.Config()).config) is cls.Config
    others = [m.Config for m in MODELS.values() if m.Config is not cls.Config and issubclass(m.Config, cls.Config)]
    for other in others + [ModelConfig] * (cls.Config is not ModelConfig):
        with pytest.raises(ValueError, match=f"espera una configuración {cls.Config.__name__}"):
            cls(other())


def test_beta_vae_config_does_not_build_a_plain_vae():
    from vaebook_lib.models import BetaVAE, BetaVAEConfig
    with pytest.raises(ValueError, match="BetaVAEConfig"):
        VAE(BetaVAEConfig(beta=8))
    assert BetaVAE(BetaVAEConfig(beta=8)).config.beta == 8


@pytest.mark.parametrize("bad", [dict(alpha=-1.0), dict(beta=-0.5), dict(alpha=float("nan"))])
def test_dfcvae_refuses_negative_weights(bad):
    from vaebook_lib.models import DFCVAE
    with pytest.raises(ValueError, match=next(iter(bad))):
        DFCVAE(latent_dim=2, hidden=(8,), **bad)


@pytest.mark.parametrize("key, bad", [("structured_vae", dict(top_hidden=(0,))), ("vae_iaf", dict(made_hidden=(32, -1))),
                                      ("vae_iaf", dict(forget_bias=float("inf")))])
def test_per_model_bounds_add_to_the_common_ones(key, bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        MODELS[key](**bad)
    with pytest.raises(ValueError, match="latent_dim"):             # las comunes siguen valiendo
        MODELS[key](latent_dim=0)


@pytest.mark.parametrize("key, kw", [("cvae", {}), ("adgm", {"n_classes": 10})])
@pytest.mark.parametrize("labels", [torch.tensor([0.0, 2.7, 1.0, 9.2]), torch.tensor([True, False, True, False])])
def test_conditional_models_refuse_non_integer_labels(key, kw, labels):
    model = MODELS[key](latent_dim=2, hidden=(8,), **kw)
    x = binary_batch(4)
    assert torch.isfinite(model(x, labels.long()).loss)      # las mismas etiquetas como enteros sí valen
    with pytest.raises(ValueError, match="enteros"):
        model(x, labels)


def test_kl_to_standard_normal_never_gives_nan_and_is_exact_at_extremes():
    logvar = torch.tensor([[100.0, 200.0, -100.0, 0.0, 1e-4]])
    mu = torch.full_like(logvar, 0.3)
    kl = torch.stack([kl_to_standard_normal(Normal(mu[:, i:i + 1], torch.exp(0.5 * logvar[:, i:i + 1])))
                      for i in range(logvar.shape[1])], -1)[0]
    assert not kl.isnan().any()
    assert kl[0] == math.inf and kl[1] == math.inf               # el valor exacto no cabe en float32: +inf
    exact = 0.5 * (mu[0].double() ** 2 + torch.expm1(logvar[0].double()) - logvar[0].double())
    assert torch.allclose(kl[2:].double(), exact[2:], rtol=1e-6, atol=0)  # sin cancelación cerca de sigma = 1


def test_overflowing_kl_stops_training_instead_of_nan():
    from vaebook_lib.train import fit
    vae = VAE(latent_dim=2, hidden=(8,))
    with torch.no_grad():
        last = [m for m in vae.encoder.modules() if isinstance(m, torch.nn.Linear)][-1]
        last.weight.zero_()
        last.bias[2:] = 100.0                                    # log-varianza 100 en las dos dimensiones
    out = vae(binary_batch(4))
    assert out.terms["kl"] == math.inf
    with pytest.raises(FloatingPointError, match="dejó de ser finita"):
        fit(vae, binary_batch(8), epochs=1, batch_size=8, progress=False)


def test_config_ranges_read_as_a_spanish_enumeration():
    """El rango de un campo en el mensaje de error: «a, b y c», no «a y b y c»."""
    from vaebook_lib.models.base import Range

    assert str(Range(0.0, 1.0)) == ">= 0, <= 1 y finito"
    assert str(Range(0.0, low_open=True)) == "> 0 y finito"
    assert str(Range(0.0, 1.0, finite=False)) == ">= 0 y <= 1"
    assert str(Range(high=3.0, finite=False)) == "<= 3"
