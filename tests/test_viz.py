import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from vaebook_lib.train import History  # noqa: E402
from vaebook_lib.viz import (image_grid, latent_manifold, plot_history, plot_latent_2d,  # noqa: E402
                             show_reconstructions)


def test_image_grid_places_each_image_in_its_cell():
    imgs = torch.stack([torch.full((1, 2, 3), v) for v in (0.1, 0.5, 0.9)])
    grid = image_grid(imgs, nrow=2, pad=1)
    assert grid.shape == (1 + 2 * 3, 1 + 2 * 4)  # 2 filas de 2 celdas de 2x3 con separación 1
    assert grid[1:3, 1:4].mean() == pytest.approx(0.1)
    assert grid[1:3, 5:8].mean() == pytest.approx(0.5)
    assert grid[4:6, 1:4].mean() == pytest.approx(0.9)
    assert grid[0].min() == 1.0  # separación en blanco
    with pytest.raises(ValueError, match="lote"):
        image_grid(torch.rand(3, 28, 28))


def test_figures_carry_spanish_labels():
    h = History()
    h.train["loss"] += [3.0, 2.0]
    h.val["loss"] += [3.5, 2.5]
    fig = plot_history(h)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "época"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["entrenamiento", "validación"]
    ax = plot_latent_2d(torch.randn(20, 2), torch.arange(20) % 10)
    assert ax.get_xlabel() == "$z_1$" and ax.get_title() == "Espacio latente"
    fig = show_reconstructions(torch.rand(4, 1, 28, 28), torch.rand(4, 1, 28, 28), n=4)
    assert [a.get_title() for a in fig.axes] == ["Originales", "Reconstrucciones"]
    with pytest.raises(ValueError, match="2-D"):
        plot_latent_2d(torch.randn(5, 3), torch.zeros(5))
    plt.close("all")


def test_latent_manifold_decodes_a_regular_grid():
    seen = []

    def decode(z):
        seen.append(z)
        return torch.zeros(len(z), 1, 4, 4)

    latent_manifold(decode, n=3, span=1.0)
    z = seen[0]
    assert z.shape == (9, 2)
    assert set(z[:, 0].tolist()) == {-1.0, 0.0, 1.0} and set(z[:, 1].tolist()) == {-1.0, 0.0, 1.0}
    assert z[0].tolist() == [-1.0, 1.0]  # arriba a la izquierda: z1 mínimo, z2 máximo
    plt.close("all")


@pytest.mark.parametrize("nrow", [0, -2, 2.5])
def test_image_grid_refuses_a_bad_nrow(nrow):
    with pytest.raises(ValueError, match="nrow"):
        image_grid(torch.rand(4, 1, 5, 5), nrow=nrow)


def test_image_grid_refuses_an_empty_batch():
    with pytest.raises(ValueError, match="vacío"):
        image_grid(torch.rand(0, 1, 5, 5))


def test_plot_history_refuses_unknown_terms_and_leaves_the_history_alone():
    h = History()
    h.train["loss"] += [3.0, 2.0]
    h.train["recon"] += [2.0, 1.5]
    before = (dict(h.train), dict(h.val))
    with pytest.raises(ValueError, match=r"'kl'.*loss, recon"):
        plot_history(h, terms=["loss", "kl"])
    fig = plot_history(h, terms=["recon"])
    assert (dict(h.train), dict(h.val)) == before              # ni «kl» ni «recon» en val se añadieron
    assert len(fig.axes) == 1 and fig.axes[0].get_title() == "recon"
    with pytest.raises(ValueError, match="vacío"):
        plot_history(History())
    plt.close("all")
