"""Trigger menus as data: a YAML file of named seeds (see ``trigger/menus/lecture.yaml``).

Grammar of a seed (every part optional; the parts present must all hold, i.e. AND)::

    L1_Name:
      prescale: 1            # >= 0, two decimals (fractional prescales use a counter); 0 disables
      legs:                  # each leg takes a distinct object
        - {object: muon|electron|photon|egamma|tau|jet|tkmuon|tkelectron|tkphoton|puppijet,
           pt: GeV (inclusive), eta: max |eta|, eta_min: min |eta|, quality: min hwQual,
           iso: true (hwIso == 1), charge: +1|-1}
      cross:                 # cuts between two legs (all leg pairs unless `legs: [i, j]`)
        - {legs: [0, 1], dr: [min, max], mass: [min, max] GeV, deta: max, dz: max cm,
           opposite_charge: true}
      sums:
        - {type: ETT|HT|MET|MHT|METHF|PuppiETT|PuppiHT|PuppiMET|PuppiMHT, min: GeV}

Objects ``tkmuon``, ``tkelectron``, ``tkphoton`` and ``puppijet`` and the ``Puppi*`` sums are the
Phase-2 objects (``L1TkMu``, ``L1TkEle``, ``L1TkEm``, ``L1PuppiJet``, ``L1PuppiSum``); ``dz`` (the
distance in z0 between two legs' objects, cm) needs objects with a track (``tkmuon``,
``tkelectron``).
      anomaly:               # a cut on a deployable model's score: fires when score >= min
        - {model: DIR (relative to the menu file), score: axo|rz|kl, min: threshold}
      and: [condition, ...]  # conditions have the same grammar as a seed, without prescale
      or: [condition, ...]
      not: condition

Every deployable kind with scores (:func:`l1t.firmware.deployable.score_kinds`; today
``anomaly``) is such a condition key. A deployable model that replaces a field of an L1
collection (the muon pT net: ``L1Mu.pt``) is named at the top of the menu, and every leg on
that collection then reads the model's firmware value::

    assign:
      - DIR                  # a model directory (relative to the menu file), one per collection

A malformed menu raises :class:`~l1t.core.errors.L1TInputError` naming the file, the line and
the field.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from l1t.core.checks import Checker
from l1t.core.errors import L1TInputError
from l1t.core.yamlio import load_yaml, parse_yaml
from l1t.datasets.schema import ET_TOTAL, HT, MET, MET_HF, MHT
from l1t.firmware.deployable import Replaces, get_deployable, kind_of, score_kinds

MENUS_DIR = Path(__file__).with_name("menus")
DEFAULT_MENU = MENUS_DIR / "lecture.yaml"

#: Leg object → L1 collection.
OBJECTS = {"muon": "L1Mu", "electron": "L1EG", "photon": "L1EG", "egamma": "L1EG",
           "tau": "L1Tau", "jet": "L1Jet", "tkmuon": "L1TkMu", "tkelectron": "L1TkEle",
           "tkphoton": "L1TkEm", "puppijet": "L1PuppiJet"}
#: Objects with a quality word (``quality:``), with an isolation bit (``iso:``), with a z0 (``dz``).
QUALITY_OBJECTS = {"muon", "tkmuon"}
ISO_OBJECTS = {"electron", "photon", "egamma", "tau", "tkelectron", "tkphoton"}
Z0_OBJECTS = {"tkmuon", "tkelectron"}
CHARGE_OBJECTS = {"muon", "tkmuon"}
#: Sum type → (collection, etSumType).
SUMS = {"ETT": ("L1EtSum", ET_TOTAL), "HT": ("L1EtSum", HT), "MET": ("L1EtSum", MET),
        "MHT": ("L1EtSum", MHT), "METHF": ("L1EtSum", MET_HF),
        "PuppiETT": ("L1PuppiSum", ET_TOTAL), "PuppiHT": ("L1PuppiSum", HT),
        "PuppiMET": ("L1PuppiSum", MET), "PuppiMHT": ("L1PuppiSum", MHT)}
SUM_TYPES = {name: code for name, (_, code) in SUMS.items()}


@dataclass(frozen=True)
class Leg:
    object: str
    pt: float
    eta: float | None = None
    eta_min: float | None = None
    quality: int | None = None
    iso: bool = False
    charge: int | None = None

    @property
    def collection(self) -> str:
        return OBJECTS[self.object]

    def cut_key(self) -> tuple:
        """Everything but the pT threshold: legs with equal keys select from the same objects."""
        return (self.object, self.eta, self.eta_min, self.quality, self.iso, self.charge)


@dataclass(frozen=True)
class Cross:
    legs: tuple[int, int] | None = None
    dr: tuple[float, float] | None = None
    mass: tuple[float, float] | None = None
    deta: float | None = None
    dz: float | None = None       # cm, |Δz0| between the legs' objects
    opposite_charge: bool = False


@dataclass(frozen=True)
class SumCut:
    type: str
    min: float

    @property
    def code(self) -> int:
        return SUM_TYPES[self.type]

    @property
    def collection(self) -> str:
        return SUMS[self.type][0]


@dataclass(frozen=True)
class ModelCut:
    """A cut on a score of a saved deployable model of kind ``kind`` (``anomaly``: the scores
    of ``l1t.models.anomaly.vae.AnomalyModel``)."""

    kind: str
    model: str          # model directory (absolute)
    score: str
    min: float


@dataclass(frozen=True)
class Condition:
    legs: tuple[Leg, ...] = ()
    cross: tuple[Cross, ...] = ()
    sums: tuple[SumCut, ...] = ()
    models: tuple[ModelCut, ...] = ()
    all_of: tuple["Condition", ...] = ()
    any_of: tuple["Condition", ...] = ()
    none_of: "Condition | None" = None

    @property
    def children(self) -> tuple["Condition", ...]:
        """The conditions directly inside this one: ``and``, then ``or``, then ``not``."""
        return (*self.all_of, *self.any_of, *((self.none_of,) if self.none_of else ()))

    def walk(self):
        """This condition and every condition inside it, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()

    def thresholds(self) -> list[float]:
        """All thresholds, depth first (the first is the seed's reference threshold)."""
        out = [leg.pt for leg in self.legs] + [s.min for s in self.sums] + \
            [a.min for a in self.models]
        for child in (*self.all_of, *self.any_of):
            out += child.thresholds()
        return out

    def threshold_is_score(self) -> list[bool]:
        """For each of :meth:`thresholds`: True for a model-score threshold (not in GeV)."""
        out = [False] * (len(self.legs) + len(self.sums)) + [True] * len(self.models)
        for child in (*self.all_of, *self.any_of):
            out += child.threshold_is_score()
        return out

    def scaled(self, factor: float) -> "Condition":
        """The same condition with every pT / sum threshold multiplied by ``factor``."""
        return Condition(
            tuple(Leg(**{**leg.__dict__, "pt": leg.pt * factor}) for leg in self.legs),
            self.cross, tuple(SumCut(s.type, s.min * factor) for s in self.sums),
            tuple(ModelCut(a.kind, a.model, a.score, a.min * factor) for a in self.models),
            tuple(c.scaled(factor) for c in self.all_of),
            tuple(c.scaled(factor) for c in self.any_of), self.none_of)


