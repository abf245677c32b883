"""fit_parallel: varios entrenamientos independientes a la vez, con el mismo resultado que en serie."""
import random
import sys

import numpy as np
import pytest
import torch

from vaebook_lib import model_cache
from vaebook_lib.model_cache import FitJob, fit_parallel
from vaebook_lib.models import MODELS

ARGS = dict(epochs=2, batch_size=32, lr=1e-3)
needs_fork = pytest.mark.skipif(not model_cache._can_fork(), reason="procesos por fork: solo Linux sin CUDA")


def data(n=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 1, 28, 28, generator=g) > 0.5).float()


def models():
    """Tres modelos distintos, uno con estado que cambia al entrenar (el peso de la KL del recocido)."""
    out = []
    for seed, (key, cfg) in enumerate((("vae", {}), ("vae_annealed", {"warmup": 0.5}), ("iwae", {"k": 3}))):
        torch.manual_seed(seed)
        out.append(MODELS[key](latent_dim=2, hidden=(16,), **cfg))
    return out


def jobs(ms, x):
    return [FitJob(m, x, x[:32], seed=i, **ARGS) for i, m in enumerate(ms)]


@pytest.fixture(params=["off", "dir"])
def cache(request, tmp_path, monkeypatch):
    monkeypatch.setenv(model_cache.ENV, "off" if request.param == "off" else str(tmp_path))
    return request.param, tmp_path


def draws():
    return torch.rand(4), np.random.rand(2), random.random()


@needs_fork
@pytest.mark.parametrize("workers", [2, 3])
def test_parallel_gives_exactly_what_training_in_order_gives(cache, workers):
    x = data()
    serial = models()
    h_serial = [model_cache.fit_cached(m, x, x[:32], seed=i, progress=False, **ARGS) for i, m in enumerate(serial)]
    after_serial = draws()
    torch.manual_seed(99)                      # otro estado: fit_parallel debe dejar el del último entrenamiento
    parallel = models()
    h_parallel = fit_parallel(jobs(parallel, x), workers=workers, progress=False)
    after_parallel = draws()
    for a, b in zip(serial, parallel):
        assert not b.training
        for (k, va), (_, vb) in zip(a.state_dict().items(), b.state_dict().items()):
            assert torch.equal(va, vb), k
    assert parallel[1].kl_weight.item() == serial[1].kl_weight.item() == 1.0   # estado cambiado al entrenar
    for a, b in zip(h_serial, h_parallel):
        assert dict(a.train) == dict(b.train) and dict(a.val) == dict(b.val) and a.lr == b.lr
    assert torch.equal(after_serial[0], after_parallel[0]) and np.array_equal(after_serial[1], after_parallel[1])
    assert after_serial[2] == after_parallel[2]


@needs_fork
def test_children_really_train_and_fill_the_cache(tmp_path, monkeypatch):
    """Los hijos entrenan (el padre no) y dejan sus entradas en la caché: después, fit_cached acierta."""
    monkeypatch.setenv(model_cache.ENV, str(tmp_path))
    parent_calls = []
    real_fit = model_cache.fit
    parent = __import__("os").getpid()

    def counting_fit(*a, **k):
        if __import__("os").getpid() == parent:
            parent_calls.append(1)
        return real_fit(*a, **k)

    monkeypatch.setattr(model_cache, "fit", counting_fit)
    x = data()
    fit_parallel(jobs(models(), x), workers=2, progress=False)
    assert parent_calls == [] and len(list(tmp_path.glob("*.pt"))) == 3
    again = models()
    for i, m in enumerate(again):
        model_cache.fit_cached(m, x, x[:32], seed=i, progress=False, **ARGS)
    assert parent_calls == [], "los entrenamientos de los hijos deberían estar en la caché"


@needs_fork
def test_a_child_that_dies_is_trained_by_the_parent(monkeypatch):
    monkeypatch.setenv(model_cache.ENV, "off")
    monkeypatch.setattr(model_cache, "_train_in_child", lambda *a: __import__("os")._exit(3))
    x = data()
    serial = models()
    expected = [model_cache.fit_cached(m, x, x[:32], seed=i, progress=False, **ARGS) for i, m in enumerate(serial)]
    parallel = models()
    got = fit_parallel(jobs(parallel, x), workers=2, progress=False)
    assert [dict(h.train) for h in got] == [dict(h.train) for h in expected]
    assert all(torch.equal(a, b) for m, n in zip(serial, parallel)
               for a, b in zip(m.state_dict().values(), n.state_dict().values()))


@needs_fork
def test_an_error_in_a_job_reaches_the_notebook_as_its_own_error(monkeypatch):
    monkeypatch.setenv(model_cache.ENV, "off")
    grey = torch.full((32, 1, 28, 28), 0.5)                 # no binaria: un VAE de Bernoulli la rechaza
    torch.manual_seed(0)
    ms = [MODELS["vae"](latent_dim=2, hidden=(8,)) for _ in range(2)]
    with pytest.raises(ValueError, match="binari"):
        fit_parallel([FitJob(m, grey, epochs=1) for m in ms], workers=2, progress=False)


