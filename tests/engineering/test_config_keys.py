"""The config key added for calibration: [electrolyte] conductivity_factor."""

from __future__ import annotations

import pytest

from ecmsim.config import load_config, schema_fields
from ecmsim.errors import ConfigError
from ecmsim.process import resolve


def test_conductivity_factor_default_metadata_and_effect() -> None:
    meta = {(t, k): m for t, k, m, _ in schema_fields()}[("electrolyte", "conductivity_factor")]
    assert meta["min"] == 0 and meta["min_exclusive"] and meta["max"] == 10 and "κ" in meta["help"]
    base = load_config("example:stem-in718")
    assert base.electrolyte.conductivity_factor == 1.0 and "electrolyte.conductivity_factor" in base.defaulted
    scaled = load_config("example:stem-in718", ["electrolyte.conductivity_factor=1.25"])
    p0, p1 = resolve(base), resolve(scaled)
    assert p1.conductivity == pytest.approx(1.25 * p0.conductivity)
    assert p1.equilibrium_gap == pytest.approx(1.25 * p0.equilibrium_gap)
    assert "calibration factor 1.25" in p1.conductivity_origin
    measured = resolve(load_config("example:stem-in718", [
        "electrolyte.conductivity_S_per_m=50", "electrolyte.conductivity_factor=0.8"]))  # fmt: skip
    assert measured.conductivity == pytest.approx(40.0)


@pytest.mark.parametrize("value", ["0", "-1", "11", '"x"'])
def test_conductivity_factor_out_of_range(value: str) -> None:
    with pytest.raises(ConfigError, match=r"conductivity_factor .* not allowed: expected a number > 0 and <= 10"):
        load_config("example:stem-in718", [f"electrolyte.conductivity_factor={value}"])
