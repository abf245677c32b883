"""``fit`` frente a la biblioteca pythae (Chadebec et al., 2022): el mismo VAE, los mismos datos, las mismas épocas.

pythae es la referencia de las bibliotecas de VAE en PyTorch (``TrainingPipeline``, configuraciones con tipo,
DDP). Para comparar bucles, no modelos, los dos entrenan **las mismas redes**: el codificador y el decodificador de
un :class:`~vaebook_lib.models.VAE` del libro, envueltos en las clases base de pythae, con la misma inicialización, la
misma pérdida (BCE sumada sobre píxeles + KL analítica, media sobre el lote), Adam con la misma tasa y el mismo lote.
Los datos se binarizan una vez (pythae no tiene binarización dinámica). Se mide cuántos ejemplos por segundo
entrena cada uno (tiempo real de la llamada completa, como lo vive un usuario; tras un calentamiento, en rondas
emparejadas que alternan el orden: ``speedup`` es la mediana de los cocientes por ronda) y la -log p(x) de prueba de
cada resultado con el mismo estimador (:func:`vaebook_lib.metrics.log_likelihood_is`).

Para saber cuánto podría ganar un bucle mejor, se mide también el suelo del paso (``floor_ms``): lo que cuestan en
este mismo VAE y lote las multiplicaciones de matrices y el paso de Adam, sin nada más
(:func:`~vaebook_lib.experiments.bench.measure_breakdown`). ``ceiling_speedup`` = paso de pythae / suelo es lo más
que un bucle que solo pagara eso podría aventajar a pythae, y ``rest_budget_ms`` lo que le quedaría a todo lo demás
del paso de ``fit`` (operaciones elemento a elemento, Python) para llegar a 2x (negativo: ni sin ellas se llegaría).

Y para saber cuánto podría ganar **cualquier** bucle de PyTorch eager, no solo el nuestro, entra en las mismas rondas
un tercero: el paso mínimo (``minimal``), las mismas redes con la pérdida escrita en tres líneas de
``torch.nn.functional`` (:func:`minimal_loss`), Adam fusionado y nada más: sin comprobar la entrada, sin objetos
``Distribution`` ni salida con nombre. ``minimal_speedup`` es lo que ese paso aventaja a pythae: si no llega a 2x,
ni el paso eager más corto llega en esta máquina. Con ``compile``, también ese paso con la pérdida compilada por
``torch.compile`` (``compiled_*``; el tiempo de compilar, ``compile_s``, va aparte y no cuenta en sus ej/s).

pythae es opcional (``pip install pythae``, extra ``bench``); sin él, :func:`measure_pythae` devuelve un aviso.
"""
from __future__ import annotations

import contextlib
import copy
import io
import logging
import statistics
import tempfile
import time

import torch
import torch.nn.functional as F

from ..data import binarize, load_mnist
from ..metrics import log_likelihood_is
from ..models import VAE
from ..train import fit
from .bench import bare_loop, measure_breakdown


def _wrappers(vae: VAE, BaseEncoder, BaseDecoder, ModelOutput):
    """Codificador y decodificador de pythae que usan los módulos de ``vae`` (se entrenan en su sitio)."""
    class Encoder(BaseEncoder):
        def __init__(self):
            super().__init__()
            self.net = vae.encoder

        def forward(self, x):
            mu, logvar = self.net(x).chunk(2, dim=-1)     # la misma parametrización: media y log sigma^2
            return ModelOutput(embedding=mu, log_covariance=logvar)

    class Decoder(BaseDecoder):
        def __init__(self):
            super().__init__()
            self.net = vae.decoder

        def forward(self, z):
            return ModelOutput(reconstruction=torch.sigmoid(self.net(z)))   # pythae espera probabilidades

    return Encoder(), Decoder()


def minimal_loss(vae: VAE, x: torch.Tensor) -> torch.Tensor:
    """La -ELBO media del VAE de Bernoulli con las funciones de PyTorch y nada de la biblioteca salvo las redes.

    La misma cuenta que ``vae(x).loss`` (el mismo z con la misma semilla: tests/test_pythae_bench.py), sin validar
    la entrada ni construir distribuciones: la vara con la que se mide cuánto cuesta todo lo que ``fit`` y los
    modelos hacen además de la cuenta.
    """
    mu, logvar = vae.encoder(x).chunk(2, dim=-1)
    z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
    rec = F.binary_cross_entropy_with_logits(vae.decoder(z), x, reduction="none").flatten(1).sum(-1)
    kl = 0.5 * (mu.square() + logvar.exp() - 1 - logvar).sum(-1)
    return (rec + kl).mean()


