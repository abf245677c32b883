import math

import pytest
import torch

from vaebook_lib.comparison import (FLOOR, Result, assess, build, by_model, comparable_keys, compare,
                                    evaluator_features, format_results, not_comparable, real_floor, trained)
from vaebook_lib.data import ImageData
from vaebook_lib.feature_net import FeatureNet, dfc_feature_net, get_feature_net
from vaebook_lib.models import MODELS

NOT_COMPARABLE = not_comparable()
OWN_ARCHITECTURE = {k for k, cls in MODELS.items() if cls.own_architecture}


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

    def forward(self, x):
        return self.features(x)[0].flatten(1)


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
    feats = evaluator_features(MeanFeatures())
    results = compare(["ae", "vae"], train, test, features=feats, epochs=5, batch_size=50, lr=3e-3,
                      latent_dim=4, hidden=(32,), k=8, n_eval=20, n_samples=40)
    ae, vae = results
    assert math.isnan(ae.elbo) and math.isnan(ae.nll) and math.isnan(ae.frechet) and ae.samples is None
    assert vae.nll <= -vae.elbo + 1.0  # el estimador por importancia mejora (casi siempre) la ELBO
    assert vae.samples.shape == (40, 1, 28, 28)
    assert vae.frechet_lo <= vae.frechet_hi and 0 <= vae.precision <= 1 and 0 <= vae.recall <= 1
    assert ae.knn > 0.9 and vae.knn > 0.9  # dos clases triviales: los códigos las separan
    table = format_results(results)
    assert "ae" in table and "—" in table and "vae" in table


def test_nll_only_for_models_trained_on_the_likelihood():
    data = digits()
    train, test = data.subset(150), data.select(torch.arange(150, 200))
    feats = evaluator_features(MeanFeatures())
    vae, logcosh = compare(["vae", "logcosh_vae"], train, test, features=feats, epochs=1, batch_size=50, lr=3e-3,
                           latent_dim=4, hidden=(16,), k=4, n_eval=10, n_samples=20)
    assert math.isfinite(vae.nll)
    # El VAE log-cosh tiene log_weights (hereda del VAE) pero nunca optimizó una verosimilitud de Bernoulli.
    assert math.isnan(logcosh.nll)
    assert not MODELS["wae_mmd"].likelihood_objective and MODELS["iwae"].likelihood_objective


def test_seeds_give_one_result_each_and_the_table_shows_the_spread():
    data = digits()
    train, test = data.subset(150), data.select(torch.arange(150, 200))
    feats = evaluator_features(MeanFeatures())
    results = compare(["ae"], train, test, features=feats, epochs=1, batch_size=50, lr=3e-3, latent_dim=4,
                      hidden=(16,), n_samples=20, seeds=(0, 1))
    assert [r.seed for r in results] == [0, 1] and list(by_model(results)) == ["ae"]
    assert results[0].recon != results[1].recon  # otra semilla, otra inicialización
    assert "±" in format_results(results)
    with pytest.raises(ValueError, match="seeds"):
        compare(["ae"], train, test, features=feats, epochs=1, batch_size=50, lr=1e-3, seeds=())


def test_the_table_keeps_its_columns_apart_with_several_seeds():
    # Con varias semillas cada cifra es «media±mitad del rango»: las columnas no deben pegarse (el registro completo,
    # con tres semillas, mostraba «350.08±9.330.15±0.02…» en una sola palabra).
    def result(seed, shift):
        return Result("vae", recon=38.6 + shift, elbo=-146.8 - shift, nll=139.2 + shift, frechet=350.1 + 9 * shift,
                      knn=0.9 + shift / 100, seconds=1.5, frechet_lo=340.0, frechet_hi=360.0,
                      precision=0.15 + shift / 50, recall=0.02 + shift / 100, seed=seed)
    lines = format_results([result(0, 0.0), result(1, 1.0), result(2, -1.0)]).splitlines()
    head, row = lines[0], lines[2]
    assert row.split() == ["vae", "38.60±1.00", "-146.80±1.00", "139.20±1.00", "350.10±9.00", "0.15±0.02",
                           "0.02±0.01", "0.90±0.01", "1.5"]
    assert len(row) == len(head) == len(lines[1])   # cada columna, alineada con su título


def test_the_real_data_floor_is_below_a_model_that_ignores_the_data():
    data = digits(400)
    train, test = data.subset(200), data.select(torch.arange(200, 400))
    feats = evaluator_features(MeanFeatures())
    floor = real_floor(train, test, features=feats, n_samples=150, n_boot=20)
    assert floor.key == FLOOR and floor.frechet_lo <= floor.frechet_hi and floor.frechet <= floor.frechet_hi
    assert floor.precision > 0.8 and floor.recall > 0.8
    # Un «modelo» que da ruido uniforme binarizado: lejos de los datos en Fréchet, precisión casi nula.
    noise = torch.bernoulli(torch.full((150, 1, 28, 28), 0.5), generator=torch.Generator().manual_seed(0))
    x_test = test.x[:150].round()
    from vaebook_lib.metrics import frechet_distance, precision_recall
    assert frechet_distance(feats(x_test), feats(noise)) > 10 * floor.frechet_hi
    assert precision_recall(feats(x_test), feats(noise))[0] < 0.1
    with pytest.raises(ValueError, match="al menos"):
        real_floor(train, test, features=feats, n_samples=500)


def test_evaluator_features_are_standardised_on_the_reference():
    data = digits(300)
    feats = evaluator_features(MeanFeatures(), reference=data.x[:200])
    f = feats(data.x[:200])
    assert torch.allclose(f.mean(0), torch.zeros(f.shape[1]), atol=1e-5)
    assert torch.allclose(f.std(0), torch.ones(f.shape[1]), atol=1e-4)
    with pytest.raises(ValueError, match="al menos dos"):
        evaluator_features(MeanFeatures(), reference=data.x[:1])


def test_trained_gives_the_model_of_the_table_from_the_cache(tmp_path, monkeypatch):
    # Un cuaderno mira dentro de un modelo de la tabla pidiéndolo otra vez: con la caché, es el mismo (sus cifras)
    # y no se vuelve a entrenar.
    import vaebook_lib.model_cache as model_cache
    monkeypatch.setenv(model_cache.ENV, str(tmp_path / "models"))
    data = digits()
    train, test = data.subset(150), data.select(torch.arange(150, 200))
    feats = evaluator_features(MeanFeatures())
    args = dict(epochs=1, batch_size=50, lr=3e-3, latent_dim=4, hidden=(16,))
    [result] = compare(["ae"], train, test, features=feats, n_samples=20, seeds=(1,), **args)
    calls = []
    monkeypatch.setattr(model_cache, "fit", lambda *a, **k: calls.append(1))
    model, history = trained("ae", train, seed=1, **args)
    again = assess(model, train, test, features=feats, k=4, n_eval=500, n_samples=20, n_boot=10, seed=1)
    assert calls == [] and history.epochs == 1
    assert again.recon == result.recon and again.knn == result.knn
