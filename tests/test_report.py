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
