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
        title="CVAE: $p_\\theta(x\\mid z, c)\\,p_\\theta(z\\mid c)$ y $q_\\phi(z\\mid x, c)$",
        # la condición c (etiqueta o parte visible) se dibuja con la letra del texto; el nodo sigue llamándose «y»
        nodes={"z": (0.0, 1.4, "$z$", False), "y": (1.4, 1.4, "$c$", True), "x": (0.7, 0.0, "$x$", True)},
        p=[("z", "x"), ("y", "x"), ("y", "z")], q=[("x", "z"), ("y", "z")],
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
        title="VQ-VAE: índices discretos $c$ del libro de códigos $e$",
        nodes={"e": (-1.4, 1.4, "$e$", False), "c": (0.0, 1.4, "$c$", False), "x": (0.0, 0.0, "$x$", True)},
        p=[("c", "x"), ("e", "x")], q=[("x", "c")],
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
    return _draw_graphical_model(_MODELS[kind])


def _nodes(ax, nodes: dict) -> dict:
    """Dibuja los nodos (nombre -> (x, y, etiqueta, observado)); los observados, sombreados. Devuelve sus posiciones."""
    for name, (x, y, label, observed) in nodes.items():
        circle = Circle((x, y), _R, facecolor="0.75" if observed else "white", edgecolor="black", linewidth=1.4,
                        zorder=3)
        circle.set_gid(name)
        ax.add_patch(circle)
        ax.text(x, y, label, ha="center", va="center", fontsize=13, zorder=4)
    return {n: v[:2] for n, v in nodes.items()}


def _plate(ax, x0: float, y0: float, w: float, h: float, text: str) -> None:
    """La placa que repite su contenido, con su número en la esquina inferior derecha."""
    plate = Rectangle((x0, y0), w, h, fill=False, edgecolor="0.3", linewidth=1.0)
    plate.set_gid("placa")
    ax.add_patch(plate)
    ax.text(x0 + w - 0.12, y0 + 0.12, text, ha="right", va="bottom", fontsize=11)


def _draw_graphical_model(spec: dict) -> Figure:
    fig, ax = plt.subplots(figsize=(4.6, 3.4))
    pos = _nodes(ax, spec["nodes"])
    for a, b in spec["p"]:
        _edge(ax, pos[a], pos[b], "p", "solid", "black", 0.0)
    for a, b in spec["q"]:
        # la q se curva hacia el otro lado para no tapar la flecha de p entre los mismos nodos
        _edge(ax, pos[a], pos[b], "q", "--", "tab:blue", 0.35)
    for plate in spec["plates"]:
        _plate(ax, *plate)
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
    pos = _nodes(ax, {"z": (0.0, 1.4, "$z$", False), "x": (0.0, 0.0, "$x$", True)})
    _edge(ax, pos["z"], pos["x"], "p", "solid", "black", 0.0)
    ax.text(0.42, 0.7, "$p_\\theta(x\\mid z)$", fontsize=9, va="center")
    ax.text(0.42, 1.4, "$p(z)$", fontsize=9, va="center")
    if inference:
        _edge(ax, pos["x"], pos["z"], "q", "--", "tab:blue", 0.6)
        ax.text(-0.5, 0.7, "$q(z\\mid x)$", fontsize=9, va="center", ha="right", color="tab:blue")
    _plate(ax, -1.1, -0.6, 2.3, 2.6, "$N$")
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


# Modelos gráficos de los latentes discretos (capítulo 3): mismas convenciones que graphical_model.
_DISCRETE: dict[str, dict] = {
    "categorical_vae": dict(
        title="VAE categórico: $p_\\theta(x\\mid c)\\,\\prod_i \\mathcal{U}(c_i)$ y $q_\\phi(c\\mid x)$",
        nodes={"c": (0.0, 1.4, "$c$", False), "x": (0.0, 0.0, "$x$", True)},
        p=[("c", "x")], q=[("x", "c")],
        plates=[(-0.9, -0.6, 1.8, 2.6, "$N$")],
    ),
    "joint_vae": dict(
        title="JointVAE: $p_\\theta(x\\mid z, c)\\,p(z)\\,p(c)$ y $q_\\phi(z\\mid x)\\,q_\\phi(c\\mid x)$",
        nodes={"z": (-0.7, 1.4, "$z$", False), "c": (0.7, 1.4, "$c$", False), "x": (0.0, 0.0, "$x$", True)},
        p=[("z", "x"), ("c", "x")], q=[("x", "z"), ("x", "c")],
        plates=[(-1.6, -0.6, 3.2, 2.6, "$N$")],
    ),
}


