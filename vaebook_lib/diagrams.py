"""Diagramas dibujados con código (solo matplotlib, sin Graphviz): el modelo gráfico de cada familia, el esquema
codificador-decodificador y el truco de reparametrización.

Convenciones del modelo gráfico (las de Bishop y Kingma y Welling): cada variable es un círculo; las observadas van
sombreadas; una placa (rectángulo) con «N» repite su contenido para cada dato; las flechas continuas son el modelo
generativo p y las discontinuas el modelo de inferencia q. Cada función devuelve una ``Figure``.

Para contar lo dibujado (lo hacen las pruebas): los nodos son los ``Circle`` de ``ax.patches``; las flechas, los
``FancyArrowPatch`` con ``gid`` igual a ``"p"`` (generativo), ``"q"`` (inferencia) o ``"flujo"`` (esquemas).
"""
from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch, Rectangle

_R = 0.32  # radio de un nodo

# Cada familia: nodos (nombre -> (x, y, etiqueta, observado)), aristas de p, aristas de q, título.
# Las placas: lista de (x0, y0, ancho, alto, texto).
_MODELS: dict[str, dict] = {
    "vae": dict(
        title="VAE: $p_\\theta(x\\mid z)\\,p(z)$ y $q_\\phi(z\\mid x)$",
        nodes={"z": (0.0, 1.4, "$z$", False), "x": (0.0, 0.0, "$x$", True)},
        p=[("z", "x")], q=[("x", "z")],
        plates=[(-0.9, -0.6, 1.8, 2.6, "$N$")],
    ),
    "cvae": dict(
        title="CVAE: $p_\\theta(x\\mid z, y)\\,p(z)$ y $q_\\phi(z\\mid x, y)$",
        nodes={"z": (0.0, 1.4, "$z$", False), "y": (1.4, 1.4, "$y$", True), "x": (0.7, 0.0, "$x$", True)},
        p=[("z", "x"), ("y", "x")], q=[("x", "z"), ("y", "z")],
        plates=[(-0.9, -0.6, 3.2, 2.6, "$N$")],
    ),
    "adgm": dict(
        title="ADGM: variable auxiliar $a$; $q_\\phi(a\\mid x)\\,q_\\phi(z\\mid a, x)$",
        nodes={"a": (-1.2, 1.4, "$a$", False), "z": (0.4, 1.4, "$z$", False), "x": (-0.4, 0.0, "$x$", True)},
        p=[("z", "x"), ("x", "a"), ("z", "a")], q=[("x", "a"), ("a", "z"), ("x", "z")],
        plates=[(-2.1, -0.6, 3.4, 2.6, "$N$")],
    ),
    "structured_vae": dict(
        title="VAE estructurado: $p(z_2)\\,p(z_1\\mid z_2)\\,p(x\\mid z_1)$; $q(z_2\\mid x)\\,q(z_1\\mid z_2, x)$",
        nodes={"z2": (0.0, 2.8, "$z_2$", False), "z1": (0.0, 1.4, "$z_1$", False), "x": (0.0, 0.0, "$x$", True)},
        p=[("z2", "z1"), ("z1", "x")], q=[("x", "z2"), ("x", "z1"), ("z2", "z1")],
        plates=[(-1.3, -0.6, 2.6, 4.0, "$N$")],
    ),
    "vq_vae": dict(
        title="VQ-VAE: código discreto $k$ del diccionario $e$",
        nodes={"e": (-1.4, 1.4, "$e$", False), "k": (0.0, 1.4, "$k$", False), "x": (0.0, 0.0, "$x$", True)},
        p=[("k", "x"), ("e", "x")], q=[("x", "k")],
        plates=[(-0.9, -0.6, 1.8, 2.6, "$N$")],
    ),
}

KINDS = tuple(_MODELS)


def _arrow(ax, start, end, gid: str, style: str = "solid", color: str = "black", rad: float = 0.0,
           shrink: float = _R * 72) -> FancyArrowPatch:
    arrow = FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=14, linestyle=style, color=color,
                            connectionstyle=f"arc3,rad={rad}", shrinkA=0, shrinkB=0, linewidth=1.4)
    arrow.set_gid(gid)
    ax.add_patch(arrow)
    return arrow


