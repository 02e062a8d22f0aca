"""A one-table summary of the L1 objects of a sample: what a physicist looks at first."""
from __future__ import annotations

import awkward as ak
import numpy as np

from .schema import ET_TOTAL, HT, MET, MET_HF, MHT

_SUM_NAMES = {ET_TOTAL: "ETT", HT: "HTT", MET: "ETM", MHT: "HTM", MET_HF: "ETMHF"}


_PUPPI_SUM_NAMES = {ET_TOTAL: "ETT", HT: "HT", MET: "MET", MHT: "MHT"}


def object_summary(events: ak.Array) -> list[dict]:
    """Per collection (and per energy sum): mean multiplicity, fraction of crossings with at least
    one object, and the median and 95% quantile of the leading object's pT (GeV). The Phase-2
    collections are included when the events have them."""
    rows = []
    have = set(ak.fields(events))
    for coll in ("L1Mu", "L1EG", "L1Tau", "L1Jet", "L1TkMu", "L1TkEle", "L1TkEm", "L1PuppiJet"):
        if coll not in have:
            continue
        objs = events[coll]
        n = ak.to_numpy(ak.num(objs))
        lead = ak.to_numpy(ak.fill_none(ak.max(objs.pt, axis=1), np.nan))
        rows.append(_row(coll, n, lead))
    for coll, names in (("L1EtSum", _SUM_NAMES), ("L1PuppiSum", _PUPPI_SUM_NAMES)):
        if coll not in have:
            continue
        sums = events[coll]
        for code, name in names.items():
            val = ak.to_numpy(ak.fill_none(ak.firsts(sums[sums.etSumType == code].pt), np.nan))
            rows.append(_row(f"{coll} {name}", None, val))
    return rows


def vertex_summary(events: ak.Array, half_width: float = 0.15) -> dict | None:
    """How often the primary vertex (``L1PV``) lies within ``half_width`` cm of the crossing's
    hard interaction (``gen_vz``), with its binomial error and the median |Δz| (cm); None for
    events without a vertex. Only meaningful for samples with a hard interaction (not for
    zero-bias crossings, whose first interaction is an ordinary one)."""
    if "L1PV" not in ak.fields(events) or "gen_vz" not in ak.fields(events) or not len(events):
        return None
    from .detector.vertex import efficiency

    pv = ak.to_numpy(ak.fill_none(ak.firsts(events.L1PV.z0), np.nan))
    gen = ak.to_numpy(events.gen_vz)
    eff, err = efficiency(pv, gen, half_width)
    return {"half_width_cm": half_width, "efficiency": eff, "error": err, "crossings": len(pv),
            "median_abs_dz_cm": float(np.nanmedian(np.abs(pv - gen)))}


def _row(name: str, counts, lead) -> dict:
    have = lead[np.isfinite(lead)]
    return {
        "collection": name,
        "mean_multiplicity": float(counts.mean()) if counts is not None and len(counts) else None,
        "frac_nonempty": float(len(have) / len(lead)) if len(lead) else 0.0,
        "lead_pt_median": float(np.median(have)) if len(have) else None,
        "lead_pt_q95": float(np.quantile(have, 0.95)) if len(have) else None,
    }


def format_vertex(v: dict | None) -> str:
    if v is None:
        return ""
    return (f"L1PV within {v['half_width_cm']:g} cm of the hard interaction: "
            f"{v['efficiency']:.1%} ± {v['error']:.1%} of {v['crossings']} crossings "
            f"(median |dz| {v['median_abs_dz_cm']:.3f} cm)")


def format_summary(rows: list[dict]) -> str:
    def f(v, fmt):
        width = int(fmt.split(".")[0])
        return "-".rjust(width) if v is None else format(v, fmt)

    lines = [f"{'collection':16s} {'<N>':>7s} {'N>=1':>6s} {'lead pT median':>15s} {'q95':>8s}  [GeV]"]
    for r in rows:
        lines.append(f"{r['collection']:16s} {f(r['mean_multiplicity'], '7.2f')} "
                     f"{r['frac_nonempty']:6.1%} {f(r['lead_pt_median'], '15.1f')} "
                     f"{f(r['lead_pt_q95'], '8.1f')}")
    return "\n".join(lines)
