"""Piezas del banco de pruebas: conteo de FLOP, forma de las medidas JSON, tabla y selección de cuadernos."""
import json
import sys

import nbformat
import pytest
import torch

from vaebook_lib.experiments import bench


def test_flops_of_the_mlp_vae_match_the_hand_count():
    # 784-400-(2x20) y 20-400-784: 2 FLOP por multiplicación-suma; atrás, el doble (gradiente de los pesos y
    # de la entrada de cada capa) salvo el gradiente respecto a los píxeles, que nadie pide.
    layers = [(784, 400), (400, 40), (20, 400), (400, 784)]
    forward = sum(2 * a * b for a, b in layers)
    hand = 3 * forward - 2 * 784 * 400
    assert hand == 3_280_000
    assert bench.flops_per_example(bench.bench_model("mlp")) == hand


def test_conv_model_costs_more_and_bad_arguments_raise():
    assert bench.flops_per_example(bench.bench_model("conv")) > 3_280_000
    with pytest.raises(ValueError, match="Arquitectura"):
        bench.bench_model("rnn")
    with pytest.raises(ValueError, match="positivo"):
        bench.bench_data(0)
    with pytest.raises(ValueError, match="rounds"):
        bench.measure_loop(rounds=0)


def test_measure_loop_record_is_json_and_consistent():
    rec = bench.measure_loop("mlp", batch_size=32, examples=64, rounds=2, peak=1e11, peak_sizes=(128,))
    json.dumps(rec)
    assert rec["kind"] == "loop" and rec["model"] == "vae-mlp" and rec["device"] == "cpu"
    for key in ("fit_eps_best", "bare_eps_best", "ratio_median", "peak_memory_mb"):
        assert rec[key] > 0
    assert rec["fit_eps_best"] >= rec["fit_eps_median"]
    assert rec["fit_peak_fraction_best"] == pytest.approx(rec["flops_per_example"] * rec["fit_eps_best"] / 1e11)
    assert 0 < rec["fit_peak_fraction"] and rec["peak_gflops_median"] > 0


def test_main_prints_one_json_object_per_measurement_and_a_table(capsys):
    records = bench.main(["--skip-notebooks", "--archs", "mlp", "--batch-sizes", "32", "--examples", "64",
                          "--rounds", "1", "--devices", "cpu", "--peak-sizes", "128"])
    out = capsys.readouterr().out
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert lines == records and [r["kind"] for r in records] == ["machine", "loop", "breakdown"]
    assert records[0]["matmul_peak_gflops"] > 0
    assert "vae-mlp" in out and "fit/mano" in out and "techo sin el resto" in out


def test_breakdown_parts_are_consistent():
    rec = bench.measure_breakdown("mlp", batch_size=64, steps=3, peak=1e11)
    json.dumps(rec)
    assert rec["kind"] == "breakdown" and rec["batch_size"] == 64
    assert 0 < rec["gemm_share"] < 1 and rec["gemm_ms"] > 0 and rec["rng_ms"] > 0 and rec["adam_ms"] > 0
    # sin desigualdades entre dos tiempos medidos (el techo frente al paso entero): en una máquina cargada
    # cualquiera de las dos medidas puede salir peor; esa comparación es del banco de pruebas, no de un test
    assert rec["ceiling_peak_fraction"] > 0 and rec["step_peak_fraction"] > 0
    assert rec["step_peak_fraction"] == pytest.approx(3_280_000 * 64 / (rec["step_ms"] / 1e3) / 1e11)
    with pytest.raises(ValueError, match="positivos"):
        bench.measure_breakdown(steps=0)


def test_format_table_lists_notebooks_and_the_total():
    recs = [{"kind": "notebook", "path": "book/a.ipynb", "seconds": 2.0, "passed": True, "max_rss_mb": 300.0},
            {"kind": "notebook", "path": "book/b.ipynb", "seconds": 3.5, "passed": False, "max_rss_mb": 310.0},
            {"kind": "book", "notebooks": 2, "seconds": 5.5, "failed": 1}]
    table = bench.format_table(recs)
    assert "book/a.ipynb" in table and "FALLA" in table and "5.5 s en 2 cuadernos (1 fallan)" in table


def _notebook(path, source):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


def test_find_and_measure_notebooks(tmp_path, monkeypatch):
    _notebook(tmp_path / "book" / "01" / "uno.ipynb", "assert 1 + 1 == 2")
    _notebook(tmp_path / "book" / "02" / "dos.ipynb", "x = 1")
    assert [p.name for p in bench.find_notebooks(None, tmp_path)] == ["uno.ipynb", "dos.ipynb"]
    assert [p.name for p in bench.find_notebooks(["02/"], tmp_path)] == ["dos.ipynb"]
    # Una ruta que es a la vez un glob y un trozo del nombre no ejecuta el cuaderno dos veces.
    monkeypatch.chdir(tmp_path)
    assert [p.name for p in bench.find_notebooks(["book/02/dos.ipynb"], tmp_path)] == ["dos.ipynb"]
    with pytest.raises(ValueError, match="Ningún cuaderno"):
        bench.find_notebooks(["no-existe"], tmp_path)
    rec = bench.measure_notebook(tmp_path / "book" / "01" / "uno.ipynb", tmp_path)
    assert rec["kind"] == "notebook" and rec["passed"], rec
    assert rec["path"] == "book/01/uno.ipynb" and rec["seconds"] > 0 and rec["max_rss_mb"] > 0


