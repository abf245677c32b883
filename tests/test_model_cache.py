"""La caché de modelos entrenados: acierto, fallo, invalidación por código y entradas corruptas."""
import pytest
import torch

from vaebook_lib import model_cache
from vaebook_lib.models import MODELS


def data(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 1, 28, 28, generator=g) > 0.5).float()


def build(key="vae", seed=0, **cfg):
    torch.manual_seed(seed)
    return MODELS[key](latent_dim=2, hidden=(16,), **cfg)


ARGS = dict(epochs=2, batch_size=32, lr=1e-3, seed=0, progress=False)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(model_cache.ENV, str(tmp_path))
    calls = []
    real_fit = model_cache.fit

    def counting_fit(*a, **k):
        calls.append(1)
        return real_fit(*a, **k)

    monkeypatch.setattr(model_cache, "fit", counting_fit)
    return tmp_path, calls


def test_a_hit_restores_weights_buffers_and_history_without_training(cache):
    folder, calls = cache
    x = data()
    first = build("vae_annealed", warmup=0.5)
    h1 = model_cache.fit_cached(first, x, x[:16], **ARGS)
    assert len(calls) == 1 and len(list(folder.glob("*.pt"))) == 1
    second = build("vae_annealed", warmup=0.5)
    h2 = model_cache.fit_cached(second, x, x[:16], **ARGS)
    assert len(calls) == 1, "un entrenamiento idéntico no debe repetirse"
    for (k, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items()):
        assert torch.equal(a, b), k
    assert dict(h1.val) == dict(h2.val) and dict(h1.train) == dict(h2.train) and h1.examples == h2.examples
    assert not second.training
    assert h2.lr == h1.lr == [ARGS["lr"]] * ARGS["epochs"]
    torch.manual_seed(3)
    loss_a = first(x[:8]).loss
    torch.manual_seed(3)
    assert torch.equal(loss_a, second(x[:8]).loss)


def test_a_hit_leaves_the_random_generators_as_training_left_them(cache):
    """Lo que el cuaderno sortea tras entrenar (muestras, IS) no depende de que la caché estuviera caliente."""
    import random

    import numpy as np

    x = data()
    model_cache.fit_cached(build("vae"), x, **ARGS)
    after_fit = (torch.rand(3), np.random.rand(3), random.random())
    torch.manual_seed(123), np.random.seed(123), random.seed(123)      # otro estado cualquiera
    model_cache.fit_cached(build("vae"), x, **ARGS)
    after_hit = (torch.rand(3), np.random.rand(3), random.random())
    assert len(cache[1]) == 1
    assert torch.equal(after_fit[0], after_hit[0]) and np.array_equal(after_fit[1], after_hit[1])
    assert after_fit[2] == after_hit[2]


@pytest.mark.parametrize("change", ["lr", "lr_final", "epochs", "seed", "data", "init", "config", "val"])
def test_anything_that_changes_the_result_is_a_miss(cache, change):
    folder, calls = cache
    x = data()
    model_cache.fit_cached(build(), x, **ARGS)
    args, model, train, val = dict(ARGS), build(), x, None
    if change in ("lr", "lr_final", "epochs", "seed"):
        args[change] = {"lr": 2e-3, "lr_final": 1e-4, "epochs": 1, "seed": 1}[change]
    elif change == "data":
        train = data(seed=1)
    elif change == "init":
        model = build(seed=1)
    elif change == "config":
        model = MODELS["vae"](latent_dim=3, hidden=(16,))
    else:
        val = x[:16]
    model_cache.fit_cached(model, train, val, **args)
    assert len(calls) == 2 and len(list(folder.glob("*.pt"))) == 2


def test_a_decaying_rate_is_stored_with_its_history(cache):
    x = data()
    h1 = model_cache.fit_cached(build(), x, **ARGS, lr_final=1e-5)
    h2 = model_cache.fit_cached(build(), x, **ARGS, lr_final=1e-5)
    assert len(cache[1]) == 1 and h2.lr == h1.lr == pytest.approx([1e-3, 1e-5])


