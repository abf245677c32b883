"""fit frente a pythae: el aviso sin pythae y, con él, una comparación pequeña de verdad."""
import builtins
import math

import pytest

from vaebook_lib.experiments import bench
from vaebook_lib.experiments.pythae_bench import measure_pythae


def test_without_pythae_the_bench_says_so(monkeypatch):
    real_import = builtins.__import__

    def no_pythae(name, *a, **k):
        if name.startswith("pythae"):
            raise ImportError(name)
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_pythae)
    rec = measure_pythae()
    assert rec["kind"] == "pythae" and "pip install pythae" in rec["skipped"]
    assert "pythae no está instalado" in bench.format_table([rec])


def test_bad_sizes_are_refused():
    pytest.importorskip("pythae")
    with pytest.raises(ValueError, match="epochs"):
        measure_pythae(epochs=0)


def test_same_vae_trained_by_both_loops():
    pytest.importorskip("pythae")
    rec = measure_pythae(n_train=256, n_test=32, epochs=1, batch_size=64, k=4, rounds=1)
    assert rec["fit_eps"] > 0 and rec["pythae_eps"] > 0 and rec["speedup"] > 0
    # El mismo modelo con la misma pérdida: tras una época las dos -log p(x) quedan cerca.
    assert math.isfinite(rec["fit_nll"]) and abs(rec["fit_nll"] - rec["pythae_nll"]) < 15
    assert "fit frente a pythae" in bench.format_table([rec])
