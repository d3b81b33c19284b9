"""Tolerance specs: strict schema, nearest-key suggestions, crossed limits, resolution against a design."""

from __future__ import annotations

import numpy as np
import pytest

from ecmsim.errors import ConfigError
from ecmsim.qc.spec import parse_spec
from ecmsim.qc.synth import synthesize

BASE = """
[decision]
rule = "guarded"
[[tolerance]]
characteristic = "diameter"
lower_mm = -0.05
upper_mm = 0.05
"""


@pytest.fixture(scope="module")
def design():
    return synthesize(n_parts=2, n_holes=6, n_stations=4, faults=False).batch.design


def test_synthetic_spec_is_valid(design) -> None:
    spec = parse_spec(synthesize(n_parts=10, n_holes=10).spec_text, "spec.toml")
    assert spec.decision.rule == "non-binary" and len(spec.tolerances) == 4
    assert len(spec.sha256) == 64


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (BASE + "[modle]\n", r"unknown table \[modle\] \(did you mean 'model'\?\)"),
        (BASE.replace('rule = "guarded"', 'rule = "guarde"'), r"rule = 'guarde' \(did you mean 'guarded'\?\)"),
        (BASE.replace("[decision]", "[decision]\naccept_conditional = true"), "did you mean 'accept_conditional_pass'"),
        (BASE.replace("upper_mm", "uper_mm"), r"unknown key 'uper_mm' \(did you mean 'upper_mm'\?\)"),
        (BASE.replace("lower_mm = -0.05", "lower_mm = 0.06"), "crossed or empty limits: lower_mm = 0.06 must be <"),
        (BASE.replace("lower_mm = -0.05", "min_mm = 1.1\nmax_mm = 1.0"), "give either upper_mm .* or max_mm"),
        ("[[tolerance]]\ncharacteristic = 'taper'\nmin_deg = 2.0\nmax_deg = 1.0\n", "min_deg = 2 must be < max_deg"),
        ("[[tolerance]]\ncharacteristic = 'taper'\nlower_mm = 0\n", "did you mean 'lower_deg'"),
        ("[[tolerance]]\ncharacteristic = 'position'\nlower_mm = 0\nmax_mm = 0.1\n", "only max_mm"),
        ("[[tolerance]]\ncharacteristic = 'diametre'\nmax_mm = 1\n", "did you mean 'diameter'"),
        ("[[tolerance]]\ncharacteristic = 'depth'\n", "no limit"),
        ("[decision]\nrule = 'simple'\n", r"no \[\[tolerance\]\] entries"),
        (BASE + "[model]\nmax_residual_mm = -1\n", r"max_residual_mm = -1: must be > 0"),
        (BASE.replace("-0.05", '"x"'), "must be a finite number"),
        ("rule = ", "not valid TOML"),
    ],
)
def test_errors_name_key_value_and_allowed(text: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match) as exc:
        parse_spec(text, "s.toml")
    assert str(exc.value).startswith("s.toml: ")


def test_resolution_later_entries_override_and_selections(design) -> None:
    z1 = design.station_depth[1]
    text = BASE + (
        "[[tolerance]]\ncharacteristic = 'diameter'\ngroups = ['B']\nnominal_mm = 1.2\n"
        "lower_mm = -0.01\nupper_mm = 0.02\n"
        f"[[tolerance]]\ncharacteristic = 'diameter'\nholes = ['H001']\nstations_mm = [{z1:g}]\nmax_mm = 1.5\n"
        "uncertainty_mm = 0.002\n"
        "[[tolerance]]\ncharacteristic = 'position'\nmax_mm = 0.1\n"
    )
    r = parse_spec(text, "s.toml").resolve(design)
    d = r.limits["diameter"]
    nom = design.nominal_diameter[0]
    assert d.lo[0, 0] == pytest.approx(nom - 0.05) and d.hi[0, 0] == pytest.approx(nom + 0.05)
    # a later entry replaces the whole tolerance of what it selects (here one-sided)
    assert d.hi[0, 1] == 1.5 and d.lo[0, 1] == -np.inf and d.u[0, 1] == 0.002
    b = np.asarray(design.group) == "B"
    assert np.allclose(d.lo[b], 1.19) and np.allclose(d.hi[b], 1.22)
    assert r.limits["position"].specified.all() and not r.limits["taper"].specified.any()
    assert np.isinf(r.limits["position"].lo).all()


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        ("holes = ['H01']", r"hole 'H01' is not in the design \(did you mean 'H001'\?\)"),
        ("groups = ['C']", r"group 'C' is not in the design.*groups: A, B"),
        ("stations_mm = [0.123]", r"station 0.123 mm is not a station of the design"),
    ],
)
def test_selection_errors(design, extra: str, match: str) -> None:
    text = f"[[tolerance]]\ncharacteristic = 'diameter'\n{extra}\nmax_mm = 2\n"
    with pytest.raises(ConfigError, match=match):
        parse_spec(text, "s.toml").resolve(design)


def test_limits_crossed_after_design_nominal(design) -> None:
    text = "[[tolerance]]\ncharacteristic = 'diameter'\nmin_mm = 0.5\nupper_mm = -0.6\n"
    with pytest.raises(ConfigError, match="crossed limits for hole 'H001'"):
        parse_spec(text, "s.toml").resolve(design)


def test_example_spec_in_the_docs_is_valid() -> None:
    import re
    from pathlib import Path

    doc = Path(__file__).resolve().parents[2] / "docs" / "qc.md"
    text = re.search(r"## Tolerance spec \(TOML\)\s+```toml\n(.*?)```", doc.read_text(encoding="utf-8"), re.S)
    assert text is not None
    spec = parse_spec(text.group(1), "docs/qc.md")
    assert spec.decision.rule == "guarded" and len(spec.tolerances) == 6
