"""A muon in iron: multiple scattering (Highland) and energy loss with its fluctuations.

- Multiple scattering, the Highland formula (PDG Review of Particle Physics, "Passage of particles
  through matter", eq. 34.16): θ₀ = 13.6 MeV / (βcp) · √(x/X₀) · (1 + 0.038 ln(x/X₀)), the width of
  the projected angle; X₀(iron) = 1.757 cm (PDG). Applied per step of thickness x with the
  logarithm evaluated for :data:`HIGHLAND_LAYER_M` (the log term is not additive over steps; an
  estimate that matches a 1 m iron layer, the typical absorber between stations).
- Mean energy loss −dE/dx = a(E) + b·E (PDG, "Muon energy loss"; figures for iron from Groom,
  Mokhov, Striganov, Atomic Data and Nuclear Data Tables 78 (2001) 183): ionisation
  a(E) ≈ 1.45 + 0.07 ln(E/GeV) MeV cm²/g (a fit to their table from 1 GeV to 1 TeV, within ~5%:
  an estimate), radiative b ≈ 3.5·10⁻⁶ g⁻¹ cm² (their iron value near 1 TeV); ρ(iron) = 7.874 g/cm³.
  Below a few hundred GeV ionisation dominates; above, radiation, rising linearly with E.
- Fluctuations: ionisation loss per step from a gamma distribution with the mean above and a
  relative width of :data:`IONISATION_REL_WIDTH` per √m of iron (an estimate of the Landau tail
  of thick absorbers); radiative loss per step exponentially distributed with its mean (a few
  large catastrophic losses, which is what makes high-momentum muons shower in the iron).
- A muon whose energy drops below the mass stops (ranges out): it gives no further hits.
"""
from __future__ import annotations

import numpy as np

MUON_MASS_GEV = 0.1056584
X0_IRON_M = 0.01757
RHO_IRON = 7.874                       # g/cm^3
HIGHLAND_LAYER_M = 1.0
IONISATION_REL_WIDTH = 0.15            # per sqrt(m of iron), estimate
B_RAD_IRON = 3.5e-6                    # g^-1 cm^2
_HIGHLAND_LOG = 1.0 + 0.038 * np.log(HIGHLAND_LAYER_M / X0_IRON_M)


def highland_theta0(p_gev: np.ndarray, x_iron_m: np.ndarray) -> np.ndarray:
    """Width (rad) of the projected scattering angle after ``x_iron_m`` of iron at momentum
    ``p_gev`` (β from the muon mass)."""
    e = np.hypot(p_gev, MUON_MASS_GEV)
    beta = p_gev / e
    return 0.0136 / np.maximum(beta * p_gev, 1e-9) * np.sqrt(x_iron_m / X0_IRON_M) * _HIGHLAND_LOG


def mean_loss_gev_per_m(e_gev: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean ionisation and radiative energy loss (GeV per m of iron) at energy ``e_gev``."""
    a = (1.45 + 0.07 * np.log(np.maximum(e_gev, 1.0))) * RHO_IRON * 0.1   # MeV cm2/g -> GeV/m
    b = B_RAD_IRON * RHO_IRON * 100.0                                      # -> 1/m
    return a, b * e_gev


def energy_loss(e_gev: np.ndarray, x_iron_m: np.ndarray, rng: np.random.Generator,
                fluctuate: bool = True) -> np.ndarray:
    """Energy lost (GeV) over ``x_iron_m`` of iron, with fluctuations unless ``fluctuate`` is
    off (then the mean)."""
    ion, rad = mean_loss_gev_per_m(e_gev)
    ion, rad = ion * x_iron_m, rad * x_iron_m
    if not fluctuate:
        return ion + rad
    rel = IONISATION_REL_WIDTH / np.sqrt(np.maximum(x_iron_m, 1e-9))
    shape = 1.0 / np.maximum(rel, 1e-6) ** 2
    ion_f = np.where(ion > 0, rng.gamma(shape, np.maximum(ion, 1e-30) / shape), 0.0)
    rad_f = np.where(rad > 0, rng.exponential(np.maximum(rad, 1e-30)), 0.0)
    return ion_f + rad_f
