"""Cada modelo del capítulo 3 (parte A) se guarda y se carga con las mismas salidas."""
import pytest
import torch

from vaebook_lib.feature_net import FeatureNet
from vaebook_lib.models import MODELS, load, save

KEYS = ["wae_mmd", "swae", "info_vae", "logcosh_vae", "dfcvae", "msssim_vae", "vq_vae"]


def _inputs(model):
    x = torch.rand(6, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    return torch.bernoulli(x) if model.config.likelihood == "bernoulli" else x


@pytest.mark.parametrize("key", KEYS)
def test_save_load_same_outputs(key, tmp_path):
    cls = MODELS[key]
    kwargs = {"feature_net": FeatureNet()} if key == "dfcvae" else {}
    model = cls(**kwargs)
    model.eval()
    x = _inputs(model)
    path = tmp_path / f"{key}.pt"
    save(model, path)
    other = load(path)
    assert type(other) is cls and other.config == model.config
    other.eval()
    assert torch.equal(model.reconstruct(x), other.reconstruct(x))
    torch.manual_seed(5)
    a = model(x)
    torch.manual_seed(5)
    b = other(x)
    assert torch.allclose(a.loss, b.loss)


def test_pixelcnn_prior_save_load(tmp_path):
    prior = MODELS["pixelcnn_prior"](n_codes=8, channels=16)
    save(prior, tmp_path / "p.pt")
    other = load(tmp_path / "p.pt")
    codes = torch.randint(0, 8, (4, 7, 7))
    assert torch.equal(prior.logits(codes), other.logits(codes))
    assert torch.equal(prior.sample(3, generator=torch.Generator().manual_seed(1)),
                       other.sample(3, generator=torch.Generator().manual_seed(1)))
