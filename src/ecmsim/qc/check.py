"""Conformity of inspection batches to a tolerance spec, and measured against predicted.

The check streams each batch block by block of whole parts
(:meth:`ecmsim.io.batch.BatchReader.iter_chunks`) and evaluates every
characteristic with NumPy on the whole block (parts × holes × stations):
there is no Python loop over values, only over blocks and, for the
explanation of rejected parts, over the few reasons kept per part.

Characteristics (``docs/qc.md``):

* ``diameter``: the diameter at every station of the hole;
* ``entry_diameter`` / ``exit_diameter``: at the hole's first / last station;
* ``taper``: half angle ``atan((D_entry − D_exit) / (2 L))`` in degrees,
  ``L`` the distance between the entry and exit stations (positive when
  the hole narrows with depth, as in the simulator's summary);
* ``position``: true position ``2·sqrt(dx² + dy²)`` (ASME Y14.5 diametral
  form), the largest over the stations where it was measured;
* ``depth``: the measured depth; a blocked hole fails ``depth`` always.

Decision rules: ``simple`` (inside the tolerance limits), ``guarded``
(inside the limits narrowed by w = r·U) and ``non-binary`` (pass /
conditional pass / conditional fail / fail, ILAC-G8).  U is the expanded
uncertainty (k = 2) of the measuring device (or the spec's override);
derived characteristics propagate it: taper ``U = sqrt(U_e² + U_x²)/(2L)``
(radians → degrees), true position ``U = 2·U_device``.

Predictions (simulation result files) give residuals measured − predicted
diameter at every station; a hole is flagged for model deviation when a
residual or its mean residual exceeds the spec's ``[model]`` bounds, even
if it is in tolerance.
"""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ecmsim.errors import EXIT_OK, EXIT_REJECTED, ConfigError, InputDataError
from ecmsim.io import store as qc_store
from ecmsim.io.batch import BatchReader, Design, open_batch
from ecmsim.io.common import sha256_file
from ecmsim.io.qc_results import (
    VERDICT_COND_FAIL,
    VERDICT_COND_PASS,
    VERDICT_FAIL,
    VERDICT_MISSING,
    VERDICT_NA,
    VERDICT_NAMES,
    VERDICT_PASS,
    QCResultWriter,
    ResultArray,
    dumps_json,
    qc_result_file,
)
from ecmsim.io.store import RecordDraft, StagedFile, result_file_name
from ecmsim.jsonable import to_jsonable
from ecmsim.qc.spec import (
    CHARACTERISTICS,
    RULE_REFERENCES,
    Decision,
    Limits,
    ModelBounds,
    ResolvedSpec,
    Spec,
    load_spec,
)

CHARS = tuple(CHARACTERISTICS)
#: Values within this distance of a limit are on the limit (float32 storage: 0.1 µm at 10 mm).
LIMIT_EPS = 1e-6
#: Reasons kept per rejected part (texts in the report and JSON).
MAX_REASONS = 5
#: Failed decisions kept per rejected part in the store's ledger (worst first).
MAX_FAILURES = 50
_VERDICT_CODES = (VERDICT_NA, VERDICT_PASS, VERDICT_COND_PASS, VERDICT_COND_FAIL, VERDICT_MISSING, VERDICT_FAIL)
#: How prediction files are matched to holes (stated in the results file and the JSON).
PREDICTION_RULE = "one file: all holes; several: file stem = hole group"


# --------------------------------------------------------------------------- predictions
@dataclass
class Predictions:
    """Simulated hole profiles from result files, and which holes they apply to.

    Matching rule: a single file applies to every hole; with several files,
    a file applies to the holes of the design group named like the file's
    stem (``A.h5`` → group ``A``).
    """

    paths: list[str] = field(default_factory=list)
    sha256: list[str] = field(default_factory=list)
    depth_mm: list[np.ndarray] = field(default_factory=list)
    diameter_mm: list[np.ndarray] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.paths)

    def provenance_rows(self) -> list[tuple[str, str]]:
        """One ``("prediction", "PATH (sha256 HASH)")`` row per file, for the reports' provenance tables."""
        return [("prediction", f"{p} (sha256 {h})") for p, h in zip(self.paths, self.sha256, strict=True)]

    def match(self, design: Design, source: str) -> tuple[np.ndarray, np.ndarray]:
        """Predicted diameter at every hole × station (mm, NaN: none) and the file index per hole (-1: none)."""
        h = design.n_holes
        src = np.full(h, -1, np.int16)
        if len(self.paths) == 1:
            src[:] = 0
        elif self.paths:
            groups = np.asarray(design.group)
            stems = [Path(p).stem for p in self.paths]
            for i, stem in enumerate(stems):
                if stems.count(stem) > 1:
                    raise InputDataError(f"two prediction files are named {stem!r}; each group takes one file")
                if stem not in design.groups():
                    raise InputDataError(
                        f"{self.paths[i]}: with several prediction files each is matched to the hole group named "
                        f"like the file ({stem!r}), but {source} has no such group (groups: "
                        f"{', '.join(design.groups())})"
                    )
                src[groups == stem] = i
        pred = np.full((h, design.n_stations), np.nan)
        for i, (z, d) in enumerate(zip(self.depth_mm, self.diameter_mm, strict=True)):
            holes = src == i
            if holes.any() and z.size:
                at = np.interp(design.station_depth, z, d, left=np.nan, right=np.nan)
                pred[holes] = at[None, :]
        pred[~design.station_mask] = np.nan
        return pred, src


#: Simulation statuses whose final hole predicts a drilled one; a short circuit, an exceeded limit or a
#: step cap stopped the hole part way, and checking parts against it would hide every deviation.
PREDICTION_STATUSES = ("completed", "broke_through")


def load_predictions(paths: Sequence[str | Path], names: Sequence[str | Path] | None = None) -> Predictions:
    """Read simulated profiles: diameter = 2 × wall radius over the rows with a wall (mm).

    ``names`` are the paths to show (the originals, when ``paths`` are the copies the check reads).
    """
    from ecmsim.io import read_result

    out = Predictions()
    for p, name in zip(paths, names if names is not None else paths, strict=True):
        res = read_result(p)
        if res.status not in PREDICTION_STATUSES:
            raise InputDataError(
                f"{name}: the simulation ended with status {res.status!r}, so its hole is not a prediction of a "
                f"drilled one (allowed: {', '.join(PREDICTION_STATUSES)}); simulate the process again without the fault"
            )
        prof = res.profile
        z, rw = np.asarray(prof.depth, float), np.asarray(prof.wall_radius, float)
        ok = np.isfinite(rw) & np.isfinite(z)
        if not ok.any():
            raise InputDataError(f"{name}: the simulated profile has no hole wall")
        order = np.argsort(z[ok])
        out.paths.append(str(name))
        out.sha256.append(sha256_file(p))
        out.depth_mm.append(z[ok][order] * 1e3)
        out.diameter_mm.append(2e3 * rw[ok][order])
    return out


