import pytest
import torch

from dataclasses import fields

from vaebook_lib.config import PROFILES, Profile, get_device, get_profile, profile_with, set_seed


def test_profile_from_environment(monkeypatch):
    monkeypatch.setenv("VAEBOOK_PROFILE", "fast")
    assert get_profile().name == "fast"
    monkeypatch.setenv("VAEBOOK_PROFILE", "FULL")
    assert get_profile() is PROFILES["full"]
    monkeypatch.delenv("VAEBOOK_PROFILE")
    assert get_profile().name == "full"  # los lectores obtienen el perfil completo por defecto


def test_fast_profile_is_smaller_than_full():
    fast, full = PROFILES["fast"], PROFILES["full"]
    assert fast.n_train is not None and full.n_train is None
    # El completo hace más de todo: más pasos de optimización (datos × pasadas), más muestras de importancia sobre
    # más imágenes, y nunca menos semillas.
    assert fast.n_train * fast.epochs < 60000 * full.epochs
    assert fast.n_train * fast.epochs_long < 60000 * full.epochs_long
    assert fast.k_is * fast.n_eval < full.k_is * full.n_eval and fast.seeds < full.seeds
    seeds = [f.name for f in fields(Profile) if f.name.endswith("_seeds")]
    assert seeds and all(getattr(fast, s) <= getattr(full, s) for s in seeds)
    # Los protocolos de los artículos quedan para la ejecución grabada (k = 5000 sobre toda la prueba).
    assert full.k_is < 5000
    # Los VAE con PixelCNN (02_vae/09b y 3.5) y la comparativa final: nunca más pasadas ni más muestras que en el
    # completo, y la comparativa no pide más muestras que imágenes de prueba tiene el perfil.
    assert fast.ar_epochs <= full.ar_epochs and fast.info_ar_epochs <= full.info_ar_epochs
    assert fast.cmp_n_samples <= full.cmp_n_samples and fast.cmp_n_samples <= fast.n_test


def test_reference_rate_is_the_same_in_both_profiles():
    # lr_ref es la tasa de las comparaciones que dependen de la propia tasa: la misma en los dos perfiles, y la del
    # perfil completo. El rápido puede dar pasos mayores, pero solo a cambio de menos pasadas.
    fast, full = PROFILES["fast"], PROFILES["full"]
    assert fast.lr_ref == full.lr_ref == full.lr == 1e-3
    assert fast.lr >= fast.lr_ref and (fast.lr == fast.lr_ref or fast.epochs <= full.epochs)


def test_full_profile_fits_its_budget_on_paper():
    # Las cifras grandes del perfil completo, acotadas para que el libro quepa en dos horas en 2 núcleos:
    # quien las suba sin medir verá esta prueba fallar y tendrá que volver a grabar vaebook_lib/records/full.json.
    full = PROFILES["full"]
    assert full.epochs * 60000 <= 300000 and full.epochs_long * 60000 <= 600000
    assert full.k_is * full.n_eval <= 500000 and full.cmp_seeds * full.cmp_epochs * full.cmp_n_train <= 100000
    assert (full.repro_n_train or 60000) * full.repro_epochs <= 20000 and full.repro_k * full.repro_n_eval <= 500000


def test_unknown_profile_is_a_spanish_error(monkeypatch):
    monkeypatch.setenv("VAEBOOK_PROFILE", "turbo")
    with pytest.raises(ValueError, match="Perfil desconocido"):
        get_profile()
    with pytest.raises(ValueError, match="desconocidos"):
        profile_with(nope=1)


def test_seed_makes_torch_deterministic():
    set_seed(3)
    a = torch.randn(5)
    set_seed(3)
    assert torch.equal(a, torch.randn(5))
    with pytest.raises(ValueError, match="semilla"):
        set_seed(-1)


def test_device_override(monkeypatch):
    monkeypatch.setenv("VAEBOOK_DEVICE", "cpu")
    assert get_device().type == "cpu"
    monkeypatch.delenv("VAEBOOK_DEVICE")
    assert get_device().type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_seeded_comparisons_keep_two_seeds_in_the_fast_profile():
    # Las comparaciones entre modelos miran la dispersión. El presupuesto del perfil rápido recorta semillas, pero
    # nunca por debajo de dos (las comprobaciones comparan la peor semilla de un modelo con la mejor del otro) ni por
    # encima de las del completo. Solo la comparativa final es, en el rápido, de una semilla (una prueba de humo que
    # su texto declara).
    fast, full = get_profile("fast"), get_profile("full")
    seeded = [f.name for f in fields(Profile) if f.name.endswith("_seeds") and f.name != "cmp_seeds"]
    assert "ext_seeds" in seeded and len(seeded) >= 7
    assert all(2 <= getattr(fast, name) <= getattr(full, name) for name in seeded), \
        {name: (getattr(fast, name), getattr(full, name)) for name in seeded}


def test_infovae_section_trains_on_fewer_images_than_the_pixelcnn_chapter():
    # 3.5 dice que su InfoVAE con PixelCNN usa menos imágenes que 02_vae/09b, con lotes pequeños (más pasos).
    for p in (get_profile("fast"), get_profile("full")):
        assert 0 < p.info_ar_n_train < p.ar_n_train and p.info_ar_batch_size < p.ar_batch_size
        # ... y las toma de las de los demás modelos de 3.5 (AE, WAE, SWAE, InfoVAE), que no pasan de las del perfil.
        total = p.n_train or 60000
        assert p.info_ar_n_train < (p.wae_n_train or total) <= total


def test_importing_the_library_makes_a_fresh_process_deterministic():
    # Dos procesos nuevos que importan la biblioteca y crean un modelo sin fijar semilla dan los mismos pesos
    # (PyTorch, por sí solo, arranca con una semilla al azar).
    import subprocess
    import sys

    code = ("import vaebook_lib, torch; from vaebook_lib.models import VAE; "
            "m = VAE(VAE.Config(in_shape=(1, 8, 8), latent_dim=2, hidden=(4,))); "
            "print(repr(sum(float(p.double().sum()) for p in m.parameters())), torch.rand(1).item())")
    out = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
           for _ in range(2)]
    assert out[0] == out[1] and out[0].strip()


def test_importing_the_library_leaves_slow_optional_imports_for_later():
    # scikit-learn y torchmetrics cuestan segundos de importación en cada cuaderno: solo se cargan al usarse.
    import subprocess
    import sys

    # Tampoco los módulos de los que un cuaderno puede importar solo funciones que no los usan (codes,
    # kl_per_dimension...): SciPy y scikit-learn se importan dentro de la función que los necesita.
    for module in ("vaebook_lib", "vaebook_lib.applications", "vaebook_lib.disentanglement", "vaebook_lib.metrics"):
        code = (f"import sys, {module}; "
                "print(sorted(m for m in ('sklearn', 'torchmetrics', 'scipy') if m in sys.modules))")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        assert out.strip() == "[]", module
