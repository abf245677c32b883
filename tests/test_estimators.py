"""Pruebas de los estimadores del gradiente: insesgados frente al gradiente exacto; varianzas comparadas."""
import pytest
import torch

from vaebook_lib.estimators import (gradient_variance, reparameterized_gradients, score_function_gradients)

A = torch.tensor([1.0, -2.0, 0.5])
MU = torch.tensor([0.3, 0.1, -0.4])
LOG_SIGMA = torch.tensor([-0.2, 0.3, 0.0])


def f(z):
    # E_q[||z - a||^2] = ||mu - a||^2 + sum sigma^2: gradiente exacto 2 (mu - a) y 2 sigma^2
    return ((z - A) ** 2).sum()


EXACT = torch.cat([2 * (MU - A), 2 * LOG_SIGMA.exp() ** 2])


@pytest.mark.parametrize("estimator,kwargs", [(score_function_gradients, {}),
                                              (score_function_gradients, {"baseline": 5.0}),
                                              (reparameterized_gradients, {})])
def test_unbiased(estimator, kwargs):
    g = estimator(f, MU, LOG_SIGMA, 40000, generator=torch.Generator().manual_seed(0), **kwargs).flat()
    se = g.std(0) / len(g) ** 0.5
    assert ((g.mean(0) - EXACT).abs() < 4 * se + 1e-4).all()


def test_estimators_differ_from_a_wrong_gradient():
    # la prueba anterior puede fallar: con el signo cambiado la media queda lejos
    g = reparameterized_gradients(f, MU, LOG_SIGMA, 40000, generator=torch.Generator().manual_seed(0)).flat()
    assert ((g.mean(0) + EXACT).abs() > 0.5).any()


def test_reparameterization_has_lower_variance():
    gen = torch.Generator().manual_seed(1)
    v_sf = gradient_variance(score_function_gradients, f, MU, LOG_SIGMA, 10, repeats=400, generator=gen)
    v_rp = gradient_variance(reparameterized_gradients, f, MU, LOG_SIGMA, 10, repeats=400, generator=gen)
    assert v_rp * 5 < v_sf


def test_variance_falls_as_one_over_n():
    gen = torch.Generator().manual_seed(2)
    v1 = gradient_variance(reparameterized_gradients, f, MU, LOG_SIGMA, 1, repeats=4000, generator=gen)
    v16 = gradient_variance(reparameterized_gradients, f, MU, LOG_SIGMA, 16, repeats=4000, generator=gen)
    assert 12 < v1 / v16 < 21


def test_reparameterized_single_sample_is_exact_for_linear_f():
    # f lineal: grad_mu f(mu + sigma eps) = a para cada eps (varianza nula)
    g = reparameterized_gradients(lambda z: (z * A).sum(), MU, LOG_SIGMA, 5)
    assert torch.allclose(g.mu, A.expand(5, 3))


def test_bad_input():
    with pytest.raises(ValueError, match="muestras"):
        score_function_gradients(f, MU, LOG_SIGMA, 0)
    with pytest.raises(ValueError, match="misma forma"):
        reparameterized_gradients(f, MU, LOG_SIGMA[:2], 10)
    with pytest.raises(ValueError, match="repeticiones"):
        gradient_variance(score_function_gradients, f, MU, LOG_SIGMA, 10, repeats=1)


# --- SNR del gradiente de la cota IWAE (Rainforth et al., 2018) ---------------------------------------------------

from vaebook_lib.estimators import gradient_snr, iwae_gradient_samples, snr  # noqa: E402
from vaebook_lib.models import IWAE  # noqa: E402
from vaebook_lib.models.iwae import importance_weighted_bound  # noqa: E402

SHAPE = (1, 8, 8)
X8 = (torch.rand(4, *SHAPE, generator=torch.Generator().manual_seed(0)) < 0.3).float()


def small_model(seed=0, cls=IWAE):
    torch.manual_seed(seed)
    return cls(hidden=(32,), latent_dim=4, in_shape=SHAPE)


def autograd_reference(model, x, eps, k):
    """Gradiente de la cota con autograd ordinario, repetición a repetición, con el mismo ruido."""
    out = []
    for e in eps:
        model.zero_grad()
        qz = model.posterior(x)
        z = qz.loc + qz.scale * e
        xk = x.expand(k, *x.shape)
        log_w = model.likelihood_at(z, xk).log_prob(xk) \
            + model.prior(z).log_prob(z).sum(-1) - qz.log_prob(z).sum(-1)
        if k == 1:
            objective = log_w[0].mean()                    # la ELBO con una muestra (KL por muestreo)
        else:
            objective = importance_weighted_bound(log_w[None]).mean()
        objective.backward()
        enc = torch.cat([p.grad.flatten() for n, p in model.named_parameters() if n.startswith("encoder.")])
        dec = torch.cat([p.grad.flatten() for n, p in model.named_parameters() if not n.startswith("encoder.")])
        out.append((enc, dec))
    return torch.stack([o[0] for o in out]), torch.stack([o[1] for o in out])


