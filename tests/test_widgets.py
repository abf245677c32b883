import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import ipywidgets as W
import pytest
import torch

from vaebook_lib.models import VAE
from vaebook_lib.widgets import latent_traversal, to_png, traversal_frames

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import check_static_widgets  # noqa: E402


def walk(widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from walk(child)


def small_vae():
    torch.manual_seed(0)
    return VAE(latent_dim=3, hidden=(16,))


def test_frames_move_only_the_chosen_dimension():
    vae = small_vae()
    z0 = torch.tensor([0.1, -0.2, 0.3])
    values = torch.linspace(-2, 2, 5)
    frames = traversal_frames(vae.decode, z0, 1, values)
    assert frames.shape == (5, 1, 28, 28)
    expected = vae.decode(torch.tensor([[0.1, v, 0.3] for v in values.tolist()]))
    assert torch.allclose(frames, expected)


def test_traversal_links_each_slider_to_a_tab_of_frames():
    vae = small_vae()
    widget = latent_traversal(vae, steps=5, dims=[0, 2])
    widgets = list(walk(widget))
    sliders = [w for w in widgets if isinstance(w, W.IntSlider)]
    tabs = [w for w in widgets if isinstance(w, W.Tab)]
    stack = getattr(W, "Stack", ())  # Stack no existe en ipywidgets 7.7 (Colab)
    assert len(sliders) == len(tabs) == 2 and not any(isinstance(w, stack) for w in widgets)
    for tab in tabs:
        pngs = [c.value for c in tab.children]
        assert len(pngs) == 5 and len(set(pngs)) > 1  # fotogramas distintos
        assert tab.selected_index == 2  # empieza en el punto de partida
        # Los títulos, con la API común a ipywidgets 7.7 y 8 (en la 7.7, asignar Tab.titles no hace nada).
        assert [tab.get_title(i) for i in range(5)] == ["-3.0", "-1.5", "+0.0", "+1.5", "+3.0"]
    # Los enlaces de cliente (jslink) existen y unen deslizador y pestaña.
    pairs = {(link.source[0].model_id, link.source[1], link.target[0].model_id, link.target[1])
             for link in widget.links}
    assert pairs == {(s.model_id, "value", t.model_id, "selected_index") for s, t in zip(sliders, tabs)}


def test_live_mode_redecodes_with_all_sliders():
    vae = small_vae()
    widget = latent_traversal(vae, steps=5, live=True)
    combined = [w for w in walk(widget) if isinstance(w, W.Image)][-1]
    before = combined.value
    sliders = [w for w in walk(widget) if isinstance(w, W.IntSlider)]
    sliders[0].value = 4
    assert combined.value != before
    z = torch.zeros(3)
    z[0] = 3.0
    assert combined.value == to_png(vae.decode(z.reshape(1, -1))[0], 6)


def test_bad_arguments():
    vae = small_vae()
    with pytest.raises(ValueError, match="componentes"):
        latent_traversal(vae, z0=torch.zeros(5))
    with pytest.raises(ValueError, match="dimensiones"):
        latent_traversal(vae, dims=[7])


NOTEBOOK = textwrap.dedent('''
    # %% [markdown]
    # # Prueba
    # %%
    import torch
    from vaebook_lib.models import VAE
    from vaebook_lib.widgets import latent_traversal
    torch.manual_seed(0)
    latent_traversal(VAE(latent_dim=2, hidden=(16,)), steps=5)
''')


@pytest.mark.skipif(check_static_widgets.available() is not None,
                    reason=f"sin navegador para la prueba: {check_static_widgets.available()}")
def test_traversal_works_in_the_static_html_book(tmp_path):
    """Construye un libro mínimo con Jupyter Book y mueve los deslizadores en Chromium, sin núcleo."""
    import jupytext

    jupytext.write(jupytext.reads(NOTEBOOK, fmt="py:percent"), tmp_path / "pagina.ipynb")
    (tmp_path / "_config.yml").write_text("title: prueba\nonly_build_toc_files: true\nexecute:\n"
                                          "  execute_notebooks: force\n  raise_on_error: true\n")
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: pagina\n")
    jb = shutil.which("jupyter-book", path=str(Path(sys.executable).parent))
    subprocess.run([jb, "build", str(tmp_path), "-W", "-q"], check=True, capture_output=True, timeout=300)
    results = check_static_widgets.check(tmp_path / "_build" / "html")
    assert len(results) == 2, results  # dos deslizadores (una por dimensión latente)
    assert all(ok for _, _, ok in results), results


@pytest.mark.parametrize("kw, word", [
    (dict(z0=torch.tensor([0.0, float("nan"), 0.0])), "z0"),
    (dict(z0=torch.tensor([0.0, float("inf"), 0.0])), "z0"),
    (dict(span=float("inf")), "span"),
    (dict(span=float("nan")), "span"),
    (dict(span=0.0), "span"),
])
def test_traversal_refuses_non_finite_start_or_span(kw, word):
    with pytest.raises(ValueError, match=word):
        latent_traversal(small_vae(), steps=3, **kw)


def test_frames_refuse_a_non_finite_start():
    with pytest.raises(ValueError, match="finit"):
        traversal_frames(small_vae().decode, torch.tensor([0.0, float("nan"), 0.0]), 0, torch.linspace(-1, 1, 3))


def test_to_png_refuses_two_channels_and_non_finite_pixels():
    from PIL import Image
    import io
    with pytest.raises(ValueError, match="canales"):
        to_png(torch.rand(2, 4, 4))
    with pytest.raises(ValueError, match="NaN"):
        to_png(torch.full((1, 4, 4), float("nan")))
    for c, mode in ((1, "L"), (3, "RGB"), (4, "RGBA")):          # los que sí tienen un sentido claro
        assert Image.open(io.BytesIO(to_png(torch.rand(c, 4, 4), scale=1))).mode == mode
