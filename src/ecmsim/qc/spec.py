"""Tolerance specs (TOML): characteristics, limits, decision rules.

A spec has four tables (``docs/qc.md`` has an example)::

    [spec]       name, part_number, drawing_revision, description
    [decision]   rule = simple | guarded | non-binary, guard_band_factor,
                 accept_conditional_pass, missing = reject | ignore,
                 default_uncertainty_mm
    [model]      max_residual_mm, max_mean_residual_mm (model-deviation bounds)
    [[tolerance]] characteristic, holes / groups / stations_mm (selection),
                 nominal_X, lower_X / upper_X (deviations from nominal) or
                 min_X / max_X (absolute), uncertainty_X, note

``X`` is the unit of the characteristic: ``deg`` for ``taper``, ``mm`` for
all the others.  Unknown tables and keys are errors that suggest the
nearest valid name; crossed or empty limits are errors.  Later
``[[tolerance]]`` entries override earlier ones for the holes (and
stations) they select.

:meth:`Spec.resolve` turns a spec into per-hole (and per-station) limit
arrays for one design; the conformity check (:mod:`ecmsim.qc.check`) then
never loops in Python over values.
"""

from __future__ import annotations

import difflib
import hashlib
import math
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ecmsim.errors import ConfigError

if TYPE_CHECKING:
    from ecmsim.io.batch import Design

#: Characteristics, in report order, with their unit.
CHARACTERISTICS: dict[str, str] = {
    "diameter": "mm",
    "entry_diameter": "mm",
    "exit_diameter": "mm",
    "taper": "deg",
    "position": "mm",
    "depth": "mm",
}
RULES = ("simple", "guarded", "non-binary")
RULE_REFERENCES = {
    "simple": "simple acceptance (ILAC-G8:2019 §4.2.1, w = 0; ISO 14253-1:2017 shared-risk)",
    "guarded": "guarded acceptance, acceptance limits = tolerance limits narrowed by w = r·U "
    "(ILAC-G8:2019 §4.2.2; ISO 14253-1:2017 conformity zone)",
    "non-binary": "non-binary statement: pass / conditional pass / conditional fail / fail with guard band "
    "w = r·U (ILAC-G8:2019 §4.2.3)",
}
_TABLES = ("spec", "decision", "model", "tolerance")
_SPEC_KEYS = ("name", "part_number", "drawing_revision", "description")
_DECISION_KEYS = ("rule", "guard_band_factor", "accept_conditional_pass", "missing", "default_uncertainty_mm")
_MODEL_KEYS = ("max_residual_mm", "max_mean_residual_mm")
#: Station depths closer than this are the same station, mm.
STATION_MATCH_MM = 5e-4


def _suggest(key: str, allowed: Iterable[str]) -> str:
    near = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.6)
    return f" (did you mean {near[0]!r}?)" if near else ""


def _tolerance_keys(unit: str) -> tuple[str, ...]:
    return (
        "characteristic",
        "holes",
        "groups",
        "stations_mm",
        "note",
        f"nominal_{unit}",
        f"lower_{unit}",
        f"upper_{unit}",
        f"min_{unit}",
        f"max_{unit}",
        f"uncertainty_{unit}",
    )


@dataclass(frozen=True)
class Tolerance:
    """One ``[[tolerance]]`` entry (values in the characteristic's unit; None = not given)."""

    index: int
    characteristic: str
    holes: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    stations_mm: tuple[float, ...] = ()
    nominal: float | None = None
    lower: float | None = None
    upper: float | None = None
    min: float | None = None
    max: float | None = None
    uncertainty: float | None = None
    note: str = ""

    @property
    def unit(self) -> str:
        return CHARACTERISTICS[self.characteristic]

    def where(self) -> str:
        return f"[[tolerance]] #{self.index + 1} ({self.characteristic})"


@dataclass(frozen=True)
class Decision:
    rule: str = "guarded"
    guard_band_factor: float = 1.0
    accept_conditional_pass: bool = False
    missing: str = "reject"
    default_uncertainty_mm: float | None = None


@dataclass(frozen=True)
class ModelBounds:
    max_residual_mm: float | None = None
    max_mean_residual_mm: float | None = None


@dataclass(frozen=True)
class Spec:
    """A validated tolerance spec (see the module docstring)."""

    source: str
    text: str
    name: str = ""
    part_number: str = ""
    drawing_revision: str = ""
    description: str = ""
    decision: Decision = field(default_factory=Decision)
    model: ModelBounds = field(default_factory=ModelBounds)
    tolerances: tuple[Tolerance, ...] = ()

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("text")
        return d

    def resolve(self, design: Design) -> ResolvedSpec:
        """Limits for every hole (and station) of ``design``; see :class:`ResolvedSpec`."""
        return _resolve(self, design)


