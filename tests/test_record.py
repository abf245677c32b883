"""El registro de una ejecución del libro (vaebook_lib.experiments.record) y su lectura desde el texto (report.recorded)."""
import json
from pathlib import Path

import nbformat
import pytest
import torch

from vaebook_lib import report
from vaebook_lib.experiments import bench, record


@pytest.fixture
def records(tmp_path, monkeypatch):
    monkeypatch.setattr(record, "RECORDS", tmp_path)
    return tmp_path


def entry(**over):
    e = {"seconds": 12.5, "max_rss_mb": 300, "passed": True, "values": {"elbo": -100.5, "modelo": "vae"},
         "date": "2026-11-30", "commit": "abc1234", "machine": {"cpu": "x86_64", "device": "cpu"}}
    e.update(over)
    return e


def test_merge_adds_and_replaces_notebooks_without_losing_the_others(records):
    record.merge("full", {"book/a.ipynb": entry(), "book/b.ipynb": entry(seconds=3.0)})
    record.merge("full", {"book/a.ipynb": entry(seconds=20.0)})
    rec = record.load("full")
    assert rec["profile"] == "full" and set(rec["notebooks"]) == {"book/a.ipynb", "book/b.ipynb"}
    assert rec["notebooks"]["book/a.ipynb"]["seconds"] == 20.0
    assert record.expected_seconds("full", ["book/a.ipynb", "book/b.ipynb", "book/c.ipynb"]) == (23.0, 2)
    assert record.load("fast") is None


@pytest.mark.parametrize("bad, match", [
    ({"version": 99, "profile": "full", "notebooks": {}}, "versión"),
    ({"version": 1, "profile": "full"}, "notebooks"),
    ({"version": 1, "profile": "full", "notebooks": {"a": {"seconds": 1}}}, "no tiene"),
    ({"version": 1, "profile": "full", "notebooks": {"a": entry(seconds=-1)}}, "duración imposible"),
])
def test_a_malformed_record_is_a_clear_error(records, bad, match):
    (records / "full.json").write_text(json.dumps(bad))
    with pytest.raises(ValueError, match=match):
        record.load("full")


def test_not_json_and_unknown_profile(records):
    (records / "full.json").write_text("{roto")
    with pytest.raises(ValueError, match="JSON"):
        record.load("full")
    with pytest.raises(ValueError, match="Perfil desconocido"):
        record.path_for("lento")


def test_recorded_reads_a_glued_value_only_from_a_passing_run(records):
    record.merge("full", {"book/a.ipynb": entry(), "book/b.ipynb": entry(passed=False)})
    assert report.recorded("book/a.ipynb", "elbo") == -100.5
    assert report.recorded("book/a.ipynb", "otra") is None
    assert report.recorded("book/b.ipynb", "elbo") is None   # una ejecución fallida no se cita
    assert report.recorded("book/z.ipynb", "elbo") is None


def test_announce_says_profile_device_and_duration(records):
    text = record.announce("full", ["book/a.ipynb"])
    assert "perfil «full»" in text and "dispositivo" in text and "aún no tiene registro" in text
    record.merge("full", {"book/a.ipynb": entry(seconds=600.0)})
    text = record.announce("full", ["book/a.ipynb", "book/b.ipynb"])
    assert "unos 10 min" in text and "x86_64" in text and "1 cuadernos sin medir" in text


def test_run_notebook_measures_and_collects_the_glued_values(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "from vaebook_lib.report import glue\nglue('respuesta', 42)\nglue('nombre', 'vae')\nglue('x', 0.25)")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "c.ipynb"
    nbformat.write(nb, path)
    e = record.run_notebook(path, "fast")
    assert e["passed"] and e["values"] == {"respuesta": 42, "nombre": "vae", "x": 0.25}
    assert e["seconds"] > 0 and e["max_rss_mb"] > 10 and e["cpu_seconds"] > 0 and e["threads"] >= 1
    bad = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("assert False, 'falla'")])
    bad.metadata["kernelspec"] = nb.metadata["kernelspec"]
    nbformat.write(bad, tmp_path / "d.ipynb")
    e = record.run_notebook(tmp_path / "d.ipynb", "fast")
    assert not e["passed"] and "falla" in e["error"]


