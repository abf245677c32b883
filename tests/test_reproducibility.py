"""Pruebas de la tabla de reproducibilidad: filas, protocolo, registro grabado y rango creíble."""
import json
import math
from dataclasses import replace

import pytest
import torch
from torch.distributions import Bernoulli

from conftest import needs_mnist
from vaebook_lib.experiments import reproducibility as R
from vaebook_lib.config import PROFILES
from vaebook_lib.metrics import log_likelihood_is
from vaebook_lib.models import MODELS


def test_rows_build_the_declared_models():
    names = [r.name for r in R.ROWS]
    assert len(set(names)) == len(names)
    assert {"vae", "iwae", "vae_planar", "vae_iaf", "categorical_vae"} <= {r.key for r in R.ROWS}
    for row in R.ROWS:
        model = R.build(row)
        assert type(model) is MODELS[row.key]
        for k, v in row.config.items():
            assert getattr(model.config, k) == v, (row.name, k)
        assert hasattr(model, "log_weights"), f"{row.name}: sin log p(x) no hay NLL que comparar"
        assert row.published > 0 and row.metric in R.METRICS and row.where and row.their_protocol


def test_iwae_rows_are_the_papers_setting():
    iwae = {r.name: r for r in R.ROWS if r.source == "burda2015"}
    assert [r.published for r in iwae.values()] == [86.76, 85.54, 84.78]
    assert [r.config.get("k", 1) for r in iwae.values()] == [1, 5, 50]
    assert all(r.config["hidden"] == (200, 200) and r.config["latent_dim"] == 50 for r in iwae.values())


def test_row_validation():
    with pytest.raises(ValueError, match="Clave desconocida"):
        R.Row("x", "no_existe", {}, "nll", 1.0, "s", "t", "p")
    with pytest.raises(ValueError, match="Magnitud desconocida"):
        R.Row("x", "vae", {}, "bpd", 1.0, "s", "t", "p")


def test_protocol_follows_the_profile():
    fast, full = R.protocol(PROFILES["fast"]), R.protocol(PROFILES["full"])
    # La ejecución propia del cuaderno es corta en los dos perfiles (la larga se graba aparte, fila a fila).
    assert fast.n_train * fast.epochs < full.n_train * full.epochs and full.k_is <= R.RECORD_K
    assert fast.k_is * fast.n_eval < full.k_is * full.n_eval <= R.RECORD_K * R.RECORD_N_EVAL
    assert fast.batch_size == full.batch_size == 20


def test_pixel_baseline_is_the_bernoulli_marginal_model():
    g = torch.Generator().manual_seed(0)
    train = torch.bernoulli(torch.full((500, 1, 4, 4), 0.3), generator=g)
    test = torch.bernoulli(torch.full((50, 1, 4, 4), 0.3), generator=g)
    p = train.mean(0).clamp(1e-3, 1 - 1e-3)
    expected = -Bernoulli(probs=p).log_prob(test).flatten(1).sum(1).mean().item()
    assert math.isclose(R.pixel_baseline(train, test), expected, rel_tol=1e-6)
    assert math.isclose(expected, -16 * (0.3 * math.log(0.3) + 0.7 * math.log(0.7)), rel_tol=0.1)
    with pytest.raises(ValueError, match="binario"):
        R.pixel_baseline(train, torch.full((2, 1, 4, 4), 0.5))
    with pytest.raises(ValueError, match="debe tener forma"):
        R.pixel_baseline(train, test[:, :, :2])


def test_plausible_ranges():
    row = R.ROWS[0]   # VAE, 86.76
    assert R.plausible(88.0, row, "full")[0]
    assert not R.plausible(row.published + R.ABOVE_FULL + 1, row, "full")[0]
    assert not R.plausible(80.0, row, "full")[0], "mucho mejor que lo publicado delata un error"
    assert not R.plausible(math.nan, row, "full")[0]
    ok, why = R.plausible(150.0, row, "fast", ceiling=200.0)
    assert ok and "150.00" in why
    assert not R.plausible(210.0, row, "fast", ceiling=200.0)[0], "peor que los píxeles independientes"
    assert not R.plausible(150.0, row, "fast", ceiling=200.0, recorded=160.0)[0]
    assert R.plausible(150.0, row, "fast", ceiling=200.0, recorded=149.0)[0]
    with pytest.raises(ValueError, match="techo"):
        R.plausible(150.0, row, "fast")
    loose = next(r for r in R.ROWS if r.below > 1.5)
    assert R.plausible(loose.published - loose.below + 0.1, loose, "full")[0]
    assert not R.plausible(loose.published - loose.below - 0.1, loose, "full")[0]
    slack = next(r for r in R.ROWS if r.slack > 0)
    assert R.plausible(slack.published + R.ABOVE_FULL + slack.slack - 0.1, slack, "full")[0]


