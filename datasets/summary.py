"""A one-table summary of the L1 objects of a sample: what a physicist looks at first."""
from __future__ import annotations

import awkward as ak
import numpy as np

from .schema import ET_TOTAL, HT, MET, MET_HF, MHT

_SUM_NAMES = {ET_TOTAL: "ETT", HT: "HTT", MET: "ETM", MHT: "HTM", MET_HF: "ETMHF"}


def object_summary(events: ak.Array) -> list[dict]:
    """Per collection (and per energy sum): mean multiplicity, fraction of crossings with at least
    one object, and the median and 95% quantile of the leading object's pT (GeV)."""
    rows = []
    for coll in ("L1Mu", "L1EG", "L1Tau", "L1Jet"):
        objs = events[coll]
        n = ak.to_numpy(ak.num(objs))
        lead = ak.to_numpy(ak.fill_none(ak.firsts(objs.pt), np.nan))
        rows.append(_row(coll, n, lead))
    sums = events.L1EtSum
    for code, name in _SUM_NAMES.items():
        val = ak.to_numpy(ak.fill_none(ak.firsts(sums[sums.etSumType == code].pt), np.nan))
        rows.append(_row(f"L1EtSum {name}", None, val))
    return rows


def _row(name: str, counts, lead) -> dict:
    have = lead[np.isfinite(lead)]
    return {
        "collection": name,
        "mean_multiplicity": float(counts.mean()) if counts is not None and len(counts) else None,
        "frac_nonempty": float(len(have) / len(lead)) if len(lead) else 0.0,
        "lead_pt_median": float(np.median(have)) if len(have) else None,
        "lead_pt_q95": float(np.quantile(have, 0.95)) if len(have) else None,
    }


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