@dataclass(frozen=True)
class Seed:
    name: str
    condition: Condition
    prescale: float = 1.0
    line: int = 0

    @property
    def reference_threshold(self) -> float | None:
        """The threshold a rate scan moves (all thresholds scale together with it)."""
        t = self.condition.thresholds()
        return t[0] if t else None

    @property
    def reference_is_score(self) -> bool:
        kinds = self.condition.threshold_is_score()
        return bool(kinds and kinds[0])


@dataclass(frozen=True)
class Menu:
    name: str
    seeds: tuple[Seed, ...]
    path: str = ""
    assign: tuple[str, ...] = ()     # model directories (absolute) replacing collection fields

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.seeds]

    def seed(self, name: str) -> Seed:
        for s in self.seeds:
            if s.name == name:
                return s
        raise L1TInputError(self.path or self.name, f"no seed {name!r} in the menu (seeds: "
                            f"{', '.join(self.names)})", "seeds")

    def with_seeds(self, seeds: list[Seed]) -> "Menu":
        return Menu(self.name, tuple(seeds), self.path, self.assign)

    def with_assign(self, model_dirs) -> "Menu":
        """The menu with these models (directories) assigning collection fields as well, checked
        as the menu's own ``assign:`` entries are."""
        p = _Parser(self.path or self.name)
        extra = tuple(p.assigned_model(str(d), None, f"assign[{i}]")
                      for i, d in enumerate(model_dirs))
        return Menu(self.name, self.seeds, self.path, p.unique_assign(self.assign + extra))


