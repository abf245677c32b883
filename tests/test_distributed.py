"""DDP: reparto de datos, equivalencia con un único proceso, puntos de control y fallos que no cuelgan."""
import json
import os
import subprocess
import time

import pytest
import torch
import torch.distributed as dist

from vaebook_lib import distributed
from vaebook_lib.experiments.distributed_demo import command, environment, free_port, main
from vaebook_lib.models import AE, load
from vaebook_lib.train import fit

LAUNCH_TIMEOUT = 240  # s: arrancar dos intérpretes con torch en una máquina cargada es lo lento


def test_shard_partitions_a_shared_permutation():
    n, world = 10, 3
    parts = [distributed.shard(n, r, world, torch.Generator().manual_seed(5)) for r in range(world)]
    assert all(len(p) == 4 for p in parts)                       # 10 -> 12: todos dan los mismos pasos
    joined = torch.stack(parts, 1).flatten()                      # paso a paso, como un lote W veces mayor
    order = torch.randperm(n, generator=torch.Generator().manual_seed(5))
    assert torch.equal(joined[:n], order)                         # misma permutación que un solo proceso
    assert torch.equal(joined[n:], order[:2])                     # relleno con el principio
    again = distributed.shard(n, 1, world, torch.Generator().manual_seed(5))
    assert torch.equal(again, parts[1])
    other = distributed.shard(n, 1, world, torch.Generator().manual_seed(6))
    assert not torch.equal(other, parts[1])


def test_shard_rejects_bad_rank():
    with pytest.raises(ValueError, match="Rango"):
        distributed.shard(10, 2, 2, torch.Generator())


def test_without_torchrun_nothing_is_distributed(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert not distributed.launched() and distributed.setup("cpu") is None
    x = torch.rand(40, 1, 28, 28)
    model = AE(hidden=(16,), latent_dim=2)
    h = fit(model, x, epochs=1, batch_size=16, device="cpu", progress=False)
    assert not dist.is_initialized() and distributed.is_main()
    assert h.examples == 40 and len(h.train["loss"]) == 1


def test_checkpoint_callback_validates_and_writes(tmp_path):
    with pytest.raises(ValueError, match="positivo"):
        distributed.checkpoint(tmp_path / "m.pt", every=0)
    model = AE(hidden=(16,), latent_dim=2)
    fit(model, torch.rand(20, 1, 28, 28), epochs=2, batch_size=10, device="cpu", progress=False,
        callbacks=[distributed.checkpoint(tmp_path / "m.pt", every=2)])
    back = load(tmp_path / "m.pt")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), back.state_dict().values()))


def _launch(nproc, *args, timeout=LAUNCH_TIMEOUT):
    for _ in range(2):  # si otro proceso ocupó el puerto libre entre elegirlo y usarlo, otro intento
        start = time.monotonic()
        r = subprocess.run(command(nproc, *args), env={**environment(), "VAEBOOK_DDP_TIMEOUT": "60"},
                           capture_output=True, text=True, timeout=timeout)
        if "address already in use" not in (r.stdout + r.stderr).lower():
            break
    return r, time.monotonic() - start


