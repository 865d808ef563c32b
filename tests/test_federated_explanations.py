"""federated.evaluate.explanation_agreement: per device and phase, the model's token attributions
against the teacher's, which the server computes once per text into the run directory. Checked with
the student as its own teacher (the global phase must agree perfectly), off by default (no column,
no fingerprint change), and end to end through a Flower simulation in cohorts."""

from __future__ import annotations

import csv
import json
import math

import pytest

from fedrobust.data import FederatedDataset
from fedrobust.errors import ConfigError, DataError
from fedrobust.evaluation.attribution_cache import AttributionCache
from fedrobust.evaluation.attribution_cache import entry_key as _key
from fedrobust.federated.algorithms import ClientCall, build_algorithm
from fedrobust.federated.client_state import ClientStateStore
from fedrobust.federated.config import without_idle_explanation_keys
from fedrobust.federated.device_eval import personalize_and_measure
from fedrobust.federated.device_explanations import TEACHER_ATTRIBUTIONS, prepare_teacher_attributions
from fedrobust.federated.results import client_columns, client_rows, summarize_clients
from fedrobust.federated.worker_cache import initial_model, tokenizer_for
from fedrobust.models.io import save_model
from tests.federated_helpers import make_federation, sim_config, tiny_student, tokenizer

EXPLAIN = {"explanation_agreement": True, "examples": 0}  # no attack: only what is tested here


@pytest.fixture(scope="module")
def federation(tmp_path_factory):
    return make_federation(tmp_path_factory.mktemp("explanations"), num_owners=4)


def _device_metrics(config, run_dir, device=0):
    dataset = FederatedDataset.load(config.data)
    call = ClientCall(config=config, partition_id=device, data=dataset.client(device),
                      tokenizer=tokenizer_for(config.model), model=initial_model(config.model, config.init, 0),
                      server_round=1, state=ClientStateStore(str(run_dir), f"{device:06d}"))
    return personalize_and_measure(build_algorithm(config.algorithm_name, config.algorithm_params), call)


def test_a_model_agrees_with_itself_before_personalization_and_less_after(federation, tmp_path):
    data_dir, model_dir = federation
    config = sim_config(data_dir, model_dir, algorithm="local_only", rounds=0, teacher=str(model_dir),
                        personalize={"epochs": 3, "lr": 0.05}, evaluate=EXPLAIN)
    dataset = FederatedDataset.load(data_dir)
    devices = range(len(dataset))
    path = prepare_teacher_attributions(config, dataset, devices, tokenizer_for(str(model_dir)), tmp_path)
    assert path == tmp_path / TEACHER_ATTRIBUTIONS
    texts = {(t, y) for d in devices for t, y in zip(*dataset.client(d).split("test"))}
    assert len(AttributionCache.load(path).entries) == len(texts)  # once per text, for every device
    stamp = path.stat().st_mtime_ns
    assert prepare_teacher_attributions(config, dataset, devices, None, tmp_path) == path  # covered: reused
    assert path.stat().st_mtime_ns == stamp

    metrics = _device_metrics(config, tmp_path)
    n_test = metrics["num-examples"]
    assert n_test > 2 and metrics["global/expl_n"] == n_test  # every text has several tokens
    assert metrics["global/expl_spearman"] == pytest.approx(1.0, abs=1e-6)
    assert metrics["global/expl_top5"] == pytest.approx(1.0)
    assert -1 <= metrics["personalized/expl_spearman"] < 0.999 and 0 <= metrics["personalized/expl_top5"] <= 1

    rows = client_rows("local_only", 0, "c0", metrics)
    columns = client_columns(rows)
    at = columns.index("loss") + 1
    assert columns[at:at + 3] == ["expl_spearman", "expl_top5", "expl_n"]
    second = client_rows("local_only", 1, "c1", _device_metrics(config, tmp_path, device=1))
    summary = summarize_clients(rows + second)["explanations"]
    assert summary["global"]["expl_spearman"]["mean"] == pytest.approx(1.0, abs=1e-6)
    change = summary["change"]["expl_spearman"]
    assert change["devices"] == 2 and change["mean"] == pytest.approx(
        summary["personalized"]["expl_spearman"]["mean"] - summary["global"]["expl_spearman"]["mean"])
    assert change["ci95"][0] <= change["mean"] <= change["ci95"][1] and change["worse"] == 2


