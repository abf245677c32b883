"""El camino caliente de ``fit``: Adam fusionado, validaciones fuera del bucle, mismos resultados que antes."""
import pytest
import torch
from torch.distributions import Distribution

from vaebook_lib.models import AE, Output
from vaebook_lib.models.base import Model
from vaebook_lib.train import _default_optimizer, fit


def _data(n=64):
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(1))


def test_default_optimizer_is_fused_adam_on_cpu():
    opt = _default_optimizer(AE(hidden=(8,)), 1e-3, torch.device("cpu"))
    assert isinstance(opt, torch.optim.Adam) and opt.defaults["fused"] and opt.defaults["lr"] == 1e-3


def test_fused_default_matches_plain_adam():
    runs = []
    for opt in (None, "plain"):
        torch.manual_seed(0)
        model = AE(hidden=(32,), latent_dim=4)
        o = torch.optim.Adam(model.parameters(), lr=1e-3) if opt else None
        runs.append(fit(model, _data(), epochs=3, batch_size=16, seed=2, device="cpu", optimizer=o,
                        progress=False).train["loss"])
    assert runs[0][-1] < runs[0][0]                          # aprende
    assert runs[0] == pytest.approx(runs[1], rel=1e-4)      # el mismo algoritmo: las mismas curvas


def test_binarize_checks_the_range_once():
    x = _data()
    x[3, 0, 0, 0] = 1.5
    with pytest.raises(ValueError, match="binarizar"):
        fit(AE(hidden=(8,)), x, epochs=1, binarize=True, device="cpu", progress=False)


class _Breaks(Model):
    """Pérdida finita en el primer paso y NaN en el segundo."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(()))
        self.calls = 0

    def forward(self, x, y=None):
        self.calls += 1
        self.validating = Distribution._validate_args
        loss = self.w * (1.0 if self.calls < 2 else float("nan"))
        return Output(loss=loss, terms={"loss": loss.detach()})


def test_non_finite_loss_stops_at_the_step_and_restores_validation():
    before = Distribution._validate_args
    model = _Breaks()
    with pytest.raises(FloatingPointError, match="paso 1"):
        fit(model, _data(8), epochs=1, batch_size=4, device="cpu", progress=False)
    assert model.validating is False                          # dentro del bucle no se revalida cada lote
    assert Distribution._validate_args == before             # la validación vuelve a su estado tras el bucle


def test_fast_binarization_has_the_bernoulli_law():
    from vaebook_lib.data.transforms import binarize_fast

    p = torch.tensor([0.0, 0.1, 0.5, 0.9, 1.0]).expand(20000, 5)
    b = binarize_fast(p, torch.Generator().manual_seed(0))
    assert set(b.unique().tolist()) <= {0.0, 1.0} and b.dtype == p.dtype
    freq = b.mean(0)
    assert freq[0] == 0 and freq[-1] == 1                       # los extremos son deterministas
    # media de 20000 Bernoulli: desviación típica <= 0.0036; 5 sigmas de margen
    torch.testing.assert_close(freq, p[0], atol=0.018, rtol=0)


def test_fast_binarization_quantum_odd_sizes_and_independent_neighbours():
    from vaebook_lib.data.transforms import binarize_fast

    gen = torch.Generator().manual_seed(1)
    # P(1) = ceil(65536 p) / 65536: con p por debajo de 1/65536 sale 1 con probabilidad exactamente 1/65536
    tiny = binarize_fast(torch.full((4_000_000,), 1e-7), gen)
    assert 20 <= tiny.sum() <= 110                               # media 61, 6 sigmas
    half = binarize_fast(torch.full((400_000,), 0.3, dtype=torch.float16), gen)  # la suma va en float32
    assert half.dtype == torch.float16 and abs(half.float().mean().item() - 0.3) < 0.004
    for shape in [(3, 5), (1,), (7, 1, 3, 3)]:                   # tamaños que no son múltiplo de 4
        b = binarize_fast(torch.rand(shape, generator=gen, dtype=torch.float64), gen)
        assert b.shape == shape and b.dtype == torch.float64
    # cuatro píxeles seguidos salen del mismo número de 64 bits: han de ser independientes
    b = binarize_fast(torch.full((200_000, 4), 0.5), gen)
    corr = torch.corrcoef(b.T)
    assert (corr - torch.eye(4)).abs().max() < 0.015            # 0 esperado; desviación típica ~0.0022
    counts = b.sum(1).long().bincount(minlength=5).double() / len(b)    # binomial(4, 1/2)
    assert (counts - torch.tensor([1, 4, 6, 4, 1]) / 16).abs().max() < 0.01


def test_binarize_transform_draws_anew_each_batch_with_its_generator():
    from vaebook_lib.data.transforms import Binarize, binarize_fast

    x = torch.rand(6, 1, 4, 4, generator=torch.Generator().manual_seed(2))
    transform = Binarize(torch.Generator().manual_seed(3))
    first, second = transform(x), transform(x)
    gen = torch.Generator().manual_seed(3)
    assert torch.equal(first, binarize_fast(x, gen)) and torch.equal(second, binarize_fast(x, gen))
    assert not torch.equal(first, second)                      # un sorteo nuevo por lote


def test_off_cpu_the_loss_is_checked_once_per_epoch():
    """En GPU no se sincroniza en cada paso: la pérdida se comprueba en la media de la época (sin GPU aquí, se
    pide la política de un dispositivo que no es la CPU)."""
    from vaebook_lib.train import NonFiniteCheck

    check = NonFiniteCheck(torch.device("cuda"))
    model = AE(hidden=(8,))
    check.step(torch.tensor(float("nan")), 0, 3)               # ninguna sincronización por paso
    check.epoch({"loss": 1.0}, model, 0)
    with pytest.raises(FloatingPointError, match="época 2: pruebe"):
        check.epoch({"loss": float("inf"), "kl": 0.0}, model, 1)
    with pytest.raises(FloatingPointError, match="paso 3"):
        NonFiniteCheck(torch.device("cpu")).step(torch.tensor(float("nan")), 0, 3)


# --- subnormales como cero ----------------------------------------------------------------------------------
def _flushing():
    return (torch.tensor([1e-39]) * 1.0).item() == 0.0


@pytest.mark.parametrize("start", [False, True])
def test_flush_denormals_flushes_inside_and_restores_the_previous_mode(start):
    from vaebook_lib.config import flush_denormals

    if not torch.set_flush_denormal(start) and start:
        pytest.skip("este procesador no admite tratar los subnormales como cero")
    try:
        with flush_denormals():
            assert _flushing()                                 # dentro, un subnormal es cero
        assert _flushing() == start                          # fuera, el modo de antes
        with pytest.raises(RuntimeError):
            with flush_denormals():
                raise RuntimeError("falla dentro")
        assert _flushing() == start                          # también si el bloque falla
    finally:
        torch.set_flush_denormal(False)


class _Spy(Model):
    """Anota si el bucle la llama con los subnormales tratados como cero."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(()))
        self.seen = []

    def forward(self, x, y=None):
        self.seen.append(_flushing())
        loss = (self.w * x.mean()) ** 2
        return Output(loss=loss, terms={"loss": loss.detach()})