# --------------------------------------------------------------------------- decision zones
def zones(
    v: np.ndarray, lo: float | np.ndarray, hi: float | np.ndarray, w: float | np.ndarray, rule: str
) -> np.ndarray:
    """Verdict codes of values ``v`` against limits ``[lo, hi]`` with guard band ``w`` (int8).

    ``simple``: pass inside [lo, hi]; ``guarded``: pass inside [lo + w, hi − w];
    ``non-binary``: pass inside [lo + w, hi − w], conditional pass inside
    [lo, hi], conditional fail inside [lo − w, hi + w], fail outside.
    Limits are inclusive (within :data:`LIMIT_EPS`).  NaN values give fail
    (callers mark them as not measured).
    """
    e = LIMIT_EPS
    with np.errstate(invalid="ignore"):
        inside = (v >= lo - e) & (v <= hi + e)
        if rule == "simple":
            return np.where(inside, VERDICT_PASS, VERDICT_FAIL).astype(np.int8)
        inner = (v >= lo + w - e) & (v <= hi - w + e)
        if rule == "guarded":
            return np.where(inner, VERDICT_PASS, VERDICT_FAIL).astype(np.int8)
        outer = (v >= lo - w - e) & (v <= hi + w + e)
    code = np.full(np.shape(v), VERDICT_FAIL, np.int8)
    code[outer] = VERDICT_COND_FAIL
    code[inside] = VERDICT_COND_PASS
    code[inner] = VERDICT_PASS
    return code


# --------------------------------------------------------------------------- results
@dataclass
class BatchOutcome:
    """Verdicts and statistics of one batch (what the report and the JSON show)."""

    path: str
    sha256: str
    meta: dict[str, str]
    design: Design
    serials: list[str]
    measured_at: list[str]
    results_file: str
    part_verdict: np.ndarray  # (P,) int8
    accepted: np.ndarray  # (P,) bool
    n_rejected_holes: np.ndarray  # (P,)
    n_undecided: np.ndarray  # (P,)
    n_rejected_by_char: np.ndarray  # (P, C)
    model_deviation: np.ndarray  # (P,) bool
    mean_residual: np.ndarray  # (P,) mm
    max_abs_residual: np.ndarray  # (P,) mm
    reasons: dict[int, list[str]]
    failures: dict[int, list[dict[str, Any]]]  # part -> failed decisions (ledger rows), worst first
    verdict_counts: dict[str, dict[str, int]]  # characteristic -> verdict name -> count of decisions
    hole_verdict_counts: dict[str, int]
    n_holes_model_deviation: int
    stats: BatchStats  # accumulators for the report
    predictions: dict[str, Any]

    @property
    def n_parts(self) -> int:
        return len(self.serials)

    @property
    def n_accepted(self) -> int:
        return int(self.accepted.sum())

    def part_records(self) -> list[dict[str, Any]]:
        recs = []
        for i, s in enumerate(self.serials):
            recs.append(
                {
                    "serial": s,
                    "verdict": VERDICT_NAMES[int(self.part_verdict[i])],
                    "accepted": bool(self.accepted[i]),
                    "rejected_holes": int(self.n_rejected_holes[i]),
                    "undecided": int(self.n_undecided[i]),
                    "rejected_holes_by_characteristic": {
                        c: int(n) for c, n in zip(CHARS, self.n_rejected_by_char[i], strict=True) if n
                    },
                    "model_deviation": bool(self.model_deviation[i]),
                    "mean_residual_mm": _num(self.mean_residual[i]),
                    "max_abs_residual_mm": _num(self.max_abs_residual[i]),
                    "measured_at": self.measured_at[i],
                    "reasons": self.reasons.get(i, []),
                }
            )
        return recs


def _num(x: float | np.floating) -> float | None:
    v = float(x)
    return None if not np.isfinite(v) else round(v, 6)


@dataclass
class CheckRun:
    """The outcome of one ``qc check``: every batch, the spec, the predictions, the time."""

    spec: Spec
    predictions: Predictions
    checked_at: str
    outcomes: list[BatchOutcome]
    store: str

    @property
    def all_conform(self) -> bool:
        return all(bool(o.accepted.all()) for o in self.outcomes)

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.all_conform else EXIT_REJECTED

    def to_json(self) -> dict[str, Any]:
        """The check as JSON-ready values (``qc check --json``; NaN as null)."""
        return report_json(
            "ecmsim-qc-check-report",
            {
                "checked_at": self.checked_at,
                "spec": {
                    "path": self.spec.source,
                    "sha256": self.spec.sha256,
                    "name": self.spec.name,
                    "decision_rule": self.spec.decision.rule,
                    "decision_rule_reference": RULE_REFERENCES[self.spec.decision.rule],
                    "accept_conditional_pass": self.spec.decision.accept_conditional_pass,
                    "guard_band_factor": self.spec.decision.guard_band_factor,
                },
                "predictions": [
                    {"path": p, "sha256": h}
                    for p, h in zip(self.predictions.paths, self.predictions.sha256, strict=True)
                ],
                "all_conform": self.all_conform,
                "exit_code": self.exit_code,
                "batches": [
                    {
                        "path": o.path,
                        "sha256": o.sha256,
                        "metadata": o.meta,
                        "results_file": o.results_file,
                        "parts": o.n_parts,
                        "accepted": o.n_accepted,
                        "rejected": o.n_parts - o.n_accepted,
                        "parts_with_undecided": int((o.n_undecided > 0).sum()),
                        "parts_with_model_deviation": int(o.model_deviation.sum()),
                        "holes_with_model_deviation": o.n_holes_model_deviation,
                        "verdict_counts": o.verdict_counts,
                        "hole_verdict_counts": o.hole_verdict_counts,
                        "predictions": o.predictions,
                        "part_results": o.part_records(),
                    }
                    for o in self.outcomes
                ],
            },
        )


def report_json(schema: str, body: Mapping[str, object]) -> dict[str, Any]:
    """A JSON report: its schema name and version (1) and the ecmsim version, then ``body``; NaN as null."""
    from ecmsim import __version__

    return to_jsonable({"schema": schema, "schema_version": 1, "ecmsim_version": __version__, **body})


