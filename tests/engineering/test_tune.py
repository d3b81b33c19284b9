"""Parameter search: reachable targets are met, unreachable ones fail clearly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ecmsim.config import load_config
from ecmsim.engineering.tune import parse_target, tune
from ecmsim.errors import ConfigError


def test_target_parsing() -> None:
    t = parse_target("entry_diameter_mm=0.90:0.02")
    assert (t.key, t.value, t.tol) == ("entry_diameter_mm", 0.90, 0.02)
    with pytest.raises(ConfigError, match="did you mean 'entry_diameter_mm'"):
        parse_target("entry_diametr_mm=0.9:0.02")
    with pytest.raises(ConfigError, match="positive"):
        parse_target("diameter_mm=0.9:0")
    with pytest.raises(ConfigError, match="value:tol"):
        parse_target("diameter_mm=0.9")


def test_reachable_target_is_met_at_the_highest_feed(fast_config: Path, tmp_path: Path, run_main) -> None:
    out = tmp_path / "tuned.toml"
    code, stdout, err = run_main([
        "tune", fast_config, "--target", "diameter_mm=1.45:0.02", "--maximize", "feed_rate",
        "--vary", "electrical.voltage_V=5:10", "--vary", "motion.feed_rate_mm_per_min=1:3", "-o", out, "--json",
    ])  # fmt: skip
    assert code == 0, err
    r = json.loads(stdout)
    assert r["feasible"] and r["mode"] == "equilibrium"
    (t,) = r["targets"]
    assert t["met"] and abs(t["predicted"] - 1.45) <= 0.02
    assert r["optimum"]["motion.feed_rate_mm_per_min"] > 2.5  # fastest feed that still meets the target
    assert r["predicted"]["frontal_gap_mm"] > 0.02  # no short circuit
    sens = {e["parameter"]: e["derivative"]["diameter_mm"] for e in r["sensitivity"]}
    assert sens["electrical.voltage_V"] > 0 > sens["motion.feed_rate_mm_per_min"]
    assert r["transient_check"]["status"] == "completed"
    # A 1 mm hole is short: its mean diameter includes the entry flare, so only roughly equal.
    assert abs(r["transient_check"]["metrics"]["diameter_mm"] - t["predicted"]) < 0.1
    cfg = load_config(out)
    assert cfg.electrical.voltage_V == pytest.approx(r["optimum"]["electrical.voltage_V"])


def test_unreachable_target_gives_a_clear_message_and_exit_1(fast_config: Path, run_main) -> None:
    code, _, err = run_main([
        "tune", fast_config, "--target", "diameter_mm=3.0:0.01", "--vary", "electrical.voltage_V=6:7",
        "--vary", "motion.feed_rate_mm_per_min=2:3", "--no-check",
    ])  # fmt: skip
    assert code == 1
    assert "no parameters within the search ranges meet the targets" in err
    assert "diameter_mm =" in err and "target 3 ± 0.01" in err and "widen --vary" in err
    assert "the 1D estimate over the ranges spans" in err
    assert "Traceback" not in err
    # Ø3 mm with a Ø0.8 mm tube: out of reach even on widened ranges, found with a few solves.
    assert "out of reach of this tool and process even on widened ranges" in err


def test_infeasible_target_names_the_binding_constraint(fast_config: Path) -> None:
    """A hole too narrow for the tool needs a frontal gap below the minimum: the gap constraint binds."""
    r = tune(fast_config, ["diameter_mm=1.0:0.01"], min_gap_mm=0.05, check=False)
    assert not r.feasible and r.evaluations <= 4
    (why,) = r.binding
    assert why.startswith("the constraints bind: the targets need a frontal gap of") and "--min-gap" in why
    assert r.predicted["diameter_mm"] > 1.01  # the nearest achievable hole is reported


def test_bad_search_inputs_are_input_errors(fast_config: Path, run_main) -> None:
    code, _, err = run_main(["tune", fast_config, "--target", "diameter_mm=1:0.1", "--maximize", "feed_rat"])
    assert code == 2 and "neither a metric" in err
    code, _, err = run_main(
        ["tune", fast_config, "--target", "diameter_mm=1:0.1", "--vary", "electrical.voltage_V=9:8"]
    )
    assert code == 2 and "empty" in err
    code, _, err = run_main(["tune", fast_config, "--target", "diameter_mm=1:0.1", "--maximize", "voltage",
                             "--vary", "feed_rate=1:2"])  # fmt: skip
    assert code == 2 and "electrical.voltage_V is not varied" in err


def test_api_transient_mode_for_entry_diameter(fast_config: Path) -> None:
    calls: list[tuple[int, int]] = []
    r = tune(fast_config, ["entry_diameter_mm=1.7:0.05"], vary=["electrical.voltage_V=6:9"], check=False,
             progress=lambda done, total, left: calls.append((done, total)))  # fmt: skip
    assert r.mode == "transient"  # the entry diameter needs a transient run
    assert r.feasible, r.message
    assert [c[0] for c in calls] == list(range(1, len(calls) + 1)) and len(calls) >= 1
    assert all(d <= t for d, t in calls)
