"""Efficiency turn-ons of menu seeds versus a generator-level reference pT.

Each seed gets a generator *reference*, chosen from its first leg's object (or, for a seed without
legs, its first energy sum; ``and``/``or`` children are searched depth first, like
:meth:`l1t.trigger.menu.Condition.thresholds`):

============== =============================================================================
first leg/sum  reference (GeV)
============== =============================================================================
muon           pT of the leading GenPart with ``|pdgId| == 13`` and ``|η| < 2.4``
electron       pT of the leading GenPart with ``|pdgId| == 11`` and ``|η| < 2.5``
photon, egamma pT of the leading GenPart with ``|pdgId|`` in (11, 22) and ``|η| < 2.5``
tau            pT of the leading GenJet with ``|η| < 2.1`` (approximation: the visible τ
               decay products are not stored, so the generator jet stands in for them; in a
               sample with hard ISR the leading jet need not be the τ)
jet            pT of the leading GenJet with ``|η| < 2.4``
HT             Σ pT of GenJets with pT > 30 and ``|η| < 2.4``
MHT            ``|Σ p⃗T|`` of the same GenJets
MET, METHF     ``|Σ p⃗T|`` of the neutrinos (``|pdgId|`` 12, 14, 16) in GenPart
ETT            Σ pT of GenPart with ``|η| < 3``, neutrinos excluded
============== =============================================================================

For multi-leg seeds the reference is the leading object of the first leg's type, so the turn-on
of e.g. ``L1_DoubleMu15_7`` is measured against the leading generator muon (and its plateau
includes the probability of finding the second muon). Events without the reference object are
left out; the sums exist in every event (zero when nothing contributes). GenPart holds the stable
hard-interaction particles with pT > 1 GeV, GenJet anti-kt 0.4 jets with pT ≥ 10 GeV (see
:mod:`l1t.datasets.schema`), so pileup does not enter the references.

Efficiencies are of the seed's condition, before its prescale.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from pathlib import Path

import awkward as ak
import numpy as np
from scipy import optimize, special, stats

from l1t.core.errors import L1TInputError
from l1t.core.files import atomic_write, write_json

from .evaluate import Evaluator
from .inputs import from_events
from .menu import Condition, Menu, Seed

#: Object reference: (GenPart |pdgId| values, max |η|); tau and jet use GenJet.
_PARTICLES = {"muon": ((13,), 2.4), "electron": ((11,), 2.5), "photon": ((11, 22), 2.5),
              "egamma": ((11, 22), 2.5)}
_GENJET_ETA = {"tau": 2.1, "jet": 2.4}
_NEUTRINOS = (12, 14, 16)
_SUM_JET_PT, _SUM_JET_ETA = 30.0, 2.4   # GeV, |η|: jets entering the HT and MHT references
_ETT_ETA = 3.0
CL = 0.6827  #: coverage of the Clopper–Pearson intervals (68%)
N_BINS = 30


# --------------------------------------------------------------------------- references

def _first_part(cond: Condition) -> tuple[str, str] | None:
    """("object", name) of the first leg, else ("sum", type) of the first sum, depth first."""
    if cond.legs:
        return "object", cond.legs[0].object
    if cond.sums:
        return "sum", cond.sums[0].type
    for child in (*cond.all_of, *cond.any_of):
        found = _first_part(child)
        if found is not None:
            return found
    return None


def reference_name(seed: Seed) -> str | None:
    """The kind of generator reference of a seed (``"muon"``, ``"HT"``, ...); None if none."""
    part = _first_part(seed.condition)
    return None if part is None else part[1]


def _need(events: ak.Array, coll: str) -> ak.Array:
    if coll not in ak.fields(events):
        raise L1TInputError("events", "efficiencies need generator-level collections; the events "
                            f"have {sorted(ak.fields(events))}", coll)
    return events[coll]


def _leading(pt: ak.Array) -> np.ndarray:
    """Highest pT of each event's list (GeV), NaN where the list is empty."""
    return ak.to_numpy(ak.fill_none(ak.max(pt, axis=1), np.nan)).astype(np.float64)


def _vector_sum(pt: ak.Array, phi: ak.Array) -> np.ndarray:
    px = ak.to_numpy(ak.sum(pt * np.cos(phi), axis=1)).astype(np.float64)
    py = ak.to_numpy(ak.sum(pt * np.sin(phi), axis=1)).astype(np.float64)
    return np.hypot(px, py)


