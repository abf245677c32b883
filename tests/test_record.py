"""El registro de una ejecución del libro (vaebook_lib.experiments.record) y su lectura desde el texto (report.recorded)."""
import json

import nbformat
import pytest

from vaebook_lib import report
from vaebook_lib.experiments import record


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
    assert e["seconds"] > 0 and e["max_rss_mb"] > 10
    bad = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("assert False, 'falla'")])
    bad.metadata["kernelspec"] = nb.metadata["kernelspec"]
    nbformat.write(bad, tmp_path / "d.ipynb")
    e = record.run_notebook(tmp_path / "d.ipynb", "fast")
    assert not e["passed"] and "falla" in e["error"]


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