def test_record_roundtrip_and_validation(tmp_path):
    assert R.load_record(tmp_path / "no.json") is None
    results = [{"name": "VAE", "key": "vae", "metric": "nll", "value": 87.1}]
    rec = R.make_record(results, R.protocol(PROFILES["full"]), "VAEBOOK_PROFILE=full python -m ...")
    assert {"python", "torch", "device", "cpu_count"} <= set(rec["machine"])
    path = tmp_path / "r.json"
    path.write_text(json.dumps(rec))
    assert R.load_record(path)["results"] == results
    for broken in ("{no json", json.dumps({"version": 1}), json.dumps({**rec, "version": 99}),
                   json.dumps({**rec, "results": [{"name": "VAE", "metric": "nll", "value": float("nan")}]})):
        path.write_text(broken)
        with pytest.raises(ValueError):
            R.load_record(path)


def test_no_record_is_committed_without_its_provenance():
    rec = R.load_record()
    if rec is not None:   # si el repositorio trae un registro, es de una ejecución completa y dice cuál
        assert rec["protocol"]["profile"] == "full" and rec["command"].startswith("VAEBOOK_PROFILE=full")
        assert {r["name"] for r in rec["results"]} <= {r.name for r in R.ROWS} | {R.TARGET.name}


@needs_mnist
def test_main_writes_a_record(tmp_path, monkeypatch):
    tiny = replace(PROFILES["fast"], repro_n_train=64, repro_epochs=1, repro_k=2, n_eval=16)
    monkeypatch.setattr(R, "get_profile", lambda: tiny)
    rec = R.main(["--out", str(tmp_path / "r.json"), "--rows", "VAE"])
    assert rec["protocol"]["n_train"] == 64 and rec["command"].startswith("VAEBOOK_PROFILE=fast")
    (res,) = rec["results"]
    assert res["name"] == "VAE" and math.isfinite(res["value"]) and res["nll"] <= res["neg_elbo"] + 5
    assert R.load_record(tmp_path / "r.json")["results"][0]["value"] == res["value"]
    with pytest.raises(SystemExit):
        R.main(["--out", str(tmp_path / "x.json"), "--rows", "no existe"])
    with pytest.raises(SystemExit):
        R.main(["--out", str(tmp_path / "x.json"), "--rows", "VAE", "--epochs", "0"])
    # Otra fila, con otras pasadas y otra k: se funde con la anterior, cada una con su protocolo.
    rec = R.main(["--out", str(tmp_path / "r.json"), "--rows", "IWAE, k = 5", "--epochs", "2", "--k", "3"])
    by_name = {r["name"]: r for r in R.load_record(tmp_path / "r.json")["results"]}
    assert set(by_name) == {"VAE", "IWAE, k = 5"} and by_name["VAE"]["value"] == res["value"]
    assert by_name["IWAE, k = 5"]["protocol"]["epochs"] == 2 and by_name["IWAE, k = 5"]["protocol"]["k_is"] == 3
    assert by_name["VAE"]["protocol"]["epochs"] == 1 and "--epochs 2" in by_name["IWAE, k = 5"]["command"]
    assert by_name["VAE"]["date"] <= by_name["IWAE, k = 5"]["date"] == rec["date"]     # la procedencia, por fila
    assert all({"machine", "commit"} <= set(r) for r in by_name.values())
    rec = R.main(["--out", str(tmp_path / "r.json"), "--rows", "VAE", "--replace"])
    assert [r["name"] for r in rec["results"]] == ["VAE"]
    # El objetivo de calidad: su propio entrenamiento (lote, tasa que baja), fundido detrás de las filas.
    rec = R.main(["--out", str(tmp_path / "r.json"), "--target"])
    assert [r["name"] for r in rec["results"]] == ["VAE", R.TARGET.name]
    target = rec["results"][1]["protocol"]
    assert (target["epochs"], target["batch_size"], target["lr"], target["lr_final"]) == (
        R.TARGET.epochs, R.TARGET.batch_size, R.TARGET.lr, R.TARGET.lr_final)
    assert target["n_train"] == 64 and rec["results"][0]["protocol"]["lr_final"] is None
    with pytest.raises(SystemExit):   # las pasadas son parte del objetivo: --epochs no lo cambia en silencio
        R.main(["--out", str(tmp_path / "x.json"), "--target", "--epochs", "3"])