# --------------------------------------------------------------------------- the check
def run_check(
    batch_paths: Sequence[str | Path],
    spec_path: str | Path,
    prediction_paths: Sequence[str | Path] = (),
    store: str | Path | None = None,
    checked_at: str | None = None,
) -> CheckRun:
    """Check batches against a spec (and predictions); record one QC record per batch in ``store``.

    The inputs are only read.  Each is copied into the store's staging folder
    first and the copy is hashed, checked and archived, so what is archived is
    exactly what was checked even if a file changes meanwhile.  The records
    appear in the store in one transaction with their files
    (:meth:`ecmsim.io.store.QCStore.commit`), or not at all.

    Parameters
    ----------
    store
        A store folder or ``postgresql://…`` address; None: ``$ECMSIM_STORE``
        or ``ecmsim-qc-store`` (:func:`ecmsim.io.store.resolve_location`).

    Raises
    ------
    ConfigError
        The spec is invalid (or names holes/groups/stations the design lacks).
    InputDataError
        An inspection or prediction file is invalid or does not fit the spec.
    OutputError
        The store cannot be written (or is busy beyond the wait).
    """
    if not batch_paths:
        raise InputDataError("no inspection batch given")
    spec = load_spec(spec_path)
    preds = load_predictions(prediction_paths)
    # Every input is validated before the store is touched: a bad batch, spec
    # or prediction leaves no trace in the store.
    for path in batch_paths:
        with open_batch(path) as reader:
            _validate_batch(Path(path), reader, spec, preds)
    now = checked_at or datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    qc_store.preflight(store)
    # The store is opened (and created) only to commit: a check that fails leaves no trace.
    with qc_store.staging(store) as stg:
        spec_f = qc_store.stage_bytes(stg, "spec", spec.text.encode("utf-8"), ".toml")
        pred_fs = [qc_store.stage_copy(stg, "prediction", p, ".h5") for p in prediction_paths]
        with _named_as_given(pred_fs, prediction_paths):
            preds = load_predictions([f.source for f in pred_fs], prediction_paths)
        outcomes: list[BatchOutcome] = []
        drafts: list[RecordDraft] = []
        for path in batch_paths:
            inspection = qc_store.stage_copy(stg, "inspection", path, ".h5")
            with _named_as_given([inspection], [path]):
                o, d = _check_one(inspection, str(path), spec, spec_f, preds, pred_fs, stg, now)
            o.results_file = qc_store.describe_location(store, d.fields["results_path"])
            outcomes.append(o)
            drafts.append(d)
        qs = qc_store.open_store(store, create=True)
        qs.commit(drafts)
    return CheckRun(spec=spec, predictions=preds, checked_at=now, outcomes=outcomes, store=qs.location)


@contextlib.contextmanager
def _named_as_given(staged: Sequence[StagedFile], given: Sequence[str | Path]) -> Iterator[None]:
    """Messages about a staged copy name the file the user gave."""
    try:
        yield
    except (InputDataError, ConfigError) as exc:
        text = str(exc)
        for f, g in zip(staged, given, strict=True):
            text = text.replace(str(f.source), str(g))
        if text == str(exc):
            raise
        raise type(exc)(text) from None


def _validate_batch(path: Path, reader: BatchReader, spec: Spec, preds: Predictions) -> None:
    """Checks of a batch that need no measurements: not empty, part number, spec and predictions fit."""
    if reader.n_parts == 0 or reader.design.n_holes == 0:
        what = "parts" if reader.n_parts == 0 else "holes"
        raise InputDataError(f"{path}: the inspection batch holds no {what}; there is nothing to check")
    meta = reader.meta
    for key in ("part_number", "drawing_revision"):
        want = getattr(spec, key)
        if want and meta[key] != want:
            raise InputDataError(
                f"{path}: batch is for {key.replace('_', ' ')} {meta[key]!r}, but the spec "
                f"{spec.source} is for {want!r}"
            )
    spec.resolve(reader.design)
    preds.match(reader.design, str(path))


def _check_one(
    inspection: StagedFile,
    source: str,
    spec: Spec,
    spec_f: StagedFile,
    preds: Predictions,
    pred_fs: Sequence[StagedFile],
    staging: Path,
    now: str,
) -> tuple[BatchOutcome, RecordDraft]:
    """Check one batch (its staged copy) and draft its record; the results file is written into staging."""
    draft = RecordDraft(fields={}, parts=[], failures=[], files=[])
    with open_batch(inspection.source) as reader:
        _validate_batch(Path(source), reader, spec, preds)
        meta = reader.meta
        rspec = spec.resolve(reader.design)
        pred, pred_src = preds.match(reader.design, source)
        relpath = result_file_name(meta["batch_id"], now, draft.uid)
        tmp = staging / f"results-{draft.uid}.h5"
        o = _stream(reader, source, rspec, pred, pred_src, preds, tmp, inspection.sha256, now, draft.uid)
    results = qc_store.stage_results(tmp, relpath)
    draft.files = [results, inspection, spec_f, *pred_fs]
    draft.fields = _record_fields(o, spec, spec_f, inspection, results, preds, pred_fs, now)
    draft.parts, draft.failures = _ledger_rows(o)
    return o, draft


def _record_fields(
    o: BatchOutcome,
    spec: Spec,
    spec_f: StagedFile,
    inspection: StagedFile,
    results: StagedFile,
    preds: Predictions,
    pred_fs: Sequence[StagedFile],
    now: str,
) -> dict[str, Any]:
    """The ledger columns of one batch's record (the store adds the chain fields)."""
    from ecmsim import __version__
    from ecmsim.io.store import dumps_predictions

    return {
        "checked_at": now,
        "batch_id": o.meta["batch_id"],
        "part_number": o.meta["part_number"],
        "drawing_revision": o.meta["drawing_revision"],
        "decision_rule": spec.decision.rule,
        "spec_name": spec.name,
        "ecmsim_version": __version__,
        "inspection_file": o.path,
        "inspection_path": inspection.path,
        "inspection_sha256": inspection.sha256,
        "spec_file": spec.source,
        "spec_path": spec_f.path,
        "spec_sha256": spec_f.sha256,
        "predictions": dumps_predictions([(p, f.path, f.sha256) for p, f in zip(preds.paths, pred_fs, strict=True)]),
        "results_path": results.path,
        "results_sha256": results.sha256,
        "n_parts": o.n_parts,
        "n_holes": o.design.n_holes,
        "n_accepted": o.n_accepted,
        "n_model_deviation": int(o.model_deviation.sum()),
    }