def _edge(ax, a, b, gid: str, style: str, color: str, rad: float) -> None:
    """Flecha de centro a centro recortada al borde de los círculos (en coordenadas de datos)."""
    (x0, y0), (x1, y1) = a, b
    dx, dy = x1 - x0, y1 - y0
    norm = (dx * dx + dy * dy) ** 0.5
    ux, uy = dx / norm, dy / norm
    _arrow(ax, (x0 + _R * ux, y0 + _R * uy), (x1 - _R * ux, y1 - _R * uy), gid, style, color, rad)


def graphical_model(kind: str) -> Figure:
    """El modelo gráfico de la familia ``kind`` (uno de :data:`KINDS`): nodos, placa de los N datos, flechas
    continuas del generativo p y discontinuas de la inferencia q."""
    if kind not in _MODELS:
        raise ValueError(f"Familia desconocida {kind!r}; las disponibles son: {', '.join(KINDS)}.")
    spec = _MODELS[kind]
    fig, ax = plt.subplots(figsize=(4.6, 3.4))
    for name, (x, y, label, observed) in spec["nodes"].items():
        circle = Circle((x, y), _R, facecolor="0.75" if observed else "white", edgecolor="black", linewidth=1.4,
                        zorder=3)
        circle.set_gid(name)
        ax.add_patch(circle)
        ax.text(x, y, label, ha="center", va="center", fontsize=13, zorder=4)
    pos = {n: v[:2] for n, v in spec["nodes"].items()}
    for a, b in spec["p"]:
        _edge(ax, pos[a], pos[b], "p", "solid", "black", 0.0)
    for a, b in spec["q"]:
        # la q se curva hacia el otro lado para no tapar la flecha de p entre los mismos nodos
        _edge(ax, pos[a], pos[b], "q", "--", "tab:blue", 0.35)
    for x0, y0, w, h, text in spec["plates"]:
        plate = Rectangle((x0, y0), w, h, fill=False, edgecolor="0.3", linewidth=1.0)
        plate.set_gid("placa")
        ax.add_patch(plate)
        ax.text(x0 + w - 0.12, y0 + 0.12, text, ha="right", va="bottom", fontsize=11)
    xs = [v[0] for v in pos.values()] + [p[0] for p in spec["plates"]] + [p[0] + p[2] for p in spec["plates"]]
    ys = [v[1] for v in pos.values()] + [p[1] for p in spec["plates"]] + [p[1] + p[3] for p in spec["plates"]]
    ax.set_xlim(min(xs) - 0.4, max(xs) + 0.4)
    ax.set_ylim(min(ys) - 0.7, max(ys) + 0.3)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.plot([], [], color="black", label="generativo $p$")
    ax.plot([], [], color="tab:blue", linestyle="--", label="inferencia $q$")
    ax.legend(loc="lower center", ncol=2, fontsize=8, frameon=False, bbox_to_anchor=(0.5, -0.02))
    ax.set_title(spec["title"], fontsize=10)
    fig.tight_layout()
    return fig


def _box(ax, x, y, w, h, text, color, gid):
    box = FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.05", facecolor=color,
                         edgecolor="black", linewidth=1.2)
    box.set_gid(gid)
    ax.add_patch(box)
    ax.text(x, y, text, ha="center", va="center", fontsize=10)


