import pytest
import torch

from vaebook_lib.nets import Decoder, Encoder, Pointwise, mlp


@pytest.mark.parametrize("side", [28, 32, 64])
@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_encoder_decoder_shapes_and_gradients(arch, side):
    enc, dec = Encoder((1, side, side), 6, (32,), arch), Decoder(3, (1, side, side), (32,), arch)
    x = torch.rand(4, 1, side, side)
    h = enc(x)
    assert h.shape == (4, 6)
    out = dec(h[:, :3])
    assert out.shape == (4, 1, side, side)
    out.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in enc.parameters())


def test_mlp_without_hidden_layers_is_affine():
    net = mlp((5, 2), "relu")
    x = torch.randn(7, 5)
    assert torch.allclose(net(x), x @ net[0].weight.T + net[0].bias)


def test_bad_configurations_raise_spanish_errors():
    with pytest.raises(ValueError, match="Arquitectura desconocida"):
        Encoder((1, 28, 28), 2, arch="transformer")
    with pytest.raises(ValueError, match="Activación desconocida"):
        mlp((3, 3), "swishy")
    with pytest.raises(ValueError, match="lado par"):
        Encoder((1, 27, 27), 2, arch="conv")


@pytest.mark.parametrize("c_in, c_out", [(1, 16), (16, 1), (3, 5)])
def test_pointwise_equals_1x1_convolution(c_in, c_out):
    # Pointwise se salta la convolución cuando hay un solo canal a un lado: mismo valor y mismos gradientes (del
    # peso, del sesgo y de la entrada) que nn.Conv2d con los mismos parámetros.
    torch.manual_seed(0)
    pw = Pointwise(c_in, c_out)
    conv = torch.nn.Conv2d(c_in, c_out, 1)
    conv.load_state_dict(pw.state_dict())
    x = torch.randn(4, c_in, 7, 9, requires_grad=True)
    x2 = x.detach().clone().requires_grad_()
    g = torch.randn(4, c_out, 7, 9)
    y, y2 = pw(x), conv(x2)
    torch.testing.assert_close(y, y2)
    (y * g).sum().backward()
    (y2 * g).sum().backward()
    torch.testing.assert_close(x.grad, x2.grad)
    torch.testing.assert_close(pw.weight.grad, conv.weight.grad)
    torch.testing.assert_close(pw.bias.grad, conv.bias.grad)
