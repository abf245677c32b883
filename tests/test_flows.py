"""Pruebas de vaebook_lib.flows: log|det| frente al jacobiano de autograd, invertibilidad, autorregresividad."""
import math

import pytest
import torch
from torch.func import jacrev

from vaebook_lib.flows import (MADE, FlowDensity, IAFStep, PlanarChain, PlanarFlow, RadialFlow, energy, fit_reverse_kl,
                               log_partition_2d, planar, planar_chain, planar_u_hat, radial, reverse_kl)


def autograd_logdet(f, z):
    """log|det J| de f en cada punto z (N, D), con el jacobiano completo de torch.func.jacrev."""
    return torch.stack([torch.linalg.slogdet(jacrev(lambda v: f(v[None])[0][0])(zi))[1] for zi in z])


@pytest.mark.parametrize("flow_cls", [PlanarFlow, RadialFlow])
def test_logdet_matches_autograd(flow_cls):
    torch.manual_seed(1)
    flow = flow_cls(3).double()
    with torch.no_grad():
        for p in flow.parameters():
            p.normal_(0, 1.0)
    z = torch.randn(6, 3, dtype=torch.float64)
    _, log_det = flow(z)
    assert torch.allclose(log_det, autograd_logdet(flow, z), atol=1e-6)


def test_iaf_logdet_matches_autograd():
    torch.manual_seed(2)
    step = IAFStep(4, hidden=(16,), context_dim=3, forget_bias=0.5, reverse=True).double()
    h = torch.randn(1, 3, dtype=torch.float64)
    z = torch.randn(5, 4, dtype=torch.float64)
    _, log_det = step(z, h.expand(5, 3))
    assert torch.allclose(log_det, autograd_logdet(lambda v: step(v, h), z), atol=1e-6)


def test_planar_u_hat_enforces_invertibility():
    torch.manual_seed(0)
    w = torch.randn(100, 5, dtype=torch.float64)
    a = -(1.5 + 10 * torch.rand(100, 1, dtype=torch.float64))
    u = a * w / (w * w).sum(-1, keepdim=True)  # w^T u < -1: sin corregir no sería invertible
    assert ((w * u).sum(-1) < -1).all()
    u_hat = planar_u_hat(u, w)
    wu_hat = (w * u_hat).sum(-1)
    assert (wu_hat > -1).all()
    assert torch.allclose(wu_hat, -1 + torch.nn.functional.softplus((w * u).sum(-1)))
    # con w^T u = a grande, m(a) -> a - 1: u_hat = u - w / ||w||^2 (solo se resta la unidad en la dirección w)
    w = w.float()
    u_ok = 30 * w / (w * w).sum(-1, keepdim=True)
    assert torch.allclose(planar_u_hat(u_ok, w), u_ok - w / (w * w).sum(-1, keepdim=True), atol=1e-5)
    # y con u_hat el jacobiano 1 + u_hat^T psi nunca es negativo: la transformación es monótona en la dirección w
    z = torch.randn(100, 5, dtype=torch.float64) * 3
    _, log_det = planar(z, u, w, torch.zeros(100, 1, dtype=torch.float64))
    assert torch.isfinite(log_det).all()


def test_planar_chain_is_k_planar_steps_in_order():
    """planar_chain hace lo mismo que aplicar planar paso a paso (valores y gradientes), con parámetros por punto
    que difunden sobre las muestras, y su log|det| es el del jacobiano de la composición."""
    torch.manual_seed(0)
    S, B, K, D = 3, 4, 6, 5
    z0 = torch.randn(S, B, D, dtype=torch.float64, requires_grad=True)
    u, w = (torch.randn(B, K, D, dtype=torch.float64, requires_grad=True) for _ in range(2))
    b = torch.randn(B, K, 1, dtype=torch.float64, requires_grad=True)
    z, log_det = planar_chain(z0, u, w, b)
    ref, ref_ld = z0, torch.zeros(S, B, dtype=torch.float64)
    for k in range(K):
        ref, ld = planar(ref, u[:, k], w[:, k], b[:, k])
        ref_ld = ref_ld + ld
    assert z.shape == (S, B, D) and log_det.shape == (S, B)
    assert torch.allclose(z, ref) and torch.allclose(log_det, ref_ld)
    grads = torch.autograd.grad((z.sin().sum() + log_det.sum()), (z0, u, w, b))
    ref_grads = torch.autograd.grad((ref.sin().sum() + ref_ld.sum()), (z0, u, w, b))
    for g, r in zip(grads, ref_grads):
        assert torch.allclose(g, r)
    # el orden importa: invertir los pasos da otra transformación
    assert not torch.allclose(planar_chain(z0, u.flip(1), w.flip(1), b.flip(1))[0], z)
    # log|det| frente al jacobiano de autograd, para un punto con sus propios parámetros
    f = lambda v: planar_chain(v, u[0].detach(), w[0].detach(), b[0].detach())[0]
    J = jacrev(f)(z0[0, 0].detach())
    assert torch.allclose(planar_chain(z0[0, 0].detach(), u[0], w[0], b[0])[1], torch.linalg.slogdet(J)[1])