def _ledger_rows(o: BatchOutcome) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Part rows and failed-decision rows of one batch for the ledger."""
    import json

    parts, failures = [], []
    for i, s in enumerate(o.serials):
        by_char = {c: int(n) for c, n in zip(CHARS, o.n_rejected_by_char[i], strict=True) if n}
        parts.append(
            {
                "idx": i,
                "serial": s,
                "measured_at": o.measured_at[i],
                "verdict": VERDICT_NAMES[int(o.part_verdict[i])],
                "accepted": int(bool(o.accepted[i])),
                "n_rejected_holes": int(o.n_rejected_holes[i]),
                "n_undecided": int(o.n_undecided[i]),
                "model_deviation": int(bool(o.model_deviation[i])),
                "rejected_by_characteristic": json.dumps(by_char, sort_keys=True),
            }
        )
        for n, f in enumerate(o.failures.get(i, [])):
            failures.append({"idx": i, "n": n, **f})
    return parts, failures


def _result_arrays(p_: int, h_: int, s_: int, with_pred: bool) -> list[ResultArray]:
    c = len(CHARS)
    arrs = [
        ResultArray("parts/verdict", (p_,), "i1", None, "part verdict (worst hole verdict; see verdict_codes)", -1),
        ResultArray("parts/accepted", (p_,), "u1", None, "1: part accepted under the spec's decision rule"),
        ResultArray("parts/n_rejected_holes", (p_,), "i4", "1", "holes with a rejected characteristic"),
        ResultArray(
            "parts/n_undecided", (p_,), "i4", "1", "decisions in the conditional zones (re-measure candidates)"
        ),
        ResultArray(
            "parts/n_rejected_holes_by_characteristic",
            (p_, c),
            "i4",
            "1",
            "rejected holes per characteristic (see /design/characteristic)",
        ),
        ResultArray("parts/model_deviation", (p_,), "u1", None, "1: a hole's residuals exceed the [model] bounds"),
        ResultArray("parts/mean_residual", (p_,), "f4", "mm", "mean measured − predicted diameter", np.nan),
        ResultArray("parts/max_abs_residual", (p_,), "f4", "mm", "largest |measured − predicted|", np.nan),
        ResultArray("holes/verdict", (p_, h_), "i1", None, "hole verdict (worst characteristic)", -1),
        ResultArray("holes/rejected", (p_, h_), "u1", None, "1: hole rejected"),
        ResultArray("holes/model_deviation", (p_, h_), "u1", None, "1: residuals exceed the [model] bounds"),
        ResultArray("holes/mean_residual", (p_, h_), "f4", "mm", "mean residual over the stations", np.nan),
        ResultArray("holes/max_abs_residual", (p_, h_), "f4", "mm", "largest |residual| over the stations", np.nan),
        ResultArray(
            "holes/residual_slope",
            (p_, h_),
            "f4",
            "mm/mm",
            "least-squares slope of the residual over depth (taper error)",
            np.nan,
        ),
    ]
    for ch, unit in CHARACTERISTICS.items():
        shape: tuple[int, ...] = (p_, h_, s_) if ch == "diameter" else (p_, h_)
        arrs.append(ResultArray(f"characteristics/{ch}/verdict", shape, "i1", None, f"verdict of {ch}", -1))
        if ch in ("entry_diameter", "exit_diameter", "taper", "position"):
            arrs.append(ResultArray(f"characteristics/{ch}/value", (p_, h_), "f4", unit, f"evaluated {ch}", np.nan))
    if with_pred:
        arrs.append(
            ResultArray(
                "residuals/diameter", (p_, h_, s_), "f4", "mm", "measured − predicted diameter at the station", np.nan
            )
        )
    return arrs


@dataclass(frozen=True)
class _HoleLayout:
    """Per-hole constants of a design that every block of parts uses."""

    mask: np.ndarray  # (H, S) bool: the hole has this station
    i_entry: np.ndarray  # (H,) index of the hole's first station
    i_exit: np.ndarray  # (H,) index of the hole's last station
    length: np.ndarray  # (H,) mm between entry and exit station (NaN: no station)
    rows: np.ndarray  # (H,) 0 .. H-1
    groups: list[str]
    onehot: np.ndarray  # (H, G) 1 where the hole is in the group

    @classmethod
    def of(cls, d: Design) -> _HoleLayout:
        h_, s_ = d.n_holes, d.n_stations
        mask = d.station_mask
        has_st = mask.any(axis=1)
        i_entry = np.argmax(mask, axis=1)
        i_exit = s_ - 1 - np.argmax(mask[:, ::-1], axis=1) if s_ else i_entry
        if s_:
            length = np.where(has_st, d.station_depth[i_exit] - d.station_depth[i_entry], np.nan)
        else:
            length = np.full(h_, np.nan)
        rows = np.arange(h_)
        groups = d.groups()
        g_index = np.array([groups.index(g) for g in d.group], np.int64)
        onehot = np.zeros((h_, len(groups)))
        onehot[rows, g_index] = 1.0
        return cls(mask, i_entry, i_exit, length, rows, groups, onehot)


def _device_uncertainty(reader: BatchReader, dec: Decision) -> np.ndarray:
    """U per device (mm), the spec's default where the device states none; one NaN appended for index -1."""
    dev_u = reader.device_uncertainty.copy()
    if dec.default_uncertainty_mm is not None:
        dev_u[np.isnan(dev_u)] = dec.default_uncertainty_mm
    return np.append(dev_u, np.nan)  # index -1 (not measured) → NaN


