"""VQ-VAE: cuantización, por dónde pasa cada gradiente, EMA, perplejidad y el prior PixelCNN."""
import math

import pytest
import torch

from vaebook_lib import fit
from vaebook_lib.models import MODELS
from vaebook_lib.models.vq_vae import MaskedConv2d, PixelCNNPrior, VQVAE, code_perplexity


def _binary(n=8, seed=0):
    return torch.bernoulli(torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed)))


def _model(**kw):
    m = VQVAE(n_codes=16, **kw)
    with torch.no_grad():                   # códigos a la escala de z_e para que se usen varios
        m.codebook.normal_(0, 0.3)
        m.ema_sum.copy_(m.codebook)
    return m


def _grads(m, term):
    m.zero_grad(set_to_none=True)
    term.backward()
    norm = lambda ps: sum(float(p.grad.abs().sum()) for p in ps if p.grad is not None)  # noqa: E731
    return norm(m.encoder.parameters()), norm(m.decoder.parameters()), norm([m.codebook])


def test_registered_and_quantizes_to_the_nearest_code():
    assert MODELS["vq_vae"] is VQVAE and MODELS["pixelcnn_prior"] is PixelCNNPrior
    m = _model()
    z_e = torch.randn(3, 16, 7, 7)
    z_q, idx = m.quantize(z_e)
    flat = z_e.permute(0, 2, 3, 1).reshape(-1, 16)
    brute = torch.stack([((m.codebook - v) ** 2).sum(1).argmin() for v in flat])
    assert torch.equal(idx.flatten(), brute)
    assert torch.equal(z_q.permute(0, 2, 3, 1).reshape(-1, 16), m.codebook[brute])
    assert idx.shape == (3, 7, 7)


def test_codebook_loss_moves_only_the_codebook():
    m = _model()
    enc, dec, book = _grads(m, m(_binary()).codebook)
    assert book > 0 and enc == 0 and dec == 0


def test_commitment_moves_only_the_encoder():
    m = _model()
    enc, dec, book = _grads(m, m(_binary()).commitment)
    assert enc > 0 and book == 0 and dec == 0


def test_straight_through_passes_the_decoder_gradient_to_the_encoder():
    m = _model()
    x = _binary()
    captured = {}

    def keep(module, inputs, output):
        output.retain_grad()
        captured["z_e"] = output

    m.encoder.register_forward_hook(keep)
    out = m(x)
    enc, dec, book = _grads(m, out.recon)
    assert enc > 0 and dec > 0 and book == 0          # la reconstrucción no mueve el libro de códigos
    # El gradiente que llega a z_e es exactamente el de la reconstrucción respecto a z_q.
    z_q = out.z.detach().requires_grad_(True)
    rec = -m.likelihood(z_q).log_prob(x).mean()
    (g_q,) = torch.autograd.grad(rec, z_q)
    assert torch.allclose(captured["z_e"].grad, g_q, atol=1e-6)


def test_total_loss_with_and_without_ema():
    x = _binary()
    out = _model(beta=0.25)(x)
    assert torch.allclose(out.loss, out.recon + out.codebook + 0.25 * out.commitment)
    m = _model(ema=True)
    out = m(x)
    assert torch.allclose(out.loss, out.recon + 0.25 * out.commitment)
    assert not m.codebook.requires_grad


def test_ema_update_matches_the_formula():
    m = _model(ema=True, decay=0.9)
    x = _binary()
    before = m.codebook.detach().clone()
    with torch.no_grad():
        z_e = m.encoder(x)
        _, idx = m.quantize(z_e)
    flat = z_e.permute(0, 2, 3, 1).reshape(-1, 16)
    onehot = torch.nn.functional.one_hot(idx.flatten(), 16).float()
    count = 0.9 * 1.0 + 0.1 * onehot.sum(0)
    total = 0.9 * before + 0.1 * onehot.T @ flat
    m.train()
    m(x)
    assert torch.allclose(m.codebook, total / count[:, None], atol=1e-6)
    used = onehot.sum(0) > 0
    assert not torch.allclose(m.codebook[used], before[used]) and torch.allclose(m.codebook[~used], before[~used])
    m.eval()
    frozen = m.codebook.detach().clone()
    m(x)
    assert torch.equal(m.codebook, frozen)            # en evaluación no se actualiza


