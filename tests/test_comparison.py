import math

import pytest
import torch

from vaebook_lib.comparison import (NOT_COMPARABLE, OWN_ARCHITECTURE, assess, build, comparable_keys, compare,
                                    format_results, pooled_features)
from vaebook_lib.data import ImageData
from vaebook_lib.feature_net import FeatureNet, dfc_feature_net, get_feature_net
from vaebook_lib.models import MODELS


def digits(n=200, seed=0):
    """Imágenes 28x28 de dos clases muy distintas (mitad izquierda o derecha encendida, con ruido)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    x = torch.rand(n, 1, 28, 28, generator=g) * 0.2
    x[y == 0, :, :, :14] += 0.7
    x[y == 1, :, :, 14:] += 0.7
    return ImageData(x.clamp(0, 1), y, ("izquierda", "derecha"))


class MeanFeatures(torch.nn.Module):
    """Rasgos triviales para las pruebas: media de cada mitad de la imagen (2 dimensiones)."""

    def features(self, x):
        return [torch.stack([x[..., :14].mean((1, 2, 3)), x[..., 14:].mean((1, 2, 3))], 1)[..., None, None]]


def test_every_catalog_key_is_compared_or_explained():
    keys = comparable_keys()
    assert set(keys) | set(NOT_COMPARABLE) == set(MODELS)
    assert not set(keys) & set(NOT_COMPARABLE)
    assert OWN_ARCHITECTURE <= set(keys)


@pytest.mark.parametrize("key", [k for k in comparable_keys()])
def test_build_gives_the_common_family(key):
    extra = {"feature_net": FeatureNet()} if key == "dfcvae" else {}
    model = build(key, latent_dim=6, hidden=(32,), n_train=100, **extra)
    assert model.key == key
    if key not in OWN_ARCHITECTURE and hasattr(model.config, "hidden"):
        assert model.config.hidden == (32,) and model.config.arch == "mlp"


def test_dfc_trains_against_a_trained_network_that_is_not_the_evaluator(tmp_path):
    with pytest.raises(ValueError, match="red de rasgos"):
        build("dfcvae", latent_dim=6, hidden=(32,), n_train=100)
    g = torch.Generator().manual_seed(0)
    data = ImageData(torch.rand(64, 1, 28, 28, generator=g), torch.randint(0, 10, (64,), generator=g),
                     tuple("0123456789"), name="juguete")
    evaluator = get_feature_net(data, directory=tmp_path)
    trainer = dfc_feature_net(data, directory=tmp_path)
    assert len(list(tmp_path.glob("feature_net_*.pt"))) == 2          # dos redes en la caché, cada una la suya
    assert not torch.equal(evaluator.blocks[0].weight, trainer.blocks[0].weight)
    model = build("dfcvae", latent_dim=6, hidden=(32,), n_train=100, feature_net=trainer)
    assert model.features is trainer
    assert model.config.beta == 0.5 * 784          # el beta declarado del libro, no el 0.5 que colapsa


def test_unknown_key_is_a_spanish_error():
    with pytest.raises(ValueError, match="Clave desconocida"):
        build("gan", latent_dim=2, hidden=(8,), n_train=10)


def test_assess_measures_a_vae_and_an_ae():
    data = digits()
    train, test = data.subset(150), data.select(torch.arange(150, 200))
    feats = pooled_features(MeanFeatures())
    results = compare(["ae", "vae"], train, test, features=feats, epochs=5, batch_size=50, lr=3e-3,
                      latent_dim=4, hidden=(32,), k=8, n_eval=20, n_samples=40)
    ae, vae = results
    assert math.isnan(ae.elbo) and math.isnan(ae.nll) and math.isnan(ae.frechet) and ae.samples is None
    assert vae.nll <= -vae.elbo + 1.0  # el estimador por importancia mejora (casi siempre) la ELBO
    assert vae.samples.shape == (40, 1, 28, 28) and vae.frechet >= 0
    assert ae.knn > 0.9 and vae.knn > 0.9  # dos clases triviales: los códigos las separan
    table = format_results(results)
    assert "ae" in table and "—" in table and "vae" in table