@dataclass
class BatchStats:
    """Accumulators of one batch for the report's charts (filled block by block).

    Histograms count underflow (first bin) and overflow (last bin) besides
    the 60 bins between the edges; ``d_*`` are per hole × station sums,
    counts and extremes of the measured diameter (mm); ``part_group_*`` the
    per-part mean deviation from nominal / mean residual of each hole group.
    """

    dev_edges: np.ndarray
    dev_hist: np.ndarray
    res_edges: np.ndarray
    res_hist: np.ndarray
    d_sum: np.ndarray
    d_cnt: np.ndarray
    d_min: np.ndarray
    d_max: np.ndarray
    part_group_dev: np.ndarray
    part_group_res: np.ndarray
    groups: list[str]
    pred: np.ndarray
    limits: dict[str, Limits]
    pred_src: np.ndarray

    @classmethod
    def start(
        cls, rspec: ResolvedSpec, groups: list[str], pred: np.ndarray, pred_src: np.ndarray, n_parts: int
    ) -> BatchStats:
        lim = rspec.limits
        h_, s_ = pred.shape
        # histogram bins: diameter deviation from nominal and residuals
        dl = lim["diameter"]
        spans = np.concatenate([(dl.hi - dl.nominal)[dl.specified], (dl.nominal - dl.lo)[dl.specified]])
        spans = spans[np.isfinite(spans)]
        half = 2.0 * float(spans.max()) if spans.size else 0.1
        model = rspec.spec.model
        rb = model.max_residual_mm or model.max_mean_residual_mm or 0.05
        return cls(
            dev_edges=np.linspace(-half, half, 61),
            dev_hist=np.zeros(62, np.int64),
            res_edges=np.linspace(-2.5 * rb, 2.5 * rb, 61),
            res_hist=np.zeros(62, np.int64),
            d_sum=np.zeros((h_, s_)),
            d_cnt=np.zeros((h_, s_)),
            d_min=np.full((h_, s_), np.inf),
            d_max=np.full((h_, s_), -np.inf),
            part_group_dev=np.full((n_parts, len(groups)), np.nan),
            part_group_res=np.full((n_parts, len(groups)), np.nan),
            groups=groups,
            pred=pred,
            limits=lim,
            pred_src=pred_src,
        )

    def add_measured(self, a: int, dia: np.ndarray, nominal: np.ndarray, onehot: np.ndarray) -> None:
        """Add the diameters (parts a.., holes, stations; mm) of one block."""
        b = a + dia.shape[0]
        fin = np.isfinite(dia)
        dz = np.where(fin, dia, 0.0)
        self.d_sum += dz.sum(axis=0)
        self.d_cnt += fin.sum(axis=0)
        np.fmin(self.d_min, np.fmin.reduce(np.where(fin, dia, np.inf), axis=0), out=self.d_min)
        np.fmax(self.d_max, np.fmax.reduce(np.where(fin, dia, -np.inf), axis=0), out=self.d_max)
        dev = dia - nominal[None, :, None].astype(np.float32)
        self.dev_hist += _hist(dev, self.dev_edges)
        self.part_group_dev[a:b] = _group_means(dev, onehot)

    def add_residuals(self, a: int, r: np.ndarray, onehot: np.ndarray) -> None:
        """Add the residuals measured − predicted (parts a.., holes, stations; mm) of one block."""
        self.res_hist += _hist(r, self.res_edges)
        self.part_group_res[a : a + r.shape[0]] = _group_means(r, onehot)


def _group_means(x: np.ndarray, onehot: np.ndarray) -> np.ndarray:
    """Per part mean of the finite values of each hole group: (p, H, S) → (p, G), NaN where none."""
    with np.errstate(invalid="ignore", divide="ignore"):
        fin = np.isfinite(x)
        gs = np.where(fin, x, 0.0).sum(axis=2) @ onehot
        gc = fin.sum(axis=2) @ onehot
        return np.where(gc > 0, gs / np.maximum(gc, 1), np.nan)


class _VerdictTally:
    """Hole and part verdicts, decision counts and reasons of a batch, block by block."""

    def __init__(self, n_parts: int, n_holes: int, dec: Decision) -> None:
        self.dec = dec
        self.n_holes = n_holes
        self.counts = np.zeros((len(CHARS), len(_VERDICT_CODES)), np.int64)
        self.hole_counts = np.zeros(len(_VERDICT_CODES), np.int64)
        self.part_verdict = np.full(n_parts, VERDICT_NA, np.int8)
        self.accepted = np.zeros(n_parts, bool)
        self.n_rej_holes = np.zeros(n_parts, np.int64)
        self.n_undecided = np.zeros(n_parts, np.int64)
        self.n_rej_char = np.zeros((n_parts, len(CHARS)), np.int64)
        self.reasons: dict[int, list[str]] = {}
        self.failures: dict[int, list[dict[str, Any]]] = {}

    def add(self, a: int, b: int, res: _Evaluated, w: QCResultWriter) -> None:
        """Count and write the verdicts of parts a..b; start an empty reason list for each rejected part."""
        accept_cond = self.dec.accept_conditional_pass
        hv = np.full((b - a, self.n_holes), VERDICT_NA, np.int8)
        n_und = np.zeros(b - a, np.int64)
        for ci, ch in enumerate(CHARS):
            c = res.codes[ch]
            if self.dec.missing == "ignore":
                c[c == VERDICT_MISSING] = VERDICT_NA
            self.counts[ci] += _code_counts(c)
            worst = c.max(axis=2) if c.ndim == 3 else c
            np.maximum(hv, worst, out=hv)
            und = (c == VERDICT_COND_PASS) | (c == VERDICT_COND_FAIL)
            n_und += und.reshape(b - a, -1).sum(axis=1)
            self.n_rej_char[a:b, ci] = _rejected(worst, accept_cond).sum(axis=1)
            w.write(f"characteristics/{ch}/verdict", a, b, c)
            if ch in res.values:
                w.write(f"characteristics/{ch}/value", a, b, res.values[ch])
        hole_rej = _rejected(hv, accept_cond)
        self.hole_counts += _code_counts(hv)
        pv = hv.max(axis=1)
        self.part_verdict[a:b] = pv
        self.accepted[a:b] = ~_rejected(pv, accept_cond) & (pv != VERDICT_NA)
        self.n_rej_holes[a:b] = hole_rej.sum(axis=1)
        self.n_undecided[a:b] = n_und
        w.write("holes/verdict", a, b, hv)
        w.write("holes/rejected", a, b, hole_rej.astype(np.uint8))
        for i in np.nonzero(~self.accepted[a:b])[0]:
            self.reasons[a + int(i)] = []

    def write_parts(self, a: int, b: int, w: QCResultWriter) -> None:
        w.write("parts/verdict", a, b, self.part_verdict[a:b])
        w.write("parts/accepted", a, b, self.accepted[a:b].astype(np.uint8))
        w.write("parts/n_rejected_holes", a, b, self.n_rej_holes[a:b])
        w.write("parts/n_undecided", a, b, self.n_undecided[a:b])
        w.write("parts/n_rejected_holes_by_characteristic", a, b, self.n_rej_char[a:b])

    def verdict_counts(self) -> dict[str, dict[str, int]]:
        names = [VERDICT_NAMES[c] for c in _VERDICT_CODES]
        return {
            ch: {n: int(k) for n, k in zip(names, self.counts[ci], strict=True) if k} for ci, ch in enumerate(CHARS)
        }

    def hole_verdict_counts(self) -> dict[str, int]:
        names = [VERDICT_NAMES[c] for c in _VERDICT_CODES]
        return {n: int(k) for n, k in zip(names, self.hole_counts, strict=True) if k}


def _code_counts(c: np.ndarray) -> np.ndarray:
    """How often each verdict code occurs in ``c`` (in the order of ``_VERDICT_CODES``)."""
    return np.bincount((c.ravel() + 1).astype(np.int64), minlength=len(_VERDICT_CODES))


