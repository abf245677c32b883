import matplotlib.pyplot as plt
import pytest
import torch

from vaebook_lib.viz import show_filters


def test_show_filters_scales_each_filter_and_checks_shape():
    w = torch.zeros(3, 16)
    w[0, 0], w[1, 1], w[2, 2] = 2.0, -0.5, 0.0
    ax = show_filters(w, side=4, n=3, nrow=3, title="Filtros")
    img = ax.images[0].get_array()
    # cada filtro se reescala por separado: el máximo absoluto va a 1 (o 0 si es negativo) y el cero a 0.5
    assert img[1, 1] == pytest.approx(1.0)
    assert img[1, 1 + 5 + 1] == pytest.approx(0.0)
    assert img[2, 2] == pytest.approx(0.5)
    plt.close("all")
    with pytest.raises(ValueError, match="Se esperaba"):
        show_filters(torch.zeros(3, 10), side=4)
