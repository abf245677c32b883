import numpy as np
import pytest
import torch

from vaebook_lib.applications import (anomaly_roc, codes, decoder_components, decoder_matrix, fit_linear_autoencoder, image_quality,
                                      knn_accuracy, linear_autoencoder, mean_image_scores, median_denoise,
                                      pca_reconstruction, pca_scores, principal_angles, reconstruction_scores,
                                      relative_error, survey_normalize, threshold_for_fpr)
from vaebook_lib.models import AE


def synthetic(n=600, d=10, seed=0):
    """Datos con 3 direcciones de varianza grande y bien separadas, más ruido pequeño."""
    g = torch.Generator().manual_seed(seed)
    basis, _ = torch.linalg.qr(torch.randn(d, 3, generator=g))
    z = torch.randn(n, 3, generator=g) * torch.tensor([3.0, 2.0, 1.0])
    return z @ basis.T + 0.05 * torch.randn(n, d, generator=g) + 5.0


def test_survey_normalize_gives_covariance():
    x = synthetic()
    xn, mean = survey_normalize(x)
    assert torch.allclose(xn.mean(0), torch.zeros(10), atol=1e-5)
    cov = torch.from_numpy(np.cov(x.numpy(), rowvar=False, bias=True)).float()
    assert torch.allclose(xn.T @ xn, cov, atol=1e-3)
    other, _ = survey_normalize(x[:5], mean, len(x))
    assert torch.allclose(other, xn[:5])
    with pytest.raises(ValueError, match="NaN"):
        survey_normalize(torch.tensor([[float("nan")], [1.0]]))


def test_linear_ae_matches_pca_on_synthetic_data():
    xn, _ = survey_normalize(synthetic())
    model = linear_autoencoder(10, 3)
    history = fit_linear_autoencoder(model, xn, epochs=20, batch_size=32, lr=0.1)
    assert history.train["loss"][-1] < history.train["loss"][0]
    with torch.no_grad():
        rec = model.reconstruct(xn)
    pca, (pca_rec,) = pca_reconstruction(xn, 3)
    e_ae, e_pca = relative_error(xn, rec), relative_error(xn, pca_rec)
    assert e_pca <= e_ae <= e_pca + 1e-3      # PCA es el óptimo de rango 3; el AE llega a él
    assert principal_angles(decoder_matrix(model), pca.components_.T).max() < 1.0
    comps, var = decoder_components(decoder_matrix(model), xn)
    assert np.all(np.diff(var) <= 0)
    cos = np.abs((comps * pca.components_.T).sum(0))
    assert np.all(cos > 0.999)
    assert np.allclose(var, pca.explained_variance_ * (len(xn) - 1) / len(xn), rtol=0.02)


@pytest.fixture(scope="module")
def fashion_pca():
    """Las imágenes de Fashion-MNIST del capítulo 1 (perfil activo), normalizadas como la revisión, y su PCA de
    rango 8: lo que comparten las dos pruebas del AE lineal desde inicializaciones difíciles."""
    from vaebook_lib import get_profile, load_fashion_mnist
    x, _ = survey_normalize(load_fashion_mnist("train", get_profile().n_train).x)
    pca, (pca_rec,) = pca_reconstruction(x, 8)
    return x, pca, pca_rec