def reference(events: ak.Array, name: str) -> np.ndarray:
    """Generator reference of kind ``name`` per event, ``(N,)`` in GeV; NaN where the event has
    no reference object (object references only; sums are always defined)."""
    if name in _PARTICLES:
        ids, eta_max = _PARTICLES[name]
        gp = _need(events, "GenPart")
        aid = abs(gp.pdgId)
        mask = (abs(gp.eta) < eta_max) & _isin(aid, ids)
        return _leading(gp.pt[mask])
    if name in _GENJET_ETA:
        gj = _need(events, "GenJet")
        return _leading(gj.pt[abs(gj.eta) < _GENJET_ETA[name]])
    if name in ("HT", "MHT"):
        gj = _need(events, "GenJet")
        jets = gj[(gj.pt > _SUM_JET_PT) & (abs(gj.eta) < _SUM_JET_ETA)]
        if name == "HT":
            return ak.to_numpy(ak.sum(jets.pt, axis=1)).astype(np.float64)
        return _vector_sum(jets.pt, jets.phi)
    if name in ("MET", "METHF"):
        gp = _need(events, "GenPart")
        nu = gp[_isin(abs(gp.pdgId), _NEUTRINOS)]
        return _vector_sum(nu.pt, nu.phi)
    if name == "ETT":
        gp = _need(events, "GenPart")
        keep = (abs(gp.eta) < _ETT_ETA) & ~_isin(abs(gp.pdgId), _NEUTRINOS)
        return ak.to_numpy(ak.sum(gp.pt[keep], axis=1)).astype(np.float64)
    raise ValueError(f"no generator reference for {name!r}")


def _isin(values: ak.Array, wanted: Sequence[int]) -> ak.Array:
    out = values == wanted[0]
    for w in wanted[1:]:
        out = out | (values == w)
    return out


# --------------------------------------------------------------------------- turn-ons

def turn_on(events: ak.Array, menu: Menu, seed_name: str, bins: np.ndarray | None = None,
            electron_id: bool = True) -> dict:
    """Efficiency of one seed versus its generator reference pT.

    ``bins``: reference-pT bin edges in GeV (default: 30 bins from 0 to 3× the seed's reference
    threshold). The seed is evaluated on ``from_events(events, electron_id)`` without prescale,
    with the fields the menu's ``assign:`` models replace taken from their firmware.
    Returns a dict:

    - ``seed``, ``reference`` (kind, see module doc), ``threshold`` (GeV);
    - ``bins`` (edges, GeV), ``n`` (events per bin), ``efficiency`` (NaN in empty bins),
      ``err_lo``/``err_hi`` (distances to the 68% Clopper–Pearson bounds);
    - ``pt90_interp``: the reference pT (GeV) where the efficiency first reaches 0.9, linearly
      interpolated between bin centres (None if never reached);
    - ``pt90_fit``: the same from an erf fit ``a·(1 + erf((x − μ)/(√2 σ)))/2`` (None if the fit
      fails, its plateau ``a`` stays below 0.9 or the point lies outside the bins), with the fit
      parameters in ``fit`` (None if the fit failed);
    - ``plateau``: the efficiency of all events with reference pT ≥ 1.5× the threshold (overflow
      included; None without such events), and ``plateau_n`` their number.
    """
    seed = menu.seed(seed_name)
    name = reference_name(seed)
    if name is None:
        raise ValueError(f"{seed_name} has no legs or sums to take a reference from")
    ref = reference(events, name)
    ev = Evaluator(menu.with_seeds([seed]))
    margins = ev.margins(from_events(ev.assign(events), electron_id))
    return _turn_on(seed, name, ref, margins[:, 0] >= 1.0, bins)


def turn_ons(events: ak.Array, menu: Menu, seeds: Sequence[str] | None = None,
             electron_id: bool = True) -> list[dict]:
    """:func:`turn_on` for ``seeds`` (default: every seed with a reference), one evaluation."""
    chosen = [menu.seed(s) for s in seeds] if seeds is not None else \
        [s for s in menu.seeds if reference_name(s) is not None]
    if not chosen:
        return []
    ev = Evaluator(menu.with_seeds(chosen))
    fired = ev.margins(from_events(ev.assign(events), electron_id)) >= 1.0
    refs: dict[str, np.ndarray] = {}
    out = []
    for j, seed in enumerate(chosen):
        name = reference_name(seed)
        if name is None:
            raise L1TInputError(menu.path or menu.name, f"{seed.name} has no legs or sums to "
                                "take a turn-on reference from", f"seeds.{seed.name}")
        if name not in refs:
            refs[name] = reference(events, name)
        out.append(_turn_on(seed, name, refs[name], fired[:, j], None))
    return out