class _ModelTally:
    """Residual summaries and the model-deviation flags of a batch, block by block."""

    def __init__(self, n_parts: int, bounds: ModelBounds) -> None:
        self.bounds = bounds
        self.model_dev = np.zeros(n_parts, bool)
        self.mean_res = np.full(n_parts, np.nan)
        self.max_res = np.full(n_parts, np.nan)
        self.n_holes_dev = 0

    def add(self, a: int, r: np.ndarray, station_depth: np.ndarray, w: QCResultWriter) -> None:
        """Flag the holes of parts a.. whose residuals ``r`` (p, H, S; mm) exceed the bounds; write the summaries."""
        b = a + r.shape[0]
        rs = _residual_stats(r, station_depth)
        bounds = self.bounds
        with np.errstate(invalid="ignore"):
            hdev = np.zeros(r.shape[:2], bool)
            if bounds.max_residual_mm is not None:
                hdev |= rs["max_abs"] > bounds.max_residual_mm
            if bounds.max_mean_residual_mm is not None:
                hdev |= np.abs(rs["mean"]) > bounds.max_mean_residual_mm
        self.n_holes_dev += int(hdev.sum())
        self.model_dev[a:b] = hdev.any(axis=1)
        self.mean_res[a:b] = rs["part_mean"]
        self.max_res[a:b] = rs["part_max"]
        w.write("holes/model_deviation", a, b, hdev.astype(np.uint8))
        w.write("holes/mean_residual", a, b, rs["mean"])
        w.write("holes/max_abs_residual", a, b, rs["max_abs"])
        w.write("holes/residual_slope", a, b, rs["slope"])
        w.write("parts/model_deviation", a, b, self.model_dev[a:b].astype(np.uint8))
        w.write("parts/mean_residual", a, b, self.mean_res[a:b])
        w.write("parts/max_abs_residual", a, b, self.max_res[a:b])


def _result_attrs(
    reader: BatchReader, source: str, spec: Spec, digest: str, now: str, preds: Predictions, uid: str
) -> dict[str, object]:
    """Root attributes of a QC results file: what was checked, against what, under which rule."""
    dec = spec.decision
    return {
        "checked_at": now,
        "batch_id": reader.meta["batch_id"],
        "part_number": reader.meta["part_number"],
        "drawing_revision": reader.meta["drawing_revision"],
        "record_uid": uid,
        "inspection_file": source,
        "inspection_sha256": digest,
        "spec_file": spec.source,
        "spec_sha256": spec.sha256,
        "spec_name": spec.name,
        "decision_rule": dec.rule,
        "decision_rule_reference": RULE_REFERENCES[dec.rule],
        "guard_band_factor": dec.guard_band_factor,
        "accept_conditional_pass": int(dec.accept_conditional_pass),
        "missing_measurements": dec.missing,
        "prediction_matching": PREDICTION_RULE if preds else "no predictions",
    }


def _write_constants(w: QCResultWriter, lim: dict[str, Limits], pred: np.ndarray | None, pred_src: np.ndarray) -> None:
    """The datasets that do not depend on the parts: tolerance limits and (if any) the predictions."""
    for name, l_ in lim.items():
        unit = CHARACTERISTICS[name]
        w.dataset(f"characteristics/{name}/lower_limit", l_.lo, unit, "lower tolerance limit (-inf: none)")
        w.dataset(f"characteristics/{name}/upper_limit", l_.hi, unit, "upper tolerance limit (inf: none)")
    if pred is not None:
        w.dataset("predictions/diameter", pred, "mm", "predicted diameter at each hole × station (NaN: none)")
        w.dataset("predictions/source", pred_src, "1", "index of the prediction input per hole (-1: none)")


def _stream(
    reader: BatchReader,
    source: str,
    rspec: ResolvedSpec,
    pred: np.ndarray,
    pred_src: np.ndarray,
    preds: Predictions,
    out: Path,
    digest: str,
    now: str,
    uid: str,
) -> BatchOutcome:
    """Evaluate the batch block by block of parts, writing the QC results file ``out`` as it goes."""
    spec = rspec.spec
    dec = spec.decision
    d = reader.design
    p_ = reader.n_parts
    with_pred = bool(preds) and bool(np.isfinite(pred).any())
    layout = _HoleLayout.of(d)
    dev_u_ext = _device_uncertainty(reader, dec)
    nominal = np.asarray(d.nominal_diameter, float)
    stats = BatchStats.start(rspec, layout.groups, pred, pred_src, p_)
    tally = _VerdictTally(p_, d.n_holes, dec)
    model = _ModelTally(p_, spec.model)
    pred32 = pred.astype(np.float32)
    inputs = [("inspection", source, digest), ("spec", spec.source, spec.sha256)]
    inputs += [("prediction", p, h) for p, h in zip(preds.paths, preds.sha256, strict=True)]
    with qc_result_file(
        out,
        attrs=_result_attrs(reader, source, spec, digest, now, preds, uid),
        texts={"spec_toml": spec.text, "spec_json": dumps_json(spec.to_dict())},
        inputs=inputs,
        serials=reader.serials,
        measured_at=reader.measured_at,
        hole_id=d.hole_id,
        station_depth=d.station_depth,
        characteristics=CHARS,
        arrays=_result_arrays(p_, d.n_holes, d.n_stations, with_pred),
    ) as w:
        _write_constants(w, rspec.limits, pred if with_pred else None, pred_src)
        for a, b, m in reader.iter_chunks():
            res = _evaluate(m, rspec, dev_u_ext, layout, d, dec)
            tally.add(a, b, res, w)
            _collect_reasons(tally.reasons, tally.failures, a, res, rspec, d, dec)
            stats.add_measured(a, m["diameter"], nominal, layout.onehot)
            if with_pred:
                r = m["diameter"] - pred32[None]
                w.write("residuals/diameter", a, b, r)
                model.add(a, r, d.station_depth, w)
                stats.add_residuals(a, r, layout.onehot)
            tally.write_parts(a, b, w)
        accepted = tally.accepted
        w.attrs(
            {
                "n_parts": p_,
                "n_accepted": int(accepted.sum()),
                "n_rejected": int(p_ - accepted.sum()),
                "n_parts_model_deviation": int(model.model_dev.sum()),
                "all_conform": int(bool(accepted.all())),
            }
        )
    return BatchOutcome(
        path=source,
        sha256=digest,
        meta=dict(reader.meta),
        design=d,
        serials=reader.serials,
        measured_at=reader.measured_at,
        results_file=str(out),
        part_verdict=tally.part_verdict,
        accepted=accepted,
        n_rejected_holes=tally.n_rej_holes,
        n_undecided=tally.n_undecided,
        n_rejected_by_char=tally.n_rej_char,
        model_deviation=model.model_dev,
        mean_residual=model.mean_res,
        max_abs_residual=model.max_res,
        reasons=tally.reasons,
        failures=tally.failures,
        verdict_counts=tally.verdict_counts(),
        hole_verdict_counts=tally.hole_verdict_counts(),
        n_holes_model_deviation=model.n_holes_dev,
        stats=stats,
        predictions={
            "files": preds.paths,
            "holes_with_prediction": int((pred_src >= 0).sum()),
            "holes_without_prediction": [d.hole_id[i] for i in np.nonzero(pred_src < 0)[0][:50]] if preds else [],
            "rule": PREDICTION_RULE,
        },
    )


