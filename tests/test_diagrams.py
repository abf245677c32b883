"""Pruebas de vaebook_lib.diagrams: cada figura dibuja los nodos y flechas de su modelo."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from matplotlib.patches import Circle, FancyArrowPatch  # noqa: E402

from vaebook_lib import diagrams  # noqa: E402

# familia -> (nodos, observados, flechas de p, flechas de q)
EXPECTED = {
    "vae": (2, 1, 1, 1),
    "cvae": (3, 2, 2, 2),
    "adgm": (3, 1, 3, 3),
    "structured_vae": (3, 1, 2, 3),
    "vq_vae": (3, 1, 2, 1),
}


def _count(fig):
    ax = fig.axes[0]
    circles = [p for p in ax.patches if isinstance(p, Circle)]
    arrows = [p for p in ax.patches if isinstance(p, FancyArrowPatch)]
    shaded = [c for c in circles if c.get_facecolor()[:3] != (1.0, 1.0, 1.0)]
    return circles, shaded, arrows


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_graphical_model_counts(kind):
    fig = diagrams.graphical_model(kind)
    circles, shaded, arrows = _count(fig)
    n_nodes, n_obs, n_p, n_q = EXPECTED[kind]
    assert len(circles) == n_nodes
    assert len(shaded) == n_obs
    assert sum(a.get_gid() == "p" for a in arrows) == n_p
    assert sum(a.get_gid() == "q" for a in arrows) == n_q
    # p continuas, q discontinuas
    assert all(a.get_linestyle() in ("-", "solid") for a in arrows if a.get_gid() == "p")
    assert all(a.get_linestyle() == "--" for a in arrows if a.get_gid() == "q")
    # x siempre observada y dentro de la placa de los N datos
    x = next(c for c in circles if c.get_gid() == "x")
    assert x in shaded
    plate = next(p for p in fig.axes[0].patches if p.get_gid() == "placa")
    x0, y0 = plate.get_xy()
    cx, cy = x.center
    assert x0 < cx < x0 + plate.get_width() and y0 < cy < y0 + plate.get_height()
    fig.canvas.draw()  # se dibuja sin red ni Graphviz
    plt.close(fig)


def test_observed_nodes_are_the_data():
    """En el CVAE la etiqueta y también es observada; en el VAE la latente z no lo es."""
    fig = diagrams.graphical_model("cvae")
    _, shaded, _ = _count(fig)
    assert {c.get_gid() for c in shaded} == {"x", "y"}
    plt.close(fig)
    fig = diagrams.graphical_model("vae")
    _, shaded, _ = _count(fig)
    assert {c.get_gid() for c in shaded} == {"x"}
    plt.close(fig)


def test_unknown_kind_is_spanish_value_error():
    with pytest.raises(ValueError, match="Familia desconocida"):
        diagrams.graphical_model("gan")


def test_encoder_decoder_sketch_layers():
    fig = diagrams.encoder_decoder_sketch(784, (512, 128), 2)
    ax = fig.axes[0]
    layers = [p for p in ax.patches if p.get_gid() == "capa"]
    arrows = [p for p in ax.patches if isinstance(p, FancyArrowPatch)]
    assert len(layers) == 7  # x, 2 ocultas, z, 2 ocultas, x̂
    assert len(arrows) == 6
    texts = [t.get_text() for t in ax.texts]
    assert texts.count("784") == 2 and "2" in texts and texts.count("512") == 2
    # la capa más ancha es la más alta
    heights = [p.get_height() for p in layers]
    assert heights[0] == max(heights) and heights[3] == min(heights)
    plt.close(fig)
    with pytest.raises(ValueError, match="enteros positivos"):
        diagrams.encoder_decoder_sketch(784, (0,), 2)


def test_reparametrization_diagram():
    fig = diagrams.reparametrization_diagram()
    left, right = fig.axes
    rand_left = [p.get_gid() for p in left.patches if isinstance(p, Circle)]
    rand_right = [p.get_gid() for p in right.patches if isinstance(p, Circle)]
    assert rand_left == ["z"]  # sin reparametrizar, z es el nodo aleatorio
    assert rand_right == ["eps"]  # reparametrizado, ε es el único nodo aleatorio
    grad_right = [p for p in right.patches if p.get_gid() == "gradiente"]
    grad_left = [p for p in left.patches if p.get_gid() == "gradiente"]
    assert len(grad_right) == 1 and len(grad_left) == 1
    # el gradiente que fluye va en rojo; el bloqueado, en gris
    assert grad_right[0].get_edgecolor()[0] > 0.7 and grad_right[0].get_edgecolor()[2] < 0.3
    plt.close(fig)


@pytest.mark.parametrize("penalty", ["mmd", "sw"])
def test_wae_sketch_boxes_and_arrows(penalty):
    from matplotlib.patches import FancyBboxPatch
    fig = diagrams.wae_sketch(penalty)
    ax = fig.axes[0]
    boxes = {p.get_gid() for p in ax.patches if isinstance(p, FancyBboxPatch)}
    assert boxes == {"x", "Q", "z", "G", "x_hat", "previa", "penalizacion", "coste"}
    arrows = [p for p in ax.patches if isinstance(p, FancyArrowPatch) and p.get_gid() == "flujo"]
    assert len(arrows) == 8  # la cadena x → Q → z → G → x̂, z y z~ a la penalización, x y x̂ al coste
    texts = " ".join(t.get_text() for t in ax.texts)
    assert ("MMD" in texts) == (penalty == "mmd") and ("SW" in texts) == (penalty == "sw")
    plt.close(fig)
    with pytest.raises(ValueError, match="Penalización desconocida"):
        diagrams.wae_sketch("kl")


@pytest.mark.parametrize("layers", [("bloque 1", "bloque 2", "bloque 3"), ("relu1_1",)])
def test_feature_loss_sketch_boxes_and_arrows(layers):
    from matplotlib.patches import FancyBboxPatch
    fig = diagrams.feature_loss_sketch(layers)
    ax = fig.axes[0]
    gids = [p.get_gid() for p in ax.patches if isinstance(p, FancyBboxPatch)]
    assert {"x", "vae", "x_hat", "phi_x", "phi_x_hat", "perdida"} <= set(gids)
    assert gids.count("capa") == len(layers)  # una comparación por capa
    arrows = [p for p in ax.patches if isinstance(p, FancyArrowPatch) and p.get_gid() == "flujo"]
    assert len(arrows) == 5 + 2 * len(layers)  # x → VAE → x̂ → Φ, x → Φ, las dos Φ a cada capa, capas → pérdida
    plt.close(fig)
    for bad in ((), "bloque 1", (1, 2)):
        with pytest.raises(ValueError, match="secuencia no vacía"):
            diagrams.feature_loss_sketch(bad)