def test_a_shared_folder_lets_other_runs_reuse_the_teachers_attributions(federation, tmp_path):
    data_dir, model_dir = federation
    dataset = FederatedDataset.load(data_dir)
    config = sim_config(data_dir, model_dir, algorithm="local_only", rounds=0, teacher=str(model_dir), evaluate=EXPLAIN)
    shared = tmp_path / "shared"
    tok = tokenizer_for(str(model_dir))
    first = prepare_teacher_attributions(config, dataset, [0], tok, tmp_path / "run0", shared)
    (shared_file,) = shared.glob("*-grad_x_input.npz")
    assert set(AttributionCache.load(shared_file).entries) == set(AttributionCache.load(first).entries)
    # a second run over more devices computes only the texts the shared file lacks
    devices = range(len(dataset))
    second = prepare_teacher_attributions(config, dataset, devices, tok, tmp_path / "run1", shared)
    pairs = {(t, y) for d in devices for t, y in zip(*dataset.client(d).split("test"))}
    assert len(AttributionCache.load(second).entries) == len(AttributionCache.load(shared_file).entries) == len(pairs)
    known = AttributionCache.load(first).entries
    for key, (ids, scores) in known.items():  # the first run's entries were kept, not recomputed
        assert (AttributionCache.load(second).entries[key][0] == ids).all()
        assert (AttributionCache.load(second).entries[key][1] == scores).all()
    # a third run over the first device only writes its own subset and leaves the shared file as it was
    stamp = shared_file.stat().st_mtime_ns
    third = prepare_teacher_attributions(config, dataset, [0], tok, tmp_path / "run2", shared)
    assert shared_file.stat().st_mtime_ns == stamp and set(AttributionCache.load(third).entries) == set(known)
    # another method is another shared file; a damaged shared file is started afresh, not trusted
    ig = sim_config(data_dir, model_dir, algorithm="local_only", rounds=0, teacher=str(model_dir),
                    evaluate={**EXPLAIN, "attribution": "integrated_gradients"})
    prepare_teacher_attributions(ig, dataset, [0], tok, tmp_path / "run3", shared)
    assert len(list(shared.glob("*-integrated_gradients.npz"))) == 1
    shared_file.write_bytes(b"not an npz")
    prepare_teacher_attributions(config, dataset, [0], tok, tmp_path / "run4", shared)
    assert set(AttributionCache.load(shared_file).entries) == set(known)


def test_off_by_default_adds_no_column_and_keeps_the_fingerprint(federation, tmp_path):
    data_dir, model_dir = federation
    config = sim_config(data_dir, model_dir, algorithm="local_only", rounds=0, evaluate={"examples": 0})
    assert config.evaluate.explanation_agreement is False and config.teacher is None
    assert prepare_teacher_attributions(config, FederatedDataset.load(data_dir), [0], None, tmp_path) is None
    metrics = _device_metrics(config, tmp_path)
    assert not any("expl" in key for key in metrics)
    rows = client_rows("local_only", 0, "c0", metrics)
    assert not any(c.startswith("expl") for c in client_columns(rows))
    assert "explanations" not in summarize_clients(rows)
    # the keys change no result while off: runs from before they existed resume
    idle = sim_config(data_dir, model_dir, algorithm="local_only", rounds=0, teacher="elsewhere",
                      evaluate={"examples": 0, "top_k": 9})
    assert idle.fingerprint() == config.fingerprint()
    on = sim_config(data_dir, model_dir, algorithm="local_only", rounds=0, teacher="t", evaluate=EXPLAIN)
    assert on.fingerprint() != config.fingerprint()


