"""El dispositivo pedido por VAEBOOK_DEVICE: errores claros aquí, no fallos oscuros más tarde (issue 18)."""
import pytest
import torch

from vaebook_lib.config import get_device


@pytest.mark.parametrize("value", ["cpu", "CPU", " Cpu "])
def test_cpu_any_case(monkeypatch, value):
    monkeypatch.setenv("VAEBOOK_DEVICE", value)
    assert get_device() == torch.device("cpu")


@pytest.mark.parametrize("value", ["bogus", "gpu", "cuda:", "cuda:x", "cpu:0x", "mps:1"])
def test_unknown_device_is_a_spanish_error(monkeypatch, value):
    monkeypatch.setenv("VAEBOOK_DEVICE", value)
    with pytest.raises(ValueError, match="Dispositivo desconocido.*VAEBOOK_DEVICE.*«cpu», «cuda»"):
        get_device()


def test_cuda_without_cuda_fails_at_get_device(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for value in ("cuda", "CUDA:0"):
        monkeypatch.setenv("VAEBOOK_DEVICE", value)
        with pytest.raises(ValueError, match="pide CUDA.*no tiene una GPU CUDA"):
            get_device()
    with pytest.raises(ValueError, match="prefer='cuda'"):
        get_device("cuda")
    monkeypatch.delenv("VAEBOOK_DEVICE")
    assert get_device() == torch.device("cpu")


def test_cuda_index_beyond_the_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setenv("VAEBOOK_DEVICE", "Cuda:1")
    assert get_device() == torch.device("cuda", 1)
    monkeypatch.setenv("VAEBOOK_DEVICE", "cuda:2")
    with pytest.raises(ValueError, match="solo hay 2 GPU"):
        get_device()


def test_mps_only_where_available(monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    monkeypatch.setenv("VAEBOOK_DEVICE", "mps")
    with pytest.raises(ValueError, match="MPS"):
        get_device()
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert get_device() == torch.device("mps")
