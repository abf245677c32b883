"""Cada modelo del catálogo cumple la interfaz común de ``Model`` (issue 17): las mismas firmas, y lo que no sabe
hacer lo rechaza con un error claro (``Unsupported``) en lugar de no tener el método."""
import inspect

import pytest
import torch
from torch.distributions import Distribution

from vaebook_lib.feature_net import FeatureNet
from vaebook_lib.models import MODELS, Model, Unsupported
from vaebook_lib.models.vq_vae import PixelCNNPrior

SHAPE = (1, 8, 8)
SMALL = dict(in_shape=SHAPE, latent_dim=3, hidden=(16,))
# Lo que cada modelo necesita para ser pequeño (lo demás, SMALL, si su configuración tiene el campo).
CONFIG = {
    "linear_gaussian": dict(in_shape=(5,), latent_dim=2, likelihood="gaussian"),
    "vq_vae": dict(in_shape=SHAPE, latent_dim=4, hidden=(4, 8), n_codes=8),
    "pixelcnn_prior": dict(in_shape=(2, 2), n_codes=8, channels=4, n_layers=1),
    "dfcvae": dict(in_shape=(1, 28, 28), latent_dim=3, hidden=(16,)),
    "msssim_vae": dict(SMALL, scales=1),
    "structured_vae": dict(SMALL, top_dim=2, top_hidden=(8,)),
    "adgm": dict(SMALL, aux_dim=2, n_classes=3),
    "cvae": dict(SMALL, n_classes=3),
    "categorical_vae": dict(in_shape=SHAPE, latent_dim=2, categories=3, hidden=(16,)),
    "joint_vae": dict(SMALL, disc_dims=(3,)),
    "vae_pixelcnn": dict(SMALL, channels=4, n_layers=1, kernel=3),
    "vae_iaf": dict(SMALL, made_hidden=(8,), context_dim=4),
    "ksparse_ae": dict(SMALL, k=2),
}
N_CLASSES = 3


def build(key: str) -> Model:
    cls = MODELS[key]
    names = set(cls.Config.__dataclass_fields__)
    config = {k: v for k, v in CONFIG.get(key, SMALL).items() if k in names}
    torch.manual_seed(0)
    return cls(**config, **({"feature_net": FeatureNet()} if key == "dfcvae" else {}))


def batch(model: Model, n: int = 4) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    c = model.config
    if isinstance(model, PixelCNNPrior):
        return torch.randint(0, c.n_codes, (n, *c.in_shape), generator=g)
    if model.key == "linear_gaussian":
        return torch.randn(n, *c.in_shape, generator=g)
    x = torch.rand(n, *c.in_shape, generator=g)
    return torch.bernoulli(x, generator=g) if c.likelihood == "bernoulli" else x


def labels(n: int = 4) -> torch.Tensor:
    return torch.arange(n) % N_CLASSES


def refused_or(call):
    """El resultado de ``call()`` o None si el modelo lo rechaza con un error claro (Unsupported o ValueError)."""
    try:
        return call()
    except (Unsupported, ValueError) as err:
        assert len(str(err)) > 20, "el rechazo debe explicar qué falta"
        return None


@pytest.mark.parametrize("key", list(MODELS))
def test_signatures_are_the_common_ones(key):
    cls = MODELS[key]
    for name, args, kwargs in [("encode", ("x",), {"y": None}), ("decode", ("z",), {"y": None}),
                               ("posterior", ("x",), {"y": None}), ("forward", ("x",), {"y": None}),
                               ("sample", (3,), {"y": None, "generator": None}),
                               ("log_weights", ("x", 2), {"y": None})]:
        inspect.signature(getattr(cls, name)).bind("self", *args, **kwargs)   # TypeError si la firma difiere
    assert isinstance(cls.likelihood_objective, bool) and isinstance(cls.conditional, bool)
    assert isinstance(cls.not_comparable, str) and isinstance(cls.own_architecture, bool)


