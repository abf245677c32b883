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
    "cvae": (3, 2, 3, 2),
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


def test_latent_variable_diagram_nodes_and_arrows():
    fig = diagrams.latent_variable_diagram()
    ax = fig.axes[0]
    nodes = {p.get_gid(): p for p in ax.patches if isinstance(p, Circle)}
    assert set(nodes) == {"z", "x"}
    # x es observada (sombreada) y z no
    assert nodes["x"].get_facecolor()[0] < 0.9 and nodes["z"].get_facecolor()[0] == 1.0
    arrows = [p.get_gid() for p in ax.patches if isinstance(p, FancyArrowPatch)]
    assert arrows == ["p"]  # solo la flecha generativa z → x
    assert [p.get_gid() for p in ax.patches if p.get_gid() == "placa"] == ["placa"]
    plt.close(fig)
    fig = diagrams.latent_variable_diagram(inference=True)
    arrows = sorted(p.get_gid() for p in fig.axes[0].patches if isinstance(p, FancyArrowPatch))
    assert arrows == ["p", "q"]
    plt.close(fig)
    with pytest.raises(ValueError, match="True o False"):
        diagrams.latent_variable_diagram("sí")


@pytest.mark.parametrize("n_steps,context", [(1, False), (3, False), (2, True)])
def test_flow_diagram_chain(n_steps, context):
    fig = diagrams.flow_diagram(n_steps, kind="IAF" if context else "planar", context=context)
    ax = fig.axes[0]
    nodes = [p for p in ax.patches if isinstance(p, Circle)]
    steps = [p for p in ax.patches if p.get_gid() == "paso"]
    chain = [p for p in ax.patches if isinstance(p, FancyArrowPatch) and p.get_gid() == "flujo"]
    ctx = [p for p in ax.patches if isinstance(p, FancyArrowPatch) and p.get_gid() == "contexto"]
    assert [c.get_gid() for c in nodes] == [f"z{k}" for k in range(n_steps + 1)]  # z_0 … z_K, en orden
    assert len(steps) == n_steps
    assert len(chain) == 2 * n_steps  # z_{k-1} → f_k → z_k
    assert len(ctx) == (n_steps if context else 0)
    # cada paso lleva su término log|det|, y el título nombra la familia
    assert sum("log|\\det J" in t.get_text() for t in ax.texts) == n_steps + 1  # uno por paso y la fórmula
    assert ("IAF" if context else "planar") in ax.get_title()
    # la cadena avanza de izquierda a derecha
    centers = [c.center[0] for c in nodes]
    assert centers == sorted(centers)
    fig.canvas.draw()
    plt.close(fig)


@pytest.mark.parametrize("bad", [0, 9, 2.5, True])
def test_flow_diagram_rejects_bad_steps(bad):
    with pytest.raises(ValueError, match="pasos del flujo"):
        diagrams.flow_diagram(bad)


@pytest.mark.parametrize("kind, n_data, n_arrows", [("sparse", 2, 4), ("denoising", 3, 7), ("contractive", 3, 6)])
def test_regularized_ae_diagram_draws_its_pipeline(kind, n_data, n_arrows):
    fig = diagrams.regularized_ae_diagram(kind)
    ax = fig.axes[0]
    gids = [p.get_gid() for p in ax.patches]
    arrows = [p for p in ax.patches if isinstance(p, FancyArrowPatch)]
    assert gids.count("dato") == n_data
    assert gids.count("red") == 2  # codificador y decodificador
    assert len(arrows) == n_arrows
    fig.canvas.draw()
    plt.close(fig)


def test_regularized_ae_diagram_details():
    """El poco denso enciende pocas unidades; el DAE corrompe y compara la salida con la x limpia."""
    fig = diagrams.regularized_ae_diagram("sparse")
    units = [p for p in fig.axes[0].patches if isinstance(p, Circle)]
    active = [u for u in units if u.get_gid() == "activa"]
    assert len(units) >= 6 and 0 < len(active) < len(units) / 2
    plt.close(fig)
    fig = diagrams.regularized_ae_diagram("denoising")
    ax = fig.axes[0]
    assert sum(p.get_gid() == "corrupción" for p in ax.patches) == 1
    compare = [p for p in ax.patches if isinstance(p, FancyArrowPatch) and p.get_gid() == "comparación"]
    assert len(compare) == 1
    boxes = {t.get_text(): t.get_position() for t in ax.texts}
    (x0, _), (x1, _) = compare[0]._posA_posB
    assert abs(x0 - boxes["$x$"][0]) < 0.1 and abs(x1 - boxes["$\\hat x$"][0]) < 0.1  # de x limpia a x̂
    plt.close(fig)
    fig = diagrams.regularized_ae_diagram("contractive")
    assert sum(p.get_gid() == "código" for p in fig.axes[0].patches) == 2
    plt.close(fig)
    with pytest.raises(ValueError, match="desconocido"):
        diagrams.regularized_ae_diagram("vae")


def test_discrete_latent_diagram_nodes_and_arrows():
    from matplotlib.patches import Circle as _Circle
    for kind, nodes in (("categorical_vae", {"c", "x"}), ("joint_vae", {"z", "c", "x"})):
        fig = diagrams.discrete_latent_diagram(kind)
        ax = fig.axes[0]
        circles = [p for p in ax.patches if isinstance(p, _Circle)]
        assert {c.get_gid() for c in circles} == nodes
        assert [c.get_gid() for c in circles if c.get_facecolor()[0] < 0.9] == ["x"]  # solo x observada
        p_arrows = [a for a in ax.patches if isinstance(a, FancyArrowPatch) and a.get_gid() == "p"]
        q_arrows = [a for a in ax.patches if isinstance(a, FancyArrowPatch) and a.get_gid() == "q"]
        assert len(p_arrows) == len(q_arrows) == len(nodes) - 1
        plt.close(fig)
    assert "joint_vae" not in diagrams.KINDS and "joint_vae" not in diagrams._MODELS  # no se queda en el catálogo
    with pytest.raises(ValueError, match="latentes discretos desconocido"):
        diagrams.discrete_latent_diagram("vae")


def test_kl_decomposition_diagram_three_weighted_terms():
    fig = diagrams.kl_decomposition_diagram(alpha=1, beta=6, gamma=1)
    ax = fig.axes[0]
    assert len([p for p in ax.patches if p.get_gid() == "total"]) == 1
    assert len([p for p in ax.patches if p.get_gid() == "término"]) == 3
    assert len([p for p in ax.patches if isinstance(p, FancyArrowPatch) and p.get_gid() == "flujo"]) == 3
    texts = " ".join(t.get_text() for t in ax.texts)
    assert "información mutua" in texts and "correlación total" in texts and "dimensión a dimensión" in texts
    assert "\\beta = 6" in texts and "\\alpha = 1" in texts
    plt.close(fig)
    with pytest.raises(ValueError, match="no negativos"):
        diagrams.kl_decomposition_diagram(beta=-1.0)


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