def test_run_notebook_stops_the_kernel_as_nbval_does(tmp_path):
    """Como nbval en make test, el registro mata el núcleo al terminar (ya devolvió todas sus salidas) en vez de
    esperar a que Python se cierre ordenadamente: lo que haría el cierre (aquí, un ``atexit`` que deja un fichero;
    con torch cargado, descargar ~2000 módulos, 2-3 s) no se cuenta como tiempo del cuaderno."""
    mark = tmp_path / "cerrado.txt"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        f"import atexit, pathlib\natexit.register(pathlib.Path({str(mark)!r}).write_text, 'x')\n"
        "from vaebook_lib.report import glue\nglue('hecho', 1)")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "c.ipynb")
    e = record.run_notebook(tmp_path / "c.ipynb", "fast")
    assert e["passed"] and e["values"] == {"hecho": 1}
    assert not mark.exists(), "el núcleo se cerró ordenadamente (corrió su atexit): el registro mediría ese cierre"


def test_the_book_cache_is_emptied_when_the_library_or_the_profile_change(tmp_path, monkeypatch):
    import importlib.util
    from pathlib import Path
    spec = importlib.util.spec_from_file_location("book_cache", Path(__file__).parents[1] / "tools" / "book_cache.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    cache = tmp_path / "cache"
    assert "nueva" in tool.main(str(cache), "fast")
    (cache / "salida.db").write_text("x")
    assert "vigente" in tool.main(str(cache), "fast") and (cache / "salida.db").exists()
    assert "nueva" in tool.main(str(cache), "full") and not (cache / "salida.db").exists()
    (cache / "salida.db").write_text("x")
    monkeypatch.setattr(tool, "code_hash", lambda: "otra biblioteca")
    assert "nueva" in tool.main(str(cache), "full") and not (cache / "salida.db").exists()


def test_beside_record_prints_both_columns_and_returns_only_recorded_values(records, capsys):
    record.merge("full", {"book/a.ipynb": entry(), "book/b.ipynb": entry(passed=False)})
    full = report.beside_record("book/a.ipynb", {"elbo": -120.25, "otra": 3})
    assert full == {"elbo": -100.5}
    out = capsys.readouterr().out
    assert "-120.2" in out and "-100.5" in out and "abc1234" in out and "—" in out
    assert report.beside_record("book/b.ipynb", {"elbo": 1.0}) is None   # fallida: no se cita
    assert report.beside_record("book/z.ipynb", {"elbo": 1.0}) is None
    assert "--notebooks book/z.ipynb" in capsys.readouterr().out
    for bad in ({}, [("elbo", 1.0)], {1: 2.0}):
        with pytest.raises(ValueError, match="diccionario"):
            report.beside_record("book/a.ipynb", bad)


def test_regimes_takes_this_run_for_its_profile_and_the_record_for_the_other(records, capsys):
    record.merge("full", {"book/a.ipynb": entry(values={"elbo": -100.5, "kl": 3.0})})
    r = report.regimes("book/a.ipynb", {"elbo": torch.tensor(-120.25), "kl": 2}, profile="fast")
    assert r == {"fast": {"elbo": -120.25, "kl": 2}, "full": {"elbo": -100.5, "kl": 3.0}}
    assert "-100.5" in capsys.readouterr().out
    # en el perfil completo, la ejecución en curso es la del completo; el rápido aún no tiene registro
    assert report.regimes("book/a.ipynb", {"elbo": 1.0}, profile="full") == {"fast": None, "full": {"elbo": 1.0}}
    # un registro grabado antes de que el cuaderno pegara una cifra no se salta en silencio
    with pytest.raises(ValueError, match="no trae.*nueva.*--profile full"):
        report.regimes("book/a.ipynb", {"elbo": 1.0, "nueva": 2.0}, profile="fast")
    record.merge("full", {"book/b.ipynb": entry(values={})})
    with pytest.raises(ValueError, match="no trae"):
        report.regimes("book/b.ipynb", {"elbo": 1.0}, profile="fast")
    with pytest.raises(ValueError, match="diccionario"):
        report.regimes("book/a.ipynb", {}, profile="fast")


def test_committed_records_bring_every_figure_the_regime_checks_read():
    # Lo que CI no puede volver a ejecutar en el perfil completo se lee del registro: cada cifra que una llamada a
    # regimes() pide está en el registro de cada perfil que trae ese cuaderno (si no, el registro está desfasado).
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    calls = 0
    for path in sorted((root / "book").rglob("*.ipynb")):
        code = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
        for target, body in re.findall(r'regimes\(\s*"([^"]+)",\s*\{([^}]*)\}', code):
            calls += 1
            names = set(re.findall(r'"(\w+)"\s*:', body))
            for profile in ("fast", "full"):
                e = (record.load(profile) or {}).get("notebooks", {}).get(target)
                if e is not None and e["passed"]:
                    assert names <= set(e["values"]), f"{profile}: {target} no trae {names - set(e['values'])}"
    assert calls >= 10, "los cuadernos con dos regímenes deberían leerlos con regimes()"


def test_every_beside_record_call_names_a_notebook_and_figures_it_glues():
    # Un cuaderno que lee el registro nombra un cuaderno que existe y cifras que ese cuaderno pega.
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    for path in sorted((root / "book").rglob("*.ipynb")):
        code = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
        for target, body in re.findall(r'(?:beside_record|regimes)\(\s*"([^"]+)",\s*\{([^}]*)\}', code):
            assert (root / target).exists(), f"{path.name}: {target} no existe"
            glued = set(re.findall(r'glue\(\s*"(\w+)"', "\n".join(
                c.source for c in nbformat.read(root / target, as_version=4).cells if c.cell_type == "code")))
            names = re.findall(r'"(\w+)"\s*:', body)
            assert names and set(names) <= glued, f"{path.name}: {set(names) - glued} no se pegan en {target}"


def test_glued_text_comes_back_as_the_text_it_was():
    # myst-nb guarda el repr: una tabla de varias líneas con comillas vuelve tal cual, y los números como números.
    text = "modelo  NLL\nvae     'ok'  90.1"
    assert record._parse_value(repr(text)) == text
    assert record._parse_value("12") == 12 and record._parse_value("-3.5") == -3.5
    assert record._parse_value("'cvae'") == "cvae" and record._parse_value(None) is None
    assert record._parse_value("[1, 2]") == "[1, 2]"   # lo que no es número ni texto se queda como texto


def test_committed_full_record_is_complete_passing_and_within_budget():
    # El registro del perfil completo que viaja con la biblioteca: cada cuaderno que trae existe y terminó bien, y
    # la suma de sus duraciones cabe en el presupuesto de dos horas (lo medido, no un cronómetro en la CI).
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    rec = record.load("full")
    if rec is None:
        pytest.skip("el repositorio aún no trae vaebook_lib/records/full.json")
    for name, e in rec["notebooks"].items():
        assert (root / name).exists(), f"{name} está en el registro pero no en el libro"
        assert e["passed"], f"{name} falló en la ejecución registrada: {e.get('error', '')[-300:]}"
    assert sum(e["seconds"] for e in rec["notebooks"].values()) <= 2 * 3600


def test_make_book_execution_cache_becomes_record_entries(tmp_path, monkeypatch, records):
    # Lo que ejecutó «make book» (jupyter-cache) se funde en el registro sin volver a ejecutar: segundos, cifras
    # pegadas y, si un cuaderno falló, su error (y no se funde).
    from jupyter_cache import get_cache
    from jupyter_cache.executors import load_executor

    monkeypatch.setattr(record, "ROOT", tmp_path)
    kernel = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for name, code in (("bien", "from vaebook_lib.report import glue\nglue('x', 0.25)\nglue('n', 3)"),
                       ("mal", "assert False, 'falla a propósito'")):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
        nb.metadata["kernelspec"] = kernel
        nbformat.write(nb, tmp_path / f"{name}.ipynb")
    cache = get_cache(str(tmp_path / "cache"))
    for name in ("bien", "mal"):
        cache.add_nb_to_project(str(tmp_path / f"{name}.ipynb"))
    load_executor("local-serial", cache).run_and_cache()
    entries = record.from_execution_cache(tmp_path / "cache", "full")
    assert set(entries) == {"bien.ipynb", "mal.ipynb"}
    good, bad = entries["bien.ipynb"], entries["mal.ipynb"]
    assert good["passed"] and good["values"] == {"x": 0.25, "n": 3} and good["seconds"] > 0
    assert good["source"] == "make book" and good["max_rss_mb"] is None
    assert not bad["passed"] and "falla a propósito" in bad["error"]
    record.merge("full", {k: e for k, e in entries.items() if e["passed"]})   # la forma del registro se valida
    assert set(record.load("full")["notebooks"]) == {"bien.ipynb"}
    with pytest.raises(ValueError, match="make book"):
        record.from_execution_cache(tmp_path / "no_hay", "full")


def test_a_recording_builds_the_book_like_make_test_with_one_fresh_shared_model_cache(records, tmp_path, monkeypatch):
    """Sin VAEBOOK_MODEL_CACHE, todos los cuadernos de una grabación comparten una caché vacía al empezar (la del
    usuario, quizá caliente, grabaría lo que tarda cargar); con ella, manda la suya."""

    seen = []

    def fake_run(path, profile, cache=None):
        folder = Path(cache)
        seen.append((cache, sorted(p.name for p in folder.iterdir()) if folder.is_dir() else None))
        if folder.is_dir():
            (folder / path.name).touch()   # lo que «entrena» este cuaderno
        return entry()

    paths = [record.ROOT / "book" / "a.ipynb", record.ROOT / "book" / "b.ipynb"]
    monkeypatch.setattr(bench, "find_notebooks", lambda names=None: paths)
    monkeypatch.setattr(record, "run_notebook", fake_run)
    monkeypatch.delenv("VAEBOOK_MODEL_CACHE", raising=False)
    for _ in range(2):   # cada grabación empieza vacía
        seen.clear()
        record.main(["--profile", "fast"])
        assert seen[0][1] == [] and seen[1] == (seen[0][0], ["a.ipynb"]), seen
    assert not Path(seen[0][0]).exists()   # la caché de la grabación no sobrevive a la grabación
    monkeypatch.setenv("VAEBOOK_MODEL_CACHE", "off")
    seen.clear()
    record.main(["--profile", "fast"])
    assert [c for c, _ in seen] == ["off", "off"]


def test_notebooks_that_read_the_records_are_recorded_last(tmp_path):
    """Al grabar el libro entero, el cuaderno que cita lo que suma cada registro se ejecuta después de los demás: cita
    sus segundos recién grabados, no un registro a medio actualizar."""
    def notebook(name, code):
        path = tmp_path / name
        nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("experiments.record"),
                                                       nbformat.v4.new_code_cell(code)]), path)
        return path

    reader = notebook("a.ipynb", "from vaebook_lib.experiments.record import load as load_record")
    others = [notebook("b.ipynb", "x = 1"), notebook("c.ipynb", "print('experiments')")]
    assert record.reads_records(reader) and not any(record.reads_records(p) for p in others)
    assert record.recording_order([reader, *others]) == [*others, reader]
    assert record.recording_order(others[::-1]) == others[::-1]     # los demás, en el orden en que venían
    book = record.recording_order(bench.find_notebooks())
    assert [p.name for p in book if record.reads_records(p)] == ["02_reproducibilidad.ipynb"]
    assert book[-1].name == "02_reproducibilidad.ipynb" and len(book) == len(bench.find_notebooks())