def encoder_decoder_sketch(input_dim: int = 784, hidden: tuple[int, ...] = (400,), latent_dim: int = 2) -> Figure:
    """x → codificador → z → decodificador → x̂, con una columna por capa cuya altura crece con su tamaño."""
    sizes = [input_dim, *hidden, latent_dim]
    if any(not isinstance(s, int) or s < 1 for s in sizes):
        raise ValueError(f"Los tamaños de las capas deben ser enteros positivos; se recibió {sizes}.")
    layers = sizes + list(reversed(sizes[:-1]))  # codificador y decodificador simétrico
    names = (["$x$"] + [f"oculta" for _ in hidden] + ["$z$"] + [f"oculta" for _ in hidden] + ["$\\hat x$"])
    top = max(layers)
    fig, ax = plt.subplots(figsize=(1.3 * len(layers) + 1, 3.2))
    xs = [1.3 * i for i in range(len(layers))]
    for i, (x, size, name) in enumerate(zip(xs, layers, names)):
        h = 0.5 + 2.0 * (size / top) ** 0.5
        color = "0.75" if i in (0, len(layers) - 1) else ("#ffd9a0" if i == len(sizes) - 1 else "#cfe3f7")
        rect = Rectangle((x - 0.25, -h / 2), 0.5, h, facecolor=color, edgecolor="black", linewidth=1.2)
        rect.set_gid("capa")
        ax.add_patch(rect)
        ax.text(x, h / 2 + 0.15, name, ha="center", va="bottom", fontsize=10)
        ax.text(x, -h / 2 - 0.15, str(size), ha="center", va="top", fontsize=9)
        if i:
            _arrow(ax, (xs[i - 1] + 0.27, 0), (x - 0.27, 0), "flujo")
    mid = xs[len(sizes) - 1]
    ax.text((xs[0] + mid) / 2, -1.85, "codificador", ha="center", fontsize=11, color="tab:blue")
    ax.text((mid + xs[-1]) / 2, -1.85, "decodificador", ha="center", fontsize=11, color="tab:red")
    ax.set_xlim(-0.7, xs[-1] + 0.7)
    ax.set_ylim(-2.1, 2.0)
    ax.axis("off")
    ax.set_title("Autocodificador: capas y tamaños", fontsize=11)
    fig.tight_layout()
    return fig


def reparametrization_diagram() -> Figure:
    """Izquierda: z muestreado directamente de q (nodo aleatorio: el gradiente no lo atraviesa). Derecha:
    z = μ + σ ⊙ ε con ε ~ N(0, I) como único nodo aleatorio; el gradiente llega a μ y σ (flechas rojas)."""
    fig, axes = plt.subplots(1, 2, figsize=(8.4, 3.6))
    for ax, title in zip(axes, ["Sin reparametrizar: $z \\sim q_\\phi(z\\mid x)$",
                                "Reparametrizado: $z = \\mu + \\sigma \\odot \\epsilon$"]):
        ax.set_title(title, fontsize=10)
        ax.set_xlim(-1.6, 1.6)
        ax.set_ylim(-0.6, 3.4)
        ax.set_aspect("equal")
        ax.axis("off")

    def node(ax, x, y, text, random, gid):
        if random:
            patch = Circle((x, y), _R, facecolor="#ffd9a0", edgecolor="black", linewidth=1.4, zorder=3)
        else:
            patch = FancyBboxPatch((x - _R, y - _R * 0.8), 2 * _R, 1.6 * _R, boxstyle="round,pad=0.04",
                                   facecolor="white", edgecolor="black", linewidth=1.4, zorder=3)
        patch.set_gid(gid)
        ax.add_patch(patch)
        ax.text(x, y, text, ha="center", va="center", fontsize=11, zorder=4)

    left, right = axes
    node(left, 0, 0, "$x$", False, "x")
    node(left, 0, 1.3, "$\\phi$", False, "phi")
    node(left, 0, 2.6, "$z$", True, "z")
    _arrow(left, (0, 0.3), (0, 1.0), "flujo")
    _arrow(left, (0, 1.6), (0, 2.28), "flujo")
    _arrow(left, (0.5, 2.5), (0.5, 1.4), "gradiente", style="--", color="0.6")
    left.text(0.6, 1.95, "$\\nabla_\\phi$ no pasa", fontsize=9, color="0.4")

    node(right, -0.7, 0, "$x$", False, "x")
    node(right, -0.7, 1.3, "$\\mu, \\sigma$", False, "musigma")
    node(right, 0.8, 1.3, "$\\epsilon$", True, "eps")
    node(right, 0, 2.6, "$z$", False, "z")
    _arrow(right, (-0.7, 0.3), (-0.7, 1.0), "flujo")
    _arrow(right, (-0.55, 1.6), (-0.15, 2.3), "flujo")
    _arrow(right, (0.65, 1.6), (0.15, 2.3), "flujo")
    _arrow(right, (-0.05, 2.25), (-0.5, 1.55), "gradiente", color="tab:red", rad=0.3)
    right.text(-1.55, 2.05, "$\\nabla_\\phi$ fluye", fontsize=9, color="tab:red")
    right.text(1.15, 0.75, "$\\mathcal{N}(0, I)$", fontsize=9, ha="center")
    fig.text(0.5, 0.02, "Círculo naranja: nodo aleatorio. Caja: función determinista de sus entradas.",
             ha="center", fontsize=9)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig


def latent_variable_diagram(inference: bool = False) -> Figure:
    """El modelo de variable latente más sencillo, z → x dentro de la placa de los N datos: la previa p(z) sortea
    el latente y la verosimilitud p_θ(x | z) el dato. Con ``inference=True`` añade la flecha discontinua de la
    aproximación q(z | x) (la que el VAE aprende con su codificador)."""
    if not isinstance(inference, bool):
        raise ValueError(f"«inference» debe ser True o False; se recibió {inference!r}.")
    fig, ax = plt.subplots(figsize=(4.2, 3.4))
    pos = {"z": (0.0, 1.4), "x": (0.0, 0.0)}
    for name, (x, y), observed in [("z", pos["z"], False), ("x", pos["x"], True)]:
        circle = Circle((x, y), _R, facecolor="0.75" if observed else "white", edgecolor="black", linewidth=1.4,
                        zorder=3)
        circle.set_gid(name)
        ax.add_patch(circle)
        ax.text(x, y, f"${name}$", ha="center", va="center", fontsize=13, zorder=4)
    _edge(ax, pos["z"], pos["x"], "p", "solid", "black", 0.0)
    ax.text(0.42, 0.7, "$p_\\theta(x\\mid z)$", fontsize=9, va="center")
    ax.text(0.42, 1.4, "$p(z)$", fontsize=9, va="center")
    if inference:
        _edge(ax, pos["x"], pos["z"], "q", "--", "tab:blue", 0.6)
        ax.text(-0.5, 0.7, "$q(z\\mid x)$", fontsize=9, va="center", ha="right", color="tab:blue")
    plate = Rectangle((-1.1, -0.6), 2.3, 2.6, fill=False, edgecolor="0.3", linewidth=1.0)
    plate.set_gid("placa")
    ax.add_patch(plate)
    ax.text(1.08, -0.48, "$N$", ha="right", va="bottom", fontsize=11)
    ax.set_xlim(-1.5, 1.6)
    ax.set_ylim(-1.0, 2.3)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title("Modelo de variable latente: $p_\\theta(x, z) = p(z)\\,p_\\theta(x\\mid z)$", fontsize=10)
    fig.tight_layout()
    return fig


def flow_diagram(n_steps: int = 3, kind: str = "", context: bool = False) -> Figure:
    """Un flujo normalizador como cadena de transformaciones invertibles z_0 → f_1 → z_1 → … → z_K.

    Cada z_k es un círculo (gid ``"z0"``, ``"z1"``, …) y cada paso f_k una caja (gid ``"paso"``) con su término
    log|det ∂f_k/∂z_{k-1}| debajo; las flechas de la cadena tienen gid ``"flujo"``. A la izquierda, la densidad base
    q_0 (una gaussiana); a la derecha, q_K y su cambio de variable. ``kind`` añade el nombre de la familia al título
    (p. ej. «planar» o «IAF») y ``context=True`` dibuja el contexto h del codificador que reciben todos los pasos
    (flechas discontinuas con gid ``"contexto"``), como en la IAF.
    """
    if not isinstance(n_steps, int) or isinstance(n_steps, bool) or not 1 <= n_steps <= 8:
        raise ValueError(f"El número de pasos del flujo debe ser un entero entre 1 y 8; se recibió {n_steps!r}.")
    if not isinstance(kind, str):
        raise ValueError(f"El nombre de la familia debe ser un texto; se recibió {kind!r}.")
    dx = 1.6
    xs = [dx * i for i in range(2 * n_steps + 1)]  # posiciones: z0, f1, z1, f2, …, zK
    fig, ax = plt.subplots(figsize=(1.25 * len(xs) + 1.5, 3.4))
    y = 0.0
    for i, x in enumerate(xs):
        k = i // 2
        if i % 2 == 0:
            node = Circle((x, y), _R * 1.15, facecolor="#ffd9a0" if i == 0 else "white", edgecolor="black",
                          linewidth=1.4, zorder=3)
            node.set_gid(f"z{k}")
            ax.add_patch(node)
            label = "$z_0$" if k == 0 else (f"$z_{{{k}}}$" if i < len(xs) - 1 else "$z_K$" if n_steps > 1
                                            else "$z_1$")
            ax.text(x, y, label, ha="center", va="center", fontsize=11, zorder=4)
        else:
            step = k + 1
            name = f"$f_{{{step}}}$" if i < len(xs) - 2 or n_steps == 1 else "$f_K$"
            _box(ax, x, y, 0.8, 0.55, name, "#cfe3f7", "paso")
            sub = f"{step}" if i < len(xs) - 2 or n_steps == 1 else "K"
            ax.text(x, y - 0.62, f"$-\\log|\\det J_{{{sub}}}|$", ha="center", va="top", fontsize=9,
                    color="tab:red")
        if i:
            r_prev = _R * 1.15 if (i - 1) % 2 == 0 else 0.45
            r_next = _R * 1.15 if i % 2 == 0 else 0.45
            _arrow(ax, (xs[i - 1] + r_prev, y), (x - r_next, y), "flujo")
    if context:
        hx = (xs[0] + xs[-1]) / 2
        _box(ax, hx, 1.35, 0.9, 0.5, "$h(x)$", "0.85", "contexto")
        for i, x in enumerate(xs):
            if i % 2:
                _arrow(ax, (hx, 1.1), (x, 0.32), "contexto", style="--", color="tab:blue")
    ax.text(xs[0], -0.7, "$q_0(z_0\\mid x)$\ngaussiana", ha="center", va="top", fontsize=9)
    ax.text(xs[-1], -0.7, "$q_K(z_K\\mid x)$", ha="center", va="top", fontsize=9)
    ax.text((xs[0] + xs[-1]) / 2, -1.45,
            "$\\log q_K(z_K) = \\log q_0(z_0) - \\sum_k \\log|\\det J_k|$,   $J_k = \\partial f_k / \\partial z_{k-1}$",
            ha="center", va="top", fontsize=10)
    ax.set_xlim(xs[0] - 0.8, xs[-1] + 0.8)
    ax.set_ylim(-2.0, 1.9 if context else 0.9)
    ax.set_aspect("equal")
    ax.axis("off")
    title = "Flujo normalizador" + (f" {kind}" if kind else "") + ": una cadena de transformaciones invertibles"
    ax.set_title(title, fontsize=11)
    fig.tight_layout()
    return fig