def test_fit_and_evaluate_flush_denormals_only_while_they_run():
    from vaebook_lib.train import evaluate

    torch.set_flush_denormal(False)
    model = _Spy()
    fit(model, _data(8), val=_data(4), epochs=2, batch_size=4, device="cpu", progress=False)
    evaluate(model, _data(4))
    assert model.seen and all(model.seen)                    # entrenamiento, validación y evaluación
    assert not _flushing()                                   # y el proceso queda como estaba


def test_flushing_denormals_does_not_change_what_the_iwae_learns(monkeypatch):
    """Con k = 50 los pesos normalizados diminutos son subnormales: tratarlos como cero no cambia las curvas."""
    import contextlib

    import vaebook_lib.train as train
    from vaebook_lib.models import IWAE

    x = (_data(96) > 0.5).float()
    runs = []
    for flush in (True, False):
        if not flush:
            monkeypatch.setattr(train, "flush_denormals", contextlib.nullcontext)
        torch.manual_seed(0)
        model = IWAE(hidden=(64,), latent_dim=8, k=50)
        runs.append(fit(model, x, epochs=3, batch_size=32, seed=1, device="cpu", progress=False).train)
    assert runs[0]["bound"][-1] > runs[0]["bound"][0]         # aprende
    for key in ("loss", "bound", "elbo"):
        assert runs[0][key] == pytest.approx(runs[1][key], rel=1e-5), key


def test_evaluate_skips_distribution_checks_with_the_same_values():
    """evaluate: el modelo valida cada lote; dentro, sin las comprobaciones de torch.distributions (los mismos
    valores que con ellas) y, al salir, la validación global como estaba."""
    from vaebook_lib.models import VAE
    from vaebook_lib.train import evaluate

    torch.manual_seed(0)
    m = VAE(in_shape=(1, 8, 8), latent_dim=2, hidden=(16,))
    x = (torch.rand(40, 1, 8, 8) > 0.5).float()
    seen, forward = [], m.forward

    def spy(*args, **kwargs):
        seen.append(Distribution._validate_args)
        return forward(*args, **kwargs)

    m.forward = spy
    before = Distribution._validate_args
    torch.manual_seed(1)
    fast = evaluate(m, x, batch_size=16)
    assert len(seen) == 3 and not any(seen) and Distribution._validate_args == before
    m.forward = forward
    torch.manual_seed(1)
    with torch.no_grad():
        m.eval()
        outs = [m(x[s:s + 16]) for s in range(0, 40, 16)]
    ref = {k: sum(float(o.terms[k]) * n for o, n in zip(outs, (16, 16, 8))) / 40 for k in fast}
    assert fast == pytest.approx(ref, rel=1e-6)
    with pytest.raises(ValueError, match="binario"):
        evaluate(m, torch.full_like(x, 0.5))
    assert Distribution._validate_args == before
