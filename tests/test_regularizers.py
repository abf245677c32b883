import pytest
import torch
from torch import nn

from vaebook_lib.nets import Encoder
from vaebook_lib.regularizers import (activation_penalty, composed_jacobian_frobenius_sq, denoising_excess,
                                      jacobian_frobenius_sq, k_sparse, layer_activations,
                                      sigmoid_contractive_penalty)


def test_activation_penalty_matches_hand_computation():
    h1 = torch.tensor([[1.0, -2.0], [0.0, 3.0]])
    h2 = torch.tensor([[3.0, 4.0, 0.0], [0.0, 0.0, 0.0]])
    # L1: ejemplo 1: 0.5*3 + 2*7 = 15.5; ejemplo 2: 0.5*3 + 0 = 1.5 -> media 8.5
    assert activation_penalty([h1, h2], (0.5, 2.0), "l1").item() == pytest.approx(8.5)
    # L2: ejemplo 1: 0.5*sqrt(5) + 2*5; ejemplo 2: 0.5*3
    expected = (0.5 * 5 ** 0.5 + 10 + 1.5) / 2
    assert activation_penalty([h1, h2], (0.5, 2.0), "l2").item() == pytest.approx(expected)


def test_activation_penalty_bad_input():
    h = torch.ones(2, 3)
    with pytest.raises(ValueError, match="Norma"):
        activation_penalty([h], (1.0,), "l3")
    with pytest.raises(ValueError, match="pesos"):
        activation_penalty([h, h], (1.0,), "l1")
    with pytest.raises(ValueError, match="negativos"):
        activation_penalty([h], (-1.0,), "l1")


def test_k_sparse_keeps_exactly_k_largest():
    h = torch.tensor([[0.1, 5.0, -3.0, 2.0], [4.0, 3.0, 2.0, 1.0]])
    out = k_sparse(h, 2)
    assert torch.equal(out, torch.tensor([[0.0, 5.0, 0.0, 2.0], [4.0, 3.0, 0.0, 0.0]]))
    h = torch.randn(64, 50)
    for k in (1, 7, 50):
        out = k_sparse(h, k)
        assert ((out != 0).sum(1) == k).all()
        # lo que queda son exactamente los k mayores de cada fila
        kept = out.masked_fill(out == 0, float("-inf")).sort(1, descending=True).values[:, :k]
        assert torch.equal(kept, h.sort(1, descending=True).values[:, :k])


def test_k_sparse_bad_k():
    with pytest.raises(ValueError, match="k debe"):
        k_sparse(torch.randn(3, 5), 6)
    with pytest.raises(ValueError, match="forma"):
        k_sparse(torch.randn(5), 1)


def test_layer_activations_of_encoder():
    enc = Encoder((1, 4, 4), 3, hidden=(5, 6))
    x = torch.rand(2, 1, 4, 4)
    hs = layer_activations(enc, x)
    assert [h.shape[1] for h in hs] == [5, 6, 3]
    assert (hs[0] >= 0).all() and (hs[1] >= 0).all()
    assert torch.allclose(hs[-1], enc(x))


def test_jacobian_frobenius_of_linear_map_is_frobenius_of_matrix():
    lin = nn.Linear(6, 4)
    x = torch.randn(3, 6)
    got = jacobian_frobenius_sq(lin, x)
    assert torch.allclose(got, lin.weight.pow(2).sum().expand(3), atol=1e-5)


