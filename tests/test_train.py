import pytest
import torch

from vaebook_lib.data import ImageData
from vaebook_lib.models import AE, VAE
from vaebook_lib.train import evaluate, fit


def toy_images(n=256, seed=0):
    """Imágenes 8x8 con estructura (barras horizontales o verticales) para que haya algo que aprender."""
    g = torch.Generator().manual_seed(seed)
    kind = torch.randint(0, 2, (n,), generator=g)
    pos = torch.randint(0, 8, (n,), generator=g)
    x = torch.zeros(n, 1, 8, 8)
    x[kind == 0, 0, pos[kind == 0], :] = 1
    x[kind == 1, 0, :, pos[kind == 1]] = 1
    return ImageData(x, kind, ("horizontal", "vertical"))


def small_vae():
    return VAE(in_shape=(1, 8, 8), latent_dim=2, hidden=(32,))


def test_fit_learns_and_records_every_term():
    data = toy_images()
    h = fit(small_vae(), data, data.subset(64), epochs=15, batch_size=32, lr=3e-3, progress=False)
    assert set(h.train) == {"loss", "recon", "kl", "elbo"} == set(h.val)
    assert h.epochs == 15 and len(h.val["loss"]) == 15
    assert h.train["loss"][-1] < 0.7 * h.train["loss"][0]
    assert h.examples == 15 * len(data) and h.examples_per_second > 0


def test_fit_is_deterministic_on_cpu():
    data = toy_images()
    runs = []
    for _ in range(2):
        model = small_vae()
        torch.manual_seed(123)  # pesos iniciales iguales
        model = small_vae()
        runs.append((fit(model, data, epochs=2, batch_size=32, seed=7, binarize=True, progress=False), model))
    assert runs[0][0].train == runs[1][0].train
    assert all(torch.equal(a, b) for a, b in zip(runs[0][1].state_dict().values(), runs[1][1].state_dict().values()))


def test_validation_uses_the_training_objective():
    data = toy_images(64)
    model = AE(in_shape=(1, 8, 8), latent_dim=2, hidden=(16,))
    h = fit(model, data, data, epochs=1, batch_size=64, lr=1e-9, progress=False)
    assert h.val["loss"][-1] == pytest.approx(evaluate(model, data.x)["loss"], rel=1e-5)


def test_callbacks_can_stop_training_and_schedule_is_called():
    seen = []

    class Spy(AE):
        key = "spy"

        def schedule(self, progress):
            seen.append(progress)

    data = toy_images(64)
    h = fit(Spy(in_shape=(1, 8, 8), latent_dim=2, hidden=(8,)), data, epochs=5, batch_size=32,
            callbacks=[lambda epoch, hist, model: epoch == 1], progress=False)
    assert h.epochs == 2
    assert seen[0] == 0.0 and seen == sorted(seen) and max(seen) < 1


def test_fit_passes_labels_to_the_model():
    got = []

    class Conditional(AE):
        key = "cond"

        def forward(self, x, y=None):
            got.append(y)
            return super().forward(x)

    data = toy_images(32)
    fit(Conditional(in_shape=(1, 8, 8), latent_dim=2, hidden=(8,)), data, epochs=1, batch_size=16, progress=False)
    assert all(y is not None and len(y) == 16 for y in got)


def test_bad_arguments_are_spanish_errors():
    with pytest.raises(ValueError, match="entero positivo"):
        fit(small_vae(), toy_images(), epochs=0)
    with pytest.raises(ValueError, match="ImageData"):
        fit(small_vae(), [1, 2, 3], epochs=1)


def test_diverging_loss_stops_with_a_clear_error():
    data = toy_images(64)
    with pytest.raises(FloatingPointError, match="tasa de aprendizaje"):
        fit(AE(in_shape=(1, 8, 8), latent_dim=2, hidden=(8,), output="identity"), data.x * 1e30, epochs=3,
            batch_size=32, lr=1e3, progress=False)