def test_merge_record_replaces_rows_by_name_in_table_order():
    old = {"version": 1, "results": [{"name": "IWAE, k = 5", "value": 1.0}, {"name": "VAE", "value": 2.0}]}
    new = {"version": 1, "command": "c", "results": [{"name": "VAE", "value": 3.0}]}
    merged = R.merge_record(old, new)
    assert [(r["name"], r["value"]) for r in merged["results"]] == [("VAE", 3.0), ("IWAE, k = 5", 1.0)]
    assert merged["command"] == "c" and R.merge_record(None, new) is new
    with pytest.raises(ValueError, match="versiones"):
        R.merge_record({"version": 0, "results": []}, new)


def test_run_row_measures_what_the_row_says():
    """Con datos sintéticos pequeños: value es la NLL (o la -ELBO) de la fila, y la NLL por IS queda por debajo."""
    g = torch.Generator().manual_seed(0)
    x = torch.bernoulli(torch.full((64, 1, 28, 28), 0.2), generator=g)
    proto = R.Protocol("fast", 64, 32, 1, 32, 1e-3, 8)
    row = R.ROWS[0]
    out = R.run_row(row, proto, x, x[:32], progress=False)
    assert out["value"] == out["nll"] and out["nll"] <= out["neg_elbo"] + 1.0
    row_elbo = next(r for r in R.ROWS if r.metric == "neg_elbo")
    out = R.run_row(row_elbo, proto, x, x[:32], progress=False)
    assert out["value"] == out["neg_elbo"]


def test_the_target_is_a_plain_mlp_vae_with_its_own_training():
    t = R.TARGET
    model = R.build(t)
    assert isinstance(model, MODELS["vae"]) and model.config.hidden == (500, 500) and model.config.latent_dim == 50
    # El modelo medido es el VAE de siempre: lo único que añade su clase es el peso de la KL al entrenar, que el
    # calentamiento lleva a 1 y deja ahí; la -log p(x) se estima con los pesos de importancia del VAE.
    assert type(model).log_weights is MODELS["vae"].log_weights and 0 < model.config.warmup < 1
    assert model.config.free_bits == 0 and float(model.kl_weight) == 0.0
    model.schedule(model.config.warmup)
    assert float(model.kl_weight) == 1.0
    assert t.metric == "nll" and t.goal == 88.0 and t.epochs == 100 and t.lr_final < t.lr
    proto = t.protocol(R.record_protocol(PROFILES["full"]))
    assert (proto.epochs, proto.batch_size, proto.lr_final) == (100, 100, 1e-4)
    assert (proto.n_train, proto.k_is, proto.n_eval) == (None, 5000, 10000)   # la medida de los artículos


def test_the_committed_target_is_the_declared_one_and_what_the_text_says():
    """El cuaderno lee el objetivo del registro: el grabado es el de R.TARGET (modelo, configuración y
    entrenamiento), con la medida de los artículos, y su cifra dice lo que dice el texto (llega a 88, mejora a
    pythae y a la fila VAE con el protocolo de la IWAE, sin llegar a lo publicado)."""
    rec = R.load_record()
    by_name = {r["name"]: r for r in rec["results"]}
    target, t = by_name[R.TARGET.name], R.TARGET
    p = target["protocol"]
    assert target["key"] == t.key and target["metric"] == t.metric == "nll"
    assert target["config"] == json.loads(json.dumps(t.config))
    assert (p["epochs"], p["batch_size"], p["lr"], p["lr_final"]) == (t.epochs, t.batch_size, t.lr, t.lr_final)
    assert (p["n_train"], p["k_is"], p["n_eval"]) == (None, R.RECORD_K, R.RECORD_N_EVAL)
    assert target["command"].endswith("--target") and target["nll"] <= target["neg_elbo"]
    assert R.ROWS[0].published < target["value"] <= t.goal < t.reference_nll
    assert by_name["VAE"]["value"] - target["value"] > 3


