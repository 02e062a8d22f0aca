"""``l1t report RUN_DIR --out report.html``: one self-contained HTML page of a run.

The page is built from the files a run wrote, found anywhere under ``RUN_DIR``; each kind of file
is one entry of a small registry (:func:`register_section`): the JSON ``format`` tags it
renders (or its file names, for files without a tag), its section's title and place, and a
function turning one file into a :class:`Block` (tables, pre-formatted tables the commands
print, images). A section appears when at least one of its files exists and gives a block;
a section without blocks is left out, so the page never has an empty one. Images are PNG files
the run wrote next to its JSON, or plots drawn here from the JSON (the anomaly efficiency vs
background FPR, the latency budget bars per path), inlined as base64 ``data:`` URIs: the page
needs nothing else. The layout is a jinja2 template (``templates/report.html.j2``).

Sections (in page order): productions (``manifest.json``), menu rates (``rates.json``),
turn-ons (``turn_ons.json``), anomaly detection (``model.json`` of a VAE), muon pT (the muon
``performance.json``), LAr energy (``l1t-lar-performance``), firmware bit-exactness
(``check.json``, ``validate.json``), latency budget (``stream.json``), profiling
(``profile.json``).
"""
from __future__ import annotations

import base64
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from l1t.core.errors import L1TInputError
from l1t.core.files import atomic_write, read_json

TEMPLATE = "report.html.j2"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@dataclass
class Table:
    """An HTML table: header cells and rows of cell texts."""

    header: list[str]
    rows: list[list[str]]
    caption: str | None = None


@dataclass
class Image:
    """A PNG as a ``data:`` URI with its caption."""

    caption: str
    uri: str


@dataclass
class Block:
    """What one file gives its section: its path (relative to the run), a line of text,
    tables, pre-formatted text tables (as the commands print them) and images."""

    source: str
    summary: str | None = None
    tables: list[Table] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    images: list[Image] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.tables or self.texts or self.images)


@dataclass(frozen=True)
class SectionKind:
    """A registered kind of file: ``formats`` (JSON ``format`` tags) or ``names`` (file names)
    it takes, ``render(path, data, run_dir) -> Block | None``, its ``title`` and ``order``."""

    key: str
    title: str
    order: int
    render: Callable[[Path, Any, Path], Block | None]
    formats: tuple[str, ...] = ()
    names: tuple[str, ...] = ()


@dataclass
class Section:
    key: str
    title: str
    blocks: list[Block]


@dataclass
class ReportResult:
    """The written page: its path, the sections it holds, the images inlined."""

    path: Path
    sections: list[str]
    images: int


_SECTIONS: dict[str, SectionKind] = {}


def register_section(kind: SectionKind, *, replace: bool = False) -> SectionKind:
    """Add a kind of file to the report (a key taken is refused unless ``replace``)."""
    if kind.key in _SECTIONS and not replace:
        raise ValueError(f"report section {kind.key!r} is already registered")
    _SECTIONS[kind.key] = kind
    return kind


def section_kinds() -> list[SectionKind]:
    return sorted(_SECTIONS.values(), key=lambda k: k.order)


# --------------------------------------------------------------------------- helpers

def png_uri(png: bytes) -> str:
    """A ``data:image/png;base64,…`` URI."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def file_image(path: Path, caption: str) -> Image | None:
    """The PNG at ``path`` as an :class:`Image` (None when absent or not a PNG)."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    return Image(caption, png_uri(data)) if data.startswith(_PNG_MAGIC) else None


def _images(base: Path, names: list[tuple[str, str]]) -> list[Image]:
    return [img for name, cap in names if (img := file_image(base / name, cap)) is not None]


def _fig():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 3.6), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _fig_uri(fig) -> str:
    from l1t.trigger.report import png_bytes

    return png_uri(png_bytes(fig))


def _f(v: Any, fmt: str = ".3g") -> str:
    return "-" if v is None else format(v, fmt)


# --------------------------------------------------------------------------- sections

def _productions(path: Path, m: dict, run: Path) -> Block | None:
    from l1t.datasets.production import read_manifest

    m = read_manifest(path.parent)
    p = m["parameters"]
    return Block(str(path.parent.relative_to(run)), m.get("description"), tables=[Table(
        ["sample", "crossings", "pileup", "seed", "chunks", "format", "sigma [mb]"],
        [[p["sample"], str(m["events_done"]), f"{p['pileup']:g}", str(p["seed"]),
          str(len(m["chunks"])), p["format"], _f(m.get("sigma_mb"), ".4g")]])])