def test_planar_chain_edge_cases_and_bad_shapes():
    z = torch.randn(7, 3)
    z_out, log_det = planar_chain(z, torch.zeros(7, 0, 3), torch.zeros(7, 0, 3), torch.zeros(7, 0, 1))
    assert torch.equal(z_out, z) and torch.equal(log_det, torch.zeros(7))      # K = 0: la identidad
    with pytest.raises(ValueError, match="forma"):
        planar_chain(z, torch.zeros(7, 2, 3), torch.zeros(7, 2, 4), torch.zeros(7, 2, 1))
    with pytest.raises(ValueError, match="forma"):
        planar_chain(z, torch.zeros(7, 2, 3), torch.zeros(7, 2, 3), torch.zeros(7, 2))
    with pytest.raises(ValueError, match="forma"):
        planar_chain(z, torch.zeros(3), torch.zeros(3), torch.zeros(1))


def test_planar_chain_module_is_k_planar_flows_in_a_list():
    """PlanarChain(D, K): la inicialización de K PlanarFlow creados seguidos y, como flujo de FlowDensity, las
    mismas muestras, log q y gradientes (respecto de los mismos parámetros) que la lista de K PlanarFlow."""
    K = 8
    torch.manual_seed(3)
    steps = [PlanarFlow(2) for _ in range(K)]
    torch.manual_seed(3)
    chain = PlanarChain(2, K)
    assert torch.equal(chain.u, torch.stack([f.u for f in steps])) and chain.u.shape == (K, 2)
    assert torch.equal(chain.w, torch.stack([f.w for f in steps]))
    assert torch.equal(chain.b, torch.zeros(K, 1))
    with torch.no_grad():                                  # parámetros no triviales en los dos
        for k, f in enumerate(steps):
            f.b.fill_(0.3 * k - 1)
            chain.b[k] = 0.3 * k - 1
    listed, chained = FlowDensity(2, steps), FlowDensity(2, [chain])
    (z1, lq1), (z2, lq2) = (d.sample(64, torch.Generator().manual_seed(1)) for d in (listed, chained))
    assert torch.allclose(z1, z2, atol=1e-6) and torch.allclose(lq1, lq2, atol=1e-5)
    g1 = torch.autograd.grad((lq1 + energy("U1", z1)).mean(), [f.u for f in steps] + [f.w for f in steps])
    g2 = torch.autograd.grad((lq2 + energy("U1", z2)).mean(), [chain.u, chain.w])
    assert torch.allclose(torch.stack(g1[:K]), g2[0], atol=1e-5)
    assert torch.allclose(torch.stack(g1[K:]), g2[1], atol=1e-5)
    # el paso k es planar(z, u[k], w[k], b[k])
    z = torch.randn(5, 2)
    ref, ref_ld = z, torch.zeros(5)
    for u, w, b in zip(chain.u, chain.w, chain.b):
        ref, ld = planar(ref, u, w, b)
        ref_ld = ref_ld + ld
    out, log_det = chain(z)
    assert torch.allclose(out, ref, atol=1e-6) and torch.allclose(log_det, ref_ld, atol=1e-5)
    assert torch.allclose(log_det, autograd_logdet(chain, z), atol=1e-4)


def test_planar_chain_module_save_load_after_fitting_and_bad_inputs(tmp_path):
    torch.manual_seed(0)
    dens = FlowDensity(2, [PlanarChain(2, 4)])
    before = {k: v.clone() for k, v in dens.state_dict().items()}
    fit_reverse_kl(dens, "U2", steps=30, batch_size=64, seed=1)
    assert any(not torch.equal(before[k], v) for k, v in dens.state_dict().items())   # el ajuste los cambió
    torch.save(dens.state_dict(), tmp_path / "chain.pt")
    torch.manual_seed(9)
    other = FlowDensity(2, [PlanarChain(2, 4)])
    other.load_state_dict(torch.load(tmp_path / "chain.pt"))
    g = lambda: torch.Generator().manual_seed(2)
    assert all(torch.equal(a, b) for a, b in zip(dens.sample(16, g()), other.sample(16, g())))
    for dim, length in ((0, 3), (2, 0), (-1, 2), (2.5, 3), (2, 3.0), (True, 2)):
        with pytest.raises(ValueError, match="entero positivo"):
            PlanarChain(dim, length)
    with pytest.raises(ValueError, match="componentes"):
        PlanarChain(3, 2)(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="NaN"):
        PlanarChain(2, 2)(torch.full((1, 2), float("nan")))


def test_radial_beta_constraint():
    z = torch.randn(50, 2)
    _, log_det = radial(z, torch.zeros(2), torch.tensor([0.3]), torch.tensor([-50.0]))
    assert torch.isfinite(log_det).all()  # beta_hat >= -alpha: 1 + beta_hat h > 0