def measure_pythae(*, n_train: int = 8000, n_test: int = 1000, epochs: int = 5, batch_size: int = 128,
                   lr: float = 1e-3, latent_dim: int = 20, hidden: tuple[int, ...] = (400,), k: int = 100,
                   rounds: int = 3, seed: int = 0, compile: bool = False) -> dict:
    """Entrena el mismo VAE con ``fit``, con ``pythae.pipelines.TrainingPipeline`` y con el paso mínimo de PyTorch
    (y, con ``compile``, ese paso compilado) y devuelve ejemplos/s y NLL de cada uno."""
    try:
        from pythae.models import VAE as PythaeVAE, VAEConfig as PythaeVAEConfig
        from pythae.models.base.base_utils import ModelOutput
        from pythae.models.nn import BaseDecoder, BaseEncoder
        from pythae.pipelines import TrainingPipeline
        from pythae.trainers import BaseTrainerConfig
    except ImportError:
        return {"kind": "pythae", "skipped": "pythae no está instalado (pip install pythae): se omite la comparación."}
    for name in ("n_train", "n_test", "epochs", "batch_size", "k", "rounds"):
        value = locals()[name]
        if not isinstance(value, int) or value <= 0:
            raise ValueError(f"{name} debe ser un entero positivo; se recibió {value!r}.")
    if not isinstance(compile, bool):
        raise ValueError(f"compile debe ser True o False; se recibió {compile!r}.")
    train = load_mnist("train", n_train)
    test = load_mnist("test", n_test)
    x = binarize(train.x, torch.Generator().manual_seed(seed))
    x_test = binarize(test.x, torch.Generator().manual_seed(seed + 1))

    logging.getLogger("pythae").setLevel(logging.ERROR)

    def run_fit(data, n_epochs):
        torch.manual_seed(seed)
        model = VAE(latent_dim=latent_dim, hidden=hidden)
        start = time.perf_counter()
        fit(model, data, epochs=n_epochs, batch_size=batch_size, lr=lr, seed=seed, device="cpu", progress=False)
        return model, time.perf_counter() - start

    def run_pythae(data, n_epochs):
        torch.manual_seed(seed)
        model = VAE(latent_dim=latent_dim, hidden=hidden)   # la misma inicialización que la de fit
        encoder, decoder = _wrappers(model, BaseEncoder, BaseDecoder, ModelOutput)
        wrapped = PythaeVAE(PythaeVAEConfig(input_dim=tuple(data.shape[1:]), latent_dim=latent_dim,
                                            reconstruction_loss="bce"), encoder=encoder, decoder=decoder)
        with tempfile.TemporaryDirectory() as out, contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):
            config = BaseTrainerConfig(output_dir=out, num_epochs=n_epochs, learning_rate=lr,
                                       per_device_train_batch_size=batch_size,
                                       per_device_eval_batch_size=batch_size, optimizer_cls="Adam", seed=seed,
                                       no_cuda=True)
            start = time.perf_counter()
            TrainingPipeline(model=wrapped, training_config=config)(train_data=data)
            seconds = time.perf_counter() - start
        return model.eval(), seconds

    def run_minimal(data, n_epochs, model=None, loss=minimal_loss):
        if model is None:
            torch.manual_seed(seed)
            model = VAE(latent_dim=latent_dim, hidden=hidden)
        start = time.perf_counter()
        bare_loop(model, data, epochs=n_epochs, batch_size=batch_size, lr=lr, seed=seed, binarize=False,
                  loss_fn=lambda xb: loss(model, xb), fused=True)
        return model, time.perf_counter() - start

    runs = {"fit": run_fit, "pythae": run_pythae, "minimal": run_minimal}
    if compile:
        # Un solo modelo para todas las rondas, devuelto a los pesos iniciales en cada una: un modelo nuevo
        # obligaría a compilar de nuevo (la compilación se guarda para ese objeto).
        torch.manual_seed(seed)
        shared = VAE(latent_dim=latent_dim, hidden=hidden)
        init = copy.deepcopy(shared.state_dict())
        compiled_loss = torch.compile(minimal_loss)

        def run_compiled(data, n_epochs):
            shared.load_state_dict(init)
            return run_minimal(data, n_epochs, model=shared, loss=compiled_loss)

        runs["compiled"] = run_compiled
    # Calentamiento: la primera llamada de cada uno paga importaciones y reservas (y la compilación) de una vez.
    warm_s = {name: run(x[:256], 1)[1] for name, run in runs.items()}
    # Rondas emparejadas, alternando el orden: la carga de la máquina afecta por igual a todos.
    times: dict[str, list[float]] = {name: [] for name in runs}
    models = {}
    for r in range(rounds):
        for name in (list(runs) if r % 2 == 0 else list(runs)[::-1]):
            models[name], t = runs[name](x, epochs)
            times[name].append(t)
    nll = {}
    for name, model in models.items():
        torch.manual_seed(seed + 2)
        with torch.no_grad():
            nll[name] = -log_likelihood_is(model.eval(), x_test, k).mean().item()
    # El suelo del paso con este VAE y este lote (datos ya binarizados, como aquí: sin el azar de la binarización).
    parts = measure_breakdown("mlp", batch_size=batch_size, lr=lr, seed=seed, hidden=hidden, latent_dim=latent_dim)
    floor_ms = parts["gemm_ms"] + parts["adam_ms"]
    examples = n_train * epochs
    rec = {"kind": "pythae", "n_train": n_train, "epochs": epochs, "batch_size": batch_size, "k": k,
           "rounds": rounds, "floor_ms": floor_ms}
    for name, ts in times.items():   # cada uno: ej/s y paso con la mediana de sus rondas; -log p(x)
        t = statistics.median(ts)
        rec.update({f"{name}_eps": examples / t, f"{name}_step_ms": 1e3 * batch_size * t / examples,
                    f"{name}_nll": nll[name]})
        if name != "pythae":         # cuánto aventaja a pythae: la mediana de los cocientes de cada ronda
            ratio = statistics.median(p / m for p, m in zip(times["pythae"], ts))
            rec["speedup" if name == "fit" else f"{name}_speedup"] = ratio
    rec["ceiling_speedup"] = rec["pythae_step_ms"] / floor_ms
    rec["rest_budget_ms"] = rec["pythae_step_ms"] / 2 - floor_ms
    if compile:
        rec["compile_s"] = warm_s["compiled"] - warm_s["minimal"]
    return rec