def test_the_attribution_method_reaches_the_teacher_file_and_the_devices(federation, tmp_path):
    data_dir, model_dir = federation
    dataset = FederatedDataset.load(data_dir)
    devices = range(len(dataset))
    common = dict(algorithm="local_only", rounds=0, teacher=str(model_dir), personalize={"epochs": 1, "lr": 0.05})
    gxi = sim_config(data_dir, model_dir, **common, evaluate=EXPLAIN)
    ig = sim_config(data_dir, model_dir, **common, evaluate={**EXPLAIN, "attribution": "integrated_gradients"})
    assert gxi.evaluate.attribution == "grad_x_input"
    path = prepare_teacher_attributions(gxi, dataset, devices, tokenizer_for(str(model_dir)), tmp_path)
    assert AttributionCache.load(path).method == "grad_x_input"
    # a device asked for integrated gradients refuses the gradient x input file instead of comparing across methods
    with pytest.raises(DataError, match="by grad_x_input, but integrated_gradients was asked for"):
        _device_metrics(ig, tmp_path)
    # the server computes the file again for the new method (and reuses it after)
    assert prepare_teacher_attributions(ig, dataset, devices, tokenizer_for(str(model_dir)), tmp_path) == path
    assert AttributionCache.load(path).method == "integrated_gradients"
    stamp = path.stat().st_mtime_ns
    prepare_teacher_attributions(ig, dataset, devices, None, tmp_path)
    assert path.stat().st_mtime_ns == stamp
    metrics = _device_metrics(ig, tmp_path)  # the student is its own teacher: the same method agrees perfectly
    assert metrics["global/expl_spearman"] == pytest.approx(1.0, abs=1e-6) and metrics["global/expl_top5"] == 1.0
    with pytest.raises(DataError, match="by integrated_gradients, but grad_x_input was asked for"):
        _device_metrics(gxi, tmp_path)


def test_the_attribution_key_at_its_default_keeps_every_fingerprint(federation):
    data_dir, model_dir = federation
    common = dict(algorithm="local_only", rounds=0, teacher="t")
    on = sim_config(data_dir, model_dir, **common, evaluate=EXPLAIN)
    explicit = sim_config(data_dir, model_dir, **common, evaluate={**EXPLAIN, "attribution": "grad_x_input"})
    ig = sim_config(data_dir, model_dir, **common, evaluate={**EXPLAIN, "attribution": "integrated_gradients"})
    # the hashed mapping has no attribution key at the default: fingerprints from before the key existed hold
    assert "attribution" not in without_idle_explanation_keys(on.to_dict())["evaluate"]
    assert explicit.fingerprint() == on.fingerprint() != ig.fingerprint()
    off = sim_config(data_dir, model_dir, algorithm="local_only", rounds=0, evaluate={"examples": 0})
    off_ig = sim_config(data_dir, model_dir, algorithm="local_only", rounds=0,
                        evaluate={"examples": 0, "attribution": "integrated_gradients"})
    assert off_ig.fingerprint() == off.fingerprint()  # while the agreement is off the method changes nothing


def test_the_cache_keys_by_text_and_class_and_refuses_what_it_does_not_hold(tmp_path):
    model, tok = tiny_student(), tokenizer()
    cache = AttributionCache.of(model, tok, ["good film", "bad film", "good film"], [1, 0, 1])
    assert len(cache.entries) == 2
    cache.save(tmp_path / "a.npz")
    loaded = AttributionCache.load(tmp_path / "a.npz")
    found = loaded.lookup(["bad film"], [0])
    assert found.input_ids[0] == cache.entries[_key("bad film", 0)][0].tolist() == tok(["bad film"])["input_ids"][0].tolist()
    assert found.scores[0].tolist() == cache.entries[_key("bad film", 0)][1].tolist()
    assert not loaded.covers(["good film"], [0])  # another class is another explanation
    with pytest.raises(DataError, match="no attributions for 1 of 2 texts"):
        loaded.lookup(["good film", "dull film"], [1, 1])
    (tmp_path / "b.npz").write_text("not a cache")
    with pytest.raises(DataError, match="not a readable attribution cache"):
        AttributionCache.load(tmp_path / "b.npz")


def test_the_setting_is_validated(federation):
    with pytest.raises(ConfigError, match="evaluate.explanation_agreement needs config key teacher"):
        sim_config(*federation, evaluate={"explanation_agreement": True})
    with pytest.raises(ConfigError, match="evaluate.top_k"):
        sim_config(*federation, teacher="t", evaluate={"explanation_agreement": True, "top_k": 0})
    with pytest.raises(ConfigError, match="evaluate.explanation_agreement"):
        sim_config(*federation, evaluate={"explanation_agreement": "yes"})
    with pytest.raises(ConfigError, match="config key evaluate.attribution must be one of grad_x_input, "
                                          "integrated_gradients, got 'shap'"):
        sim_config(*federation, teacher="t", evaluate={"explanation_agreement": True, "attribution": "shap"})


