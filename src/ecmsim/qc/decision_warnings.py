"""Warnings where a conformity decision would surprise the person who signs it.

* sparse measurements accepted under ``missing = "ignore"``: a part passes on a fraction of its
  toleranced values (:data:`SPARSE_FRACTION` or less measured);
* a guard band as wide as the tolerance: the acceptance zone [L + w, H − w] is empty, so no value
  can pass under the guarded (or non-binary) rule;
* an uncertainty of zero (or a guard-band factor of 0) under the guarded or non-binary rule: the
  guard band vanishes and the rule decides as simple acceptance (up to 50 % false-accept risk at a
  limit, ILAC-G8:2019).

Pure functions of the spec, the design, the devices and the batch values; nothing is changed, only
reported (terminal, HTML report, JSON).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ecmsim.io.batch import Design, open_batch
from ecmsim.qc.spec import CHARACTERISTICS, ResolvedSpec, Spec

if TYPE_CHECKING:
    from ecmsim.qc.check import CheckRun

#: A part accepted with at most this fraction of its toleranced values measured is reported.
SPARSE_FRACTION = 0.5


@dataclass
class SparsePart:
    """A part whose toleranced values were mostly not measured."""

    serial: str
    measured: int
    toleranced: int


def _char_uncertainty(char: str, u: float, length: np.ndarray) -> np.ndarray:
    """The uncertainty of a characteristic's value from a device U (as the conformity check derives it)."""
    if char == "position":
        return np.full(length.shape, 2.0 * u)
    if char == "taper":
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.degrees(math.sqrt(2.0) * u / (2.0 * length))
    return np.full(length.shape, u)


def spec_warnings(
    spec: Spec, rspec: ResolvedSpec, design: Design, devices: Sequence[str], device_u: np.ndarray
) -> list[str]:
    """Guard bands as wide as the tolerance and zero uncertainty under the guarded / non-binary rule."""
    dec = spec.decision
    if dec.rule == "simple":
        return []
    out: list[str] = []
    if dec.guard_band_factor == 0:
        out.append(
            f"[decision] guard_band_factor = 0: the {dec.rule} rule has no guard band and decides as simple "
            "acceptance (up to 50 % false-accept risk at a limit)"
        )
    sm = design.station_mask
    has = sm.any(axis=1)
    i_entry = np.argmax(sm, axis=1)
    i_exit = sm.shape[1] - 1 - np.argmax(sm[:, ::-1], axis=1)
    length = np.where(has, design.station_depth[i_exit] - design.station_depth[i_entry], np.nan)
    dev_u = np.asarray(device_u, float).copy()
    if dec.default_uncertainty_mm is not None:
        dev_u[np.isnan(dev_u)] = dec.default_uncertainty_mm
    for char, unit in CHARACTERISTICS.items():
        lim = rspec.limits[char]
        spec_sel = lim.specified if lim.specified.ndim == 1 else lim.specified.any(axis=1)
        if not spec_sel.any():
            continue
        lo = lim.lo if lim.lo.ndim == 1 else np.max(np.where(lim.specified, lim.lo, -np.inf), axis=1)
        hi = lim.hi if lim.hi.ndim == 1 else np.min(np.where(lim.specified, lim.hi, np.inf), axis=1)
        if char == "position":
            lo = np.zeros_like(hi)  # true position is ≥ 0
        override = lim.u if lim.u.ndim == 1 else np.fmax.reduce(lim.u, axis=1)
        sources: list[tuple[str, np.ndarray]] = []
        if np.isfinite(override[spec_sel]).any():
            sources.append((f"uncertainty_{unit} of the spec", np.where(np.isfinite(override), override, np.nan)))
        for name, u in zip(devices, dev_u.tolist(), strict=True):
            if math.isfinite(u):
                uc = _char_uncertainty(char, u, length)
                sources.append((f"device {name!r} (U = {u:g} mm)", np.where(np.isfinite(override), np.nan, uc)))
        for what, uc in sources:
            sel = spec_sel & np.isfinite(uc)
            if not sel.any():
                continue
            if (uc[sel] == 0).any():
                out.append(
                    f"{char}: uncertainty 0 from {what} under the {dec.rule} rule: no guard band, the decision is "
                    "simple acceptance (up to 50 % false-accept risk at a limit); state the real U"
                )
                continue
            w = dec.guard_band_factor * uc
            empty = sel & (lo + w >= hi - w)
            if empty.any():
                j = int(np.nonzero(empty)[0][0])
                out.append(
                    f"{char}: guard band w = {w[j]:.4g} {unit} from {what} is as wide as the tolerance "
                    f"({lo[j]:g} … {hi[j]:g} {unit}) of {int(empty.sum())} hole(s), first {design.hole_id[j]}: "
                    f"no value can pass under the {dec.rule} rule"
                )
    return list(dict.fromkeys(out))


def sparse_parts(batch_path: str, rspec: ResolvedSpec, accepted: np.ndarray) -> list[SparsePart]:
    """Accepted parts with at most :data:`SPARSE_FRACTION` of their toleranced diameters, positions and
    depths measured (``missing = "ignore"`` accepts them silently otherwise)."""
    lim = rspec.limits
    dia_sel = lim["diameter"].specified
    pos_sel = lim["position"].specified
    dep_sel = lim["depth"].specified
    total = int(dia_sel.sum() + pos_sel.sum() + dep_sel.sum())
    out: list[SparsePart] = []
    if total == 0:
        return out
    with open_batch(batch_path) as r:
        for a, b, m in r.iter_chunks():
            dia = np.isfinite(m["diameter"]) & dia_sel[None]
            pos = np.isfinite(m["x_dev"]).any(axis=2) & pos_sel[None]
            dep = (np.isfinite(m["depth"]) | m["blocked"]) & dep_sel[None]
            n = dia.sum(axis=(1, 2)) + pos.sum(axis=1) + dep.sum(axis=1)
            for i in np.nonzero(accepted[a:b] & (n <= SPARSE_FRACTION * total))[0].tolist():
                out.append(SparsePart(r.serials[a + i], int(n[i]), total))
    return out


def check_warnings(run: CheckRun) -> list[str]:
    """Every warning of a conformity check: per batch, the spec's guard bands and uncertainties against
    the batch's devices, and (``missing = "ignore"``) the parts accepted on sparse measurements."""
    out: list[str] = []
    for o in run.outcomes:
        with open_batch(o.path) as r:
            devices, device_u = list(r.devices), np.asarray(r.device_uncertainty, float)
        rspec = run.spec.resolve(o.design)
        for w in spec_warnings(run.spec, rspec, o.design, devices, device_u):
            if w not in out:
                out.append(w)
        if run.spec.decision.missing == "ignore":
            sparse = sparse_parts(o.path, rspec, o.accepted)
            if sparse:
                names = ", ".join(f"{p.serial} ({p.measured} of {p.toleranced})" for p in sparse[:10])
                more = f" … {len(sparse) - 10} more" if len(sparse) > 10 else ""
                out.append(
                    f"{o.meta['batch_id']}: {len(sparse)} part(s) accepted with at most "
                    f"{SPARSE_FRACTION:.0%} of their toleranced values measured ([decision] missing = "
                    f'"ignore"): {names}{more}'
                )
    return out