def test_two_processes_equal_one_process_with_the_combined_batch(tmp_path):
    b = 16  # lote por proceso; un solo paso: 2 * b ejemplos, un lote en cada proceso
    # SGD: el paso es lineal en el gradiente, así que la tolerancia mide de verdad el promedio entre procesos
    common = ["--model", "ae", "--data", "fashion-mnist", "--n-train", str(2 * b), "--epochs", "1", "--seed", "3",
              "--optimizer", "sgd", "--lr", "0.05"]
    r, _ = _launch(2, "--out", tmp_path / "two", "--batch-size", b, *common)
    assert r.returncode == 0, r.stderr[-3000:]
    two = load(tmp_path / "two" / "model.pt")                     # escrito por el proceso 0; se carga en uno solo
    hist2 = json.loads((tmp_path / "two" / "history.json").read_text())
    assert hist2["world_size"] == 2 and hist2["examples"] == 2 * b

    one_summary = main(["--out", str(tmp_path / "one"), "--batch-size", str(2 * b), *common])
    one = load(tmp_path / "one" / "model.pt")
    half = main(["--out", str(tmp_path / "half"), "--batch-size", str(b), *common[:5], str(b), *common[6:]])
    half = load(tmp_path / "half" / "model.pt")
    torch.manual_seed(3)
    init = AE()

    moved = max((p - q).abs().max().item() for p, q in zip(one.parameters(), init.parameters()))
    assert moved > 1e-3                                           # el paso se nota
    for p, q in zip(two.parameters(), one.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
    # y no es lo mismo que entrenar con la mitad del lote: el promedio de gradientes importa
    assert max((p - q).abs().max().item() for p, q in zip(two.parameters(), half.parameters())) > 1e-4
    # la métrica de la época es la media sobre el lote combinado, no la de un proceso
    assert hist2["train"]["loss"][0] == pytest.approx(one_summary["train"]["loss"][0], rel=1e-5)


def test_a_failing_rank_stops_the_whole_run(tmp_path):
    r, _ = _launch(2, "--out", tmp_path, "--model", "ae", "--data", "fashion-mnist", "--n-train", "32",
                         "--batch-size", "8", "--epochs", "50", "--fail-rank", "1")
    assert r.returncode != 0
    assert "Falla provocada en el proceso 1" in r.stdout + r.stderr
    # que no se cuelga lo garantiza el ``timeout`` de _launch (subprocess.TimeoutExpired): sin asertos de tiempo
    assert not (tmp_path / "history.json").exists()


def test_command_uses_loopback_and_a_free_port():
    cmd = command(2, "--out", "x")
    assert "--master_addr=127.0.0.1" in cmd and "--nproc_per_node=2" in cmd
    port = int(next(a for a in cmd if a.startswith("--master_port=")).split("=")[1])
    assert 0 < port < 65536 and free_port() > 0
    with pytest.raises(ValueError, match="positivo"):
        command(0)
    assert environment()["GLOO_SOCKET_IFNAME"] == "lo" and environment()["OMP_NUM_THREADS"] == "1"


def test_world_size_without_rank_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.delenv("RANK", raising=False)
    assert distributed.launched()
    with pytest.raises(ValueError, match="torchrun"):
        distributed.setup("cpu")


def test_wrapper_returns_the_models_named_output(tmp_path, monkeypatch):
    from vaebook_lib.models import VAE, VAEOutput

    dist.init_process_group("gloo", store=dist.FileStore(str(tmp_path / "store"), 1), rank=0, world_size=1)
    try:
        model = VAE(hidden=(16,), latent_dim=2)
        x = torch.bernoulli(torch.rand(4, 1, 28, 28))
        torch.manual_seed(1)
        expected = model(x)
        torch.manual_seed(1)
        out = distributed.wrap(model, torch.device("cpu"))(x)
        assert isinstance(out, VAEOutput) and set(out.terms) == {"loss", "recon", "kl", "elbo"}
        torch.testing.assert_close(out.loss, expected.loss)
        out.loss.backward()
        assert model.encoder.body[1][0].weight.grad is not None     # el gradiente llega al modelo interior
        monkeypatch.setenv("VAEBOOK_DDP_FIND_UNUSED", "1")
        assert distributed.wrap(model, torch.device("cpu")).find_unused_parameters
    finally:
        dist.destroy_process_group()


def test_without_torchrun_the_context_is_one_plain_process(monkeypatch):
    """La envoltura que usa fit: sin torchrun, cada método hace lo que haría un bucle corriente."""
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    ctx = distributed.join("cpu")
    assert (ctx.rank, ctx.world_size, ctx.device) == (0, 1, torch.device("cpu")) and not ctx.distributed
    model = AE(hidden=(8,), latent_dim=2)
    assert ctx.wrap(model) is model and ctx.any(True) and not ctx.any(False)
    x, y = torch.rand(5, 3), torch.arange(5)
    assert ctx.part(x, y) == (x, y) and ctx.examples_per_process(5) == 5
    gen = torch.Generator().manual_seed(0)
    assert ctx.noise_generator(0, gen) is gen                 # en CPU, el mismo generador que baraja
    means, count = ctx.means({"loss": torch.tensor(6.0), "kl": 3.0}, 4)
    assert means == {"loss": 1.5, "kl": 0.75} and count == 4
    got = [b[0] for b in ctx.batches((x,), 2, torch.Generator().manual_seed(1))]
    order = torch.randperm(5, generator=torch.Generator().manual_seed(1))
    assert torch.equal(torch.cat(got), x[order]) and [len(b) for b in got] == [2, 2, 1]