def discrete_latent_diagram(kind: str = "joint_vae") -> Figure:
    """Modelo gráfico de un VAE con latentes discretos: ``"categorical_vae"`` (solo el código categórico ``c``)
    o ``"joint_vae"`` (un código continuo ``z`` y otro categórico ``c``, independientes en la previa y en q)."""
    if kind not in _DISCRETE:
        raise ValueError(f"Modelo de latentes discretos desconocido {kind!r}; los disponibles son: "
                         f"{', '.join(_DISCRETE)}.")
    return _draw_graphical_model(_DISCRETE[kind])  # el mismo dibujo que el resto de modelos gráficos


def kl_decomposition_diagram(alpha: float = 1.0, beta: float = 6.0, gamma: float = 1.0) -> Figure:
    """La KL media de la ELBO partida en sus tres términos (Chen et al., 2018): información mutua dato-código,
    correlación total y KL dimensión a dimensión, cada uno con el peso que le da el β-TCVAE."""
    weights = {"alpha": alpha, "beta": beta, "gamma": gamma}
    for name, w in weights.items():
        if not isinstance(w, (int, float)) or isinstance(w, bool) or w < 0:
            raise ValueError(f"Los pesos deben ser números no negativos; se recibió {name}={w!r}.")
    fig, ax = plt.subplots(figsize=(8.4, 3.4))
    _box(ax, 0.0, 2.2, 5.2, 0.6, "$\\mathbb{E}_{x}\\,\\mathrm{KL}(q(z\\mid x)\\,\\|\\,p(z))$"
         "   (el término KL de la ELBO)", "#ffd9a0", "total")
    parts = [(-3.0, "información mutua\ndato-código\n$I_q(z; x)$", "\\alpha", alpha),
             (0.0, "correlación total\n$\\mathrm{KL}(q(z)\\,\\|\\,\\prod_j q(z_j))$", "\\beta", beta),
             (3.0, "KL dimensión a dimensión\n$\\sum_j \\mathrm{KL}(q(z_j)\\,\\|\\,p(z_j))$", "\\gamma",
              gamma)]
    for x, text, symbol, w in parts:
        _box(ax, x, 0.0, 2.7, 1.0, text, "#cfe3f7", "término")
        _arrow(ax, (0.55 * x, 1.85), (x, 0.58), "flujo")
        ax.text(x, -0.85, f"peso ${symbol} = {w:g}$", ha="center", va="center", fontsize=10, color="tab:red")
    ax.text(-1.5, 0.0, "+", ha="center", va="center", fontsize=16)
    ax.text(1.5, 0.0, "+", ha="center", va="center", fontsize=16)
    ax.set_xlim(-4.6, 4.6)
    ax.set_ylim(-1.2, 2.7)
    ax.axis("off")
    ax.set_title("β-TCVAE: la KL en tres términos, cada uno con su peso", fontsize=11)
    fig.tight_layout()
    return fig


_WAE_PENALTIES = {"mmd": "$\\mathrm{MMD}_k(q_\\phi(z),\\, p(z))$", "sw": "$SW_2^2(q_\\phi(z),\\, p(z))$"}


def wae_sketch(penalty: str = "mmd") -> Figure:
    """Esquema del autocodificador de Wasserstein: x → codificador Q → z → decodificador G → x̂, con el coste
    c(x, x̂) y la penalización que compara los códigos del lote (la posterior agregada) con una muestra de la
    previa. ``penalty`` es «mmd» (WAE-MMD) o «sw» (SWAE). Las cajas llevan ``gid``: «x», «Q», «z», «G», «x_hat»,
    «previa», «penalizacion» y «coste»; las flechas, ``gid`` «flujo»."""
    if penalty not in _WAE_PENALTIES:
        raise ValueError(f"Penalización desconocida {penalty!r}; las disponibles son: {', '.join(_WAE_PENALTIES)}.")
    fig, ax = plt.subplots(figsize=(8.4, 3.8))
    pos = {"x": (0.0, 0.0), "Q": (1.8, 0.0), "z": (3.6, 0.0), "G": (5.4, 0.0), "x_hat": (7.2, 0.0),
           "previa": (3.6, 2.6), "penalizacion": (5.7, 1.45), "coste": (3.6, -1.5)}
    labels = {"x": "$x$\n(lote)", "Q": "codificador\n$Q$", "z": "códigos $z = Q(x)$\n(posterior agregada)",
              "G": "decodificador\n$G$", "x_hat": "$\\hat x = G(z)$",
              "previa": "previa: $\\tilde z \\sim \\mathcal{N}(0, I)$",
              "penalizacion": "penalización\n$\\lambda\\,$" + _WAE_PENALTIES[penalty],
              "coste": "coste $c(x, \\hat x)$"}
    colors = {"x": "0.75", "Q": "#cfe3f7", "z": "#ffd9a0", "G": "#f7cfcf", "x_hat": "0.9", "previa": "white",
              "penalizacion": "#e2f0d9", "coste": "#e2f0d9"}
    widths = {"z": 1.7, "penalizacion": 2.1, "previa": 1.9, "coste": 1.6}
    for name, (x, y) in pos.items():
        _box(ax, x, y, widths.get(name, 1.2), 0.75, labels[name], colors[name], name)
    flow = [((0.62, 0), (1.18, 0)), ((2.42, 0), (2.7, 0)), ((4.5, 0), (4.78, 0)), ((6.02, 0), (6.58, 0)),
            ((3.9, 0.45), (5.2, 1.02)), ((4.2, 2.2), (5.3, 1.9)),           # z y z~ llegan a la penalización
            ((0.3, -0.45), (2.75, -1.35)), ((6.9, -0.45), (4.45, -1.35))]  # x y x^ llegan al coste
    for start, end in flow:
        _arrow(ax, start, end, "flujo", shrink=0)
    ax.text(3.6, -2.35, "pérdida = coste + penalización: la previa se compara con todos los códigos del lote "
            "a la vez, no con cada uno", ha="center", fontsize=8.5)
    ax.set_xlim(-0.8, 8.0)
    ax.set_ylim(-2.6, 3.2)
    ax.axis("off")
    ax.set_title("WAE-MMD" if penalty == "mmd" else "SWAE", fontsize=11)
    fig.tight_layout()
    return fig


