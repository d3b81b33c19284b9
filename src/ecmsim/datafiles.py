"""Loading of the materials and electrolyte data files (TOML, no code).

The package ships ``data/materials.toml`` and ``data/electrolytes.toml``.
Users add or replace alloys, elements, electrolytes and current-efficiency
entries in files of their own with the same tables, listed in a process
config (``[data] files = [...]``), on the command line (``--data FILE``) or
in the ``ECMSIM_DATA`` environment variable (paths separated by ``os.pathsep``).
Later files win over earlier ones, entry by entry.
"""

from __future__ import annotations

import difflib
import os
import tomllib
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from ecmsim.errors import DataError, EcmsimError, input_file

#: Environment variable listing extra data files.
DATA_ENV = "ECMSIM_DATA"
_TABLES = ("elements", "alloys", "electrolytes")


def slug(name: str) -> str:
    """Normalise a material name for look-up: ``"René 80"`` -> ``"rene-80"``."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    out = []
    for ch in plain.strip().lower():
        out.append(ch if ch.isalnum() else "-")
    text = "".join(out)
    while "--" in text:
        text = text.replace("--", "-")
    return text.strip("-")


@dataclass
class RawData:
    """Merged raw tables of all data files, each entry tagged with its file."""

    elements: dict[str, dict[str, Any]] = field(default_factory=dict)
    alloys: dict[str, dict[str, Any]] = field(default_factory=dict)
    electrolytes: dict[str, dict[str, Any]] = field(default_factory=dict)
    current_efficiency: list[dict[str, Any]] = field(default_factory=list)
    files: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class DataEntry:
    """A named entry of a data file (an alloy, an electrolyte).

    Attributes
    ----------
    key
        The entry's key in its table.
    name
        Display name.
    aliases
        Other names it is found by.
    file
        The data file it came from.
    """

    key: str
    name: str
    aliases: tuple[str, ...] = ()
    file: str = ""


class NameIndex:
    """Look-up of data entries by key, name or alias, case and accents ignored (:func:`slug`).

    Parameters
    ----------
    entries
        The entries by key (alloys, electrolytes), each with ``name`` and ``aliases``.
    what
        What an entry is, for messages (``"alloy"``).
    advice
        Added to the list of known keys when a name is unknown.
    """

    def __init__(self, entries: Mapping[str, DataEntry], what: str, advice: str = "") -> None:
        self.what, self.advice, self.known = what, advice, sorted(entries)
        self.names: dict[str, str] = {}
        for key, entry in entries.items():
            for name in (key, entry.name, *entry.aliases):
                self.names[slug(name)] = key

    def __contains__(self, name: str) -> bool:
        return slug(name) in self.names

    def key(self, name: str) -> str:
        """The key of the entry called ``name``.

        Raises
        ------
        DataError
            Unknown name, with the nearest names and the known keys.
        """
        key = self.names.get(slug(name))
        if key is None:
            near = difflib.get_close_matches(slug(name), sorted(self.names), n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(repr(self.names[n]) for n in near)}?" if near else ""
            raise DataError(f"unknown {self.what} {name!r}{hint} (known: {', '.join(self.known)}{self.advice})")
        return key


#: Largest TOML file ecmsim reads (configs, specs and data files are a few kilobytes).
MAX_TOML_BYTES = 16_000_000


def read_toml(
    path: str | Path, what: str = "file", error: type[EcmsimError] = DataError, reading: str | None = None
) -> dict[str, Any]:
    """Read a TOML file, turning every failure into ``error`` (a :class:`DataError` by default).

    ``what`` names the file in the messages (``"data file"``); ``reading`` in
    the message of a failed read, ``what`` by default (``""``: none).
    """
    import stat

    p = Path(path)
    label = what if reading is None else reading
    try:
        with input_file(p, what, f"a TOML {what}", error), p.open("rb") as fh:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise error(f"{p}: not a regular file (a device, pipe or socket); expected a TOML {what}")
            if st.st_size > MAX_TOML_BYTES:
                raise error(
                    f"{p}: {st.st_size / 1e6:.3g} MB is too large for a TOML {what} "
                    f"(at most {MAX_TOML_BYTES / 1e6:g} MB)"
                )
            return tomllib.load(fh)
    except RecursionError:
        raise error(f"{p}: TOML nested too deeply (arrays or inline tables inside each other); not a {what}") from None
    except UnicodeDecodeError as exc:
        raise error(f"{p}: not UTF-8 text ({exc.reason})") from None
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{p}: TOML syntax error: {exc}") from None
    except OSError as exc:
        raise error(f"{p}: cannot read{' ' + label if label else ''}: {exc.strerror}") from None


def _merge(raw: RawData, doc: Mapping[str, Any], origin: str) -> None:
    allowed = {"schema", "schema_version", *_TABLES, "current_efficiency"}
    for key in doc:
        if key not in allowed:
            raise DataError(f"{origin}: unknown top-level key {key!r}; allowed: {', '.join(sorted(allowed))}")
    for table in _TABLES:
        entries = doc.get(table, {})
        if not isinstance(entries, dict):
            raise DataError(f"{origin}: [{table}] must be a table of entries")
        target: dict[str, dict[str, Any]] = getattr(raw, table)
        for name, entry in entries.items():
            if not isinstance(entry, dict):
                raise DataError(f"{origin}: [{table}.{name}] must be a table")
            key = name if table == "elements" else slug(name)
            target[key] = {**entry, "_key": key, "_file": origin}
    ce = doc.get("current_efficiency", [])
    if not isinstance(ce, list):
        raise DataError(f"{origin}: current_efficiency must be an array of tables [[...]]")
    for n, entry in enumerate(ce, start=1):
        if not isinstance(entry, dict):
            raise DataError(f"{origin}: current_efficiency entry {n} must be a table")
        raw.current_efficiency.append({**entry, "_file": origin, "_index": n})
    raw.files.append(origin)


def builtin_files() -> list[Path]:
    """The data files shipped with ecmsim, in load order."""
    base = resources.files("ecmsim") / "data"
    return [Path(str(base / "materials.toml")), Path(str(base / "electrolytes.toml"))]


def env_files() -> list[Path]:
    """Extra data files named in ``ECMSIM_DATA``."""
    value = os.environ.get(DATA_ENV, "")
    return [Path(p) for p in value.split(os.pathsep) if p.strip()]


def load_raw(extra_files: Iterable[str | Path] = ()) -> RawData:
    """Load the built-in data, then ``ECMSIM_DATA`` files, then ``extra_files``."""
    raw = RawData()
    for path in [*builtin_files(), *env_files(), *extra_files]:
        _merge(raw, read_toml(path, "data file"), str(path))
    return raw