def test_chain_rule_through_the_code_is_the_full_jacobian():
    """||J_{D∘E}||_F^2 por la regla de la cadena (2d pasadas hacia atrás) = el jacobiano entero de la
    composición, con imágenes (1, 5, 5), un código de 3 y ReLU; y de una composición lineal, ||B A||_F^2 a mano."""
    from vaebook_lib.models import AE
    torch.manual_seed(2)
    ae = AE(in_shape=(1, 5, 5), latent_dim=3, hidden=(8,), output="identity").double().eval()
    x = torch.rand(6, 1, 5, 5, dtype=torch.float64)
    full = jacobian_frobenius_sq(lambda v: ae.decode(ae.encode(v)), x)
    chain = composed_jacobian_frobenius_sq(ae.encode, ae.decode, x)
    assert chain.shape == (6,) and torch.allclose(chain, full, rtol=1e-10, atol=0) and (chain > 0).all()
    a, b = nn.Linear(7, 2, bias=False).double(), nn.Linear(2, 4).double()
    got = composed_jacobian_frobenius_sq(a, b, torch.randn(3, 7, dtype=torch.float64))
    assert torch.allclose(got, (b.weight @ a.weight).pow(2).sum().expand(3))
    with pytest.raises(ValueError, match="código plano"):
        composed_jacobian_frobenius_sq(lambda v: v, lambda z: z, x)


def test_closed_form_equals_jacrev_and_gradients_match():
    torch.manual_seed(1)
    lin = nn.Linear(7, 5)
    x = torch.randn(4, 7)
    f = lambda v: torch.sigmoid(lin(v))  # noqa: E731
    exact = jacobian_frobenius_sq(f, x)
    closed = sigmoid_contractive_penalty(lin.weight, f(x))
    assert torch.allclose(exact, closed, atol=1e-6)
    # a mano para el primer ejemplo: J = diag(h(1-h)) W
    h = f(x[:1])[0]
    jac = torch.diag(h * (1 - h)) @ lin.weight
    assert exact[0].item() == pytest.approx(jac.pow(2).sum().item(), rel=1e-5)
    g1 = torch.autograd.grad(exact.sum(), lin.weight)[0]
    g2 = torch.autograd.grad(sigmoid_contractive_penalty(lin.weight, f(x)).sum(), lin.weight)[0]
    assert torch.allclose(g1, g2, atol=1e-6) and g1.abs().sum() > 0


def test_closed_form_bad_shapes():
    with pytest.raises(ValueError, match="debe ser"):
        sigmoid_contractive_penalty(torch.randn(5, 7), torch.rand(2, 4))


def test_denoising_excess_tends_to_jacobian_norm():
    # r lineal: el exceso es exactamente sigma^2 ||A||_F^2 en esperanza, para cualquier sigma
    torch.manual_seed(0)
    a = torch.randn(5, 5) * 0.5
    r = lambda v: v @ a.T  # noqa: E731
    x = torch.randn(200, 5)
    g = torch.Generator().manual_seed(0)
    excess = denoising_excess(r, x, sigma=0.01, n_samples=64, generator=g)
    assert excess.mean().item() == pytest.approx(a.pow(2).sum().item(), rel=0.03)
    with pytest.raises(ValueError, match="positivos"):
        denoising_excess(r, x, sigma=0.0)


def test_denoising_excess_of_piecewise_linear_net_is_jacobian_norm():
    # red ReLU (lineal a trozos, sin curvatura): con sigma pequeño el exceso/sigma^2 es ||J_r(x)||_F^2
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 6)).double()
    x = torch.randn(50, 6, dtype=torch.float64)
    jac = jacobian_frobenius_sq(net, x).detach()
    g = torch.Generator().manual_seed(0)
    excess = denoising_excess(net, x, sigma=1e-4, n_samples=200, generator=g)
    assert excess.mean().item() == pytest.approx(jac.mean().item(), rel=0.05)


def test_hoyer_sparsity_extremes_and_scale_invariance():
    from vaebook_lib.regularizers import hoyer_sparsity
    h = torch.tensor([[0.0, 0.0, 5.0, 0.0], [1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0], [3.0, 4.0, 0.0, 0.0]])
    s = hoyer_sparsity(h)
    # fila 4: ||h||_1 / ||h||_2 = 7 / 5 -> (2 - 1.4) / (2 - 1) = 0.6
    assert torch.allclose(s, torch.tensor([1.0, 0.0, 1.0, 0.6]))
    assert torch.allclose(hoyer_sparsity(h * 0.01), s)
    with pytest.raises(ValueError, match="forma"):
        hoyer_sparsity(torch.ones(3))