@pytest.mark.parametrize("init_seed", [3, 4, 6])
def test_linear_ae_finds_the_pca_subspace_of_fashion_mnist_from_hard_initializations(init_seed, fashion_pca):
    """La configuración del capítulo 1 (perfil ``fast``) desde inicializaciones que, con una tasa que caía un 40 %
    por época, se quedaban junto a una silla (ángulo máximo de 89°, 10° y 27°): el coseno llega en todas."""
    from vaebook_lib import get_profile
    P = get_profile()
    x, pca, pca_rec = fashion_pca
    torch.manual_seed(init_seed)
    model = linear_autoencoder(784, 8)
    fit_linear_autoencoder(model, x, epochs=P.epochs_long, batch_size=P.batch_size // 4, lr=1e-2, seed=init_seed)
    with torch.no_grad():
        rec = model.reconstruct(x)
    assert relative_error(x, rec) < 1.002 * relative_error(x, pca_rec)
    angles = principal_angles(decoder_matrix(model), pca.components_.T)
    assert angles.max() < 3 and angles.mean() < 1


def test_a_geometric_decay_leaves_the_linear_ae_near_a_saddle_from_those_initializations(fashion_pca):
    """Lo que cuenta 01_autocodificadores/04_compresion_clasificacion para justificar el coseno de
    ``fit_linear_autoencoder``: con la misma configuración y una tasa que cae un 40 % por época (``lr_final`` de
    ``fit``), desde las inicializaciones de la prueba anterior el entrenamiento se congela con una dirección lejos
    de PCA (medido: 89°, 10° y 27°)."""
    from vaebook_lib import get_profile
    from vaebook_lib.train import fit
    P = get_profile()
    x, pca, _ = fashion_pca
    worst = []
    for init_seed in (3, 4, 6):
        torch.manual_seed(init_seed)
        model = linear_autoencoder(784, 8)
        fit(model, x, epochs=P.epochs_long, batch_size=P.batch_size // 4, lr=1e-2,
            lr_final=1e-2 * 0.6 ** (P.epochs_long - 1), seed=init_seed)
        worst.append(principal_angles(decoder_matrix(model), pca.components_.T).max())
    assert min(worst) > 5 and max(worst) > 80, worst


def test_linear_autoencoder_has_frozen_zero_biases_and_bad_k():
    model = linear_autoencoder(6, 2)
    biases = [p for n, p in model.named_parameters() if n.endswith("bias")]
    assert biases and all(not b.requires_grad and b.abs().sum() == 0 for b in biases)
    with pytest.raises(ValueError, match="entre 1 y 6"):
        linear_autoencoder(6, 7)
    with pytest.raises(ValueError, match="épocas"):
        fit_linear_autoencoder(model, torch.randn(4, 6), epochs=0, batch_size=2)


def test_decoder_components_exact_for_any_basis_of_the_subspace():
    xn, _ = survey_normalize(synthetic())
    pca, _ = pca_reconstruction(xn, 3)
    mix = torch.randn(3, 3, generator=torch.Generator().manual_seed(1)).numpy()
    w = pca.components_.T @ mix           # otra base (no ortogonal) del mismo subespacio
    assert principal_angles(w, pca.components_.T).max() < 1e-3
    comps, _ = decoder_components(w, xn)
    assert np.allclose(np.abs(comps), np.abs(pca.components_.T), atol=1e-4)
    with pytest.raises(ValueError, match="Se esperaba"):
        decoder_components(w, xn[:, :5])


def test_relative_error_and_knn_by_hand():
    assert relative_error(np.array([[3.0, 4.0]]), np.array([[3.0, 0.0]])) == pytest.approx(16 / 25)
    f_train = np.array([[0.0], [0.1], [1.0], [1.1]])
    y_train = np.array([0, 0, 1, 1])
    assert knn_accuracy(f_train, y_train, np.array([[0.05], [1.05], [0.9]]), np.array([0, 1, 0]),
                        k=1) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="dimensión"):
        knn_accuracy(f_train, y_train, np.zeros((2, 2)), np.zeros(2))


def test_codes_and_reconstruction_scores():
    model = AE(in_shape=(1, 4, 4), latent_dim=3, hidden=(5,))
    x = torch.rand(7, 1, 4, 4)
    assert codes(model, x, batch_size=3).shape == (7, 3)
    s = reconstruction_scores(model, x, batch_size=3)
    with torch.no_grad():
        expected = ((model.decode(model.encode(x)) - x) ** 2).sum((1, 2, 3)).numpy()
    assert np.allclose(s, expected, rtol=1e-5)