def test_iwae_gradient_shapes():
    m = small_model()
    g = iwae_gradient_samples(m, X8, 3, repeats=5)
    n_enc = sum(p.numel() for n, p in m.named_parameters() if n.startswith("encoder."))
    n_all = sum(p.numel() for p in m.parameters())
    assert g.encoder.shape == (5, n_enc) and g.decoder.shape == (5, n_all - n_enc)
    s = gradient_snr(m, X8, 3, repeats=5)
    assert s.encoder.shape == (n_enc,) and s.decoder.shape == (n_all - n_enc,)


@pytest.mark.parametrize("k", [1, 4])
def test_iwae_gradients_match_autograd(k):
    # k = 1: el gradiente de la IWAE es el de la ELBO (estimada con una muestra); k = 4: el de la cota de la biblioteca
    m = small_model(1)
    g = iwae_gradient_samples(m, X8, k, repeats=3, generator=torch.Generator().manual_seed(5))
    eps = torch.randn(3, k, len(X8), 4, generator=torch.Generator().manual_seed(5))
    enc, dec = autograd_reference(m, X8, eps, k)
    assert torch.allclose(g.encoder, enc, atol=1e-5) and torch.allclose(g.decoder, dec, atol=1e-5)
    # y puede fallar: con otro ruido las estimaciones no coinciden
    other = iwae_gradient_samples(m, X8, k, repeats=3, generator=torch.Generator().manual_seed(6))
    assert not torch.allclose(other.decoder, dec, atol=1e-3)


def test_snr_of_constant_gradient_is_infinite_and_of_zero_is_nan():
    s = snr(torch.tensor([[1.0, 0.0, 1.0], [1.0, 0.0, -1.0]]))
    assert s[0] == float("inf") and torch.isnan(s[1]) and s[2] == 0


def test_nearly_deterministic_posterior_gives_large_snr():
    # con sigma = e^-8 el código es casi fijo y el gradiente apenas depende del ruido: SNR del orden de 1 / sigma;
    # con sigma = 1 el ruido domina (medido: medianas de ~1000 frente a menos de 1)
    med = {}
    for log_var in (0.0, -16.0):
        m = small_model(2)
        with torch.no_grad():
            last = [mod for mod in m.encoder.modules() if isinstance(mod, torch.nn.Linear)][-1]
            last.bias[4:] = log_var                             # las 4 últimas salidas son log sigma^2
            last.weight[4:] = 0.0
        s = gradient_snr(m, X8, 1, repeats=8, generator=torch.Generator().manual_seed(0))
        med[log_var] = (float(torch.nanmedian(s.encoder)), float(torch.nanmedian(s.decoder)))
    assert min(med[-16.0]) > 300 and max(med[0.0]) < 3, med


def test_snr_directions_with_k():
    # Rainforth et al.: la SNR del decodificador crece (~ sqrt k) y la del codificador cae (~ 1 / sqrt k).
    # Medido en 10 semillas: de k = 1 a k = 64 la mediana del codificador se multiplicó por 0,33-0,62 y la del
    # decodificador por 5,2-6,9 (sqrt 64 = 8); los umbrales dejan margen sobre esos extremos.
    for seed in range(3):
        m = small_model(seed)
        med = {k: gradient_snr(m, X8, k, repeats=64, generator=torch.Generator().manual_seed(100 + seed))
               for k in (1, 64)}
        enc = float(torch.nanmedian(med[64].encoder) / torch.nanmedian(med[1].encoder))
        dec = float(torch.nanmedian(med[64].decoder) / torch.nanmedian(med[1].decoder))
        assert enc < 0.8, f"semilla {seed}: la SNR del codificador debería caer con k (cociente {enc:.2f})"
        assert dec > 3.0, f"semilla {seed}: la SNR del decodificador debería crecer con k (cociente {dec:.2f})"


def test_gradient_snr_bad_input():
    m = small_model()
    with pytest.raises(ValueError, match="k"):
        gradient_snr(m, X8, 0, repeats=4)
    with pytest.raises(ValueError, match="repeticiones"):
        gradient_snr(m, X8, 2, repeats=1)
    with pytest.raises(ValueError, match="forma"):
        gradient_snr(m, X8[:, 0], 2, repeats=4)
    with pytest.raises(ValueError, match="forma"):
        gradient_snr(m, torch.zeros(0, *SHAPE), 2, repeats=4)
    with pytest.raises(ValueError, match="forma"):
        snr(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="codificador gaussiano"):
        gradient_snr(torch.nn.Linear(2, 2), X8, 2, repeats=4)
