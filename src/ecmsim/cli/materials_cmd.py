"""``ecmsim materials``: alloys, their electrochemical equivalents, electrolytes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from ecmsim.cli.options import data_option, echo_json, json_flag

if TYPE_CHECKING:  # the data modules are imported when a command runs (``ecmsim --help`` stays instant)
    from ecmsim.materials import Alloy, MaterialsDB


@click.group("materials")
def materials_group() -> None:
    """Alloys and electrolytes known to ecmsim (built-in data plus your own files)."""


def _alloy_record(db: MaterialsDB, alloy: Alloy) -> dict[str, Any]:
    eqs: dict[str, Any] = {}
    for vs in ("low", "high"):
        eq = db.equivalent(alloy, vs, use_measured=False)
        eqs[vs] = {
            "mm3_per_C": eq.omega_mm3_per_C,
            "mm3_per_A_min": eq.omega_mm3_per_A_min,
            "valences": dict(eq.valences),
        }
    if alloy.measured_omega_mm3_per_C is not None:
        eqs["measured"] = {
            "mm3_per_C": alloy.measured_omega_mm3_per_C,
            "mm3_per_A_min": alloy.measured_omega_mm3_per_C * 60.0,
            "source": alloy.measured_omega_source,
        }
    return {
        "key": alloy.key,
        "name": alloy.name,
        "aliases": list(alloy.aliases),
        "base": alloy.base,
        "density_g_per_cm3": alloy.density_g_per_cm3,
        "density_source": alloy.density_source,
        "composition_wt_pct": dict(alloy.composition_wt_pct),
        "balance_element": alloy.balance_element,
        "composition_source": alloy.composition_source,
        "notes": alloy.notes,
        "electrochemical_equivalent": eqs,
        "file": alloy.file,
    }


@materials_group.command("list")
@data_option
@json_flag
def list_alloys(data_files: tuple[str, ...], as_json: bool) -> None:
    """List the alloys with density and ω for the low and high valence sets."""
    from ecmsim.materials import MaterialsDB

    db = MaterialsDB.load(data_files)
    records = [_alloy_record(db, a) for a in db.alloys.values()]
    if as_json:
        echo_json(records)
        return
    click.echo(f"{'key':<14} {'name':<20} {'base':<4} {'ρ g/cm³':>8} {'ω low':>9} {'ω high':>9}  mm³/C")
    for r in records:
        eq = r["electrochemical_equivalent"]
        click.echo(
            f"{r['key']:<14} {r['name']:<20} {r['base']:<4} {r['density_g_per_cm3']:>8.2f} "
            f"{eq['low']['mm3_per_C']:>9.4f} {eq['high']['mm3_per_C']:>9.4f}"
        )


@materials_group.command("show")
@click.argument("name")
@data_option
@json_flag
def show_alloy(name: str, data_files: tuple[str, ...], as_json: bool) -> None:
    """Composition, density, sources and ω of alloy NAME (key, name or alias)."""
    from ecmsim.materials import MaterialsDB

    db = MaterialsDB.load(data_files)
    r = _alloy_record(db, db.alloy(name))
    if as_json:
        echo_json(r)
        return
    click.echo(f"{r['name']}  ({r['key']}; aliases: {', '.join(r['aliases']) or '-'})")
    click.echo(f"  base {r['base']}, density {r['density_g_per_cm3']} g/cm³  [{r['density_source']}]")
    comp = ", ".join(f"{el} {wt:.3g}" for el, wt in r["composition_wt_pct"].items())
    click.echo(f"  composition wt %: {comp}  (balance: {r['balance_element']})")
    click.echo(f"  [{r['composition_source']}]")
    if r["notes"]:
        click.echo(f"  notes: {r['notes']}")
    click.echo("  electrochemical equivalent ω:")
    for basis, eq in r["electrochemical_equivalent"].items():
        click.echo(f"    {basis:<9} {eq['mm3_per_C']:.5f} mm³/C   {eq['mm3_per_A_min']:.4f} mm³/(A·min)")
    click.echo(f"  from {r['file']}")


@materials_group.command("electrolytes")
@data_option
@json_flag
def list_electrolytes(data_files: tuple[str, ...], as_json: bool) -> None:
    """List electrolytes: conductivity table, temperature law, efficiency models."""
    from ecmsim.datafiles import load_raw
    from ecmsim.electrolytes import ElectrolyteDB

    db = ElectrolyteDB(load_raw(data_files))
    records: list[dict[str, Any]] = []
    for key, el in db.electrolytes.items():
        models = {alloy: m.describe() for (ek, alloy), m in db.efficiencies.items() if ek == key}
        records.append(
            {
                "key": key,
                "name": el.name,
                "kind": el.kind,
                "reference_temperature_C": el.reference_temperature_C,
                "concentration_wt_pct": list(el.concentration_wt_pct),
                "conductivity_S_per_m": list(el.conductivity_S_per_m),
                "conductivity_source": el.conductivity_source,
                "temperature_coefficient_per_K": el.temperature_coefficient_per_K,
                "valid_temperature_C": list(el.valid_temperature_C),
                "current_efficiency": models,
            }
        )
    if as_json:
        echo_json(records)
        return
    for r in records:
        pts = ", ".join(
            f"{c:g}%: {k:g}" for c, k in zip(r["concentration_wt_pct"], r["conductivity_S_per_m"], strict=True)
        )
        click.echo(f"{r['key']:<7} {r['name']} ({r['kind']})")
        click.echo(f"  κ at {r['reference_temperature_C']:g} °C, S/m: {pts}")
        click.echo(
            f"  temperature coefficient {r['temperature_coefficient_per_K'] * 100:.2f} %/K, "
            f"valid {r['valid_temperature_C'][0]:g}–{r['valid_temperature_C'][1]:g} °C"
        )
        for alloy, m in r["current_efficiency"].items():
            params = ", ".join(f"{k}={v}" for k, v in m.items() if k not in ("model", "source"))
            click.echo(f"  η for {alloy}: {m['model']} ({params})")
