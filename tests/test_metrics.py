"""Pruebas de las métricas: el estimador de log p(x) por muestreo de importancia frente al valor exacto."""
import math

import pytest
import torch

from vaebook_lib.metrics import log_likelihood_is
from vaebook_lib.models import LinearGaussian


def _model():
    g = torch.Generator().manual_seed(0)
    m = LinearGaussian.from_weights(torch.randn(4, 2, generator=g), torch.randn(4, generator=g), sigma=0.6)
    with torch.no_grad():                       # un codificador razonable pero no exacto
        m.set_optimal_encoder()
        m.A.mul_(0.7)
        m.q_log_scale.add_(0.4)
    return m, m.sample(200, generator=g)


def test_log_likelihood_is_converges_to_exact():
    m, x = _model()
    exact = m.log_marginal(x)
    gaps = [(exact - log_likelihood_is(m, x, k)).mean().item() for k in (1, 10, 100, 2000)]
    assert all(a > b for a, b in zip(gaps, gaps[1:]))       # se acerca al crecer k
    assert gaps[0] > 0.2                                     # con k = 1 es (en media) la ELBO: queda lejos
    assert abs(gaps[-1]) < 0.01                              # con k = 2000, casi exacta
    assert abs((exact - m.elbo(x)).mean().item() - gaps[0]) < 0.1


def test_log_likelihood_is_chunks_are_consistent():
    m, x = _model()
    torch.manual_seed(1)
    a = log_likelihood_is(m, x[:20], 3000, chunk=3000)
    torch.manual_seed(2)
    b = log_likelihood_is(m, x[:20], 3000, chunk=250)
    assert torch.allclose(a, b, atol=0.1)   # un error de normalización daría log(12) ~ 2.5


def test_log_likelihood_is_bad_input():
    m, x = _model()
    with pytest.raises(ValueError, match="entero positivo"):
        log_likelihood_is(m, x, 0)
    with pytest.raises(ValueError, match="log_weights"):
        log_likelihood_is(torch.nn.Linear(2, 2), x, 5)


def test_is_chunk_follows_free_memory(monkeypatch):
    import math
    from vaebook_lib import metrics
    m, x = _model()
    cpu = torch.device("cpu")
    c = m.config
    per_sample = 16 * 100 * (math.prod(c.in_shape) + sum(c.hidden) + 2 * c.latent_dim)   # bytes, lote de 100
    sizes = []
    for samples in (0, 10, 1000, 10**6):       # memoria libre para tantas muestras (con el margen de 1/4)
        monkeypatch.setattr(metrics, "free_memory", lambda device, s=samples: 4 * s * per_sample)
        sizes.append(metrics.is_chunk(m, 100, 5000, cpu))
    assert sizes == [1, 10, 1000, 5000]        # crece con la memoria, al menos 1 y nunca más de k


def test_log_likelihood_is_default_chunk_is_is_chunk(monkeypatch):
    from vaebook_lib import metrics
    m, x = _model()
    import math
    c = m.config
    per_sample = 16 * 20 * (math.prod(c.in_shape) + sum(c.hidden) + 2 * c.latent_dim)
    monkeypatch.setattr(metrics, "free_memory", lambda device: 4 * 7 * per_sample)   # trozos de 7 muestras
    chunk = metrics.is_chunk(m, 20, 50, torch.device("cpu"))
    assert chunk == 7
    torch.manual_seed(3)
    a = log_likelihood_is(m, x[:20], 50, batch_size=20)
    torch.manual_seed(3)
    b = log_likelihood_is(m, x[:20], 50, batch_size=20, chunk=chunk)
    assert torch.equal(a, b)
    for bad in (0, 2.5):
        with pytest.raises(ValueError, match="chunk"):
            log_likelihood_is(m, x[:5], 10, chunk=bad)


def test_is_chunk_without_a_book_config(monkeypatch):
    from vaebook_lib import metrics

    class Bare:   # solo la interfaz de log_likelihood_is
        pass
    monkeypatch.setattr(metrics, "free_memory", lambda device: 4 * 5 * 16 * 10 * (2 * 3))
    assert metrics.is_chunk(Bare(), 10, 100, torch.device("cpu"), x_dim=3) == 5
    with pytest.raises(ValueError, match="x_dim"):
        metrics.is_chunk(Bare(), 10, 100, torch.device("cpu"))


def test_is_chunk_when_the_system_does_not_report_memory(monkeypatch):
    from vaebook_lib import metrics
    m, x = _model()
    monkeypatch.setattr(metrics.os, "sysconf_names", {"SC_PHYS_PAGES": 1, "SC_PAGE_SIZE": 2})   # macOS
    monkeypatch.setattr(metrics.os, "sysconf", lambda name: {"SC_PHYS_PAGES": 1000, "SC_PAGE_SIZE": 4096}[name])
    assert metrics.free_memory(torch.device("cpu")) == 1000 * 4096
    monkeypatch.setattr(metrics.os, "sysconf_names", {})                                         # Windows
    assert metrics.free_memory(torch.device("cpu")) is None
    assert metrics.is_chunk(m, 100, 5000, torch.device("cpu")) == metrics.FIXED_CHUNK
    assert metrics.is_chunk(m, 100, 64, torch.device("cpu")) == 64
    with pytest.raises(ValueError, match="vacío"):
        log_likelihood_is(m, x[:0], 10)


def test_log_likelihood_is_validates_x_once_and_skips_distribution_checks():
    """Con un modelo del libro, x se valida con check_input (error en español, no el de torch.distributions) y,
    dentro, sin las comprobaciones de torch.distributions en cada copia del lote: los mismos valores, bit a bit,
    y la validación global vuelve a su estado."""
    from torch.distributions import Distribution

    from vaebook_lib.models import VAE

    torch.manual_seed(0)
    m = VAE(in_shape=(1, 8, 8), latent_dim=2, hidden=(16,))
    x = (torch.rand(30, 1, 8, 8) > 0.5).float()
    seen = []
    log_weights = m.log_weights

    def spy(xb, k):
        seen.append(Distribution._validate_args)
        return log_weights(xb, k)

    m.log_weights = spy
    before = Distribution._validate_args
    torch.manual_seed(1)
    fast = log_likelihood_is(m, x, 40, batch_size=10, chunk=15)
    assert seen and not any(seen) and Distribution._validate_args == before
    m.log_weights = log_weights
    torch.manual_seed(1)
    ref = []
    for s in range(0, 30, 10):                      # a mano, con la validación de torch.distributions
        with torch.no_grad():
            parts = [torch.logsumexp(m.log_weights(x[s:s + 10], c), 0) for c in (15, 15, 10)]
        ref.append(torch.logsumexp(torch.stack(parts), 0) - math.log(40))
    assert torch.equal(fast, torch.cat(ref))
    for bad, match in ((torch.full_like(x, 0.5), "binario"), (x * float("nan"), "NaN"), (x[:, :, :4], "forma")):
        with pytest.raises(ValueError, match=match):
            log_likelihood_is(m, bad, 5)
    assert Distribution._validate_args == before
