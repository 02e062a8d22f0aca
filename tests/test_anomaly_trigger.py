"""Anomaly working points as menu seeds: grammar, thresholds at target rates, rates with them."""
import numpy as np
import pytest

from l1t.core.errors import L1TInputError
from l1t.trigger.anomaly import working_points
from l1t.trigger.menu import parse_menu
from l1t.trigger.lhc import DEFAULT_BUNCHES, LHC_REVOLUTION_KHZ

SCALE = DEFAULT_BUNCHES * LHC_REVOLUTION_KHZ


def test_working_points_count_crossings_exactly():
    rng = np.random.default_rng(3)
    scores = rng.exponential(1.0, 200_000)
    wps = working_points(scores, [100, 10, 1])
    assert [w["working_point"] for w in wps] == ["Loose", "Nominal", "Tight"]
    for w in wps:
        allowed = int(np.floor(w["target_khz"] / SCALE * len(scores)))
        assert (scores >= w["threshold"]).sum() == w["crossings_fired"] == allowed
        assert w["rate_khz"] <= w["target_khz"]
        assert w["threshold_low"] <= w["threshold"] <= w["threshold_high"]
    assert wps[0]["threshold"] < wps[1]["threshold"] < wps[2]["threshold"]
    assert wps[2]["low_statistics"] and not wps[0]["low_statistics"]
    with pytest.raises(L1TInputError):
        working_points(scores, [1, 2, 3, 4, 5, 6])


def test_anomaly_cut_needs_a_model(tmp_path):
    text = "seeds:\n  L1_AXO:\n    anomaly:\n      - {model: nowhere, score: axo, min: 3.5}\n"
    with pytest.raises(L1TInputError, match="no anomaly model"):
        parse_menu(text, str(tmp_path / "menu.yaml"))
    model = tmp_path / "m"
    model.mkdir()
    (model / "model.json").write_text('{"format": "l1t-muon-pt"}')
    with pytest.raises(L1TInputError, match="holds a muon-pt model, not anomaly"):
        parse_menu(text.replace("nowhere", "m"), str(tmp_path / "menu.yaml"))
    (model / "model.json").write_text('{"format": "l1t-vae-anomaly"}')
    menu = parse_menu(text.replace("nowhere", "m"), str(tmp_path / "menu.yaml"))
    cut = menu.seeds[0].condition.models[0]
    assert cut.model == str(model.resolve()) and cut.min == 3.5 and cut.score == "axo"
    assert cut.kind == "anomaly"
    assert menu.seeds[0].reference_is_score
    bad = text.replace("nowhere", "m").replace("axo", "mse")
    with pytest.raises(L1TInputError, match="unknown score"):
        parse_menu(bad, str(tmp_path / "menu.yaml"))


def test_tuned_seed_fires_at_its_rate_in_l1t_rates(tmp_path):
    """Train a tiny VAE, tune a working point on zero-bias crossings, run the rates job on the
    written menu: the seed's rate is the working point's rate, crossing for crossing."""
    from l1t.datasets.inputs import expand_inputs, read_inputs
    from l1t.datasets.production import produce
    from l1t.models.anomaly.inputs import event_words
    from l1t.models.anomaly.vae import VAEConfig, train
    from l1t.trigger.anomaly import write_menu, zero_bias_scores
    from l1t.trigger.job import RateJob, run
    from l1t.trigger.menu import load_menu
    from l1t.trigger.rates import summarize

    zb = tmp_path / "zb"
    produce("minbias", 300, zb, pileup=5, seed=4, chunk_size=150, pool_size=100, progress=False)
    model, _ = train(event_words(read_inputs([zb])), VAEConfig(epochs=2, batch_size=64))
    model.save(tmp_path / "vae")
    files = expand_inputs([zb])
    scores = zero_bias_scores(tmp_path / "vae", files)
    target = 30 / 300 * SCALE
    wps = working_points(scores, [target])
    assert wps[0]["crossings_fired"] == 30
    menu_path = write_menu(wps, tmp_path / "vae", tmp_path / "menu.yaml")
    menu = load_menu(menu_path)
    assert menu.names[-1] == "L1_AXO_Nominal" and len(menu.seeds) == 15
    s = summarize(run(RateJob(menu), files), menu)
    axo = s["seeds"][-1]
    assert axo["events_fired"] == 30
    assert axo["rate_khz"] == pytest.approx(wps[0]["rate_khz"])
    # The file-level tuning (rates-job scan) agrees with the rates job on its own threshold.
    from l1t.trigger.anomaly import tune

    wp = tune(tmp_path / "vae", files, [target])[0]
    assert wp["rate_khz"] <= target
    menu2 = load_menu(write_menu([wp], tmp_path / "vae", tmp_path / "menu2.yaml"))
    s2 = summarize(run(RateJob(menu2), files), menu2)
    assert s2["seeds"][-1]["rate_khz"] == pytest.approx(wp["rate_khz"])
