"""The named samples: Pythia8 (pp at 14 TeV, Tune:pp 14 unless a sample says otherwise) and a
muon gun; and a user's own samples, made from a Pythia command file
(:func:`l1t.datasets.pythia.read_command_file`) or HepMC3 event files
(:func:`l1t.datasets.hepmc.hepmc_sample`).

Each sample is data: a list of Pythia settings, a one-line description and whether its events
carry weights. Add a sample by adding an entry to :data:`SAMPLES`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from l1t.core.errors import L1TInputError

#: Settings every sample gets (beams, tune, quiet output).
COMMON_SETTINGS: tuple[str, ...] = (
    "Beams:eCM = 14000",
    "Tune:pp = 14",
    "Print:quiet = on",
    "Next:numberCount = 0",
)


@dataclass(frozen=True)
class Origin:
    """Where a user's sample comes from, recorded in its production's manifest: the files as
    given, their sha256 (the production's identity: a rerun with other contents is refused),
    a command file's text, the events of each HepMC3 file and the cross section each gives."""

    kind: str                              #: ``pythia-cmnd`` or ``hepmc3``
    files: tuple[str, ...]
    sha256: tuple[str, ...]
    text: str = ""
    events: tuple[int, ...] = ()
    sigma_mb: tuple[float, ...] = ()

    def parameters(self) -> dict:
        """What identifies the input (compared when a production resumes): kind and contents,
        not where the files lie."""
        out = {"kind": self.kind, "sha256": list(self.sha256)}
        if self.events:
            out["events"] = list(self.events)
        return out

    def record(self) -> dict:
        """Everything, for the manifest."""
        out = {"kind": self.kind, "files": list(self.files), "sha256": list(self.sha256)}
        if self.text:
            out["text"] = self.text
        if self.events:
            out["events"] = list(self.events)
            out["sigma_mb"] = list(self.sigma_mb)
        return out


@dataclass(frozen=True)
class Sample:
    """A generator configuration. ``weighted`` samples carry Pythia event weights (``weight``)."""

    name: str
    description: str
    settings: tuple[str, ...]
    weighted: bool = False
    tags: tuple[str, ...] = field(default_factory=tuple)
    #: what makes the hard interaction: ``pythia`` (the settings) or a particle gun
    #: (``l1t.datasets.production.GENERATORS``)
    generator: str = "pythia"
    #: crossings of Poisson(μ) interactions in all, the hard one among them (not added to them)
    zero_bias: bool = False
    #: detector settings this sample changes (``DetectorConfig`` field → value)
    detector: tuple[tuple[str, float], ...] = ()
    #: a user's sample: what it was made from (None for the built-in ones)
    origin: Origin | None = None
    #: the file errors name (a command file; the first HepMC3 file)
    source: str = ""
    #: the default number of events (a command file's ``Main:numberOfEvents``; the events of
    #: HepMC3 files)
    events: int | None = None
    #: HepMC3 samples: the directory of the converted events the chunks read
    #: (:func:`l1t.datasets.hepmc.convert`, set when a production prepares them)
    store: str = ""


def _bsm(*lines: str) -> tuple[str, ...]:
    return ("Higgs:useBSM = on",) + lines


SAMPLES: dict[str, Sample] = {s.name: s for s in [
    Sample("minbias", "inelastic pp (SoftQCD:inelastic), the pileup and zero-bias sample",
           ("SoftQCD:inelastic = on",), tags=("background",), zero_bias=True),
    # the boost (an estimate: enough decay muons in the single-muon tail at pileup 200 with the
    # weights near 1): at p = 10 GeV a pion decays within 2 m with 0.36%, a kaon with 1.7%
    # (cτ 7.80 m and 3.71 m, BR(K → μν) 63.6%, PDG), so 50x (capped at 50%); the rate it gives
    # is checked against plain zero-bias crossings in the tests
    Sample("minbias_mu", "zero-bias crossings enriched in muons: decays in flight of pi/K "
                         "above 8 GeV made 50x likelier (at most 50%) and weighted back",
           ("SoftQCD:inelastic = on",), tags=("background",), zero_bias=True,
           detector=(("mu_decay_boost", 50.0), ("mu_boost_min_pt", 8.0),
                     ("mu_boost_max", 0.5))),
    Sample("w_lnu", "W -> l nu (e, mu, tau)",
           ("WeakSingleBoson:ffbar2W = on", "24:onMode = off", "24:onIfAny = 11 13 15"),
           tags=("background",)),
    Sample("z_ll", "Z -> l l (e, mu, tau), 60 < m(ll) < 120 GeV",
           ("WeakSingleBoson:ffbar2gmZ = on", "WeakZ0:gmZmode = 2", "PhaseSpace:mHatMin = 60",
            "PhaseSpace:mHatMax = 120", "23:onMode = off", "23:onIfAny = 11 13 15"),
           tags=("background",)),
    Sample("ttbar", "top pair production, all decays",
           ("Top:gg2ttbar = on", "Top:qqbar2ttbar = on"), tags=("background",)),
    Sample("qcd", "hard-QCD 2->2 with pT-hat > 15 GeV, biased as pT-hat^4 and weighted back "
                  "(rate tails); event weight x sigma_mb / sum(weight) is the cross section",
           ("HardQCD:all = on", "PhaseSpace:pTHatMin = 15", "PhaseSpace:bias2Selection = on",
            "PhaseSpace:bias2SelectionPow = 4", "PhaseSpace:bias2SelectionRef = 15"),
           weighted=True, tags=("background",)),
    Sample("qcd_pt15", "hard-QCD 2->2 with pT-hat > 15 GeV, unweighted (the ADC2021-style "
                       "QCD background)",
           ("HardQCD:all = on", "PhaseSpace:pTHatMin = 15"), tags=("background",)),
    Sample("a50_4l", "A(50 GeV) -> Z Z* -> 4 l (e, mu) via gg fusion (ADC2021 signal)",
           _bsm("HiggsBSM:gg2A3 = on", "36:m0 = 50", "HiggsA3:coup2Z = 1.0", "36:onMode = off",
                "36:onIfMatch = 23 23", "23:mMin = 2", "23:onMode = off", "23:onIfAny = 11 13"),
           tags=("signal",)),
    Sample("lq80_btau", "leptoquark pairs, LQ(80 GeV, charge 2/3) -> b tau (ADC2021 signal)",
           ("LeptoQuark:gg2LQLQbar = on", "LeptoQuark:qqbar2LQLQbar = on", "42:m0 = 80",
            "42:chargeType = 2", "42:oneChannel = 1 1.0 0 5 -15"), tags=("signal",)),
    Sample("h60_tautau", "neutral scalar h0(60 GeV) -> tau tau via gg fusion (ADC2021 signal)",
           _bsm("HiggsBSM:gg2H2 = on", "35:m0 = 60", "35:onMode = off", "35:onIfAny = 15"),
           tags=("signal",)),
    Sample("hpm60_taunu", "charged scalar h+-(60 GeV) -> tau nu, b g -> H+- t (ADC2021 signal)",
           _bsm("HiggsBSM:bg2H+-t = on", "37:m0 = 60", "37:onMode = off", "37:onIfAny = 15"),
           tags=("signal",)),
    Sample("muon_gun", "single muons flat in q/pT from 2 GeV to 1 TeV, both charges, |eta| < 2.4 "
                       "(training the muon pT assignment)", (), tags=("gun",),
           generator="muon_gun"),
]}


def user_sample_name(name: str, source: object) -> str:
    """The name of a user's sample (its file's stem), refused when empty or when it is a
    built-in sample's: the trigger tells zero-bias and weighted-QCD productions by name."""
    if not name or name.startswith("."):
        raise L1TInputError(source, f"cannot name a sample {name!r} after this file", "name")
    if name in SAMPLES:
        raise L1TInputError(source, f"the file's stem {name!r} is a built-in sample's name; "
                            "rename the file", "name")
    return name


def get_sample(name: str) -> Sample:
    """Look a sample up by name; an unknown name lists the known ones."""
    try:
        return SAMPLES[name]
    except KeyError:
        raise L1TInputError("sample", f"unknown sample {name!r}; known: {', '.join(SAMPLES)}",
                            "name") from None