REGULARIZED_KINDS = ("sparse", "denoising", "contractive")


def regularized_ae_diagram(kind: str) -> Figure:
    """Esquema de un autocodificador regularizado del capítulo 1: ``"sparse"`` (código con pocas unidades
    encendidas), ``"denoising"`` (se corrompe x, se reconstruye y se compara con la x **limpia**) o
    ``"contractive"`` (dos entradas cercanas dan códigos aún más cercanos; se penaliza el jacobiano).

    Las cajas llevan ``gid`` ``"dato"`` (x, x̃, x̂, x + δ), ``"red"`` (codificador y decodificador), ``"corrupción"``
    (T) o ``"código"``; las unidades del código poco denso son ``Circle`` con ``gid`` ``"activa"`` o ``"inactiva"``;
    las flechas son ``FancyArrowPatch`` con ``gid`` ``"flujo"`` o ``"comparación"`` (la de la pérdida del DAE).
    """
    if kind not in REGULARIZED_KINDS:
        raise ValueError(f"Autocodificador regularizado desconocido {kind!r}; los disponibles son: "
                         f"{', '.join(REGULARIZED_KINDS)}.")
    data, net, noise, code = "0.75", "#cfe3f7", "#f4c7c3", "#ffd9a0"
    fig, ax = plt.subplots(figsize=(9.2, 3.4))

    def flow(x0, y0, x1, y1, gid="flujo", **kw):
        return _arrow(ax, (x0, y0), (x1, y1), gid, **kw)

    if kind == "sparse":
        _box(ax, 0.0, 0.0, 0.7, 0.6, "$x$", data, "dato")
        _box(ax, 1.6, 0.0, 1.3, 0.6, "codificador", net, "red")
        ys = [0.35 * (i - 3.5) for i in range(8)]
        lit = {1, 4, 6}
        for i, y in enumerate(ys):
            unit = Circle((3.3, y), 0.13, facecolor=code if i in lit else "white", edgecolor="black",
                          linewidth=1.2, zorder=3)
            unit.set_gid("activa" if i in lit else "inactiva")
            ax.add_patch(unit)
        ax.text(3.3, ys[-1] + 0.3, "código $h$", ha="center", va="bottom", fontsize=10)
        _box(ax, 5.0, 0.0, 1.3, 0.6, "decodificador", net, "red")
        _box(ax, 6.6, 0.0, 0.7, 0.6, "$\\hat x$", data, "dato")
        for x0, x1 in [(0.4, 0.9), (2.3, 3.1), (3.5, 4.3), (5.7, 6.2)]:
            flow(x0, 0, x1, 0)
        ax.text(3.3, -1.75, "pocas unidades encendidas (naranja) por imagen: "
                "$\\|x-\\hat x\\|^2 + \\lambda \\sum_\\ell w_\\ell \\|h_\\ell\\|$, o solo las $k$ mayores",
                ha="center", fontsize=9)
        title = "Autocodificador poco denso: un código grande del que cada dato usa unas pocas unidades"
        xlim, ylim = (-0.6, 7.2), (-2.0, 1.9)
    elif kind == "denoising":
        _box(ax, 0.0, 0.0, 0.7, 0.6, "$x$", data, "dato")
        _box(ax, 1.3, 0.0, 1.0, 0.6, "$T \\sim p_T$\n(corrupción)", noise, "corrupción")
        _box(ax, 2.6, 0.0, 0.7, 0.6, "$\\tilde x$", data, "dato")
        _box(ax, 4.0, 0.0, 1.3, 0.6, "codificador", net, "red")
        _box(ax, 5.4, 0.0, 0.6, 0.6, "$z$", code, "código")
        _box(ax, 6.8, 0.0, 1.3, 0.6, "decodificador", net, "red")
        _box(ax, 8.2, 0.0, 0.7, 0.6, "$\\hat x$", data, "dato")
        for x0, x1 in [(0.4, 0.75), (1.85, 2.2), (3.0, 3.3), (4.7, 5.05), (5.75, 6.1), (7.5, 7.8)]:
            flow(x0, 0, x1, 0)
        flow(0.0, -0.4, 8.2, -0.4, gid="comparación", style="--", color="tab:red", rad=0.25)
        ax.text(4.1, -1.8, "la pérdida compara $\\hat x$ con la $x$ limpia: "
                "$\\|x - D_\\theta(E_\\phi(\\tilde x))\\|^2$", ha="center", fontsize=10, color="tab:red")
        title = "Autocodificador de atenuación de ruido: corromper, codificar, decodificar y comparar con lo limpio"
        xlim, ylim = (-0.6, 8.8), (-2.0, 0.9)
    else:
        _box(ax, 0.0, 0.45, 0.8, 0.5, "$x$", data, "dato")
        _box(ax, 0.0, -0.45, 0.8, 0.5, "$x + \\delta$", data, "dato")
        _box(ax, 1.7, 0.0, 1.3, 1.4, "codificador\n$E_\\phi$", net, "red")
        _box(ax, 3.5, 0.2, 0.9, 0.5, "$z$", code, "código")
        _box(ax, 3.5, -0.4, 0.9, 0.5, "$z + J_E\\,\\delta$", code, "código")
        _box(ax, 5.3, 0.0, 1.3, 1.4, "decodificador", net, "red")
        _box(ax, 7.0, 0.0, 0.7, 0.6, "$\\hat x$", data, "dato")
        flow(0.45, 0.45, 1.0, 0.45)
        flow(0.45, -0.45, 1.0, -0.45)
        flow(2.4, 0.2, 3.0, 0.2)
        flow(2.4, -0.4, 3.0, -0.4)
        flow(4.0, 0.0, 4.6, 0.0)
        flow(6.0, 0.0, 6.6, 0.0)
        ax.text(0.0, -1.0, "entradas cercanas", ha="center", fontsize=9)
        ax.text(3.5, -0.95, "códigos aún más cercanos", ha="center", fontsize=9)
        ax.text(3.5, -1.55, "pérdida: $\\|x-\\hat x\\|^2 + \\lambda\\,\\|J_E(x)\\|_F^2$, "
                "con $\\|E(x+\\delta) - E(x)\\| \\approx \\|J_E\\,\\delta\\| \\leq \\|J_E\\|_F\\,\\|\\delta\\|$",
                ha="center", fontsize=9)
        title = "Autocodificador contractivo: el código apenas se mueve cuando la entrada cambia poco"
        xlim, ylim = (-0.6, 7.6), (-1.8, 1.0)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig
