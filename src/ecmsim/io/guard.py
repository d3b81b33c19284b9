"""Outputs never overwrite inputs or QC store records: the check every command runs first.

Every command that writes files calls :func:`refuse_unsafe_outputs` with its
output paths and its input files before it does any work.  An output is
refused (:class:`~ecmsim.errors.InputDataError`, exit 2) when it

* is the same file as an input of the command: the same path once symlinks are
  resolved, or the same file reached through a hard link (``st_dev``/``st_ino``);
* lies inside a QC store (:func:`~ecmsim.io.store.store_containing`) or inside
  the command's own ``--store`` folder: records and archived inputs there are
  written only by the store;
* names the same file as another output of the same command.

Inputs are given as the user typed them; :func:`config_inputs` adds what a
process config brings along (``example:NAME`` resolved to the bundled file,
``[data] files``) and :func:`measurement_inputs` strips the conditions from
``BATCH.h5@table.key=value``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TypeAlias

from ecmsim.errors import InputDataError

#: ``(option, path)``: an option name as the user sees it (``-o``, ``--spec``, ``CONFIG``) and
#: the path it names; ``None`` (option not given) and ``-`` (stdout) are skipped.
Named: TypeAlias = "tuple[str, str | Path | None]"


def _given(items: Iterable[Named]) -> list[tuple[str, Path]]:
    return [(opt, Path(p)) for opt, p in items if p is not None and str(p) not in ("", "-")]


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def same_file(a: str | Path, b: str | Path) -> bool:
    """True when ``a`` and ``b`` name one file: equal resolved paths, or one inode (hard links)."""
    pa, pb = Path(a), Path(b)
    if pa.resolve() == pb.resolve():
        return True
    ia = _identity(pa)
    return ia is not None and ia == _identity(pb)


def _inside(path: Path, folder: Path) -> bool:
    p, f = path.resolve(), folder.resolve()
    return p == f or f in p.parents


def config_inputs(option: str, config: str | Path) -> list[Named]:
    """The files a process config argument reads: the config (``example:NAME`` resolved) and its data files.

    A config that cannot be read yields only its path: the command reports the
    problem itself when it loads it.
    """
    from ecmsim.config import resolve_config_path

    path = resolve_config_path(config)
    label = f"{option} {config}" if str(path) == str(config) else f"{option} {config} ({path})"
    found: list[Named] = [(label, path)]
    try:
        import tomllib

        if not path.is_file() or path.stat().st_size > 16_000_000:
            return found  # a device, a pipe, a huge file: the command refuses it when it loads it
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
        files = doc.get("data", {}).get("files", [])
    except (OSError, ValueError, AttributeError, RecursionError):
        return found
    if isinstance(files, list):
        found += [(f"{label} [data] files", path.parent / f) for f in files if isinstance(f, str)]
    return found


def measurement_inputs(option: str, specs: Sequence[str]) -> list[Named]:
    """Batch files of ``BATCH.h5[@table.key=value,...]`` arguments (``calibrate --measurements``)."""
    return [(option, s.partition("@")[0]) for s in specs]


def refuse_special_file(option: str, path: str | Path) -> None:
    """Refuse an input that is a device, a pipe or a socket (``/dev/zero`` would be read for ever).

    Missing files and folders pass: the command names those problems itself.

    Raises
    ------
    InputDataError
        Naming the option and the path.
    """
    import stat

    try:
        mode = os.stat(path).st_mode
    except OSError:
        return
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        name = option if str(path) in option else f"{option} {path}"
        raise InputDataError(f"{name}: not a regular file (a device, pipe or socket); give a file")


def _stores_of(path: Path, stores: Sequence[Path]) -> Path | None:
    from ecmsim.io.store import store_containing

    found = store_containing(path)
    if found is not None:
        return found
    return next((s for s in stores if _inside(path, s)), None)


def refuse_unsafe_outputs(
    outputs: Iterable[Named], inputs: Iterable[Named] = (), *, stores: Iterable[str | Path | None] = ()
) -> None:
    """Refuse, before any work, outputs that would overwrite an input, a store file or each other.

    Parameters
    ----------
    outputs
        ``(option, path)`` of every file (or folder) the command will write.
    inputs
        ``(option, path)`` of every file the command reads.
    stores
        QC store folders the command writes through the store (its ``--store``),
        refused as output locations even before they exist as stores (a database
        URL such as ``postgresql://…`` has no folder and is skipped).

    Raises
    ------
    InputDataError
        Naming the option, the path and the input or store it would overwrite.
    OutputError
        An output's folder cannot be written (:func:`~ecmsim.io.common.probe_writable`).
    """
    outs = _given(outputs)
    ins = _given(inputs)
    own_stores = [Path(s) for s in stores if s is not None and str(s) and "://" not in str(s)]  # URL: a database
    seen: list[tuple[str, Path]] = []
    for opt, path in outs:
        store = _stores_of(path, own_stores)
        if store is not None:
            raise InputDataError(
                f"{opt} {path}: is inside the QC store {store}; its records and archived inputs are "
                "written only by the store and never replaced. Write this output outside the store."
            )
        for in_opt, src in ins:
            if same_file(path, src):
                raise InputDataError(
                    f"{opt} {path}: the output would overwrite the input {in_opt} {src}; choose another file"
                )
        for other_opt, other in seen:
            if same_file(path, other):
                raise InputDataError(f"{other_opt} {other} and {opt} {path} name the same file; give each its own")
        seen.append((opt, path))
    for in_opt, src in ins:  # /dev/zero, a pipe: reading would never end
        refuse_special_file(in_opt, src)
    from ecmsim.io.common import probe_writable

    for _, path in outs:  # read-only folder, no permission, full disk: exit 4 before any work
        probe_writable(path)
    for store_folder in own_stores:
        probe_writable(store_folder)