@dataclass
class Limits:
    """Resolved limits of one characteristic: arrays over holes (H,) or holes × stations (H, S).

    ``lo``/``hi`` are absolute limits (±inf: unbounded), ``specified`` marks
    where the characteristic is toleranced, ``u`` is an uncertainty
    override (NaN: use the measuring device's), ``nominal`` for reports.
    """

    lo: np.ndarray
    hi: np.ndarray
    specified: np.ndarray
    u: np.ndarray
    nominal: np.ndarray


@dataclass
class ResolvedSpec:
    spec: Spec
    limits: dict[str, Limits]


# --------------------------------------------------------------------------- loading
def load_spec(path: str | Path) -> Spec:
    """Read and validate a spec file.

    Raises
    ------
    ConfigError
        The file is missing, not TOML, or breaks the schema (the message
        names the file, the key, the value and what is allowed).
    """
    import stat

    p = Path(path)
    try:
        st = p.stat()
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError("not a regular file (a device, pipe or socket); expected a TOML spec", str(p))
        if st.st_size > 16_000_000:
            raise ConfigError(f"{st.st_size / 1e6:.3g} MB is too large for a spec (at most 16 MB)", str(p))
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError("spec file not found", str(p)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the spec: {exc.strerror}", str(p)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte {raw[exc.start]:#04x} at offset {exc.start})", str(p)) from None
    return parse_spec(text, str(p))