def _turn_on(seed: Seed, name: str, ref: np.ndarray, fired: np.ndarray,
             bins: np.ndarray | None) -> dict:
    have = np.isfinite(ref)
    ref, fired = ref[have], fired[have]
    threshold = float(seed.reference_threshold or 0.0)
    if bins is None:
        top = 3.0 * threshold if threshold > 0 else (float(ref.max()) if ref.size else 1.0) or 1.0
        bins = np.linspace(0.0, top, N_BINS + 1)
    bins = np.asarray(bins, np.float64)
    n = np.histogram(ref, bins)[0]
    k = np.histogram(ref[fired], bins)[0]
    eff, lo, hi = clopper_pearson(k, n)
    centres = 0.5 * (bins[1:] + bins[:-1])
    above = ref >= 1.5 * threshold
    n_plateau = int(above.sum())
    fit = _erf_fit(centres, eff, lo, hi, n, threshold)
    return {
        "seed": seed.name, "reference": name, "threshold": threshold,
        "bins": bins, "n": n, "efficiency": eff, "err_lo": eff - lo, "err_hi": hi - eff,
        "pt90_interp": crossing(centres, eff, 0.9),
        "pt90_fit": fit["pt90"] if fit else None, "fit": fit,
        "plateau": float(fired[above].mean()) if n_plateau else None, "plateau_n": n_plateau,
    }