def test_anomaly_roc_and_threshold():
    roc = anomaly_roc([0.1, 0.2, 0.3], [0.25, 0.4])
    # pares (anómalo > normal): 0.25 gana a 0.1 y 0.2; 0.4 gana a los tres -> 5/6
    assert roc["auc"] == pytest.approx(5 / 6)
    assert roc["fpr"][0] == 0 and roc["tpr"][-1] == 1
    assert anomaly_roc([0.0, 0.1], [1.0, 2.0])["auc"] == 1.0
    normal = np.arange(100.0)
    t = threshold_for_fpr(normal, 0.1)
    assert (normal > t).mean() == pytest.approx(0.1, abs=0.011)
    with pytest.raises(ValueError, match="falsos positivos"):
        threshold_for_fpr(normal, 1.5)
    with pytest.raises(ValueError, match="anómalos"):
        anomaly_roc([], [1.0])


def test_image_quality_psnr_by_hand_and_ssim_of_identical():
    ref = torch.full((2, 1, 8, 8), 0.5)
    noisy = ref + 0.1                 # MSE = 0.01 -> PSNR = 10 log10(1 / 0.01) = 20 dB
    q = image_quality(ref, noisy)
    assert q["psnr"] == pytest.approx(20.0, abs=1e-3)
    x = torch.rand(2, 1, 16, 16)
    assert image_quality(x, x)["ssim"] == pytest.approx(1.0, abs=1e-4)
    assert image_quality(x, (x + 0.3 * torch.randn_like(x)).clamp(0, 1))["ssim"] < 0.9
    with pytest.raises(ValueError, match="igual forma"):
        image_quality(x, x[:1])
    bad = x.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="images contiene NaN"):
        image_quality(x, bad)
    with pytest.raises(ValueError, match=r"reference debe estar en \[0, 1\]"):
        image_quality(255 * x, x)
    with pytest.raises(ValueError, match="coma flotante"):
        image_quality(x, (255 * x).to(torch.uint8))


def test_mean_image_scores_by_hand():
    normal = torch.tensor([[0.0, 0.0], [2.0, 4.0]])          # media (1, 2)
    s = mean_image_scores(normal, torch.tensor([[1.0, 2.0], [4.0, 6.0]]))
    assert np.allclose(s, [0.0, 9.0 + 16.0])
    with pytest.raises(ValueError, match="misma dimensión"):
        mean_image_scores(normal, torch.zeros(1, 3))


def test_pca_scores_zero_in_the_subspace_and_distance_outside():
    x = synthetic()                                          # 3 direcciones grandes + ruido de 0.05
    s_in = pca_scores(x, x, 3)
    assert s_in.mean() < 0.05 ** 2 * 10                      # solo queda el ruido de las otras 7 direcciones
    pca = pca_reconstruction(x, 3)[0]
    # la media desplazada 2 unidades en una dirección ortogonal al subespacio puntúa exactamente 2^2 = 4
    out_dir = np.linalg.svd(pca.components_, full_matrices=True)[2][-1]
    # (más 1.5 unidades a lo largo de la tercera componente, que el rango 3 reconstruye y el rango 2 no: 4 + 2.25)
    far = torch.from_numpy(pca.mean_ + 2.0 * out_dir + 1.5 * pca.components_[2])[None]
    assert pca_scores(x, far, 3)[0] == pytest.approx(4.0, rel=1e-4)
    assert pca_scores(x, far, 2)[0] == pytest.approx(6.25, rel=1e-4)
    with pytest.raises(ValueError, match="rango"):
        pca_scores(x, x, 0)


def test_median_denoise_removes_isolated_impulses_and_checks_input():
    x = torch.full((1, 1, 5, 5), 0.5)
    noisy = x.clone()
    noisy[0, 0, 2, 2] = 1.0                                  # un píxel de «sal» aislado
    noisy[0, 0, 0, 4] = 0.0                                  # y uno de «pimienta» en una esquina
    assert torch.equal(median_denoise(noisy), x)
    with pytest.raises(ValueError, match="impar"):
        median_denoise(noisy, size=2)
    with pytest.raises(ValueError, match="lote"):
        median_denoise(noisy[0])