def test_model_returns_to_its_device_after_fit(monkeypatch):
    """Entrenado en otro dispositivo, el modelo vuelve al suyo (aquí se simula con 'meta' -> cpu)."""
    data = toy_images(32)
    model = small_vae()
    moved = []
    original = type(model).to

    def spy(self, *args, **kwargs):
        moved.append(torch.device(args[0]) if args else None)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(type(model), "to", spy)
    fit(model, data, epochs=1, batch_size=16, device="cpu", progress=False)
    assert moved[-1] == torch.device("cpu") and next(model.parameters()).device.type == "cpu"
    assert not model.training


@pytest.mark.parametrize("lr", [float("inf"), float("nan"), -1e-3, 0.0, "1e-3"])
def test_non_finite_or_non_positive_lr_is_refused(lr):
    with pytest.raises(ValueError, match="lr debe ser un número positivo y finito"):
        fit(small_vae(), toy_images(32), epochs=1, lr=lr, progress=False)


def test_lr_final_decays_the_rate_exponentially_from_lr_to_lr_final():
    data = toy_images(64)
    h = fit(small_vae(), data, epochs=4, batch_size=32, lr=1e-2, lr_final=1e-4, progress=False)
    ratio = 1e-2 ** (1 / 3)                                   # (lr_final / lr) ** (1 / (epochs - 1))
    assert h.lr == pytest.approx([1e-2, 1e-2 * ratio, 1e-2 * ratio ** 2, 1e-4], rel=1e-9)
    assert fit(small_vae(), data, epochs=3, batch_size=32, lr=1e-2, progress=False).lr == [1e-2] * 3
    assert fit(small_vae(), data, epochs=1, lr=1e-2, lr_final=1e-4, progress=False).lr == [1e-2]


def test_lr_final_equal_to_lr_is_the_constant_rate_and_a_lower_one_changes_training():
    data = toy_images(64)
    runs = {}
    for name, lr_final in (("constante", None), ("igual", 3e-3), ("baja", 3e-5)):
        torch.manual_seed(0)
        model = small_vae()
        fit(model, data, epochs=3, batch_size=32, lr=3e-3, lr_final=lr_final, progress=False)
        runs[name] = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert torch.equal(runs["constante"], runs["igual"])
    assert not torch.allclose(runs["constante"], runs["baja"])


@pytest.mark.parametrize("lr_final", [float("inf"), float("nan"), -1e-3, 0.0, "1e-3", True])
def test_bad_lr_final_is_refused(lr_final):
    with pytest.raises(ValueError, match="lr_final debe ser un número positivo y finito"):
        fit(small_vae(), toy_images(32), epochs=2, lr_final=lr_final, progress=False)


def test_lr_final_with_an_own_optimizer_is_refused():
    model = small_vae()
    with pytest.raises(ValueError, match="optimizador propio"):
        fit(model, toy_images(32), epochs=2, lr_final=1e-4, optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
            progress=False)


def test_weights_broken_by_the_last_step_stop_training():
    """Un solo paso con una tasa enorme (finita): la pérdida antes del paso es finita, los pesos después no."""
    model = small_vae()
    with pytest.raises(FloatingPointError, match="parámetros no finitos"):
        fit(model, toy_images(32), epochs=1, batch_size=32, lr=1e300, progress=False)
    assert not all(torch.isfinite(p).all() for p in model.parameters())  # el error describe el estado real


def test_evaluate_refuses_an_empty_set():
    with pytest.raises(ValueError, match="vacío"):
        evaluate(small_vae(), torch.zeros(0, 1, 8, 8))


@pytest.mark.parametrize("kw", [dict(epochs=2.5), dict(epochs=0), dict(batch_size=0), dict(batch_size=16.0)])
def test_epochs_and_batch_size_must_be_positive_integers(kw):
    with pytest.raises(ValueError, match=f"{next(iter(kw))} debe ser un entero positivo"):
        fit(small_vae(), toy_images(32), **{"epochs": 1, **kw}, progress=False)


def test_the_core_of_fit_is_short_enough_to_read():
    """El cuerpo de fit (sin docstring) cabe en una página del libro: DDP, validación, binarización y la política
    de no finitos viven en piezas con nombre."""
    import inspect

    body = inspect.getsource(fit).split('"""')[2].strip().splitlines()
    assert len(body) <= 60, len(body)
