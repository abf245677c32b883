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
    table = bench.format_table([rec])
    assert "fit frente a pythae" in table and "solo GEMM + Adam" in table
    # El suelo del paso (GEMM + Adam del mismo VAE y lote) y lo que implica para el objetivo de 2x; tiempos, así que
    # solo su coherencia interna: nunca se afirma cuánto tardan.
    assert rec["floor_ms"] > 0 and rec["fit_step_ms"] > 0 and rec["pythae_step_ms"] > 0
    assert math.isclose(rec["ceiling_speedup"], rec["pythae_step_ms"] / rec["floor_ms"])
    assert math.isclose(rec["rest_budget_ms"], rec["pythae_step_ms"] / 2 - rec["floor_ms"])
    assert math.isclose(rec["fit_eps"] * rec["fit_step_ms"], 1e3 * 64, rel_tol=1e-9)


def test_table_says_what_the_floor_implies_for_the_2x_goal():
    """Sin pythae instalado (la integración continua): la tabla con un registro sintético, en los dos casos."""
    rec = {"kind": "pythae", "n_train": 8000, "epochs": 5, "batch_size": 128, "k": 100, "rounds": 3,
           "fit_eps": 12800.0, "pythae_eps": 8000.0, "speedup": 1.6, "fit_nll": 131.0, "pythae_nll": 132.0,
           "fit_step_ms": 10.0, "pythae_step_ms": 16.0, "floor_ms": 6.0, "ceiling_speedup": 16 / 6,
           "rest_budget_ms": 2.0}
    table = bench.format_table([rec])
    assert "1.60x" in table and "2.67x" in table and "caber en 2.00 ms (hoy 4.00)" in table
    table = bench.format_table([dict(rec, floor_ms=9.0, ceiling_speedup=16 / 9, rest_budget_ms=-1.0)])
    assert "ni con todo lo demás a cero se llegaría a 2x" in table


def test_bench_model_takes_the_compared_architecture():
    model = bench.bench_model("mlp", hidden=(32,), latent_dim=3)
    assert model.config.hidden == (32,) and model.config.latent_dim == 3
    assert bench.flops_per_example(model) < bench.flops_per_example(bench.bench_model("mlp"))