def test_made_is_autoregressive():
    torch.manual_seed(0)
    made = MADE(6, hidden=(32, 32), context_dim=2, n_out=2).double()
    ctx = torch.randn(2, dtype=torch.float64)
    z = torch.randn(6, dtype=torch.float64)
    for out in range(2):
        J = jacrev(lambda v: made(v[None], ctx[None])[out][0])(z)
        assert torch.all(torch.triu(J) == 0)               # estrictamente triangular inferior
        assert torch.tril(J, -1).abs().sum() > 0            # y no trivial
    # el contexto sí puede influir en todas las salidas
    Jc = jacrev(lambda c: made(z[None], c[None])[0][0])(ctx)
    assert (Jc.abs().sum(1) > 0).all()


def test_iaf_first_step_near_identity_with_large_bias():
    step = IAFStep(3, hidden=(8,), forget_bias=20.0)
    z = torch.randn(4, 3)
    z2, log_det = step(z)
    assert torch.allclose(z2, z, atol=1e-5) and log_det.abs().max() < 1e-5


def test_energy_and_partition():
    # U2 = 0.5 ((z2 - sin(pi z1 / 2)) / 0.4)^2 + pared: Z = (8 + 2 * 0.2 sqrt(pi / 2)) * sqrt(2 pi) 0.4
    length = 8 + 2 * 0.2 * math.sqrt(math.pi / 2)
    assert log_partition_2d("U2", lim=6.0, n=800) == pytest.approx(math.log(length * math.sqrt(2 * math.pi) * 0.4), abs=0.02)
    z = torch.tensor([[2.0, 0.0]])
    assert float(energy("U1", z)) == pytest.approx(-math.log(1 + math.exp(-0.5 * (4 / 0.6) ** 2)), abs=1e-6)


def test_reverse_kl_fit_lowers_free_energy_and_bounds_log_z():
    torch.manual_seed(0)
    dens = FlowDensity(2, [PlanarFlow(2) for _ in range(4)])
    trace = fit_reverse_kl(dens, "U2", steps=300, batch_size=128, lr=1e-2, seed=0)
    assert sum(trace[-20:]) / 20 < sum(trace[:20]) / 20
    # la energía libre E_q[log q + U] es >= -log Z (KL >= 0), con una estimación Monte Carlo grande
    with torch.no_grad():
        f = float(reverse_kl(dens, "U2", 20000, generator=torch.Generator().manual_seed(1)))
    assert f > -log_partition_2d("U2") - 0.05


def test_reverse_kl_fit_is_plain_adam_on_the_annealed_free_energy():
    """El bucle de fit_reverse_kl, a mano con el Adam de un tensor cada vez: exactamente la misma traza, bit a bit,
    con los ocho pasos planares de 02_vae/10 (sus cifras registradas dependen de la trayectoria exacta)."""
    def make():
        torch.manual_seed(0)
        return FlowDensity(2, [PlanarFlow(2) for _ in range(8)])
    trace = fit_reverse_kl(make(), "U3", steps=60, batch_size=64, lr=1e-2, seed=5, anneal=30)
    dens, g = make(), torch.Generator().manual_seed(5)
    opt = torch.optim.Adam(dens.parameters(), lr=1e-2, foreach=False)
    ref = []
    for t in range(60):
        z, log_q = dens.sample(64, g)
        u = energy("U3", z)
        opt.zero_grad()
        (log_q + min(1.0, 0.01 + t / 30) * u).mean().backward()
        opt.step()
        ref.append(float((log_q + u).mean().detach()))
    assert trace == ref


def test_bad_inputs_raise_spanish_errors():
    with pytest.raises(ValueError, match="Energía desconocida"):
        energy("U9", torch.zeros(1, 2))
    with pytest.raises(ValueError, match="componentes"):
        PlanarFlow(3)(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="contexto"):
        MADE(3, (8,), context_dim=2)(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="NaN"):
        RadialFlow(2)(torch.full((1, 2), float("nan")))
    with pytest.raises(ValueError, match="positivos"):
        fit_reverse_kl(FlowDensity(2, []), "U1", steps=0)
    for bad in (0, -2, 2.5, "2", True):     # un tamaño que no es un entero positivo: error en español, no de torch
        for flow in (PlanarFlow, RadialFlow, MADE):
            with pytest.raises(ValueError, match="dim debe ser un entero positivo"):
                flow(bad)
    with pytest.raises(ValueError, match=r"hidden\[1\] debe ser un entero positivo"):
        MADE(3, (8, 0))
    with pytest.raises(ValueError, match="al menos una capa oculta"):
        MADE(3, ())
    with pytest.raises(ValueError, match="n_out debe ser un entero positivo"):
        MADE(3, (8,), n_out=0)
    with pytest.raises(ValueError, match="context_dim debe ser un entero >= 0"):
        MADE(3, (8,), context_dim=-1)
