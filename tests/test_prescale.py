"""Prescale counters: the firmware's pattern for fractional prescales, prescale 0, chunking."""
import awkward as ak
import numpy as np
import pytest

from conftest import make_events
from l1t.datasets.formats import write_events
from l1t.trigger.job import RateJob, run
from l1t.trigger.menu import parse_menu
from l1t.trigger.prescale import PrescaleCounters
from l1t.trigger.rates import summarize


@pytest.mark.parametrize("prescale, kept, of", [(1.5, 2, 3), (2.25, 4, 9), (3, 1, 3), (1, 1, 1)])
def test_fractional_prescales_keep_the_counter_pattern(prescale, kept, of):
    fired = np.ones((of * 20, 1), bool)
    keep = PrescaleCounters(np.array([round(prescale * 100)])).apply(fired)[:, 0]
    assert keep.sum() == kept * 20
    # the same pattern in every period of `of` firings: deterministic, not random
    assert (keep.reshape(20, of) == keep[:of]).all()


def test_counters_skip_crossings_where_the_seed_does_not_fire():
    fired = np.zeros((12, 1), bool)
    fired[::2] = True                       # fires on every other crossing: 6 firings
    keep = PrescaleCounters(np.array([200])).apply(fired)[:, 0]
    assert keep.sum() == 3 and not (keep & ~fired[:, 0]).any()


def test_prescale_zero_keeps_nothing():
    keep = PrescaleCounters(np.array([0, 100])).apply(np.ones((50, 2), bool))
    assert keep[:, 0].sum() == 0 and keep[:, 1].sum() == 50


def test_chunked_counters_equal_one_pass():
    rng = np.random.default_rng(3)
    fired = rng.random((1000, 3)) < 0.3
    units = np.array([150, 225, 700])
    whole = PrescaleCounters(units).apply(fired)
    c = PrescaleCounters(units)
    parts = np.concatenate([c.apply(fired[:137]), c.apply(fired[137:600]), c.apply(fired[600:])])
    assert (whole == parts).all()
    assert (c.fired == fired.sum(axis=0)).all()


MENU = """
name: prescales
seeds:
  L1_Jet_off: {prescale: 0, legs: [{object: jet, pt: 0}]}
  L1_Jet_ps1p5: {prescale: 1.5, legs: [{object: jet, pt: 0}]}
  L1_Jet: {legs: [{object: jet, pt: 0}]}
"""


def test_prescales_in_the_rates_table(tmp_path):
    """Through the rates job: a seed at prescale 0 has rate 0 and adds nothing to the total;
    prescale 1.5 keeps the 2nd and 3rd of every 3 firings (the unprescaled rate stays)."""
    events = make_events(300, seed=5)
    events = events[ak.num(events.L1Jet) > 0]
    events = ak.with_field(events, np.ones(len(events)), "weight")   # plain zero-bias crossings
    n = len(events)
    path = write_events(events, tmp_path / "zb.parquet")
    menu = parse_menu(MENU)
    summary = summarize(run(RateJob(menu), [path]), menu)
    seeds = {s["seed"]: s for s in summary["seeds"]}
    unit = seeds["L1_Jet"]["rate_khz"] / n            # kHz per crossing
    assert seeds["L1_Jet_off"]["rate_khz"] == 0.0
    assert seeds["L1_Jet_off"]["unprescaled_rate_khz"] == pytest.approx(seeds["L1_Jet"]["rate_khz"])
    assert seeds["L1_Jet_ps1p5"]["rate_khz"] == pytest.approx(unit * (2 * (n // 3) + max(n % 3 - 1, 0)))
    assert summary["total"]["rate_khz"] == pytest.approx(seeds["L1_Jet"]["rate_khz"])