def feature_loss_sketch(layers: tuple[str, ...] = ("bloque 1", "bloque 2", "bloque 3")) -> Figure:
    """La pérdida de rasgos del DFC-VAE: x → VAE → x̂, y las dos imágenes pasan por la misma red fija Φ; en cada
    capa de ``layers`` se comparan Φ_l(x) y Φ_l(x̂). Las cajas llevan ``gid``: «x», «vae», «x_hat», «phi_x»,
    «phi_x_hat», una «capa» por elemento de ``layers`` y «perdida»; las flechas, ``gid`` «flujo»."""
    if (isinstance(layers, str) or not layers or not all(isinstance(n, str) and n for n in layers)):
        raise ValueError(f"layers debe ser una secuencia no vacía de nombres de capa; se recibió {layers!r}.")
    n = len(layers)
    fig, ax = plt.subplots(figsize=(8.6, 2.4 + 0.55 * n))
    top, bottom = 0.9 + 0.55 * n, -0.9
    mid = (top + bottom) / 2
    boxes = [("x", 0.0, mid, 1.0, "$x$", "0.75"), ("vae", 1.7, bottom, 1.5, "VAE\n(codificador y\ndecodificador)",
                                                             "#cfe3f7"),
             ("x_hat", 3.4, bottom, 1.0, "$\\hat x$", "0.9"),
             ("phi_x", 5.2, top, 1.5, "red de rasgos $\\Phi$\n(fija)", "#ffd9a0"),
             ("phi_x_hat", 5.2, bottom, 1.5, "red de rasgos $\\Phi$\n(fija)", "#ffd9a0")]
    for gid, x, y, w, text, color in boxes:
        _box(ax, x, y, w, 0.8, text, color, gid)
    flow = [((0.3, mid - 0.45), (1.2, bottom + 0.1)), ((2.5, bottom), (2.85, bottom)),
            ((3.95, bottom), (4.4, bottom)), ((0.3, mid + 0.45), (4.4, top))]
    ys = [top - 0.4 - (top - bottom - 0.8) * (i + 1) / (n + 1) for i in range(n)]   # la primera capa arriba
    for name, y in zip(layers, ys):
        _box(ax, 7.35, y, 1.7, 0.42, f"$\\Phi_l$: {name}", "#e2f0d9", "capa")
        flow += [((5.97, top - 0.1), (6.48, y + 0.08)), ((5.97, bottom + 0.1), (6.48, y - 0.08))]
    flow.append(((7.35, min(ys) - 0.26), (7.35, bottom - 0.62)))             # las capas se suman en la pérdida
    _box(ax, 7.35, bottom - 0.9, 3.1, 0.5,
         "$\\sum_l \\|\\Phi_l(x) - \\Phi_l(\\hat x)\\|^2 / (2 C_l H_l W_l)$", "white", "perdida")
    for start, end in flow:
        _arrow(ax, start, end, "flujo", shrink=0)
    ax.set_xlim(-0.7, 9.2)
    ax.set_ylim(bottom - 1.3, top + 0.7)
    ax.axis("off")
    ax.set_title("DFC-VAE: se comparan las activaciones de una red fija, no los píxeles", fontsize=10)
    fig.tight_layout()
    return fig
