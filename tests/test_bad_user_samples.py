"""A user's bad command files and HepMC files, refused by the real ``l1t`` command in the style
of ``test_bad_input.py``: exit status 2, one line naming the file and the line or event, no
traceback, nothing created or changed anywhere under the test's directory (the checks come
before any output: not even an empty directory is left)."""
from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from test_bad_input import _snapshot, run_l1t

GOOD_CMND = "HardQCD:all = on\nPhaseSpace:pTHatMin = 20\n"


def _file(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _good_hepmc(path: Path, events: int = 3) -> Path:
    """A small valid HepMC3 file: a few particles per event, 17-digit momenta."""
    import pyhepmc

    with pyhepmc.open(path, "w", precision=17) as f:
        for number in range(events):
            evt = pyhepmc.GenEvent(pyhepmc.Units.GEV, pyhepmc.Units.MM)
            evt.event_number = number
            vertex = pyhepmc.GenVertex()
            vertex.add_particle_in(pyhepmc.GenParticle((0, 0, 7000, 7000), 2212, 4))
            vertex.add_particle_out(pyhepmc.GenParticle((30, 40, 10, 52), 13, 1))
            vertex.add_particle_out(pyhepmc.GenParticle((-30, -40, 5, 51), -13, 1))
            evt.add_vertex(vertex)
            evt.weights = [1.0]
            f.write(evt)
    return path


def _events(text: str) -> list[str]:
    """The event blocks of a HepMC3 text (``E`` line to the next)."""
    starts = [m.start() for m in re.finditer(r"^E ", text, re.M)]
    return [text[a:b] for a, b in zip(starts, starts[1:] + [text.index("HepMC::Asciiv3-END")])]


def _hepmc_edit(work: Path, name: str, change: Callable[[str, list[str]], str]) -> Path:
    """A copy of the good file changed by ``change(text, events)``."""
    text = _good_hepmc(work / "good.hepmc3").read_text()
    return _file(work / name, change(text, _events(text)))


def _cut_mid(text: str, ev: list[str]) -> str:
    return text[: text.index(ev[1]) + len(ev[1]) // 2]


def _cut_after(text: str, ev: list[str]) -> str:
    return text[: text.index(ev[1]) + len(ev[1])]


def _no_final(text: str, ev: list[str]) -> str:
    return text.replace(ev[1], re.sub(r" 1$", " 2", ev[1], flags=re.M))


def _negative_weight(text: str, ev: list[str]) -> str:
    return text.replace(ev[1], ev[1].replace("W 1.0", "W -1.0"))


def _nan_momentum(text: str, ev: list[str]) -> str:
    return text.replace(ev[2], re.sub(r"^(P \d+ -?\d+ 13) \S+", r"\1 nan", ev[2], flags=re.M))


def _generate_cmnd(w: Path, name: str, text: str, *extra: str) -> list[str]:
    return ["generate", "--pythia-cmnd", str(_file(w / name, text)), "--out", str(w / "g"),
            *extra]


def _generate_hepmc(w: Path, path: Path, *extra: str) -> list[str]:
    return ["generate", "--hepmc", str(path), "--out", str(w / "g"), *extra]


# Each case: (id, build(work dir) -> (argv, text expected in the error line)).
CASES: list[tuple[str, Callable[[Path], tuple[list[str], str]]]] = [
    # -- command files: every line checked by Pythia, the process by initialising it
    ("cmnd-unknown-setting", lambda w: (
        _generate_cmnd(w, "u.cmnd", GOOD_CMND + "! fine\nFoo:bar = 3\n", "--events", "5"),
        "u.cmnd [line 4]: Pythia does not accept 'Foo:bar = 3'")),
    ("cmnd-value-out-of-range", lambda w: (
        _generate_cmnd(w, "r.cmnd", "Tune:pp = 999\n" + GOOD_CMND, "--events", "5"),
        "r.cmnd [line 1]")),
    ("cmnd-value-not-a-number", lambda w: (
        _generate_cmnd(w, "n.cmnd", GOOD_CMND + "Beams:eCM = fourteen\n", "--events", "5"),
        "[line 3]: Pythia does not accept 'Beams:eCM = fourteen'")),
    ("cmnd-no-process", lambda w: (
        _generate_cmnd(w, "p.cmnd", "PartonLevel:MPI = off\n", "--events", "5"),
        "p.cmnd: Pythia cannot make events with these settings: no process switched on")),
    ("cmnd-vanishing-cross-section", lambda w: (
        _generate_cmnd(w, "v.cmnd", "PartonLevel:MPI = off\nWeakSingleBoson:ffbar2gmZ = on\n"
                       "23:onMode = off\n", "--events", "5"),
        "v.cmnd [line 2]: Pythia cannot make events with these settings: all processes have "
        "vanishing cross sections")),
    ("cmnd-les-houches-input", lambda w: (
        _generate_cmnd(w, "l.cmnd", "Beams:frameType = 4\nBeams:LHEF = x.lhe\n", "--events", "5"),
        "l.cmnd [line 1]")),
    ("cmnd-subrun", lambda w: (
        _generate_cmnd(w, "s.cmnd", GOOD_CMND + "Main:subrun = 1\n", "--events", "5"),
        "s.cmnd [line 3]: subruns")),
    ("cmnd-zero-events", lambda w: (
        _generate_cmnd(w, "z.cmnd", GOOD_CMND + "Main:numberOfEvents = 0\n"),
        "z.cmnd [line 3]")),
    ("cmnd-no-event-count", lambda w: (
        _generate_cmnd(w, "c.cmnd", GOOD_CMND), "c.cmnd: give --events")),
    ("cmnd-only-comments", lambda w: (
        _generate_cmnd(w, "e.cmnd", "! nothing\n# at all\n", "--events", "5"),
        "e.cmnd: no settings")),
    ("cmnd-built-in-name", lambda w: (
        _generate_cmnd(w, "minbias.cmnd", GOOD_CMND, "--events", "5"), "minbias.cmnd [name]")),
    ("cmnd-missing", lambda w: (
        ["generate", "--pythia-cmnd", str(w / "none.cmnd"), "--events", "5", "--out",
         str(w / "g")], "none.cmnd: no such Pythia command file")),
    ("cmnd-and-sample", lambda w: (
        ["generate", "minbias", "--pythia-cmnd", str(_file(w / "x.cmnd", GOOD_CMND)),
         "--events", "5", "--out", str(w / "g")], "give one of")),
    # -- HepMC files: every event read before anything is written
    ("hepmc-truncated-in-an-event", lambda w: (
        _generate_hepmc(w, _hepmc_edit(w, "t.hepmc3", _cut_mid)),
        "t.hepmc3 [event 2 in the file]: truncated or corrupt after event 0")),
    ("hepmc-truncated-between-events", lambda w: (
        _generate_hepmc(w, _hepmc_edit(w, "b.hepmc3", _cut_after)),
        "b.hepmc3 [event 3 in the file]: truncated: the file ends after event 1")),
    ("hepmc-no-final-state", lambda w: (
        _generate_hepmc(w, _hepmc_edit(w, "f.hepmc3", _no_final)),
        "f.hepmc3 [event 1]: event 1 (the 2nd in the file) has no final-state particles")),
    ("hepmc-negative-weight", lambda w: (
        _generate_hepmc(w, _hepmc_edit(w, "w.hepmc3", _negative_weight)),
        "w.hepmc3 [event 1]: event 1 (the 2nd in the file) has weight -1")),
    ("hepmc-nan-momentum", lambda w: (
        _generate_hepmc(w, _hepmc_edit(w, "m.hepmc3", _nan_momentum)),
        "m.hepmc3 [event 2]: event 2 (the 3rd in the file) has a NaN")),
    ("hepmc-not-hepmc", lambda w: (
        _generate_hepmc(w, _file(w / "x.hepmc3", "E 1 2 3\n")), "x.hepmc3: not HepMC3")),
    ("hepmc-empty-file", lambda w: (
        _generate_hepmc(w, _file(w / "e.hepmc3", "")), "e.hepmc3: empty")),
    ("hepmc-missing", lambda w: (
        _generate_hepmc(w, w / "none.hepmc3"), "none.hepmc3: no such HepMC file")),
    ("hepmc-more-events-than-the-file", lambda w: (
        _generate_hepmc(w, _good_hepmc(w / "g3.hepmc3"), "--events", "4"),
        "g3.hepmc3 [events]: 4 events asked for, the files hold 3")),
    ("hepmc-given-twice", lambda w: (
        ["generate", "--hepmc", str(_good_hepmc(w / "d.hepmc3")), str(w / "." / "d.hepmc3"),
         "--out", str(w / "g")], "given twice")),
    # -- the efficiency table
    ("efficiency-signal-not-a-production", lambda w: (
        ["efficiency", "--signal", str(_mkdir(w / "empty")), "--out", str(w / "e")],
        "not an l1t production")),
]


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


@pytest.mark.parametrize("case", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_user_input_is_one_line_exit_2_and_writes_nothing(case, tmp_path, request):
    work = tmp_path / "case"
    work.mkdir()
    argv, expected = case(work)
    before = _snapshot(tmp_path)
    run = run_l1t(argv, work)
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 2, (run.returncode, run.stdout, run.stderr)
    assert "Traceback" not in run.stderr + run.stdout
    assert run.stdout == ""
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("l1t: error: ") and expected in lines[0], lines[0]
    assert _snapshot(tmp_path) == before, "files were created or changed"