def load_menu(path: str | Path | None = None) -> Menu:
    """Load and check a menu file (default: ``trigger/menus/lecture.yaml``)."""
    path = Path(path) if path is not None else DEFAULT_MENU
    return _menu_from(load_yaml(path, "menu"), str(path))


def parse_menu(text: str, source: str = "menu") -> Menu:
    """Parse and check menu YAML text; ``source`` names the file in errors and anchors model paths."""
    return _menu_from(parse_yaml(text, source), source)


def _menu_from(data, source: str) -> Menu:
    p = _Parser(source)
    if not isinstance(data, dict):
        raise L1TInputError(source, "line 1: a menu is a mapping with 'seeds'", "seeds")
    p.keys(data, {"name", "seeds", "description", "assign"}, "")
    seeds_map = data.get("seeds")
    if not isinstance(seeds_map, dict) or not seeds_map:
        raise L1TInputError(source, f"line {p.line(data, 'seeds')}: 'seeds' must be a non-empty "
                            "mapping of seed names", "seeds")
    seeds = []
    for name, body in seeds_map.items():
        where = f"seeds.{name}"
        if not isinstance(name, str) or not name:
            p.fail(seeds_map, name, "seed names are non-empty strings", where)
        if not isinstance(body, dict):
            p.fail(seeds_map, name, "a seed is a mapping (legs, sums, ...)", where)
        prescale = p.number(body, "prescale", where) if "prescale" in body else 1.0
        if prescale not in (0, 1) and abs(round(prescale * 100) - prescale * 100) > 1e-6:
            p.fail(body, "prescale", "prescales have at most two decimals", f"{where}.prescale")
        if 0 < prescale < 1:
            p.fail(body, "prescale", "a prescale is 0 (off) or >= 1", f"{where}.prescale")
        cond = p.condition(body, where, line=seeds_map.lines.get(name, 0),
                           extra=("prescale", "description"))
        seeds.append(Seed(name, cond, float(prescale), seeds_map.lines.get(name, 0)))
    name = p.string(data, "name", "") if "name" in data else Path(source).stem
    assign = tuple(p.assigned_model(x, data, f"assign[{i}]")
                   for i, x in enumerate(p.listof(data, "assign", "")))
    return Menu(name, tuple(seeds), source, p.unique_assign(assign))


