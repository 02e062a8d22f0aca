"""A user's own physics: a Pythia command file and HepMC3 events through generate, rates and the
signal-efficiency table (real Pythia events, small N)."""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import awkward as ak
import numpy as np
import pytest

from l1t.cli import main
from l1t.core.errors import L1TInputError
from l1t.datasets.formats import read_metadata
from l1t.datasets.hepmc import hepmc_sample
from l1t.datasets.inputs import expand_inputs, read_inputs
from l1t.datasets.production import produce
from l1t.datasets.pythia import PythiaRun, chunk_seed, prepare_mpi_init, read_command_file
from l1t.trigger.acceptance import read_efficiencies, signal_efficiency
from l1t.trigger.evaluate import Evaluator
from l1t.trigger.job import input_kind
from l1t.trigger.menu import load_menu

#: Z' (500 GeV) -> mu mu: a signal of the single- and double-muon seeds.
CMND = """! Z' -> mu mu, a user's signal
NewGaugeBoson:ffbar2gmZZprime = on
Zprime:gmZmode = 3            ! the Z' alone, no gamma*/Z interference
32:m0 = 500
32:onMode = off
32:onIfAny = 13
PhaseSpace:mHatMin = 250
# the production's size unless --events says otherwise
Main:numberOfEvents = 120
"""
SEED, CHUNK, PILEUP, POOL = 5, 60, 5.0, 100


@pytest.fixture(scope="module")
def zprime(tmp_path_factory):
    """The command file's production: 120 crossings (Main:numberOfEvents) in two chunks at
    pileup 5, on two worker processes."""
    root = tmp_path_factory.mktemp("zprime")
    cmnd = root / "zprime_mumu.cmnd"
    cmnd.write_text(CMND)
    out = root / "zprime_mumu"
    m = produce(read_command_file(cmnd), None, out, pileup=PILEUP, seed=SEED, chunk_size=CHUNK,
                pool_size=POOL, workers=2, progress=False, cache_dir=root / "cache")
    return root, cmnd, out, m


def test_command_file_makes_the_sample_it_describes(zprime):
    root, cmnd, out, m = zprime
    assert m["complete"] and m["events_done"] == 120 and len(m["chunks"]) == 2
    assert m["parameters"]["sample"] == "zprime_mumu"
    origin = m["origin"]
    assert origin["kind"] == "pythia-cmnd" and origin["text"] == CMND
    assert origin["sha256"] == [hashlib.sha256(cmnd.read_bytes()).hexdigest()]
    chunk = expand_inputs([out])[0]
    assert read_metadata(chunk)["sample"] == "zprime_mumu"
    assert input_kind(chunk)[0] == "signal"
    ev = read_inputs([out])
    assert ak.all(ev.process == 3001)              # f fbar -> gamma*/Z0/Z'0
    # the two hardest generator muons make the Z' of the file's 32:m0 = 500 GeV
    mu = ev.GenPart[abs(ev.GenPart.pdgId) == 13]
    mu = mu[ak.argsort(mu.pt, ascending=False)][:, :2]
    mu = mu[ak.num(mu) == 2]
    a, b = mu[:, 0], mu[:, 1]
    mass = np.sqrt(ak.to_numpy(2 * a.pt * b.pt * (np.cosh(a.eta - b.eta) - np.cos(a.phi - b.phi))))
    assert len(mass) > 100 and abs(np.median(mass) - 500) < 25
    assert abs(ak.to_numpy(ev.n_interactions).mean() - 1 - PILEUP) < 4 * np.sqrt(PILEUP / 120)


def test_rerun_resumes_and_other_contents_are_refused(zprime, tmp_path):
    root, cmnd, out, m = zprime
    stamps = [p.stat().st_mtime_ns for p in expand_inputs([out])]
    again = produce(read_command_file(cmnd), None, out, pileup=PILEUP, seed=SEED,
                    chunk_size=CHUNK, pool_size=POOL, workers=1, progress=False,
                    cache_dir=root / "cache")
    assert [c["sha256"] for c in again["chunks"]] == [c["sha256"] for c in m["chunks"]]
    assert [p.stat().st_mtime_ns for p in expand_inputs([out])] == stamps
    edited = tmp_path / cmnd.name                       # same stem, other contents
    edited.write_text(CMND.replace("32:m0 = 500", "32:m0 = 600"))
    with pytest.raises(L1TInputError, match="other parameters"):
        produce(read_command_file(edited), None, out, pileup=PILEUP, seed=SEED,
                chunk_size=CHUNK, pool_size=POOL, progress=False, cache_dir=root / "cache")


def test_efficiency_table_counts_what_the_menu_accepts(zprime):
    _, _, out, _ = zprime
    menu = load_menu()
    files = expand_inputs([out])
    (result,) = signal_efficiency(menu, {"zprime_mumu": files})
    fired = np.concatenate([c.fired() for c in Evaluator(menu).chunks(files)])
    n = len(fired)
    assert result.crossings == n == 120 and not result.weighted
    alone = fired & (fired.sum(axis=1, keepdims=True) == 1)  # every prescale of the menu is 1
    for j, s in enumerate(result.seeds):
        assert s.efficiency.value == pytest.approx(fired[:, j].mean())
        assert s.alone.value == pytest.approx(alone[:, j].mean())
        assert s.crossings == fired[:, j].sum()
        assert s.efficiency.low <= s.efficiency.value <= s.efficiency.high
    assert result.total.value == pytest.approx(fired.any(axis=1).mean())
    mu22 = result.seeds[menu.names.index("L1_SingleMu22")]
    assert mu22.efficiency.value > 0.85                # two muons of ~250 GeV
    assert 0 < mu22.efficiency.high - mu22.efficiency.value < 0.05


def test_efficiency_and_rates_commands(zprime, tmp_path, capsys):
    root, _, out, _ = zprime
    assert main(["efficiency", "--signal", str(out), "--out", str(tmp_path / "e")]) == 0
    text = capsys.readouterr().out
    assert "signal zprime_mumu (120 crossings)" in text and "alone [%]" in text
    assert "TOTAL" in text and "L1_SingleMu22" in text
    (r,) = read_efficiencies(tmp_path / "e" / "efficiency.json")
    assert r.signal == "zprime_mumu" and len(r.seeds) == len(load_menu().seeds)
    zb = tmp_path / "zb"
    produce("minbias", 40, zb, pileup=PILEUP, seed=SEED, chunk_size=40, pool_size=POOL,
            progress=False, cache_dir=root / "cache")
    assert main(["rates", "--input", str(zb), "--signal", str(out), "--out",
                 str(tmp_path / "r"), "--quiet", "--workers", "1"]) == 0
    text = capsys.readouterr().out
    assert "zero-bias crossings" in text and "signal zprime_mumu" in text
    assert (tmp_path / "r" / "rates.json").exists()
    assert (tmp_path / "r" / "efficiency.csv").read_text().startswith("signal,seed,prescale")
    # the signal as a rate input is refused, pointing at --signal
    assert main(["rates", "--input", str(out), "--out", str(tmp_path / "bad")]) == 2
    assert "--signal" in capsys.readouterr().err and not (tmp_path / "bad").exists()


def _hepmc_event(record, code: int, weight: float, pthat: float, sigma_mb: float, number: int):
    """A Pythia event record as a HepMC3 event: every particle but Pythia's system entry, the
    beams (status 4) into one vertex and the rest out of it, final state status 1, the others
    their Pythia |status| (11..99, the generator-specific range); generated masses, weight,
    cross section (pb) and process written as Pythia's own HepMC3 interface writes them."""
    import pyhepmc

    evt = pyhepmc.GenEvent(pyhepmc.Units.GEV, pyhepmc.Units.MM)
    evt.event_number = number
    rec = record[0]
    ids, status = ak.to_numpy(rec.id), ak.to_numpy(rec.status)
    px, py, pz, e = (ak.to_numpy(rec.p[c]) for c in ("px", "py", "pz", "e"))
    mass = ak.to_numpy(rec.m)
    vertex = pyhepmc.GenVertex()
    for i in range(1, len(ids)):
        code_i = 1 if status[i] > 0 else (4 if status[i] == -12 else abs(int(status[i])))
        particle = pyhepmc.GenParticle((px[i], py[i], pz[i], e[i]), int(ids[i]), code_i)
        particle.generated_mass = mass[i]
        (vertex.add_particle_in if code_i == 4 else vertex.add_particle_out)(particle)
    evt.add_vertex(vertex)
    evt.weights = [weight]
    xs = pyhepmc.GenCrossSection()
    xs.set_cross_section(sigma_mb * 1e9, 0.0, number + 1, number + 1)
    evt.cross_section = xs
    evt.attributes["signal_process_id"] = code
    evt.attributes["event_scale"] = pthat
    return evt


def test_hepmc_file_of_pythia_events_gives_the_same_l1_objects(zprime, tmp_path):
    """The events of each chunk of the command file's production, regenerated with the chunk's
    Pythia seed and written to one HepMC3 file (17 digits: doubles read back exactly), make the
    same crossings through --hepmc with the same seed, chunk size and pileup: same particles,
    same detector and pileup random numbers, so the same L1 objects bit for bit."""
    import pyhepmc

    root, cmnd, out, _ = zprime
    sample = read_command_file(cmnd)
    mpi = prepare_mpi_init(sample, tmp_path / "mpi.dat")
    path = tmp_path / "zprime_events.hepmc3"
    with pyhepmc.open(path, "w", precision=17) as f:
        for chunk in range(2):
            run = PythiaRun(sample, chunk_seed(SEED, chunk), mpi)
            for k, (record, code, weight, pthat) in enumerate(run.events(CHUNK)):
                f.write(_hepmc_event(record, code, weight, pthat, run.sigma_mb,
                                     chunk * CHUNK + k))
    last_sigma = run.sigma_mb
    h = produce(hepmc_sample([path]), None, tmp_path / "h", pileup=PILEUP, seed=SEED,
                chunk_size=CHUNK, pool_size=POOL, workers=1, progress=False,
                cache_dir=root / "cache")
    assert h["origin"]["kind"] == "hepmc3" and h["origin"]["events"] == [120]
    assert h["parameters"]["sample"] == "zprime_events"
    direct, via = read_inputs([out]), read_inputs([tmp_path / "h"])
    assert ak.fields(via) == ak.fields(direct)
    for field in ak.fields(direct):
        if field == "sigma_mb":      # the file's cross section: its last event's estimate
            assert np.allclose(ak.to_numpy(via[field]), last_sigma, rtol=1e-7)
            continue
        assert ak.to_list(via[field]) == ak.to_list(direct[field]), field
    assert ak.sum(ak.num(via.L1Mu)) > 100