def test_a_teacher_on_other_tokens_is_refused_before_the_federation(federation, tmp_path):
    data_dir, model_dir = federation
    short = tmp_path / "short_teacher"
    tok = tokenizer()
    save_model(tiny_student(), type(tok)(tok.hf, max_length=4), short)  # truncates every text differently
    config = sim_config(data_dir, model_dir, teacher=str(short), evaluate=EXPLAIN)
    with pytest.raises(ConfigError, match="split text 0 into different tokens"):
        prepare_teacher_attributions(config, FederatedDataset.load(data_dir), [0], tokenizer_for(str(model_dir)),
                                     tmp_path / "run")
    assert not (tmp_path / "run" / TEACHER_ATTRIBUTIONS).exists()


def test_the_run_gives_its_teacher_to_the_federations_that_measure_explanations(tmp_path):
    from fedrobust.pipeline.config import PLACEHOLDER
    from fedrobust.pipeline.config import config_from_mapping as run_config_from_mapping
    from fedrobust.pipeline.stages import study_stages
    from tests.pipeline_helpers import tiny_run_mapping

    mapping = tiny_run_mapping(tmp_path, algorithms=["fedavg_ft"])
    mapping["evaluate"]["explanation_agreement"] = False
    mapping["distill"] = {"path": str(tmp_path)}  # a student made earlier: the teacher is needed for nothing else
    off = {s.name: s for s in study_stages(run_config_from_mapping(mapping))}
    assert "teacher" not in off and off["federated-fedavg_ft"].depends == ("data", "distill")
    inputs = off["federated-fedavg_ft"].inputs(run_config_from_mapping(mapping))
    assert "teacher" not in inputs and "explanation_agreement" not in inputs["evaluate"]

    mapping["federated"]["evaluate"]["explanation_agreement"] = True
    config = run_config_from_mapping(mapping)
    on = {s.name: s for s in study_stages(config)}
    assert "teacher" in on and on["federated-fedavg_ft"].depends == ("data", "distill", "teacher")
    inputs = on["federated-fedavg_ft"].inputs(config)
    assert inputs["teacher"] == PLACEHOLDER and inputs["evaluate"]["explanation_agreement"] is True


def _rows(path):
    with open(path) as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow  # two simulations on Ray
def test_simulation_writes_the_columns_and_the_paired_change_whatever_the_cohort_size(federation, tmp_path):
    from fedrobust.cli.simulate_cmd import format_summary
    from fedrobust.federated.simulate import simulate
    from fedrobust.report.build import build_report

    data_dir, model_dir = federation
    runs = {}
    for per_node in (1, 3):
        config = sim_config(data_dir, model_dir, algorithm="fedavg_ft", rounds=1, fraction_train=1.0,
                            teacher=str(model_dir), evaluate=EXPLAIN, simulation={"devices_per_node": per_node})
        runs[per_node] = simulate(config, tmp_path / f"per_node_{per_node}")
    one, cohort = _rows(tmp_path / "per_node_1" / "clients.csv"), _rows(tmp_path / "per_node_3" / "clients.csv")
    assert one == cohort and {"expl_spearman", "expl_top5", "expl_n"} <= set(one[0])
    assert all(math.isfinite(float(r["expl_spearman"])) for r in one)
    explanations = json.loads((tmp_path / "per_node_3" / "summary.json").read_text())["explanations"]
    assert set(explanations) == {"global", "personalized", "change", "attribution"}
    assert explanations["attribution"] == "grad_x_input"  # the method compared, for the report
    change = explanations["change"]["expl_top5"]
    assert change["devices"] == runs[3]["clients_evaluated"] and change["ci95"][0] <= change["mean"] <= change["ci95"][1]
    assert "expl_top5 (agreement with the teacher) global" in format_summary(runs[3])
    report = build_report([tmp_path / "per_node_3"], tmp_path / "report")
    assert "Explanations before and after personalization" in report["markdown"].read_text()