def _rates(path: Path, data: dict, run: Path) -> Block | None:
    from l1t.trigger.report import rate_table_text, read_rates

    summary = read_rates(path)
    return Block(str(path.relative_to(run)), f"menu {summary.get('menu', {}).get('name', '')}"
                 if isinstance(summary.get("menu"), dict) else None,
                 texts=[rate_table_text(summary)],
                 images=_images(path.parent, [("rate_vs_threshold.png", "rate vs threshold"),
                                              ("overlap.png", "seed overlaps"),
                                              ("rate_vs_pileup.png", "rate vs pileup")]))


def _turn_ons(path: Path, data: Any, run: Path) -> Block | None:
    from l1t.trigger.efficiency import read_turn_ons, turn_on_table_text

    results = read_turn_ons(path)
    if not results:
        return None
    return Block(str(path.relative_to(run)), texts=[turn_on_table_text(results)],
                 images=_images(path.parent, [("turn_ons.png", "efficiency vs generator pT")]))


def _anomaly(path: Path, data: dict, run: Path) -> Block | None:
    from l1t.models.anomaly.evaluation import FPRS
    from l1t.models.anomaly.train import efficiency_table
    from l1t.models.anomaly.vae import MODEL_CONTRACT

    meta = MODEL_CONTRACT.read(path)
    arch = meta.get("architecture", {})
    q = meta.get("quantization") or {}
    block = Block(str(path.parent.relative_to(run)), "VAE anomaly encoder " + " → ".join(
        map(str, [arch.get("inputs"), *arch.get("hidden", []), arch.get("latent")])))
    block.tables.append(Table(["input type", "weights", "training crossings", "score"], [[
        str(q.get("input", meta.get("input_scaling", {}).get("input_type", "-"))),
        next((str(v.get("weight")) for v in (q.get("layers") or {}).values()), "float"),
        str(meta.get("training", {}).get("train_events", "-")),
        str(meta.get("default_score", "axo"))]]))
    rows = [r for r in meta.get("evaluation", []) if r.get("score") == meta.get("default_score",
                                                                                 "axo")]
    if rows:
        block.texts.append(efficiency_table(meta["evaluation"], meta.get("default_score", "axo")))
        fig = _fig()
        ax = fig.add_subplot()
        curves = all("roc" in r for r in rows)     # models trained before the curve was stored
        for r in rows:
            xs = [f for f in FPRS if f"eff_at_{f:g}" in r]
            line, = ax.plot(xs, [r[f"eff_at_{f:g}"]["efficiency"] for f in xs],
                            "o" if curves else "o-",
                            label=f"{r['signal']} (AUC {r['auc']:.3f})")
            if curves:
                ax.step(r["roc"]["fpr"], r["roc"]["tpr"], where="post", color=line.get_color())
        ax.set_xscale("log")
        ax.set_xlabel("background false-positive rate")
        ax.set_ylabel("signal efficiency")
        ax.set_title("ROC (held-out background; points: the working points)" if curves else
                     "ROC at the working points (held-out background)", fontsize=9)
        ax.legend(fontsize=7)
        block.images.append(Image("signal efficiency vs background FPR", _fig_uri(fig)))
    return block


def _muon(path: Path, data: dict, run: Path) -> Block | None:
    from l1t.trigger.muon_performance import read_performance

    p = read_performance(path)
    rows = []
    for t in p["thresholds"]:
        red = t.get("reduction")
        rows.append([f"{t['threshold_gev']:g}",
                     _f(t["lut"]["pt90_gev"], ".1f"), f"{t['lut']['rate_khz']:.2f} ± "
                     f"{t['lut']['rate_err_khz']:.2f}", _f(t["nn"]["pt90_gev"], ".1f"),
                     f"{t['nn']['rate_khz']:.2f} ± {t['nn']['rate_err_khz']:.2f}",
                     "-" if red is None else f"{red:.2f} ± {t['reduction_err']:.2f}"])
    return Block(str(path.relative_to(run)),
                 f"{p['gun_muons']} gun muons, rates from {p['rate_crossings']} crossings",
                 tables=[Table(["threshold [GeV]", "LUT pT90 [GeV]", "LUT rate [kHz]",
                                "net pT90 [GeV]", "net rate [kHz]", "LUT / net"], rows)],
                 images=_images(path.parent, [("resolution.png", "pT resolution"),
                                              ("turn_on.png", "turn-ons"),
                                              ("rate.png", "single-muon rate")]))