@pytest.mark.parametrize("with_y", [False, True])
@pytest.mark.parametrize("key", list(MODELS))
def test_every_model_follows_the_interface(key, with_y):
    model = build(key)
    x = batch(model)
    y = labels(len(x)) if with_y else None
    if model.conditional and model.key == "cvae" and y is None:
        with pytest.raises(ValueError, match="etiqueta"):
            model(x)
        y_model = labels(len(x))
    else:
        y_model = y

    # forward: pérdida escalar finita, términos separados del grafo, z una muestra por ejemplo
    model.train()
    out = model(x, y_model)
    assert out.loss.ndim == 0 and torch.isfinite(out.loss)
    assert all(not torch.is_tensor(v) or not v.requires_grad for v in out.terms.values())
    if out.z is not None:
        assert len(out.z) == len(x)
    if out.x_hat is not None:
        assert out.x_hat.shape == x.shape

    # encode / decode / posterior: un resultado o un rechazo claro, nunca un AttributeError
    code = refused_or(lambda: model.encode(x, y))
    if code is not None:
        assert len(code) == len(x) and torch.isfinite(code).all()
        images = refused_or(lambda: model.decode(code, y))
        if images is not None:
            assert images.shape == x.shape
    q = refused_or(lambda: model.posterior(x, y))
    if q is not None:
        assert isinstance(q, Distribution)

    # sample: con el mismo generador, las mismas muestras dos veces
    first = refused_or(lambda: model.sample(len(x), y=y, generator=torch.Generator().manual_seed(3)))
    if first is not None:
        again = model.sample(len(x), y=y, generator=torch.Generator().manual_seed(3))
        assert len(first) == len(x) and torch.equal(first, again)

    # log_weights: (k, lote) finito; obligatorio si el modelo declara una verosimilitud que estimar (y, si es
    # condicional, se le dan las etiquetas)
    must = model.likelihood_objective and (y is not None or not model.conditional)
    with torch.no_grad():
        log_w = model.log_weights(x, 3, y) if must else refused_or(lambda: model.log_weights(x, 3, y))
    if log_w is not None:
        assert log_w.shape == (3, len(x)) and torch.isfinite(log_w).all()

    # reconstruct deja el modelo en el modo en que estaba
    model.train()
    refused_or(lambda: model.reconstruct(x, y_model))
    assert model.training


def test_refusals_come_from_the_base_class():
    ae = build("ae")
    for call in (lambda: ae.sample(2), lambda: ae.log_weights(batch(ae), 2), lambda: ae.posterior(batch(ae))):
        with pytest.raises(Unsupported, match="«ae»"):
            call()
    with pytest.raises(NotImplementedError):    # Unsupported es también NotImplementedError
        ae.sample(2)


def test_vq_vae_samples_once_it_has_its_prior():
    vq = build("vq_vae")
    with pytest.raises(Unsupported, match="use_prior"):
        vq.sample(2)
    prior = MODELS["pixelcnn_prior"](in_shape=(2, 2), n_codes=8, channels=4, n_layers=1)
    a = vq.use_prior(prior).sample(2, generator=torch.Generator().manual_seed(0))
    b = vq.sample(2, generator=torch.Generator().manual_seed(0))
    assert a.shape == (2, *SHAPE) and torch.equal(a, b)
    assert not any(k.startswith("code_prior") for k in vq.state_dict())   # la previa no se guarda con él
    with pytest.raises(ValueError, match="n_codes"):
        vq.use_prior(MODELS["pixelcnn_prior"](n_codes=4))


@pytest.mark.parametrize("key", ["wae_mmd", "swae", "info_vae"])
def test_penalties_take_a_generator(key):
    model = build(key)
    z = torch.randn(6, model.config.latent_dim)
    a = model.penalty(z, generator=torch.Generator().manual_seed(0))
    b = model.penalty(z, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b)


def test_iwae_returns_its_bound_and_a_sample_from_q():
    for key in ("iwae", "miwae"):
        model = build(key)
        x = batch(model)
        out = model(x)
        assert out.bound.shape == (len(x),) and out.elbo.shape == (len(x),)
        assert torch.allclose(out.terms["bound"], out.bound.mean())
        assert not torch.allclose(out.z, out.qz.loc)          # una muestra de q, no su media