def test_nbval_command_is_the_make_test_one(tmp_path):
    cmd, env = bench._nbval([tmp_path / "a.ipynb"], tmp_path, workers=2)
    for flag in ("--nbval-lax", "--nbval-current-env", "-p", "no:cacheprovider"):
        assert flag in cmd
    assert cmd[cmd.index("-n") + 1] == "2" and cmd[cmd.index("--dist") + 1] == "loadfile"
    assert env["VAEBOOK_PROFILE"] == "fast" and env["PYTHONPATH"].startswith(str(tmp_path))
    assert "-n" not in bench._nbval([tmp_path / "a.ipynb"], tmp_path)[0]


def test_cpu_clock_is_accepted_on_cpu_only():
    rec = bench.measure_loop("mlp", batch_size=32, examples=64, rounds=1, peak_sizes=(128,), clock="cpu")
    assert rec["clock"] == "cpu" and rec["fit_eps_best"] > 0
    with pytest.raises(ValueError, match="Reloj"):
        bench.measure_loop(rounds=1, clock="sundial")


@pytest.mark.parametrize("module", ["vaebook_lib.bench", "vaebook_lib.experiments.bench",
                                    "vaebook_lib.experiments.record", "vaebook_lib.experiments.reproducibility",
                                    "vaebook_lib.experiments.distributed_demo"])
def test_programs_keep_their_python_m_entry_points(module):
    """Los programas viven en vaebook_lib.experiments; «python -m vaebook_lib.bench» (la orden documentada) sigue
    funcionando y no repite nada: solo llama a experiments.bench.main."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    r = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, env=env,
                       cwd=root, timeout=120)
    assert r.returncode == 0 and "usage" in r.stdout, r.stderr[-2000:]


def test_notebooks_are_measured_with_the_cache_cold_and_warm(tmp_path):
    """La segunda ejecución ve el directorio de caché de la primera: el cuaderno lo comprueba (una marca en él)."""
    code = ("import os, pathlib\n"
            "d = pathlib.Path(os.environ['VAEBOOK_MODEL_CACHE'])\n"
            "first = not (d / 'marca').exists()\n"
            "(d / 'marca').write_text('x')\n"
            "print('fría' if first else 'caliente')")
    _notebook(tmp_path / "book" / "uno.ipynb", code)
    rec = bench.measure_notebook_cold_warm(tmp_path / "book" / "uno.ipynb", tmp_path)
    assert rec["passed"] and rec["seconds"] > 0 and rec["warm_seconds"] > 0
    off = bench.measure_notebook(tmp_path / "book" / "uno.ipynb", tmp_path)   # por defecto, sin caché
    assert not off["passed"]                       # «off» no es un directorio: el cuaderno no puede escribir
    table = bench.format_table([rec, {"kind": "book", "notebooks": 1, "seconds": rec["seconds"], "failed": 0,
                                      "warm_seconds": rec["warm_seconds"]}])
    assert "caliente" in table and "con la caché caliente" in table


def test_the_book_as_built_shares_one_cache_that_starts_empty(tmp_path):
    """Como make test: el primer cuaderno encuentra la caché vacía, el segundo ve lo que dejó el primero, y una
    medida nueva vuelve a empezar de cero (la caché no sobrevive a la medida)."""
    code = ("import os, pathlib\n"
            "d = pathlib.Path(os.environ['VAEBOOK_MODEL_CACHE'])\n"
            "assert d.is_dir() and {want} == (d / 'marca').exists()\n"
            "(d / 'marca').write_text('x')")
    first, second = tmp_path / "book" / "a.ipynb", tmp_path / "book" / "b.ipynb"
    _notebook(first, code.format(want=False))
    _notebook(second, code.format(want=True))
    for _ in range(2):
        recs = list(bench.measure_notebooks_as_built([first, second], tmp_path))
        assert [r["passed"] for r in recs] == [True, True], recs
        assert all(r["cache"] == "compartida" and r["seconds"] > 0 for r in recs)
    # En el orden inverso, «b» encuentra la caché vacía (cada medida empieza de cero) y falla antes de dejar su
    # marca, así que «a», después, la encuentra vacía y pasa.
    assert [r["passed"] for r in bench.measure_notebooks_as_built([second, first], tmp_path)] == [False, True]


def test_the_floor_of_a_notebook_is_measured_like_the_notebooks_and_set_against_the_book():
    """El suelo: un cuaderno que solo importa lo que todos importan y crea un optimizador (lo que carga
    torch._dynamo: su última celda lo comprueba), ejecutado como los del libro; la tabla lo multiplica por los
    cuadernos y lo pone junto al total."""
    rec = bench.measure_floor()
    assert rec["kind"] == "floor" and rec["passed"] and rec["seconds"] > 0, rec
    table = bench.format_table([{"kind": "book", "notebooks": 36, "seconds": 1000.0, "failed": 0},
                                {"kind": "floor", "seconds": 8.0, "passed": True}])
    assert "suelo de un cuaderno" in table and "8.0 s" in table and "288 s del total (29 %)" in table


def test_the_floor_without_nbformat_says_which_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "nbformat", None)   # «import nbformat» falla como si no estuviera instalado
    with pytest.raises(ImportError, match=r"extra de pruebas.*\.\[test\]"):
        bench.measure_floor()
