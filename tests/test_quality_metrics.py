import numpy as np
import pytest
import torch

from vaebook_lib.metrics import frechet_distance, knn_accuracy


def test_frechet_distance_closed_forms():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(20000, 3, generator=g, dtype=torch.float64)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    shift = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    assert frechet_distance(a, a + shift) == pytest.approx(float((shift ** 2).sum()), rel=1e-6)
    # En una dimensión: (mu_a - mu_b)^2 + (sigma_a - sigma_b)^2.
    x = torch.randn(50000, 1, generator=g, dtype=torch.float64)
    sd, mu = x.std(unbiased=True).item(), x.mean().item()
    expected = ((3 * mu + 1) - mu) ** 2 + (3 * sd - sd) ** 2
    assert frechet_distance(x, 3 * x + 1) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_grows_with_the_difference():
    g = torch.Generator().manual_seed(1)
    a = torch.randn(5000, 4, generator=g)
    d = [frechet_distance(a, torch.randn(5000, 4, generator=g) * s) for s in (1.0, 1.5, 3.0)]
    assert d[0] < 0.05 < d[1] < d[2]


def test_knn_accuracy_on_separable_and_random_codes():
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(400) % 4
    codes = torch.nn.functional.one_hot(labels).float() * 5 + 0.1 * torch.randn(400, 4, generator=g)
    assert knn_accuracy(codes[:300], labels[:300], codes[300:], labels[300:]) == 1.0
    noise = torch.randn(400, 4, generator=g)
    assert knn_accuracy(noise[:300], labels[:300], noise[300:], labels[300:]) < 0.45


def test_bad_input():
    with pytest.raises(ValueError, match="misma dimensión"):
        frechet_distance(torch.randn(10, 2), torch.randn(10, 3))
    with pytest.raises(ValueError, match="NaN"):
        frechet_distance(torch.full((10, 2), float("nan")), torch.randn(10, 2))
    with pytest.raises(ValueError, match="etiqueta"):
        knn_accuracy(torch.randn(10, 2), torch.zeros(9), torch.randn(5, 2), torch.zeros(5))


def test_precision_recall_closed_cases():
    from vaebook_lib.metrics import precision_recall
    g = torch.Generator().manual_seed(0)
    real = torch.randn(400, 3, generator=g)
    assert precision_recall(real, real.clone()) == (1.0, 1.0)
    far = torch.randn(400, 3, generator=g) + 50.0
    assert precision_recall(real, far) == (0.0, 0.0)
    # Muestras realistas pero de un solo modo: precisión alta, exhaustividad baja.
    two_modes = torch.cat([torch.randn(200, 3, generator=g) - 10, torch.randn(200, 3, generator=g) + 10])
    one_mode = torch.randn(400, 3, generator=g) * 0.5 - 10
    p, r = precision_recall(two_modes, one_mode)
    assert p > 0.95 and 0.3 < r < 0.6


def test_precision_recall_bad_input():
    from vaebook_lib.metrics import precision_recall
    with pytest.raises(ValueError, match="dimensión"):
        precision_recall(torch.zeros(10, 2), torch.zeros(10, 3))
    with pytest.raises(ValueError, match="k debe"):
        precision_recall(torch.randn(5, 2), torch.randn(5, 2), k=5)
    with pytest.raises(ValueError, match="NaN"):
        precision_recall(torch.full((10, 2), float("nan")), torch.zeros(10, 2))


def test_frechet_interval_brackets_the_sampling_noise():
    from vaebook_lib.metrics import frechet_distance, frechet_interval
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(500, 4, generator=g), torch.randn(500, 4, generator=g) + 1.0
    lo, hi = frechet_interval(a, b, n_boot=50)
    # La distancia verdadera es ||(1,1,1,1)||^2 = 4; la estimación y el intervalo la rodean.
    assert lo < frechet_distance(a, b) < hi and lo < 4.0 < hi and hi - lo < 2.0
    with pytest.raises(ValueError, match="n_boot"):
        frechet_interval(a, b, n_boot=1)
    with pytest.raises(ValueError, match="level"):
        frechet_interval(a, b, n_boot=5, level=1.0)


def test_frechet_interval_reuses_the_reference_only_when_its_draws_would_repeat():
    """La gaussiana de cada remuestreo de features_a se guarda y se reutiliza: con otro features_b, la misma
    semilla y el mismo tamaño, el resultado es el del bootstrap completo; con otro contenido de features_a, otra
    semilla o otro tamaño de features_b (los sorteos cambian), se calcula de nuevo."""
    import numpy as np
    from vaebook_lib import metrics
    from vaebook_lib.metrics import frechet_distance, frechet_interval

    def bootstrap(a, b, n_boot, seed):
        g = torch.Generator().manual_seed(seed)
        values = [frechet_distance(a[torch.randint(len(a), (len(a),), generator=g)],
                                   b[torch.randint(len(b), (len(b),), generator=g)]) for _ in range(n_boot)]
        return tuple(np.quantile(values, [0.05, 0.95]))

    torch.manual_seed(0)
    a = torch.randn(60, 4)
    a2 = a.clone()
    a2[5, 2] += 0.5                                   # mismo tamaño, otro contenido
    cases = [(a, torch.randn(70, 4) + 0.5, 0), (a, 2 * torch.randn(70, 4), 0), (a2, torch.randn(70, 4), 0),
             (a2, torch.randn(70, 4), 3), (a2, torch.randn(50, 4), 3)]
    keys = []
    for fa, fb, seed in cases:
        assert frechet_interval(fa, fb, n_boot=9, seed=seed) == pytest.approx(bootstrap(fa, fb, 9, seed), rel=1e-12)
        assert len(metrics._REFERENCE) == 1
        keys.append(next(iter(metrics._REFERENCE)))
    assert keys[0] == keys[1] and len(set(keys)) == 4   # solo el segundo caso reutiliza


def test_frechet_interval_is_the_bootstrap_of_frechet_distance():
    # El intervalo valida los rasgos una vez y reutiliza la gaussiana de cada remuestreo; tiene que dar los mismos
    # percentiles que llamar a frechet_distance sobre cada par remuestreado (los mismos sorteos).
    import numpy as np
    from vaebook_lib.metrics import frechet_distance, frechet_interval
    torch.manual_seed(0)
    a, b = torch.randn(80, 5), 1.3 * torch.randn(90, 5) + 0.2
    g = torch.Generator().manual_seed(7)
    values = [frechet_distance(a[torch.randint(len(a), (len(a),), generator=g)],
                               b[torch.randint(len(b), (len(b),), generator=g)]) for _ in range(12)]
    expected = np.quantile(values, [0.05, 0.95])
    assert frechet_interval(a, b, n_boot=12, seed=7) == pytest.approx(tuple(expected), rel=1e-12)
    with pytest.raises(ValueError, match="NaN"):
        frechet_interval(a, torch.full((90, 5), float("nan")), n_boot=3)