def _lar(path: Path, data: dict, run: Path) -> Block | None:
    from l1t.validation.lar_performance import OF, read_performance

    p = read_performance(path)
    names = [OF, *p["models"]]
    rows = []
    for study, label in (("et", "true ET"), ("pileup_scan", "pileup"), ("train", "train"),
                         ("after_deposit", "after 50 GeV")):
        for r in p[study]:
            rows.append([label, r["label"], str(r["crossings"])]
                        + [f"{r['bias'][n]:+.2f} / {r['sigma'][n]:.2f}" for n in names])
    return Block(str(path.relative_to(run)),
                 f"bias / RMS of reconstructed − true ET [GeV] at <mu> = {p['pileup']:g}, "
                 f"{p['channels']} channels × one orbit; nets in firmware",
                 tables=[Table(["study", "bin", "crossings", *names], rows)],
                 images=_images(path.parent, [("resolution.png", "vs true ET"),
                                              ("pileup.png", "vs pileup"),
                                              ("train.png", "vs position in the train"),
                                              ("after_deposit.png", "after a large deposit")]))


def _generic(path: Path, data: dict, run: Path) -> Block | None:
    """Any performance file: its scalar fields as a table, its plots (``plots`` or the PNGs of
    its directory)."""
    scalars = [[k, str(v)] for k, v in data.items()
               if k not in ("format", "format_version") and isinstance(v, (int, float, str))
               and not isinstance(v, bool)]
    plots = data.get("plots")
    names = ([Path(str(v)).name for v in plots.values()] if isinstance(plots, dict)
             else sorted(p.name for p in path.parent.glob("*.png")))
    block = Block(str(path.relative_to(run)),
                  tables=[Table(["field", "value"], scalars)] if scalars else [],
                  images=_images(path.parent, [(n, Path(n).stem.replace("_", " "))
                                               for n in names]))
    return None if block.empty else block


def _check(path: Path, data: dict, run: Path) -> Block | None:
    from l1t.validation.firmware_check import check_table_text, read_check

    s = read_check(path)
    rows = [[pair, str(r["events"]), str(r["mismatched_events"]), f"{r['max_abs_diff_lsb']:g}",
             "bit-exact" if r["mismatched_events"] == 0 else "DIFFERS"]
            for pair, r in s["pairs"].items()]
    return Block(str(path.relative_to(run)), f"{Path(s['model']).name}: {s['events']} events "
                 f"on {s['input_precision']}",
                 tables=[Table(["pair", "events", "mismatched", "max |diff| [LSB]", ""], rows)],
                 texts=[check_table_text(s)])


def _validate(path: Path, data: dict, run: Path) -> Block | None:
    from l1t.validation.validate import read_validate, validate_table_text

    s = read_validate(path)
    return Block(str(path.relative_to(run)), texts=[validate_table_text(s)],
                 images=_images(path.parent, [(Path(str(m.get("plot", ""))).name,
                                               f"{m.get('name', '')} decision differences")
                                              for m in s.get("models", [])]))


