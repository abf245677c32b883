"""El puente entre las cifras de una ejecución y la prosa (``report.glue``)."""
import numpy as np
import pytest
import torch

from vaebook_lib import report


def test_glue_turns_tensors_and_numpy_scalars_into_python_numbers(capsys):
    assert report.glue("a", torch.tensor(2.5), quiet=True) == 2.5
    assert isinstance(report.glue("b", np.float32(1.25), quiet=True), float)
    assert report.glue("c", np.array([3]), quiet=True) == 3
    assert report.glue("d", "texto", quiet=True) == "texto"


def test_glue_prints_the_value_when_asked(capsys):
    report.glue("elbo_diag", -101.5, quiet=False)
    assert "elbo_diag = -101.5" in capsys.readouterr().out


@pytest.mark.parametrize("value", [float("nan"), float("inf"), torch.tensor(float("nan")), torch.ones(2),
                                   np.ones(3), [1.0], None, True])
def test_glue_refuses_what_cannot_be_a_number_in_a_sentence(value):
    with pytest.raises(ValueError, match="glue"):
        report.glue("x", value, quiet=True)


@pytest.mark.parametrize("name", ["", "1a", "a b", "a-b", 3])
def test_glue_refuses_names_that_myst_cannot_cite(name):
    with pytest.raises(ValueError, match="identificador"):
        report.glue(name, 1.0, quiet=True)


def test_show_source_shows_the_real_library_source():
    import inspect

    from vaebook_lib.models.vae import VAE
    from vaebook_lib.report import show_source

    shown = show_source(VAE.forward)
    text = shown.data if hasattr(shown, "data") else shown
    assert text.lstrip().startswith("def forward(")  # sin la sangría de la clase
    # el texto mostrado es exactamente el del archivo (sin sangría), no una copia que pueda desfasarse
    import textwrap
    assert text == textwrap.dedent(inspect.getsource(VAE.forward))
    assert "kl" in text.lower()
    if hasattr(shown, "_repr_html_"):
        assert "python" in (getattr(shown, "language", "") or "")


def test_show_source_rejects_non_library_objects():
    import json

    import pytest
    import torch

    from vaebook_lib.report import show_source

    for obj in (json.dumps, torch.nn.Linear, len, 3):
        with pytest.raises(ValueError, match="solo muestra"):
            show_source(obj)


def test_glued_text_reaches_the_prose_without_quotes(monkeypatch):
    # {glue:text} muestra el text/plain de lo pegado: un texto tiene que llegar sin las comillas de su repr.
    from IPython.core.formatters import format_display_data

    seen = {}
    monkeypatch.setattr(report, "_myst_glue", lambda name, v, display: seen.setdefault(name, v))
    report.glue("perfil", "fast", quiet=True)
    report.glue("x", 2.5, quiet=True)
    assert format_display_data(seen["perfil"])[0]["text/plain"] == "fast"
    assert format_display_data(seen["x"])[0]["text/plain"] == "2.5"


def test_enumeration_is_the_spanish_list():
    assert report.enumeration([]) == ""
    assert report.enumeration(["2026-11-30"]) == "2026-11-30"
    assert report.enumeration(["a", "b"]) == "a y b"
    assert report.enumeration(["a", "b", "c"]) == "a, b y c"
    assert report.enumeration(x for x in (1, 2.5, "z")) == "1, 2.5 y z"
