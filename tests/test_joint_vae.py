"""Pruebas de JointVAE (Dupont, 2018): latentes continuos y discretos con capacidades controladas."""
import math

import pytest
import torch

from vaebook_lib.discrete_latents import kl_to_uniform
from vaebook_lib.losses import kl_to_standard_normal
from vaebook_lib.models import MODELS, JointVAE, load, save
from vaebook_lib.models.joint_vae import FixedDiscrete
from vaebook_lib.schedules import linear_ramp
from vaebook_lib.widgets import latent_traversal


def small(**kw):
    base = dict(in_shape=(1, 8, 8), latent_dim=3, disc_dims=(4,), hidden=(32,))
    base.update(kw)
    return JointVAE(**base)


def binary(n=16, side=8):
    return (torch.rand(n, 1, side, side) > 0.5).float()


def test_registered_with_common_constructor():
    m = MODELS["joint_vae"](in_shape=(1, 28, 28), latent_dim=6, arch="mlp", hidden=(64,), likelihood="gaussian",
                            disc_dims=(3,))
    assert isinstance(m, JointVAE) and m.config.latent_dim == 6 and m.code_dim == 9
    cfg = JointVAE.Config(latent_dim=4)
    assert JointVAE(cfg, gamma=10.0).config.gamma == 10.0


def test_linear_capacity_values():
    assert linear_ramp(0.0, 5.0) == 0.0
    assert linear_ramp(0.5, 5.0) == pytest.approx(2.5)
    assert linear_ramp(1.0, 5.0) == pytest.approx(5.0)
    assert linear_ramp(0.25, 4.0, ramp=0.5) == pytest.approx(2.0)
    assert linear_ramp(0.8, 4.0, ramp=0.5) == pytest.approx(4.0)           # ya en su máximo
    assert linear_ramp(0.9, 5.0, cap=math.log(3)) == pytest.approx(math.log(3))


def test_schedule_caps_discrete_capacity_at_log_k():
    m = small(disc_dims=(10,), cont_capacity=5.0, disc_capacity=5.0)
    m.schedule(0.1)
    assert float(m.cap_cont) == pytest.approx(0.5) and float(m.cap_disc) == pytest.approx(0.5)
    m.schedule(0.6)
    assert float(m.cap_cont) == pytest.approx(3.0)
    assert float(m.cap_disc) == pytest.approx(math.log(10))
    m2 = small(disc_dims=(3, 4), disc_capacity=10.0)
    m2.schedule(1.0)
    assert m2.max_disc_capacity == pytest.approx(math.log(12))
    assert float(m2.cap_disc) == pytest.approx(math.log(12))


def test_loss_matches_the_paper_objective():
    m, x = small(disc_dims=(3, 4), gamma=7.0), binary()
    m.schedule(0.3)
    out = m(x)
    kl_z = kl_to_standard_normal(out.qz).mean()
    # KL_c = sum_j (log K_j - H(q_j)) por ejemplo, calculada a mano desde las probabilidades.
    kl_c = sum(math.log(lg.shape[1]) + (lg.softmax(1) * lg.log_softmax(1)).sum(1) for lg in out.disc_logits).mean()
    assert torch.allclose(out.terms["kl_cont"], kl_z) and torch.allclose(out.terms["kl_disc"], kl_c)
    expected = out.terms["recon"] + 7.0 * (kl_z - m.cap_cont).abs() + 7.0 * (kl_c - m.cap_disc).abs()
    assert torch.allclose(out.loss, expected, atol=1e-4)
    assert torch.allclose(out.terms["elbo"], -(out.terms["recon"] + kl_z + kl_c), atol=1e-4)
    assert out.terms["kl_disc"] <= math.log(12) + 1e-5


def test_discrete_kl_reaches_log_k_for_confident_codes():
    m, x = small(disc_dims=(4,)), binary()
    with torch.no_grad():
        m.encoder.body[-1][-1].bias[-4:] = torch.tensor([50.0, 0.0, 0.0, 0.0])
        m.encoder.body[-1][-1].weight[-4:] = 0.0
    assert m(x).terms["kl_disc"] == pytest.approx(math.log(4), abs=1e-4)