class _Parser(Checker):
    """The menu grammar on top of the shared field checks."""

    def condition(self, mapping, where, line=0, extra=()) -> Condition:
        kinds = score_kinds()
        if not isinstance(mapping, dict):
            raise L1TInputError(self.source, f"line {line}: a condition is a mapping", where)
        self.keys(mapping, {"legs", "cross", "sums", *kinds, "and", "or", "not", *extra}, where)
        parts = ("legs", "sums", *kinds, "and", "or", "not")
        if not any(k in mapping for k in parts):
            raise L1TInputError(self.source, f"line {getattr(mapping, 'line', line)}: empty "
                                f"condition (give {', '.join(parts[:-1])} or not)", where)
        legs = tuple(self.leg(x, mapping, f"{where}.legs[{i}]")
                     for i, x in enumerate(self.listof(mapping, "legs", where)))
        sums = tuple(self.sum(x, mapping, f"{where}.sums[{i}]")
                     for i, x in enumerate(self.listof(mapping, "sums", where)))
        models = tuple(self.model_cut(kind, x, mapping, f"{where}.{kind}[{i}]")
                       for kind in kinds
                       for i, x in enumerate(self.listof(mapping, kind, where)))
        cross_raw = mapping.get("cross", [])
        cross_list = [cross_raw] if isinstance(cross_raw, dict) else self.listof(mapping, "cross", where)
        cross = tuple(self.cross(x, mapping, f"{where}.cross[{i}]", legs)
                      for i, x in enumerate(cross_list))
        if cross and len(legs) < 2:
            self.fail(mapping, "cross", "cross cuts need at least two legs", f"{where}.cross")
        all_of = tuple(self.condition(x, f"{where}.and[{i}]", self.line(mapping, "and"))
                       for i, x in enumerate(self.listof(mapping, "and", where)))
        any_of = tuple(self.condition(x, f"{where}.or[{i}]", self.line(mapping, "or"))
                       for i, x in enumerate(self.listof(mapping, "or", where)))
        none_of = (self.condition(mapping["not"], f"{where}.not", self.line(mapping, "not"))
                   if "not" in mapping else None)
        return Condition(legs, cross, sums, models, all_of, any_of, none_of)

    def leg(self, x, parent, where) -> Leg:
        if not isinstance(x, dict):
            self.fail(parent, "legs", "a leg is a mapping {object: ..., pt: ...}", where)
        self.keys(x, {"object", "pt", "eta", "eta_min", "quality", "iso", "charge"}, where)
        obj = x.get("object")
        if not isinstance(obj, str) or obj not in OBJECTS:
            self.fail(x, "object", f"unknown object {obj!r} (known: {', '.join(OBJECTS)})",
                      f"{where}.object")
        if "pt" not in x:
            self.fail(x, "object", "a leg needs a pt threshold", f"{where}.pt")
        kw = {"object": obj, "pt": self.number(x, "pt", where)}
        for key in ("eta", "eta_min"):
            if key in x:
                kw[key] = self.number(x, key, where)
        if "quality" in x:
            if obj not in QUALITY_OBJECTS:
                self.fail(x, "quality", "quality applies to muon and tkmuon legs",
                          f"{where}.quality")
            kw["quality"] = self.number(x, "quality", where, integer=True)
        if "iso" in x:
            if not isinstance(x["iso"], bool) or obj not in ISO_OBJECTS:
                self.fail(x, "iso", "iso is true/false on e/gamma, tau, tkelectron and tkphoton "
                          "legs", f"{where}.iso")
            kw["iso"] = x["iso"]
        if "charge" in x:
            if isinstance(x["charge"], bool) or x["charge"] not in (1, -1) or \
                    obj not in CHARGE_OBJECTS:
                self.fail(x, "charge", "charge is +1 or -1 on muon and tkmuon legs",
                          f"{where}.charge")
            kw["charge"] = int(x["charge"])
        return Leg(**kw)

    def sum(self, x, parent, where) -> SumCut:
        if not isinstance(x, dict):
            self.fail(parent, "sums", "a sum cut is a mapping {type: ..., min: ...}", where)
        self.keys(x, {"type", "min"}, where)
        if not isinstance(x.get("type"), str) or x["type"] not in SUM_TYPES:
            self.fail(x, "type", f"unknown sum type {x.get('type')!r} (known: {', '.join(SUM_TYPES)})",
                      f"{where}.type")
        if "min" not in x:
            self.fail(x, "type", "a sum cut needs min", f"{where}.min")
        return SumCut(x["type"], self.number(x, "min", where))

    def model_dir(self, x, path, kind: str, where: str) -> str:
        """The absolute directory of a model named in the menu (relative to the menu file), which
        must hold a model of ``kind`` (None: any kind that replaces a field)."""
        if not isinstance(path, str) or not path or "\0" in path:
            self.fail(x, "model", "model is the path of a model directory", where)
        model = Path(path)
        if not model.is_absolute():
            base = Path(self.source).parent if self.source not in ("menu", "") else Path.cwd()
            model = (base / model).resolve()
        if not (model / "model.json").exists():
            self.fail(x, "model", f"no {kind or 'deployable'} model at {model} (model.json "
                      "missing)", where)
        found = kind_of(model)
        if kind is not None and found.name != kind:
            self.fail(x, "model", f"{model} holds a {found.name} model, not {kind}", where)
        if kind is None and not isinstance(found.output, Replaces):
            self.fail(x, "model", f"{model} holds a {found.name} model, which gives scores to "
                      f"cut on (a `{found.name}:` condition), not a field to assign", where)
        return str(model)

    def model_cut(self, kind: str, x, parent, where) -> ModelCut:
        names = get_deployable(kind).output.names
        if not isinstance(x, dict):
            self.fail(parent, kind, f"a {kind} cut is a mapping {{model, score, min}}", where)
        self.keys(x, {"model", "score", "min"}, where)
        for key in ("model", "min"):
            if key not in x:
                self.fail(x, "model", f"a {kind} cut needs {key}", f"{where}.{key}")
        score = x.get("score", get_deployable(kind).output.default)
        if not isinstance(score, str) or score not in names:
            self.fail(x, "score", f"unknown score {score!r} (known: {', '.join(names)})",
                      f"{where}.score")
        model = self.model_dir(x, x["model"], kind, f"{where}.model")
        return ModelCut(kind, model, score, self.number(x, "min", where))

    def assigned_model(self, x, parent, where) -> str:
        """An entry of ``assign:``: a model directory (or ``{model: DIR}``)."""
        path = x.get("model") if isinstance(x, dict) else x
        if isinstance(x, dict):
            self.keys(x, {"model"}, where)
        return self.model_dir(x if isinstance(x, dict) else parent, path, None, where)

    def unique_assign(self, dirs: tuple[str, ...]) -> tuple[str, ...]:
        """``dirs`` without repeats; two models assigning the same collection are refused."""
        out: dict[str, str] = {}
        for d in dict.fromkeys(dirs):
            coll = kind_of(d).output.collection
            if coll in out:
                raise L1TInputError(self.source, f"two models assign {coll}: {out[coll]} and {d}",
                                    "assign")
            out[coll] = d
        return tuple(out.values())

    def cross(self, x, parent, where, legs) -> Cross:
        n_legs = len(legs)
        if not isinstance(x, dict):
            self.fail(parent, "cross", "a cross cut is a mapping", where)
        self.keys(x, {"legs", "dr", "mass", "deta", "dz", "opposite_charge"}, where)
        kw = {}
        if "legs" in x:
            v = x["legs"]
            if not (isinstance(v, list) and len(v) == 2 and all(isinstance(i, int) for i in v)
                    and v[0] != v[1] and all(0 <= i < n_legs for i in v)):
                self.fail(x, "legs", f"legs must be two different leg indices < {n_legs}",
                          f"{where}.legs")
            kw["legs"] = (v[0], v[1])
        for key in ("dr", "mass"):
            if key in x:
                kw[key] = self.window(x, key, where)
        if "deta" in x:
            kw["deta"] = self.number(x, "deta", where)
        if "dz" in x:
            kw["dz"] = self.number(x, "dz", where)
            pair = kw.get("legs") or tuple(range(n_legs))
            lacking = sorted({legs[i].object for i in pair} - Z0_OBJECTS)
            if lacking:
                self.fail(x, "dz", f"dz needs legs with a track z0 ({', '.join(sorted(Z0_OBJECTS))}"
                          f"); {', '.join(lacking)} has none", f"{where}.dz")
        if "opposite_charge" in x:
            if not isinstance(x["opposite_charge"], bool):
                self.fail(x, "opposite_charge", "opposite_charge is true/false",
                          f"{where}.opposite_charge")
            kw["opposite_charge"] = x["opposite_charge"]
        return Cross(**kw)