def latency_bars(summary: dict) -> bytes:
    """Per path of a stream summary: its stages' latencies stacked, the budget as a line."""
    import matplotlib

    from l1t.trigger.report import png_bytes

    p = summary["pipeline"]
    check = p["check"]
    stages = {s["name"]: s["latency_ns"] for s in check["stages"]}
    paths = check["paths"]
    fig = _fig()
    fig.set_size_inches(7.5, 0.45 * len(paths) + 1.4)
    ax = fig.add_subplot()
    cmap = matplotlib.colormaps["tab20"]
    colors: dict[str, Any] = {}
    for y, path in enumerate(paths):
        left = 0.0
        for st in path["stages"]:
            new = st not in colors
            c = colors.setdefault(st, cmap(len(colors) % 20))
            w = stages.get(st, 0.0)
            ax.barh(y, w, left=left, color=c, edgecolor="white", lw=0.5,
                    label=st if new else None)
            left += w
        if path.get("alignment_ns"):
            ax.barh(y, path["alignment_ns"], left=left, color="0.8", hatch="//")
    ax.axvline(check["budget_ns"], color="k", ls="--", lw=1, label="budget")
    ax.set_yticks(range(len(paths)), [x["name"] for x in paths], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("latency [ns] (stages stacked; hatched: alignment)")
    ax.set_title(f"{p['name']}: latency per path vs the {check['budget_ns']:.0f} ns budget",
                 fontsize=9)
    ax.legend(fontsize=6, ncol=2, loc="lower right")
    return png_bytes(fig)


def _stream(path: Path, data: dict, run: Path) -> Block | None:
    from l1t.trigger.stream.report import latency_table_text, read_stream, stream_table_text

    s = read_stream(path)
    images = [Image("latency budget per path", png_uri(latency_bars(s)))]
    images += _images(path.parent, [("timeline.png", "the first orbits")])
    return Block(str(path.relative_to(run)), f"{s['orbits']} orbits through {s['pipeline']['name']}",
                 texts=[latency_table_text(s), stream_table_text(s)], images=images)


def _profile(path: Path, data: dict, run: Path) -> Block | None:
    from .profile import profile_table_text, read_profile
    from .split import split_table_text

    p = read_profile(path)
    texts = [profile_table_text(p)] + [split_table_text(s) for s in p.get("splits", [])]
    return Block(str(path.relative_to(run)), f"{len(p['models'])} models on "
                 f"{', '.join(p['backends'])}", texts=texts,
                 images=_images(path.parent, [("latency.png", "time per call vs batch size"),
                                              ("throughput.png", "throughput vs batch size"),
                                              ("layers.png", "time per layer"),
                                              ("split.png", "model split FPGA | CPU")]))


for _kind in (
        SectionKind("samples", "Productions", 10, _productions,
                    formats=("l1t-production-manifest",)),
        SectionKind("rates", "Menu rates", 20, _rates, formats=("l1t-rates",)),
        SectionKind("turn-ons", "Turn-ons", 30, _turn_ons, names=("turn_ons.json",)),
        SectionKind("anomaly", "Anomaly detection", 40, _anomaly, formats=("l1t-vae-anomaly",)),
        SectionKind("muon", "Muon pT assignment", 50, _muon, formats=("l1t-muon-performance",)),
        SectionKind("lar", "LAr energy reconstruction", 60, _lar,
                    formats=("l1t-lar-performance",)),
        SectionKind("firmware", "Firmware bit-exactness", 70, _check,
                    formats=("l1t-firmware-check",)),
        SectionKind("validate", "Firmware in the menu", 75, _validate,
                    formats=("l1t-validate",)),
        SectionKind("latency", "Latency budget", 80, _stream, formats=("l1t-stream",)),
        SectionKind("profile", "Profiling", 90, _profile, formats=("l1t-profile",))):
    register_section(_kind)


# --------------------------------------------------------------------------- the page

def _files(run: Path) -> list[Path]:
    """JSON files under ``run`` (hidden directories such as ``.cache`` skipped), sorted."""
    out = []
    for root, dirs, files in os.walk(run):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        out += [Path(root) / f for f in sorted(files) if f.endswith(".json")]
    return out


def _kind_of(path: Path) -> SectionKind | None:
    kinds = section_kinds()
    by_name = next((k for k in kinds if path.name in k.names), None)
    if by_name is not None:
        return by_name
    try:
        data = read_json(path)
    except L1TInputError:
        return None                  # not ours to judge: a file no section reads
    fmt = data.get("format") if isinstance(data, dict) else None
    return next((k for k in kinds if fmt in k.formats), None)


def sections(run_dir: str | Path) -> list[Section]:
    """The non-empty sections of the run under ``run_dir``, in page order."""
    run = Path(run_dir)
    if not run.is_dir():
        raise L1TInputError(run, "no such run directory")
    found: dict[str, list[Block]] = {}
    for path in _files(run):
        kind = _kind_of(path)
        if kind is None:
            continue
        block = kind.render(path, read_json(path), run)
        if block is not None and not block.empty:
            found.setdefault(kind.key, []).append(block)
    return [Section(k.key, k.title, found[k.key]) for k in section_kinds() if k.key in found]


def render_html(secs: list[Section], title: str) -> str:
    """The page for ``secs`` from the jinja2 template."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("l1t.validation", "templates"),
                             autoescape=jinja2.select_autoescape(["html", "j2"]),
                             undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True)
    return env.get_template(TEMPLATE).render(title=title, sections=secs)


def write_report(run_dir: str | Path, out: str | Path) -> ReportResult:
    """Write the report of ``run_dir`` to ``out`` (atomically). A run without any file a
    section reads is an :class:`L1TInputError`."""
    secs = sections(run_dir)
    if not secs:
        raise L1TInputError(run_dir, "no file of a run found here (rates.json, check.json, "
                            "stream.json, profile.json, ...): nothing to report", "run_dir")
    html = render_html(secs, f"l1t report: {Path(run_dir).resolve().name}")
    path = atomic_write(out, lambda p: Path(p).write_text(html, encoding="utf-8"))
    n = sum(len(b.images) for s in secs for b in s.blocks)
    return ReportResult(path, [s.key for s in secs], n)


def report_text(r: ReportResult) -> str:
    return (f"report with {len(r.sections)} sections ({', '.join(r.sections)}), {r.images} "
            f"images inlined -> {r.path}")