def test_one_worker_trains_in_order_in_this_process(monkeypatch):
    monkeypatch.setenv(model_cache.ENV, "off")
    monkeypatch.setattr(model_cache, "_train_in_child", lambda *a: pytest.fail("con un proceso no hay hijos"))
    x = data()
    serial = models()
    expected = [model_cache.fit_cached(m, x, x[:32], seed=i, progress=False, **ARGS) for i, m in enumerate(serial)]
    got = fit_parallel(jobs(models(), x), workers=1, progress=False)
    assert [dict(h.train) for h in got] == [dict(h.train) for h in expected]
    monkeypatch.setenv(model_cache.ENV_WORKERS, "1")
    got = fit_parallel(jobs(models(), x), progress=False)
    assert [dict(h.train) for h in got] == [dict(h.train) for h in expected]


def test_without_fork_it_trains_in_order(monkeypatch):
    monkeypatch.setenv(model_cache.ENV, "off")
    monkeypatch.setattr(sys, "platform", "darwin")
    assert not model_cache._can_fork()
    monkeypatch.setattr(model_cache, "_train_in_child", lambda *a: pytest.fail("sin fork no hay hijos"))
    got = fit_parallel(jobs(models(), data()), workers=2, progress=False)
    assert len(got) == 3 and all(h.epochs == ARGS["epochs"] for h in got)


def test_bad_requests_are_refused_in_spanish(monkeypatch):
    x = data()
    m = models()[0]
    with pytest.raises(ValueError, match="lista de FitJob"):
        fit_parallel([(m, x)])
    with pytest.raises(ValueError, match="mismo modelo"):
        fit_parallel([FitJob(m, x, **ARGS), FitJob(m, x, **ARGS)])
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="workers"):
            fit_parallel([FitJob(m, x, **ARGS)], workers=bad)
    with pytest.raises(ValueError, match="epochs"):
        FitJob(m, x, lr=1e-3)
    with pytest.raises(ValueError, match="modelo de vaebook_lib"):
        FitJob(torch.nn.Linear(2, 2), x, epochs=1)
    with pytest.raises(ValueError, match="progress"):
        FitJob(m, x, epochs=1, progress=False)
    with pytest.raises(ValueError, match="no admite optimizer"):
        fit_parallel([FitJob(m, x, epochs=1, optimizer=torch.optim.SGD(m.parameters(), lr=0.1))], workers=1)
    for bad in ("0", "dos", "-2"):
        monkeypatch.setenv(model_cache.ENV_WORKERS, bad)
        with pytest.raises(ValueError, match="VAEBOOK_WORKERS"):
            model_cache.default_workers()
    monkeypatch.delenv(model_cache.ENV_WORKERS)
    assert model_cache.default_workers() >= 1
    assert "vae" in repr(FitJob(m, x, epochs=1))


@needs_fork
def test_the_iterator_hands_each_model_over_as_the_serial_loop_would(monkeypatch):
    """Lo que se sortea al medir cada modelo, entre un entrenamiento y el siguiente, es lo mismo que en serie."""
    monkeypatch.setenv(model_cache.ENV, "off")
    x = data()

    def measure(m):
        return m(x[:8]).loss.item(), torch.rand(2)        # usa los generadores globales: la muestra de q

    serial = []
    for i, m in enumerate(models()):
        model_cache.fit_cached(m, x, seed=i, progress=False, **ARGS)
        serial.append(measure(m))
    ms = models()
    iterated = [measure(m) for m, _ in zip(ms, model_cache.fit_parallel_iter(
        [FitJob(m, x, seed=i, **ARGS) for i, m in enumerate(ms)], workers=2, progress=False))]
    assert [a for a, _ in serial] == [a for a, _ in iterated]
    assert all(torch.equal(a, b) for (_, a), (_, b) in zip(serial, iterated))


def test_fit_runs_keeps_groups_and_seed_order(monkeypatch):
    monkeypatch.setenv(model_cache.ENV, "off")
    x = data()
    a, b, c = models()
    runs = model_cache.fit_runs({"uno": [FitJob(a, x, seed=0, **ARGS), FitJob(b, x, seed=1, **ARGS)],
                                 "otro": [FitJob(c, x, seed=0, **ARGS)]}, workers=2, progress=False)
    assert list(runs) == ["uno", "otro"] and [m for m, _ in runs["uno"]] == [a, b] and runs["otro"][0][0] is c
    assert all(h.epochs == ARGS["epochs"] for rs in runs.values() for _, h in rs)
    with pytest.raises(ValueError, match="diccionario"):
        model_cache.fit_runs([FitJob(a, x, **ARGS)])


@needs_fork
def test_an_interrupt_leaves_no_child_training(monkeypatch):
    """Interrumpir el núcleo mientras los hijos entrenan los termina (no siguen gastando la CPU)."""
    import multiprocessing
    import multiprocessing.connection

    monkeypatch.setenv(model_cache.ENV, "off")

    def interrupted(_):
        raise KeyboardInterrupt

    monkeypatch.setattr(multiprocessing.connection, "wait", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fit_parallel(jobs(models(), data()), workers=2, progress=False)
    assert multiprocessing.active_children() == []
