"""Entrenar una vez (issue 20): los cuadernos entrenan los modelos del catálogo a través de la caché de modelos.

``fit`` solo aparece donde el texto enseña el bucle o donde el modelo no es del catálogo; cada excepción dice por qué.
"""
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "book").rglob("*.ipynb"))

# cuaderno -> (línea que llama a fit, razón)
ALLOWED = {
    ("01_autocodificadores/01_autocodificador", "history = fit(ae,"): "enseña el bucle de entrenamiento",
    ("02_vae/10_flujos", "def fit(name, flows, seed):"): "ajuste 2-D de densidades, ningún modelo del catálogo",
    ("02_vae/10_flujos", "= [fit(name,"): "la función local de arriba",
    ("02_vae/10_flujos", "= [fit(\"U1\","): "la función local de arriba",
}
CALL = re.compile(r"(?<![\w.])fit\(")


def _id(p: Path) -> str:
    return p.relative_to(ROOT / "book").with_suffix("").as_posix()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_id)
def test_catalogue_models_train_through_the_cache(path):
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        for line in cell.source.splitlines():
            line = line.strip()
            if not CALL.search(line) or line.startswith("#") or "show_source(" in line:
                continue
            assert any(nb == _id(path) and line.startswith(start) or (nb == _id(path) and start in line)
                       for nb, start in ALLOWED), \
                f"{line!r}: entrene los modelos del catálogo con fit_cached (o añada la excepción con su razón)"


def test_every_exception_is_still_needed():
    lines = {(_id(p), ln.strip()) for p in NOTEBOOKS for c in nbformat.read(p, as_version=4).cells
             if c.cell_type == "code" for ln in c.source.splitlines()}
    for nb, start in ALLOWED:
        assert any(n == nb and start in ln for n, ln in lines), f"La excepción {nb}: {start!r} ya no hace falta"


@pytest.fixture
def counted_cache(tmp_path, monkeypatch):
    """Caché de modelos en un directorio temporal; cuenta cuántas veces se entrena de verdad."""
    from vaebook_lib import model_cache

    monkeypatch.setenv(model_cache.ENV, str(tmp_path))
    calls = []
    real_fit = model_cache.fit
    monkeypatch.setattr(model_cache, "fit", lambda *a, **k: calls.append(1) or real_fit(*a, **k))
    return calls


def test_the_catalogue_comparison_trains_each_model_once(counted_cache):
    import torch
    from vaebook_lib.comparison import compare, evaluator_features
    from vaebook_lib.data import ImageData
    from vaebook_lib.feature_net import FeatureNet

    g = torch.Generator().manual_seed(0)
    data = ImageData(torch.rand(120, 1, 28, 28, generator=g), torch.randint(0, 2, (120,), generator=g), ("a", "b"))
    train, test = data.subset(80), data.select(torch.arange(80, 120))
    feats = evaluator_features(FeatureNet().eval())
    args = dict(features=feats, epochs=1, batch_size=40, lr=1e-3, latent_dim=2, hidden=(8,), k=2, n_eval=8,
                n_samples=16)
    first = compare(["vae"], train, test, **args)
    second = compare(["vae"], train, test, **args)
    assert len(counted_cache) == 1, "la segunda comparación debe salir de la caché"
    assert first[0].elbo == second[0].elbo and first[0].seconds == second[0].seconds > 0


def test_the_reproducibility_rows_train_once(counted_cache):
    import torch
    from vaebook_lib.experiments import reproducibility as R

    x = torch.bernoulli(torch.full((64, 1, 28, 28), 0.2), generator=torch.Generator().manual_seed(0))
    proto = R.Protocol("fast", 64, 32, 1, 32, 1e-3, 4)
    a = R.run_row(R.ROWS[0], proto, x, x[:16], progress=False)
    b = R.run_row(R.ROWS[0], proto, x, x[:16], progress=False)
    assert len(counted_cache) == 1 and a["neg_elbo"] == b["neg_elbo"]
