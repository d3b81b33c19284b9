"""The process-config schema: defaults, overrides, and the error messages."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from ecmsim.config import config_from_dict, load_config, schema_fields
from ecmsim.errors import ConfigError
from ecmsim.process import resolve

DATA = Path(__file__).resolve().parent / "data"


def doc() -> dict:
    return tomllib.loads((DATA / "minimal.toml").read_text(encoding="utf-8"))


def test_minimal_config_fills_defaults(minimal_config: Path) -> None:
    cfg = load_config(minimal_config)
    assert cfg.electrolyte.temperature_C == 20.0
    assert "electrolyte.temperature_C" in cfg.defaulted
    assert "electrical.voltage_V" not in cfg.defaulted
    assert cfg.numerics.cell_size_mm == 0.01


def test_every_field_has_unit_or_kind_and_help() -> None:
    for table, key, meta, _default in schema_fields():
        assert meta["help"], (table, key)
        # Every physical number carries its unit; only these are dimensionless by nature.
        dimensionless = (
            "cfl", "solver_tolerance", "theta_min", "conductivity_factor",
            "bore_entrance_loss", "tip_turn_loss", "exit_loss", "bruggeman_exponent", "max_void_fraction",
        )  # fmt: skip
        if meta["kind"] == "float" and key not in dimensionless:
            assert meta["unit"], (table, key)


def test_override_sets_value_and_records_it(minimal_config: Path) -> None:
    cfg = load_config(minimal_config, ["electrical.voltage_V=12", "electrolyte.name=HNO3"])
    assert cfg.electrical.voltage_V == 12.0
    assert cfg.electrolyte.name == "HNO3"
    assert cfg.raw["electrical"]["voltage_V"] == 12


@pytest.mark.parametrize(
    ("mutate", "pattern"),
    [
        (
            lambda d: d["tool"].update(outer_diamter_mm=1.0),
            r"unknown key 'outer_diamter_mm' in \[tool\]; did you mean 'outer_diameter_mm'",
        ),
        (lambda d: d.update(electrolite={}), r"unknown table \[electrolite\]; did you mean 'electrolyte'"),
        (
            lambda d: d["electrical"].update(voltage_V="high"),
            r"\[electrical\] voltage_V = 'high' V is not allowed: expected a number > 0",
        ),
        (
            lambda d: d["electrical"].update(voltage_V=-3),
            r"voltage_V = -3 V is not allowed: expected a number > 0 and <= 200",
        ),
        (
            lambda d: d["tool"].update(inner_diameter_mm=1.2),
            r"inner_diameter_mm = 1.2 mm must be smaller than outer_diameter_mm = 1.0 mm",
        ),
        (
            lambda d: d["tool"].update(coating_thickness_mm=0.6),
            r"coating_thickness_mm = 0.6 mm is thicker than the tool radius",
        ),
        (
            lambda d: d["workpiece"].update(thickness_mm=1.5),
            r"depth_mm = 2.0 mm is beyond the plate: \[workpiece\] thickness_mm = 1.5 mm",
        ),
        (
            lambda d: d["electrical"].update(overpotential_V=9.0),
            r"overpotential_V = 9.0 V must be below voltage_V = 8.0 V",
        ),
        (lambda d: d["electrical"].update(pulse_on_ms=1.0), r"pulse_on_ms and pulse_off_ms must be given together"),
        (
            lambda d: d["workpiece"].update(valence_set="medium"),
            r"valence_set = 'medium' is not allowed: expected one of 'low', 'high'",
        ),
        (lambda d: d["motion"].pop("depth_mm"), r"\[motion\] depth_mm \(mm\) is required"),
        (lambda d: d.pop("tool"), r"missing table \[tool\]"),
        (
            lambda d: d["numerics"].update(max_steps=1.5) if "numerics" in d else d.update(numerics={"max_steps": 1.5}),
            r"max_steps = 1.5 is not allowed: expected an integer",
        ),
        (
            lambda d: d.update(current_efficiency={"model": "threshold", "efficiency_max": 0.8}),
            r"missing key 'threshold_A_per_cm2'",
        ),
    ],
)
def test_config_errors_name_key_value_and_allowed(mutate, pattern) -> None:
    d = doc()
    mutate(d)
    with pytest.raises(ConfigError, match=pattern):
        config_from_dict(d, source="case.toml")


def test_error_message_names_the_file(tmp_path: Path, minimal_text: str) -> None:
    p = tmp_path / "bad.toml"
    p.write_text(minimal_text.replace("voltage_V = 8.0", "voltage_V = 8.0\nvoltage = 3"), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(p)
    assert str(p) in str(err.value) and "voltage_V" in str(err.value)


def test_syntax_error_and_missing_file(tmp_path: Path) -> None:
    p = tmp_path / "broken.toml"
    p.write_text("[tool\nouter_diameter_mm = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"broken\.toml: TOML syntax error"):
        load_config(p)
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml")


def test_bad_override_names_option(minimal_config: Path) -> None:
    pattern = r"--set 'electrical.voltag=3': unknown key 'voltag'.*did you mean 'voltage_V'"
    with pytest.raises(ConfigError, match=pattern):
        load_config(minimal_config, ["electrical.voltag=3"])
    with pytest.raises(ConfigError, match=r"expected table\.key=value"):
        load_config(minimal_config, ["electrical.voltage_V"])


def test_unknown_alloy_and_concentration_out_of_table(minimal_config: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[workpiece\] alloy: unknown alloy 'Inconel 7188'.*did you mean"):
        resolve(load_config(minimal_config, ["workpiece.alloy='Inconel 7188'"]))
    with pytest.raises(ConfigError, match=r"concentration 55.0 wt % outside the tabulated range"):
        resolve(load_config(minimal_config, ["electrolyte.concentration_wt_pct=55.0"]))


def test_equilibrium_gap_formula(minimal_config: Path) -> None:
    proc = resolve(load_config(minimal_config))
    eta = float(proc.efficiency(1.0))  # constant model for H2SO4
    h_e = eta * proc.omega * proc.conductivity * (8.0 - 2.0) / (1.5e-3 / 60)
    assert proc.equilibrium_gap == pytest.approx(h_e, rel=1e-9)


def test_duty_factor_scales_equilibrium_gap(minimal_config: Path) -> None:
    dc = resolve(load_config(minimal_config))
    pulsed = resolve(load_config(minimal_config, ["electrical.pulse_on_ms=3", "electrical.pulse_off_ms=1"]))
    assert pulsed.duty == pytest.approx(0.75)
    assert pulsed.equilibrium_gap == pytest.approx(0.75 * dc.equilibrium_gap)


def test_config_hash_is_stable_and_sensitive(minimal_config: Path) -> None:
    a = load_config(minimal_config)
    b = load_config(minimal_config)
    c = load_config(minimal_config, ["electrical.voltage_V=9"])
    assert a.hash() == b.hash() != c.hash()


def test_replace_gives_a_validated_variant(minimal_config) -> None:
    cfg = load_config(minimal_config)
    v = cfg.replace({"electrical.voltage_V": cfg.electrical.voltage_V + 1.0, "numerics.cfl": 0.3})
    assert v.electrical.voltage_V == cfg.electrical.voltage_V + 1.0 and v.numerics.cfl == 0.3
    assert "numerics.cfl" not in v.defaulted and v.source == cfg.source
    assert cfg.numerics.cfl != 0.3  # the original is untouched
    assert v.replace(remove=["numerics.cfl"]).numerics.cfl == cfg.numerics.cfl
    with pytest.raises(ConfigError, match="voltge"):
        cfg.replace({"electrical.voltge_V": 3.0})
    with pytest.raises(ConfigError, match=r"table\.key"):
        cfg.replace({"voltage": 3.0})


def test_changed_document_is_the_variant_before_validation(minimal_config) -> None:
    cfg = load_config(minimal_config)
    volts = cfg.electrical.voltage_V
    bad = {"electrical.overpotential_V": volts + 1.0}  # above the voltage: refused by validation
    doc = cfg.changed_document(bad)
    assert doc["electrical"]["overpotential_V"] == volts + 1.0 and doc["electrical"]["voltage_V"] == volts
    assert "overpotential_V" not in cfg.raw["electrical"]  # the config itself is untouched
    with pytest.raises(ConfigError, match="overpotential_V"):
        cfg.replace(bad)
    good = {"numerics.cfl": 0.3}
    assert config_from_dict(cfg.changed_document(good)).to_dict() == cfg.replace(good).to_dict()
    varied = cfg.replace(good)
    assert "cfl" not in varied.changed_document(remove=["numerics.cfl"])["numerics"]