def parse_spec(text: str, source: str = "<spec>") -> Spec:
    """Validate spec TOML text (see :func:`load_spec`)."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", source) from None
    except RecursionError:
        raise ConfigError(
            "not valid TOML: nested too deeply (arrays or inline tables inside each other)", source
        ) from None
    for key in doc:
        if key not in _TABLES:
            raise ConfigError(f"unknown table [{key}]{_suggest(key, _TABLES)} (tables: {', '.join(_TABLES)})", source)
    head = _table(doc, "spec", _SPEC_KEYS, source)
    info = {k: _string(head, k, f"[spec] {k}", source) for k in _SPEC_KEYS}
    dec = _table(doc, "decision", _DECISION_KEYS, source)
    rule = dec.get("rule", "guarded")
    if rule not in RULES:
        raise ConfigError(
            f"[decision] rule = {rule!r}{_suggest(str(rule), RULES)}; allowed: {', '.join(RULES)}", source
        )
    missing = dec.get("missing", "reject")
    if missing not in ("reject", "ignore"):
        raise ConfigError(f"[decision] missing = {missing!r}; allowed: 'reject', 'ignore'", source)
    acp = dec.get("accept_conditional_pass", False)
    if not isinstance(acp, bool):
        raise ConfigError(f"[decision] accept_conditional_pass = {acp!r}; allowed: true or false", source)
    gbf = _number(dec, "guard_band_factor", "[decision] guard_band_factor", source, minimum=0.0)
    dum = _number(dec, "default_uncertainty_mm", "[decision] default_uncertainty_mm", source, minimum=0.0)
    decision = Decision(rule, 1.0 if gbf is None else gbf, acp, missing, dum)
    mod = _table(doc, "model", _MODEL_KEYS, source)
    model = ModelBounds(
        _number(mod, "max_residual_mm", "[model] max_residual_mm", source, minimum=0.0, strict=True),
        _number(mod, "max_mean_residual_mm", "[model] max_mean_residual_mm", source, minimum=0.0, strict=True),
    )
    entries = doc.get("tolerance", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ConfigError("[[tolerance]] must be an array of tables ([[tolerance]] headers)", source)
    if not entries:
        raise ConfigError("no [[tolerance]] entries: a spec must tolerance at least one characteristic", source)
    tols = tuple(_tolerance(i, e, source) for i, e in enumerate(entries))
    return Spec(source=source, text=text, **info, decision=decision, model=model, tolerances=tols)


def _table(doc: Mapping[str, Any], name: str, keys: tuple[str, ...], source: str) -> dict[str, Any]:
    t = doc.get(name, {})
    if not isinstance(t, dict):
        raise ConfigError(f"[{name}] must be a table", source)
    for k in t:
        if k not in keys:
            raise ConfigError(f"unknown key {k!r} in [{name}]{_suggest(k, keys)} (allowed: {', '.join(keys)})", source)
    return t


def _string(t: Mapping[str, Any], key: str, where: str, source: str) -> str:
    v = t.get(key, "")
    if not isinstance(v, str):
        raise ConfigError(f"{where} = {v!r}: must be a string", source)
    return v


def _number(
    t: Mapping[str, Any], key: str, where: str, source: str, minimum: float | None = None, strict: bool = False
) -> float | None:
    if key not in t:
        return None
    v = t[key]
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise ConfigError(f"{where} = {v!r}: must be a finite number", source)
    if minimum is not None and (v < minimum or (strict and v == minimum)):
        raise ConfigError(f"{where} = {v!r}: must be {'>' if strict else '≥'} {minimum:g}", source)
    return float(v)


def _tolerance(i: int, e: Mapping[str, Any], source: str) -> Tolerance:
    where = f"[[tolerance]] #{i + 1}"
    char = e.get("characteristic")
    if char is None:
        raise ConfigError(f"{where}: 'characteristic' is required (one of {', '.join(CHARACTERISTICS)})", source)
    if not isinstance(char, str) or char not in CHARACTERISTICS:
        raise ConfigError(
            f"{where}: characteristic = {char!r}{_suggest(str(char), CHARACTERISTICS)}; "
            f"allowed: {', '.join(CHARACTERISTICS)}",
            source,
        )
    unit = CHARACTERISTICS[char]
    keys = _tolerance_keys(unit)
    for k in e:
        if k not in keys:
            raise ConfigError(
                f"{where} ({char}): unknown key {k!r}{_suggest(k, keys)} (allowed: {', '.join(keys)})", source
            )
    where = f"{where} ({char})"

    def names(key: str) -> tuple[str, ...]:
        v = e.get(key, [])
        if not isinstance(v, list) or not all(isinstance(x, str) and x for x in v):
            raise ConfigError(f"{where}: {key} = {v!r}: must be a list of names", source)
        return tuple(v)

    num = {
        k: _number(e, f"{k}_{unit}", f"{where}: {k}_{unit}", source)
        for k in ("nominal", "lower", "upper", "min", "max")
    }
    u = _number(e, f"uncertainty_{unit}", f"{where}: uncertainty_{unit}", source, minimum=0.0)
    st = e.get("stations_mm", [])
    if not isinstance(st, list) or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in st):
        raise ConfigError(f"{where}: stations_mm = {st!r}: must be a list of depths in mm", source)
    if st and char != "diameter":
        raise ConfigError(f"{where}: stations_mm applies only to characteristic 'diameter'", source)
    for a, b in (("lower", "min"), ("upper", "max")):
        if num[a] is not None and num[b] is not None:
            raise ConfigError(f"{where}: give either {a}_{unit} (deviation) or {b}_{unit} (absolute), not both", source)
    if all(num[k] is None for k in ("lower", "upper", "min", "max")):
        raise ConfigError(
            f"{where}: no limit; give lower_{unit}/upper_{unit} (deviations from nominal) or min_{unit}/max_{unit}",
            source,
        )
    if char == "position":
        bad = [f"{k}_{unit}" for k in ("lower", "upper", "min", "nominal") if num[k] is not None]
        if bad or num["max"] is None:
            raise ConfigError(
                f"{where}: true position takes only max_mm (the diameter of the tolerance zone), not {', '.join(bad)}",
                source,
            )
        if num["max"] <= 0:
            raise ConfigError(f"{where}: max_mm = {num['max']!r}: must be > 0", source)
    if (num["lower"] is not None or num["upper"] is not None) and num["nominal"] is None and char == "taper":
        raise ConfigError(f"{where}: lower_deg/upper_deg need nominal_deg (or use min_deg/max_deg)", source)
    nom = num["nominal"]
    lo = num["min"] if num["min"] is not None else (None if num["lower"] is None else (nom or 0.0) + num["lower"])
    hi = num["max"] if num["max"] is not None else (None if num["upper"] is None else (nom or 0.0) + num["upper"])
    # Deviations relative to a design nominal are checked again when resolved.
    if num["lower"] is not None and num["upper"] is not None and num["lower"] >= num["upper"]:
        raise ConfigError(
            f"{where}: crossed or empty limits: lower_{unit} = {num['lower']:g} must be < "
            f"upper_{unit} = {num['upper']:g}",
            source,
        )
    if num["min"] is not None and num["max"] is not None and num["min"] >= num["max"]:
        raise ConfigError(
            f"{where}: crossed or empty limits: min_{unit} = {num['min']:g} must be < max_{unit} = {num['max']:g}",
            source,
        )
    if nom is not None and lo is not None and hi is not None and lo >= hi:
        raise ConfigError(f"{where}: crossed or empty limits {lo:g} .. {hi:g} {unit}", source)
    note = e.get("note", "")
    if not isinstance(note, str):
        raise ConfigError(f"{where}: note must be a string", source)
    return Tolerance(
        index=i,
        characteristic=char,
        holes=names("holes"),
        groups=names("groups"),
        stations_mm=tuple(float(x) for x in st),
        nominal=nom,
        lower=num["lower"],
        upper=num["upper"],
        min=num["min"],
        max=num["max"],
        uncertainty=u,
        note=note,
    )


# --------------------------------------------------------------------------- resolving against a design
def _default_nominal(char: str, design: Design) -> np.ndarray:
    h = design.n_holes
    if char in ("diameter", "entry_diameter", "exit_diameter"):
        return np.asarray(design.nominal_diameter, float)
    if char == "depth":
        return np.asarray(design.depth, float)
    return np.zeros(h)


def _not_in_design(t: Tolerance, kind: str, name: str, known: Iterable[str], listing: str, source: str) -> ConfigError:
    """The error of a tolerance that names a hole or group the design lacks (with the nearest name)."""
    return ConfigError(f"{t.where()}: {kind} {name!r} is not in the design{_suggest(name, known)} ({listing})", source)


def _resolve(spec: Spec, design: Design) -> ResolvedSpec:
    h, s = design.n_holes, design.n_stations
    hole_index = {hid: i for i, hid in enumerate(design.hole_id)}
    groups = np.asarray(design.group)
    limits: dict[str, Limits] = {}
    for char in CHARACTERISTICS:
        shape = (h, s) if char == "diameter" else (h,)
        limits[char] = Limits(
            lo=np.full(shape, -np.inf),
            hi=np.full(shape, np.inf),
            specified=np.zeros(shape, bool),
            u=np.full(shape, np.nan),
            nominal=np.full(shape, np.nan),
        )
    for t in spec.tolerances:
        sel = np.zeros(h, bool)
        if not t.holes and not t.groups:
            sel[:] = True
        for hid in t.holes:
            if hid not in hole_index:
                listing = f"{h} holes: {', '.join(design.hole_id[:8])}{', …' if h > 8 else ''}"
                raise _not_in_design(t, "hole", hid, hole_index, listing, spec.source)
            sel[hole_index[hid]] = True
        known_groups = design.groups()
        for g in t.groups:
            if g not in known_groups:
                raise _not_in_design(t, "group", g, known_groups, f"groups: {', '.join(known_groups)}", spec.source)
            sel |= groups == g
        nominal = np.full(h, t.nominal) if t.nominal is not None else _default_nominal(t.characteristic, design)
        lo = (
            np.full(h, t.min)
            if t.min is not None
            else (nominal + t.lower if t.lower is not None else np.full(h, -np.inf))
        )
        hi = (
            np.full(h, t.max)
            if t.max is not None
            else (nominal + t.upper if t.upper is not None else np.full(h, np.inf))
        )
        if t.characteristic == "position":
            lo = np.full(h, -np.inf)
        bad = sel & ~(lo < hi)
        if bad.any():
            j = int(np.nonzero(bad)[0][0])
            raise ConfigError(
                f"{t.where()}: crossed limits for hole {design.hole_id[j]!r}: {lo[j]:g} .. {hi[j]:g} {t.unit}",
                spec.source,
            )
        lim = limits[t.characteristic]
        u = np.nan if t.uncertainty is None else t.uncertainty
        if t.characteristic == "diameter":
            ssel = np.ones(s, bool)
            if t.stations_mm:
                ssel[:] = False
                for z in t.stations_mm:
                    k = np.nonzero(np.abs(design.station_depth - z) <= STATION_MATCH_MM)[0]
                    if not k.size:
                        raise ConfigError(
                            f"{t.where()}: station {z:g} mm is not a station of the design "
                            f"(stations: {', '.join(f'{x:g}' for x in design.station_depth)} mm)",
                            spec.source,
                        )
                    ssel[k] = True
            m = sel[:, None] & ssel[None, :] & design.station_mask
            lim.lo[m] = np.broadcast_to(lo[:, None], (h, s))[m]
            lim.hi[m] = np.broadcast_to(hi[:, None], (h, s))[m]
            lim.nominal[m] = np.broadcast_to(nominal[:, None], (h, s))[m]
            lim.u[m] = u
            lim.specified[m] = True
        else:
            lim.lo[sel], lim.hi[sel], lim.nominal[sel], lim.u[sel] = lo[sel], hi[sel], nominal[sel], u
            lim.specified[sel] = True
    tap = limits["taper"].specified
    if tap.any():
        n_st = design.station_mask.sum(axis=1)
        bad = tap & (n_st < 2)
        if bad.any():
            j = int(np.nonzero(bad)[0][0])
            raise ConfigError(
                f"taper is toleranced for hole {design.hole_id[j]!r}, which has fewer than two stations", spec.source
            )
    return ResolvedSpec(spec, limits)