def _rejected(code: np.ndarray, accept_cond: bool) -> np.ndarray:
    rej = code >= VERDICT_COND_FAIL
    if not accept_cond:
        rej |= code == VERDICT_COND_PASS
    return rej


def _hist(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts in ``edges`` bins plus underflow (first) and overflow (last), NaN ignored."""
    v = x[np.isfinite(x)]
    idx = np.searchsorted(edges, v, side="right")  # 0: below, len(edges): above
    return np.bincount(idx, minlength=edges.size + 1)


def _residual_stats(r: np.ndarray, z: np.ndarray) -> dict[str, np.ndarray]:
    fin = np.isfinite(r)
    cnt = fin.sum(axis=2)
    r0 = np.where(fin, r, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        s1 = r0.sum(axis=2)
        mean = np.where(cnt > 0, s1 / np.maximum(cnt, 1), np.nan)
        max_abs = np.fmax.reduce(np.abs(r), axis=2)
        zm = (fin * z).sum(axis=2) / np.maximum(cnt, 1)
        dz = np.where(fin, z - zm[..., None], 0.0)
        den = (dz * dz).sum(axis=2)
        slope = np.where(den > 0, (dz * (r0 - mean[..., None])).sum(axis=2) / np.where(den > 0, den, 1.0), np.nan)
        tot = cnt.sum(axis=1)
        part_mean = np.where(tot > 0, s1.sum(axis=1) / np.maximum(tot, 1), np.nan)
        part_max = np.fmax.reduce(max_abs, axis=1)
    return {"mean": mean, "max_abs": max_abs, "slope": slope, "part_mean": part_mean, "part_max": part_max}


@dataclass
class _Evaluated:
    """One block of parts evaluated: verdict codes, derived values and uncertainties per characteristic."""

    codes: dict[str, np.ndarray]  # int8 verdict codes, (p, H, S) for diameter, (p, H) otherwise
    values: dict[str, np.ndarray]  # derived characteristics: entry/exit diameter, taper, position
    raw: dict[str, np.ndarray]  # measured diameter and depth
    blocked: np.ndarray  # (p, H) bool
    u: dict[str, np.ndarray]  # expanded uncertainty used for each decision


def _evaluate(
    m: dict[str, np.ndarray],
    rspec: ResolvedSpec,
    dev_u_ext: np.ndarray,
    layout: _HoleLayout,
    d: Design,
    dec: Decision,
) -> _Evaluated:
    """Verdict codes and derived values of every characteristic for one block of parts."""
    mask, i_entry, i_exit, length, rows = layout.mask, layout.i_entry, layout.i_exit, layout.length, layout.rows
    lim = rspec.limits
    rule, gbf = dec.rule, dec.guard_band_factor
    dia = m["diameter"]
    u_val = dev_u_ext[m["device"]]  # (p, H, S), NaN: not measured or unknown
    codes: dict[str, np.ndarray] = {}
    values: dict[str, np.ndarray] = {}
    ucs: dict[str, np.ndarray] = {}

    def decide(name: str, v: np.ndarray, u: np.ndarray, in_hole: np.ndarray) -> None:
        l_ = lim[name]
        uu = np.where(np.isnan(l_.u), u, l_.u)
        w = gbf * uu
        nan_v = np.isnan(v)
        if rule != "simple":
            need = l_.specified & ~nan_v & np.isnan(w)
            if need.any():
                idx = np.argwhere(need)[0]
                raise InputDataError(
                    f"the {rule} decision rule needs the measurement uncertainty, but {name} of hole "
                    f"{d.hole_id[idx[1]]} has none (device uncertainty not stated); give uncertainty_mm in the "
                    f"CSV, [decision] default_uncertainty_mm or uncertainty_{CHARACTERISTICS[name]} in the spec"
                )
        c = zones(v, l_.lo, l_.hi, w, rule)
        c[nan_v & l_.specified & in_hole] = VERDICT_MISSING
        c[np.broadcast_to(~l_.specified, c.shape) | (nan_v & ~in_hole)] = VERDICT_NA
        codes[name] = c
        ucs[name] = uu

    decide("diameter", dia, u_val, np.broadcast_to(mask, dia.shape))
    has = mask.any(axis=1)
    de, dx = dia[:, rows, i_entry], dia[:, rows, i_exit]
    ue, ux = u_val[:, rows, i_entry], u_val[:, rows, i_exit]
    de = np.where(has, de, np.nan)
    dx = np.where(has, dx, np.nan)
    decide("entry_diameter", de, ue, np.broadcast_to(has, de.shape))
    decide("exit_diameter", dx, ux, np.broadcast_to(has, dx.shape))
    with np.errstate(invalid="ignore", divide="ignore"):
        two_l = 2.0 * np.where(length > 0, length, np.nan)
        taper = np.degrees(np.arctan((de - dx) / two_l))
        u_taper = np.degrees(np.hypot(ue, ux) / two_l)
    decide("taper", taper, u_taper, np.broadcast_to(has & (length > 0), taper.shape))
    tp = 2.0 * np.hypot(m["x_dev"], m["y_dev"])
    pos = np.fmax.reduce(tp, axis=2)
    u_pos = 2.0 * np.fmax.reduce(np.where(np.isfinite(tp), u_val, np.nan), axis=2)
    decide("position", pos, u_pos, np.ones(pos.shape, bool))
    depth = m["depth"]
    u_depth = dev_u_ext[m["depth_device"]]
    decide("depth", depth, u_depth, np.ones(depth.shape, bool))
    codes["depth"][m["blocked"]] = VERDICT_FAIL
    values.update(entry_diameter=de, exit_diameter=dx, taper=taper, position=pos)
    return _Evaluated(codes, values, {"diameter": dia, "depth": depth}, m["blocked"], ucs)


def _collect_reasons(
    reasons: dict[int, list[str]],
    failures: dict[int, list[dict[str, Any]]],
    a: int,
    res: _Evaluated,
    rspec: ResolvedSpec,
    d: Design,
    dec: Decision,
) -> None:
    """Up to MAX_FAILURES failed decisions per rejected part, the first MAX_REASONS also as text.

    A loop over the kept decisions only.
    """
    codes = res.codes
    parts, chars, holes, stations = [], [], [], []
    for ci, ch in enumerate(CHARS):
        rej = _rejected(codes[ch], dec.accept_conditional_pass)
        idx = np.nonzero(rej)
        if not idx[0].size:
            continue
        parts.append(idx[0])
        holes.append(idx[1])
        stations.append(idx[2] if len(idx) == 3 else np.full(idx[0].size, -1))
        chars.append(np.full(idx[0].size, ci))
    if not parts:
        return
    p, c, h, s = (np.concatenate(x) for x in (parts, chars, holes, stations))
    sev = np.concatenate(
        [
            (codes[CHARS[ci]][pp, hh, ss] if CHARS[ci] == "diameter" else codes[CHARS[ci]][pp, hh])
            for ci, pp, hh, ss in _by_char(c, p, h, s)
        ]
    )
    order = np.lexsort((s, h, c, -sev.astype(np.int16), p))  # worst verdict first
    p, c, h, s = p[order], c[order], h[order], s[order]
    first = np.searchsorted(p, p, side="left")
    rank = np.arange(p.size) - first
    keep = rank < MAX_FAILURES
    for pi, ci, hi, si, ri in zip(
        p[keep].tolist(), c[keep].tolist(), h[keep].tolist(), s[keep].tolist(), rank[keep].tolist(), strict=True
    ):
        row = _failure_row(res, rspec, d, CHARS[ci], pi, hi, si)
        failures.setdefault(a + pi, []).append(row)
        if ri < MAX_REASONS:
            reasons.setdefault(a + pi, []).append(_reason_text(row, dec))


def _failure_row(res: _Evaluated, rspec: ResolvedSpec, d: Design, ch: str, pi: int, hi: int, si: int) -> dict[str, Any]:
    """One failed decision: hole, characteristic, station, value, limits, uncertainty (None: not applicable)."""
    code = int(res.codes[ch][pi, hi, si] if si >= 0 else res.codes[ch][pi, hi])
    l_ = rspec.limits[ch]
    lo = float(l_.lo[hi, si] if si >= 0 else l_.lo[hi])
    up = float(l_.hi[hi, si] if si >= 0 else l_.hi[hi])
    blocked = ch == "depth" and bool(res.blocked[pi, hi])
    v = u = float("nan")
    if not blocked and code != VERDICT_MISSING:
        if ch == "diameter":
            v, u = float(res.raw["diameter"][pi, hi, si]), float(res.u[ch][pi, hi, si])
        else:
            v = float(res.values[ch][pi, hi] if ch in res.values else res.raw[ch][pi, hi])
            u = float(res.u[ch][pi, hi])
    return {
        "hole_id": d.hole_id[hi],
        "characteristic": ch,
        "station_mm": float(d.station_depth[si]) if si >= 0 else None,
        "value": _finite(v),
        "lower": _finite(lo),
        "upper": _finite(up),
        "uncertainty": _finite(u),
        "unit": CHARACTERISTICS[ch],
        "verdict": "blocked" if blocked else VERDICT_NAMES[code],
    }


def _finite(x: float) -> float | None:
    return x if np.isfinite(x) else None


def _reason_text(f: dict[str, Any], dec: Decision) -> str:
    """A failed decision as one line of the report."""
    where = f"{f['hole_id']} {f['characteristic']}" + (
        f" @ {f['station_mm']:g} mm" if f["station_mm"] is not None else ""
    )
    if f["verdict"] == "blocked":
        return f"{where}: blocked"
    if f["value"] is None:
        return f"{where}: not measured"
    lo, up, unit = f["lower"], f["upper"], f["unit"]
    lim_txt = f"{_fmt(lo)}..{_fmt(up)}" if lo is not None else f"≤ {_fmt(up)}"
    if up is None:
        lim_txt = f"≥ {_fmt(lo)}"
    u_txt = f", U {f['uncertainty']:.4f}" if f["uncertainty"] is not None and dec.rule != "simple" else ""
    return f"{where}: {f['value']:.4f} {unit}, {f['verdict']} (limits {lim_txt} {unit}{u_txt})"


def _by_char(
    c: np.ndarray, p: np.ndarray, h: np.ndarray, s: np.ndarray
) -> list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
    """Split the concatenated reason candidates back by characteristic (they are grouped by it)."""
    out = []
    for ci in np.unique(c).tolist():
        m = c == ci
        out.append((ci, p[m], h[m], s[m]))
    return out


def _fmt(x: float) -> str:
    return f"{x:.4f}"


# --------------------------------------------------------------------------- terminal summary
def summary_lines(run: CheckRun, max_rejected: int = 20) -> list[str]:
    """The terminal summary: one table row per batch, then the rejected parts and why."""
    rule = run.spec.decision.rule
    lines = [f"spec {run.spec.source} (sha256 {run.spec.sha256[:12]}), decision rule: {rule}"]
    head = f"{'batch':<20} {'parts':>6} {'accepted':>9} {'rejected':>9} {'undecided':>10} {'model dev.':>11}"
    lines += [head, "-" * len(head)]
    for o in run.outcomes:
        lines.append(
            f"{o.meta['batch_id'][:20]:<20} {o.n_parts:>6} {o.n_accepted:>9} {o.n_parts - o.n_accepted:>9} "
            f"{int((o.n_undecided > 0).sum()):>10} {int(o.model_deviation.sum()):>11}"
        )
    for o in run.outcomes:
        rej = np.nonzero(~o.accepted)[0]
        if rej.size:
            lines.append(f"rejected parts of {o.meta['batch_id']} ({rej.size}):")
            for i in rej[:max_rejected]:
                why = "; ".join(o.reasons.get(int(i), [])[:2])
                lines.append(
                    f"  {o.serials[i]:<16} {VERDICT_NAMES[int(o.part_verdict[i])]:<16} "
                    f"{int(o.n_rejected_holes[i])} hole(s): {why}"
                )
            if rej.size > max_rejected:
                lines.append(f"  … {rej.size - max_rejected} more (see the report or --json)")
        flagged = np.nonzero(o.model_deviation & o.accepted)[0]
        if flagged.size:
            names = ", ".join(o.serials[i] for i in flagged[:10]) + (" …" if flagged.size > 10 else "")
            lines.append(f"in tolerance but deviating from the prediction ({flagged.size}): {names}")
        lines.append(f"results: {o.results_file}")
    lines.append("all parts conform" if run.all_conform else "some parts are rejected (exit code 1)")
    return lines
