"""The 40 MHz stream: filling schemes, crossing draws, and the stream against `l1t rates`."""
import numpy as np
import pytest

from datasets.errors import L1TInputError
from trigger.crossings import EventPool, MuProfile, Sampler, pack, unpack
from trigger.filling import (BX_PER_ORBIT, NOMINAL_FILE, load_filling_scheme, nominal_25ns,
                             parse_filling_scheme, single_trains)


def test_nominal_scheme_is_the_design_report_pattern():
    s = nominal_25ns()
    assert s.n_bunches == 2808
    trains = s.trains()
    assert len(trains) == 39 and {n for _, n in trains} == {72}
    assert trains[0] == (1, 72) and trains[1][0] == 81            # 8 empty slots between batches
    last_start, last_len = trains[-1]
    assert BX_PER_ORBIT - (last_start + last_len - 1) == 119      # the abort gap
    assert s.collision_rate_khz == pytest.approx(2808 * 11.2456)
    same = load_filling_scheme(NOMINAL_FILE)
    assert np.array_equal(same.colliding, s.colliding)
    assert np.array_equal(parse_filling_scheme(s.to_text()).colliding, s.colliding)


def test_filling_scheme_file_errors(tmp_path):
    ok = parse_filling_scheme("# two trains\n1-10, 20\n3000-3001\n", "f.txt")
    assert ok.n_bunches == 13 and ok.trains() == [(1, 10), (20, 1), (3000, 2)]
    for text, where in (("1-10\n5\n", "line 2"), ("0\n", "line 1"), ("3565\n", "line 1"),
                        ("abc\n", "line 1"), ("# nothing\n", "no colliding")):
        with pytest.raises(L1TInputError, match=where) as err:
            parse_filling_scheme(text, "f.txt")
        assert "f.txt" in str(err.value)
    with pytest.raises(L1TInputError, match="cannot read"):
        load_filling_scheme(tmp_path / "missing.txt")
    assert single_trains(144).trains() == [(1, 72), (81, 72)]


def test_pack_unpack_round_trip():
    rng = np.random.default_rng(1)
    for s in (1, 14, 64, 65, 130):
        fired = rng.random((50, s)) < 0.3
        bits = pack(fired)
        assert bits.shape == (50, (s + 63) // 64) and bits.dtype == np.uint64
        assert np.array_equal(unpack(bits, s), fired)


def _pool(n_int, fired, mean_mu):
    order = np.argsort(n_int, kind="stable")
    return EventPool(np.asarray(n_int, np.int64)[order], pack(np.asarray(fired)[order]),
                     tuple(f"s{j}" for j in range(np.asarray(fired).shape[1])), mean_mu, ())


def test_sampler_reproduces_poisson_pileup_and_is_deterministic():
    rng = np.random.default_rng(2)
    n_int = rng.poisson(50, 20_000)
    pool = _pool(n_int, np.zeros((20_000, 1), bool), 50.0)
    a = Sampler(pool, seed=7)
    idx, n = a.draw(np.full(200_000, 40.0))          # a lower mu than the pool's
    assert np.array_equal(n, pool.n_interactions[idx])
    assert n.mean() == pytest.approx(40.0, abs=0.1) and n.var() == pytest.approx(40.0, rel=0.03)
    assert a.substituted / a.drawn < 0.01
    b = Sampler(pool, seed=7)
    idx2, _ = b.draw(np.full(200_000, 40.0))
    assert np.array_equal(idx, idx2)


def test_mu_profile():
    p = MuProfile.parse("0:200,10:100")
    assert p.at(np.array([0.0, 5.0, 20.0])).tolist() == [200.0, 150.0, 100.0]
    assert MuProfile.parse("140").is_constant
    for bad in ("x", "0:200,0:100", "0:-1"):
        with pytest.raises(L1TInputError):
            MuProfile.parse(bad)