def test_hepmc_units_weights_and_attributes(tmp_path):
    """A hand-made file in MeV with weights, a cross section and attributes: what a production
    keeps of each event, read back from its converted events."""
    import pyhepmc

    from l1t.datasets.hepmc import hard_interactions, prepare

    path = tmp_path / "hand.hepmc3"
    with pyhepmc.open(path, "w") as f:
        for number, weight in ((11, 2.5), (12, 0.5)):
            evt = pyhepmc.GenEvent(pyhepmc.Units.MEV, pyhepmc.Units.MM)
            evt.event_number = number
            vertex = pyhepmc.GenVertex()
            vertex.add_particle_in(pyhepmc.GenParticle((0, 0, 7e6, 7e6), 2212, 4))
            vertex.add_particle_out(pyhepmc.GenParticle((3e4, 4e4, 0, 5.1e4), 23, 2))
            vertex.add_particle_out(pyhepmc.GenParticle((3e4, 4e4, 1e4, 5.1e4), 13, 1))
            vertex.add_particle_out(pyhepmc.GenParticle((-6e3, -8e3, 0, 1e4), -211, 1))
            evt.add_vertex(vertex)
            evt.weights = [weight, 1.0]
            xs = pyhepmc.GenCrossSection()
            xs.set_cross_section(1500.0, 1.0, 10, 10)
            evt.cross_section = xs
            evt.attributes["signal_process_id"] = 42
            evt.attributes["event_scale"] = 91187.6
            f.write(evt)
    sample = hepmc_sample([path])
    assert sample.name == "hand" and sample.events == 2 and sample.weighted
    assert sample.origin.sigma_mb == (pytest.approx(1.5e-6),)       # 1500 pb
    ev = hard_interactions(prepare(sample, tmp_path / "cache"), 2, 1)
    assert ak.to_list(ev.weight) == [2.5, 0.5] and ak.to_list(ev.process) == [42, 42]
    assert np.allclose(ak.to_numpy(ev.pthat), 91.1876)
    p = ev.particles[0]
    assert ak.to_list(p.pdgId) == [13, -211]                      # the Z (status 2) is not
    assert np.allclose(ak.to_numpy(p.pt), [50.0, 10.0])           # GeV
    assert ak.to_list(p.charge) == [-1, -1]
    assert np.allclose(ak.to_numpy(p.eta), [np.arcsinh(0.2), 0.0], atol=1e-6)
    # the conversion is made once: a second production of the same files reads it
    again = prepare(sample, tmp_path / "cache")
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [Path(again.store).name]
    shutil.rmtree(tmp_path / "cache")


def test_command_lines_drop_comments_as_pythia_does():
    from l1t.datasets.pythia import command_lines

    text = ("HardQCD:all = on   ! trailing words: Pythia reads the value only\n"
            "! a comment\n# another\n// and another\n\n"
            "/* a block\nTop:gg2ttbar = on\n*/ ends here\n"
            "  PhaseSpace:pTHatMin = 20\n6:m0 = 172.5\n")
    assert command_lines(text) == [(1, "HardQCD:all = on   ! trailing words: Pythia reads the "
                                       "value only"), (9, "PhaseSpace:pTHatMin = 20"),
                                   (10, "6:m0 = 172.5")]


def test_turn_on_of_a_users_production(zprime):
    from l1t.trigger.efficiency import turn_ons

    _, _, out, _ = zprime
    (r,) = turn_ons(read_inputs([out]), load_menu(), ["L1_SingleMu22"])
    assert r["reference"] == "muon" and r["plateau_n"] > 100 and r["plateau"] > 0.9


def test_command_file_on_a_dask_cluster_gives_the_same_bytes(zprime, tmp_path):
    """The command file's settings travel with each chunk to the dask workers."""
    from dask.distributed import LocalCluster

    root, cmnd, _, _ = zprime
    kw = dict(pileup=0.0, seed=SEED, chunk_size=10, progress=False, cache_dir=root / "cache")
    local = produce(read_command_file(cmnd), 20, tmp_path / "local", workers=1, **kw)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        remote = produce(read_command_file(cmnd), 20, tmp_path / "dask",
                         scheduler=cluster.scheduler_address, **kw)
    assert [c["sha256"] for c in remote["chunks"]] == [c["sha256"] for c in local["chunks"]]
    assert remote["origin"] == local["origin"]