def test_a_recorded_run_uses_all_of_mnist_even_if_the_notebook_does_not():
    full = PROFILES["full"]
    assert R.protocol(full).n_train is not None                 # el cuaderno del perfil completo usa menos
    rec = R.record_protocol(full, epochs=7)
    assert (rec.n_train, rec.epochs, rec.k_is, rec.n_eval, rec.batch_size) == (None, 7, R.RECORD_K,
                                                                               R.RECORD_N_EVAL, R.BATCH_SIZE)
    fast = R.record_protocol(PROFILES["fast"], k=3)
    assert (fast.n_train, fast.k_is) == (PROFILES["fast"].repro_n_train, 3)


def test_a_recorded_row_is_judged_by_its_own_budget():
    row = R.ROWS[0]                                     # VAE: 86.76 con 3280 pasadas
    short = {"value": 94.6, "protocol": {"epochs": 100}}
    paper = {"value": 94.6, "protocol": {"epochs": 3280}}
    assert R.recorded_plausible(short, row, ceiling=200.0)[0]        # 100 pasadas: basta con aprender algo
    assert not R.recorded_plausible(paper, row, ceiling=200.0)[0]    # con el presupuesto del artículo, demasiado lejos
    assert not R.recorded_plausible({"value": 80.0, "protocol": {"epochs": 100}}, row, ceiling=200.0)[0]
    assert R.ROWS[0].paper_epochs == 3280 and R.ROWS[3].paper_epochs is None


# --- filas del capítulo 3 (las mide el cuaderno de cada capítulo; la tabla lee los registros del libro) -----------
def test_chapter_rows_are_plausible_in_both_committed_records():
    from vaebook_lib.experiments.record import load
    keys = [r.key for r in R.CHAPTER_ROWS]
    assert {"cll_cvae", "err_adgm", "nll_miwae"} == set(keys)
    for profile in ("fast", "full"):
        rec = load(profile)
        assert rec is not None, f"falta el registro «{profile}» del libro"
        for row in R.CHAPTER_ROWS:
            values = rec["notebooks"][row.notebook]["values"]
            ok, why = R.chapter_plausible(row, values)
            assert ok, f"{profile}: {why}"
            value, base = row.ours(values)
            assert value > row.published, f"{profile}: {row.name} no debería igualar lo publicado con este presupuesto"


def _values(row, value, base):
    out = {row.key: row.sign * value}
    if isinstance(row.baseline, str):
        out[row.baseline] = row.sign * base
    return out


@pytest.mark.parametrize("row", R.CHAPTER_ROWS, ids=lambda r: r.name)
def test_chapter_plausible_can_fail(row):
    base = row.baseline if isinstance(row.baseline, float) else row.published + 40.0
    mid = (row.published + base) / 2
    assert R.chapter_plausible(row, _values(row, mid, base))[0]
    too_good = row.published - row.below - 0.01
    ok, why = R.chapter_plausible(row, _values(row, too_good, base))
    assert not ok and "mejora lo publicado" in why
    ok, why = R.chapter_plausible(row, _values(row, base + 0.01, base))
    assert not ok and "no mejora su referencia" in why
    ok, why = R.chapter_plausible(row, _values(row, math.nan, base))
    assert not ok and "no finitas" in why
    with pytest.raises(ValueError, match="no trae"):
        R.chapter_plausible(row, {})


def test_chapter_row_validation_and_protocol():
    row = R.CHAPTER_ROWS[0]
    with pytest.raises(ValueError, match="Magnitud desconocida"):
        replace(row, metric="bpd")
    with pytest.raises(ValueError, match="sign"):
        replace(row, sign=2.0)
    with pytest.raises(ValueError, match="quoted_by"):
        replace(row, confirmed=False, quoted_by="")
    with pytest.raises(ValueError, match="baseline"):
        replace(row, baseline=None)
    by_metric = {r.metric: r for r in R.CHAPTER_ROWS}
    full = PROFILES["full"]
    assert f"k = {full.k_is}" in R.chapter_protocol(by_metric["nll"], full)
    assert "k =" not in R.chapter_protocol(by_metric["error"], full)
    assert "10000 imágenes de prueba" in R.chapter_protocol(by_metric["error"], full)   # toda la prueba
    assert f"{PROFILES['fast'].epochs} pasadas" in R.chapter_protocol(row, PROFILES["fast"])