def test_capacity_term_pushes_kl_towards_c():
    # Con KL_c < C_c, d(gamma |KL_c - C_c|)/dKL_c = -gamma: la penalización empuja a aumentar la KL.
    m, x = small(gamma=5.0, disc_capacity=1.0), binary()
    m.schedule(1.0)
    out = m(x)
    assert out.terms["kl_disc"] < 1.0
    logits = out.disc_logits[0]
    rec = -m.likelihood(out.z).log_prob(x).mean()
    (g_loss,) = torch.autograd.grad(out.loss, logits, retain_graph=True)
    (g_rec,) = torch.autograd.grad(rec, logits, retain_graph=True)
    (g_kl,) = torch.autograd.grad(kl_to_uniform(logits[:, None]).mean(), logits)
    assert g_kl.abs().sum() > 0
    assert torch.allclose(g_loss, g_rec - 5.0 * g_kl, atol=1e-5)


def test_encode_decode_sample_interface():
    m, x = small(disc_dims=(3, 4)), binary()
    code = m.encode(x)
    assert code.shape == (16, 3 + 7)
    assert torch.allclose(code[:, 3:6].sum(1), torch.ones(16)) and torch.allclose(code[:, 6:].sum(1), torch.ones(16))
    assert torch.allclose(code[:, :3], m.posterior(x).loc)
    assert m.decode(code).shape == (16, 1, 8, 8)
    assert m.reconstruct(x).shape == (16, 1, 8, 8)
    s = m.sample(5, generator=torch.Generator().manual_seed(1))
    assert s.shape == (5, 1, 8, 8) and (s >= 0).all() and (s <= 1).all()
    assert m.discrete_code(x).shape == (16, 2)


def test_training_relaxed_eval_one_hot():
    m, x = small(), binary()
    disc = m(x).z[:, 3:]
    assert not ((disc == 0) | (disc == 1)).all()
    assert torch.allclose(disc.sum(1), torch.ones(16), atol=1e-5)
    m.eval()
    disc = m(x).z[:, 3:]
    assert ((disc == 0) | (disc == 1)).all() and (disc.sum(1) == 1).all()


def test_gradients_reach_encoder_and_decoder():
    m, x = small(), binary()
    m.schedule(0.5)
    m(x).loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in m.parameters())


def test_category_grid_and_fixed_discrete_view():
    m = small()
    m.eval()
    zc = torch.randn(2, 3)
    grid = m.category_grid(zc, var=0)
    assert grid.shape == (4 * 2, 1, 8, 8)
    assert torch.allclose(grid[2:4], m.decode(torch.cat([zc, torch.eye(4)[1].expand(2, 4)], 1)))
    view = FixedDiscrete(m, torch.eye(4)[1])
    assert torch.allclose(view.decode(zc), grid[2:4])
    widget = latent_traversal(view, dims=[0, 1], steps=3, live=False)
    assert widget is not None


def test_save_load_round_trip(tmp_path):
    m, x = small(disc_dims=(3, 2), gamma=12.0), binary()
    m.schedule(0.4)
    save(m, tmp_path / "joint.pt")
    m2 = load(tmp_path / "joint.pt")
    assert isinstance(m2, JointVAE) and m2.config == m.config and m2.config.disc_dims == (3, 2)
    assert float(m2.cap_cont) == float(m.cap_cont) > 0
    m.eval(), m2.eval()
    assert torch.equal(m.encode(x), m2.encode(x))
    torch.manual_seed(5)
    a = m(x).loss
    torch.manual_seed(5)
    assert torch.allclose(a, m2(x).loss)


@pytest.mark.parametrize("call, word", [
    (lambda: small()(torch.rand(4, 1, 8, 8)), "binario"),
    (lambda: small().decode(torch.zeros(2, 5)), "código"),
    (lambda: small(disc_dims=(1,)), "categorías"),
    (lambda: small(temperature=0.0), "temperatura"),
    (lambda: small(capacity_ramp=0.0), "rampa"),
    (lambda: linear_ramp(1.5, 5.0), "avance"),
    (lambda: small().category_grid(torch.zeros(2, 5)), "z_cont"),
    (lambda: FixedDiscrete(small(), torch.zeros(3)), "discreta"),
])
def test_bad_input_raises_spanish_value_error(call, word):
    with pytest.raises(ValueError, match=word):
        call()