def test_a_change_in_the_library_code_invalidates_the_cache(cache, monkeypatch):
    folder, calls = cache
    x = data()
    model_cache.fit_cached(build(), x, **ARGS)
    monkeypatch.setattr(model_cache, "code_hash", lambda: "otro código")
    model_cache.fit_cached(build(), x, **ARGS)
    assert len(calls) == 2


def test_a_corrupt_entry_is_retrained_and_replaced(cache, capsys):
    folder, calls = cache
    x = data()
    model_cache.fit_cached(build(), x, **ARGS)
    entry = next(folder.glob("*.pt"))
    entry.write_bytes(b"no es un checkpoint")
    model = build()
    model_cache.fit_cached(model, x, **ARGS)
    assert len(calls) == 2 and "se vuelve a entrenar" in capsys.readouterr().out
    model_cache.fit_cached(build(), x, **ARGS)   # reescrita: ahora es un acierto
    assert len(calls) == 2


@pytest.mark.parametrize("broken", ["sin lr", "sin seconds", "lr no numérico"])
def test_an_entry_with_a_broken_history_is_retrained_not_filled_in(cache, capsys, broken):
    """Un historial incompleto no se completa con valores por defecto: la entrada se reentrena."""
    folder, calls = cache
    x = data()
    model_cache.fit_cached(build(), x, **ARGS, lr_final=1e-5)
    entry = next(folder.glob("*.pt"))
    blob = torch.load(entry, weights_only=True)
    key = {"sin lr": "lr", "sin seconds": "seconds"}.get(broken)
    if key:
        del blob["history"][key]
    else:
        blob["history"]["lr"] = [None, None]
    torch.save(blob, entry)
    h = model_cache.fit_cached(build(), x, **ARGS, lr_final=1e-5)
    assert len(calls) == 2 and "se vuelve a entrenar" in capsys.readouterr().out
    assert h.lr == pytest.approx([1e-3, 1e-5])


def test_off_always_trains_and_writes_nothing(cache, monkeypatch):
    folder, calls = cache
    monkeypatch.setenv(model_cache.ENV, "off")
    x = data()
    model_cache.fit_cached(build(), x, **ARGS)
    model_cache.fit_cached(build(), x, **ARGS)
    assert len(calls) == 2 and not list(folder.glob("*.pt"))


def test_what_the_fingerprint_cannot_capture_is_refused(cache):
    with pytest.raises(ValueError, match="callbacks"):
        model_cache.fit_cached(build(), data(), callbacks=[lambda *a: None], **ARGS)
    with pytest.raises(ValueError, match="modelo de vaebook_lib"):
        model_cache.fingerprint(torch.nn.Linear(2, 2), data())


def test_the_code_hash_covers_every_module():
    assert len(model_cache.code_hash()) == 64
    assert (model_cache.LIBRARY / "models" / "vae.py").exists()


def test_make_test_starts_from_an_empty_cache_shared_by_the_whole_run():
    """make test entrena de verdad cada modelo distinto: su caché empieza vacía (se borra antes de cada ejecución),
    vive en una carpeta ignorada por git y la comparten las dos tandas de pytest (ninguna usa la del usuario)."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    lines = (root / "Makefile").read_text(encoding="utf-8").splitlines()
    where = next(line.split(":=", 1)[1].strip() for line in lines if line.startswith("TEST_MODELS :="))
    assert where.startswith("$(CURDIR)/_build/") and "_build/" in (root / ".gitignore").read_text()
    start = lines.index(next(line for line in lines if line.startswith("test:")))
    recipe = []
    for line in lines[start + 1:]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    assert recipe[0] == "rm -rf $(TEST_MODELS)", recipe[0]
    runs = [line for line in recipe if "-m pytest" in line]
    assert len(runs) == 2 and all("VAEBOOK_MODEL_CACHE=$(TEST_MODELS) " in line for line in runs), runs
