"""VQ-VAE con medias móviles bajo DDP: el libro de códigos lo mueven los datos de todos los procesos."""
import os

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from vaebook_lib.models import VQVAE

CFG = dict(n_codes=8, latent_dim=4, ema=True, decay=0.9)


def _batch():
    g = torch.Generator().manual_seed(0)
    z_e = torch.randn(4, 4, 7, 7, generator=g)
    z_e[2:] += 3.0                                  # la segunda mitad (la del proceso 1) está en otra zona
    return z_e


def _worker(rank, world, init_file, out_dir):
    os.environ["OMP_NUM_THREADS"] = "1"
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        torch.manual_seed(0)
        model = VQVAE(**CFG)
        z_e = _batch()[2 * rank: 2 * rank + 2]       # cada proceso, su mitad del lote
        with torch.no_grad():
            _, idx = model.quantize(z_e)
            model._ema_update(z_e, idx)
        torch.save({k: v.clone() for k, v in model.state_dict().items() if k.startswith(("ema", "codebook"))},
                   os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def test_ema_statistics_are_all_reduced_across_two_processes(tmp_path):
    mp.spawn(_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    torch.manual_seed(0)
    single = VQVAE(**CFG)                             # un proceso con el lote combinado
    z_e = _batch()
    with torch.no_grad():
        _, idx = single.quantize(z_e)
        single._ema_update(z_e, idx)
    for key in ("ema_count", "ema_sum", "codebook"):
        torch.testing.assert_close(r0[key], single.state_dict()[key], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(r1[key], r0[key], rtol=0, atol=0)
    # y los datos del proceso 1 cuentan: no es la actualización con solo la mitad del proceso 0
    torch.manual_seed(0)
    half = VQVAE(**CFG)
    with torch.no_grad():
        _, idx = half.quantize(z_e[:2])
        half._ema_update(z_e[:2], idx)
    assert (half.ema_count - r0["ema_count"]).abs().max() > 1e-3