def clopper_pearson(k: np.ndarray, n: np.ndarray, cl: float = CL
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Efficiency k/n and its Clopper–Pearson bounds (NaN where n == 0)."""
    k = np.asarray(k, np.float64)
    n = np.asarray(n, np.float64)
    alpha = 1.0 - cl
    with np.errstate(invalid="ignore", divide="ignore"):
        eff = np.where(n > 0, k / n, np.nan)
        lo = np.where(k > 0, stats.beta.ppf(alpha / 2, k, n - k + 1), 0.0)
        hi = np.where(k < n, stats.beta.ppf(1 - alpha / 2, k + 1, n - k), 1.0)
    empty = n == 0
    lo[empty] = np.nan
    hi[empty] = np.nan
    return eff, lo, hi


def crossing(x: np.ndarray, y: np.ndarray, level: float) -> float | None:
    """First x where ``y`` reaches ``level``, linearly interpolated between neighbouring finite
    points (NaN points skipped); None if never reached."""
    ok = np.isfinite(y)
    x, y = np.asarray(x)[ok], np.asarray(y)[ok]
    hit = np.flatnonzero(y >= level)
    if hit.size == 0:
        return None
    i = int(hit[0])
    if i == 0:
        return float(x[0])
    x0, x1, y0, y1 = x[i - 1], x[i], y[i - 1], y[i]
    return float(x0 + (level - y0) * (x1 - x0) / (y1 - y0))


def erf_curve(x: np.ndarray, a: float, mu: float, sigma: float) -> np.ndarray:
    """a·(1 + erf((x − μ)/(√2 σ)))/2: a Gaussian-resolution turn-on with plateau a."""
    return a * 0.5 * (1.0 + special.erf((x - mu) / (math.sqrt(2.0) * sigma)))


def _erf_fit(x, eff, lo, hi, n, threshold) -> dict | None:
    ok = n > 0
    if ok.sum() < 4:
        return None
    xs, ys = x[ok], eff[ok]
    err = np.maximum(np.maximum(ys - lo[ok], hi[ok] - ys), 1e-3)
    width = float(x[1] - x[0]) if len(x) > 1 else 1.0
    mu0 = crossing(xs, ys, 0.5) or threshold or float(np.median(xs))
    p0 = (min(max(float(np.nanmax(ys)), 0.05), 1.0), mu0, max(0.1 * threshold, width))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            popt, pcov = optimize.curve_fit(
                erf_curve, xs, ys, p0=p0, sigma=err, absolute_sigma=True,
                bounds=([0.0, -np.inf, 1e-3 * width], [1.0, np.inf, np.inf]), maxfev=10_000)
    except (RuntimeError, ValueError, optimize.OptimizeWarning):
        return None
    if not np.all(np.isfinite(popt)) or not np.all(np.isfinite(np.diag(pcov))):
        return None
    a, mu, sigma = (float(v) for v in popt)
    pt90 = None
    if a > 0.9:
        pt90 = float(mu + math.sqrt(2.0) * sigma * special.erfinv(1.8 / a - 1.0))
        if not x[0] - 0.5 * width <= pt90 <= x[-1] + 0.5 * width:
            pt90 = None  # an extrapolation beyond the binned range
    return {"a": a, "mu": mu, "sigma": sigma, "pt90": pt90}


# --------------------------------------------------------------------------- plots

def plot_turn_ons(results: Sequence[dict], path: str | Path, ncols: int = 4) -> Path:
    """A grid of turn-on panels (one per result of :func:`turn_on`), 90% points marked; written
    atomically to ``path`` (format from its suffix, default png)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    results = list(results)
    ncols = max(1, min(ncols, len(results)))
    nrows = max(1, math.ceil(len(results) / ncols))
    fig = Figure(figsize=(3.6 * ncols, 2.9 * nrows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, r in zip(axes, results):
        bins = np.asarray(r["bins"])
        centres = 0.5 * (bins[1:] + bins[:-1])
        half = 0.5 * np.diff(bins)
        eff = np.asarray(r["efficiency"], np.float64)
        ok = np.isfinite(eff)
        ax.errorbar(centres[ok], eff[ok], xerr=half[ok],
                    yerr=[np.asarray(r["err_lo"])[ok], np.asarray(r["err_hi"])[ok]],
                    fmt="o", ms=3, color="k", lw=1, label="simulation")
        fit = r.get("fit")
        if fit:
            xx = np.linspace(bins[0], bins[-1], 300)
            ax.plot(xx, erf_curve(xx, fit["a"], fit["mu"], fit["sigma"]), color="C0", lw=1.2,
                    label="erf fit")
        if r.get("pt90_interp") is not None:
            ax.axvline(r["pt90_interp"], color="C3", ls="--", lw=1,
                       label=f"90%: {r['pt90_interp']:.1f} GeV")
        if r.get("pt90_fit") is not None:
            ax.axvline(r["pt90_fit"], color="C0", ls=":", lw=1,
                       label=f"90% (fit): {r['pt90_fit']:.1f} GeV")
        ax.axhline(0.9, color="0.6", lw=0.6)
        ax.set_ylim(-0.02, 1.08)
        ax.set_xlim(bins[0], bins[-1])
        ax.set_title(r["seed"], fontsize=9)
        ax.set_xlabel(f"generator {r['reference']} [GeV]", fontsize=8)
        ax.set_ylabel("efficiency", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6, loc="lower right")
    for ax in axes[len(results):]:
        ax.set_visible(False)
    fmt = Path(path).suffix.lstrip(".") or "png"
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=120))


def turn_on_table_text(results: Sequence[dict]) -> str:
    """One row per seed of :func:`turn_ons`: reference quantity, threshold (GeV), the generator pT
    (GeV) of 90% efficiency interpolated and from the erf fit, and the plateau efficiency."""
    def f(v, fmt):   # "-" in the column's width where a figure is undefined
        return format(v, fmt) if v is not None else "-".rjust(int(fmt.split(".")[0]))

    lines = [f"{'seed':34s} {'reference':>10s} {'threshold':>9s} {'pT(90%)':>8s} {'fit':>7s} "
             f"{'plateau':>8s}"]
    for r in results:
        lines.append(f"{r['seed']:34s} {r['reference']:>10s} {r['threshold']:9.1f} "
                     f"{f(r['pt90_interp'], '8.1f')} {f(r['pt90_fit'], '7.1f')} "
                     f"{f(r['plateau'], '8.3f')}")
    return "\n".join(lines)


def read_turn_ons(path: str | Path) -> list[dict]:
    """The results :func:`write_turn_ons` wrote to ``turn_ons.json`` (one dict per seed)."""
    from l1t.core.files import read_json

    data = read_json(path, what="turn-on file")
    if not isinstance(data, list) or not all(isinstance(r, dict) and "seed" in r for r in data):
        raise L1TInputError(path, "a turn-on file is a list of one object per seed", "seed")
    return data


def write_turn_ons(results: Sequence[dict], out_dir: str | Path) -> dict[str, Path]:
    """Write ``turn_ons.png`` (:func:`plot_turn_ons`) and ``turn_ons.json`` (the results, arrays
    as lists) into ``out_dir``, each atomically; returns their paths."""
    out = Path(out_dir)
    return {"plot": plot_turn_ons(results, out / "turn_ons.png"),
            "json": write_json(out / "turn_ons.json", list(results))}