def test_perplexity():
    k = 8
    assert float(code_perplexity(torch.arange(k).repeat(5), k)) == pytest.approx(k)
    assert float(code_perplexity(torch.zeros(10, dtype=torch.long), k)) == pytest.approx(1.0)
    two = torch.tensor([0, 0, 0, 1])                  # p = (3/4, 1/4)
    h = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert float(code_perplexity(two, k)) == pytest.approx(math.exp(h), rel=1e-5)


def test_masked_convolution_is_causal():
    torch.manual_seed(0)
    prior = PixelCNNPrior(n_codes=8, channels=8, n_layers=2)
    e = torch.randn(1, 8, 7, 7, requires_grad=True)
    i, j = 3, 4
    prior.net(e)[0, :, i, j].sum().backward()
    seen = e.grad.abs().sum(0).sum(0)                 # (7, 7): influencia de cada posición de entrada
    order = torch.arange(49).view(7, 7)
    assert (seen[order >= i * 7 + j] == 0).all()      # ni la posición actual ni las siguientes
    assert seen[order < i * 7 + j].sum() > 0
    with pytest.raises(ValueError, match="máscara"):
        MaskedConv2d("C", 2, 2, 3)


def test_prior_learns_a_simple_code_distribution():
    # Cada rejilla repite un único código al azar entre 4: -log p = log 4 (primera casilla) y 0 el resto.
    g = torch.Generator().manual_seed(0)
    codes = torch.randint(0, 4, (256, 1, 1), generator=g).expand(256, 7, 7).contiguous()
    prior = PixelCNNPrior(n_codes=8, channels=8, n_layers=1)
    start = float(prior(codes).loss.detach())
    hist = fit(prior, codes, epochs=10, batch_size=32, lr=1e-2, seed=0, device="cpu", progress=False)
    assert start > 49 * math.log(8) * 0.8 and hist.train["nll"][-1] < math.log(4) + 1.0
    grids = torch.arange(4).view(4, 1, 1).expand(4, 7, 7)
    pred = prior.logits(grids).argmax(1).flatten(1)[:, 1:]        # cada casilla predice el código anterior
    assert (pred == torch.arange(4)[:, None]).float().mean() > 0.95
    s = prior.sample(4, generator=torch.Generator().manual_seed(1))
    assert s.shape == (4, 7, 7) and s.min() >= 0 and s.max() < 8


def test_sample_needs_a_prior_and_has_image_shape():
    m = _model()
    prior = PixelCNNPrior(n_codes=16, channels=8, n_layers=1)
    s = m.use_prior(prior).sample(2, generator=torch.Generator().manual_seed(0))
    assert s.shape == (2, 1, 28, 28) and s.min() >= 0 and s.max() <= 1


def test_bad_input_raises_spanish_errors():
    with pytest.raises(ValueError, match="binario"):
        VQVAE()(torch.rand(2, 1, 28, 28))
    with pytest.raises(ValueError, match="forma"):
        VQVAE()(torch.ones(2, 1, 14, 14))
    with pytest.raises(ValueError, match="conv"):
        VQVAE(arch="mlp")
    prior = PixelCNNPrior(n_codes=8)
    with pytest.raises(ValueError, match="enteros"):
        prior(torch.rand(2, 7, 7))
    with pytest.raises(ValueError, match=r"\[0, 8\)"):
        prior(torch.full((2, 7, 7), 9, dtype=torch.long))
    with pytest.raises(ValueError, match="entero"):
        code_perplexity(torch.rand(4), 4)


def test_data_init_copies_encoder_outputs_once():
    m = VQVAE(n_codes=16, data_init=True)     # sin EMA: el paso hacia delante no mueve los códigos después
    x = _binary()
    m.eval()
    m(x)
    assert not bool(m.initialized)                    # en evaluación no se inicia nada
    m.train()
    with torch.no_grad():
        flat = m.encoder(x).permute(0, 2, 3, 1).reshape(-1, 16)
    m(x)
    assert bool(m.initialized)
    same = (m.codebook.detach()[:, None, :] == flat[None]).all(-1)   # (código, posición)
    assert same.any(1).all()                                      # cada código es uno de los z_e del lote
    first = m.codebook.detach().clone()
    m.eval()
    m(x)
    assert torch.equal(m.codebook, first)
