"""Write docs/api.md, the API reference, from the docstrings of ecmsim's public modules.

Run ``python docs/gen_api.py`` after changing a public signature or docstring;
``tests/test_api_docs.py`` fails while docs/api.md is out of date.  Standard
library only (``importlib`` and ``inspect``): it imports each module and reads
what is public there.

What is listed, module by module (packages: every public submodule too): the
classes and functions a module defines (or its ``__all__``, when it has one),
each with its signature, the summary line of its numpydoc docstring and its
``Parameters`` (``Attributes`` for classes, ``Returns``) sections; for a class,
also its public methods and properties with their summaries.  Objects a module
merely imports are named once, under the module that defines them.  The
output is stable: names in alphabetical order, no memory addresses, no paths.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

#: The public modules, in the order of the page (packages include their submodules).
MODULES = (
    "ecmsim.config",
    "ecmsim.process",
    "ecmsim.simulation",
    "ecmsim.steady",
    "ecmsim.domain",
    "ecmsim.state",
    "ecmsim.stepper",
    "ecmsim.history",
    "ecmsim.equilibrium",
    "ecmsim.channel",
    "ecmsim.grid_study",
    "ecmsim.solvers",
    "ecmsim.solvers3d",
    "ecmsim.io",
    "ecmsim.qc",
    "ecmsim.engineering",
    "ecmsim.testing",
    "ecmsim.jsonable",
    "ecmsim.numba_cache",
    "ecmsim.kernels",
)
#: numpydoc sections shown: for functions and methods, and for classes.
FUNCTION_SECTIONS = ("Parameters", "Returns")
CLASS_SECTIONS = ("Parameters", "Attributes")
OUTPUT = Path(__file__).with_name("api.md")
COMMAND = "python docs/gen_api.py"

_ADDRESS = re.compile(r" at 0x[0-9A-Fa-f]+")


# --------------------------------------------------------------------------- finding what is public
def iter_modules(names: tuple[str, ...] = MODULES) -> Iterator[ModuleType]:
    """Each listed module that exists, followed by its public submodules (sorted)."""
    for name in names:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # not (yet) part of ecmsim: nothing to document
                continue
            raise
        yield module
        if hasattr(module, "__path__"):
            subs = sorted(m.name for m in pkgutil.iter_modules(module.__path__) if not m.name.startswith("_"))
            yield from iter_modules(tuple(f"{name}.{sub}" for sub in subs))


def _unwrap(obj: Any) -> Any:
    """The Python function behind a Numba dispatcher (its signature and docstring)."""
    return getattr(obj, "py_func", obj)


def public_members(module: ModuleType) -> tuple[list[tuple[str, Any]], list[str]]:
    """(name, object) of the classes and functions ``module`` defines, and the names it re-exports."""
    exported = getattr(module, "__all__", None)
    names = sorted(exported) if exported is not None else sorted(n for n in vars(module) if not n.startswith("_"))
    own, reexported = [], []
    for name in names:
        obj = getattr(module, name, None)
        target = _unwrap(obj)
        if not (inspect.isclass(target) or inspect.isfunction(target)):
            continue
        if getattr(target, "__module__", None) == module.__name__:
            own.append((name, obj))
        elif exported is not None:
            reexported.append(f"{target.__module__}.{target.__qualname__}")
    return own, reexported


# --------------------------------------------------------------------------- docstrings
def summary(doc: str | None) -> str:
    """The first paragraph of a docstring, on one line."""
    if not doc:
        return ""
    lines = inspect.cleandoc(doc).splitlines()
    para: list[str] = []
    for line in lines:
        if not line.strip():
            break
        para.append(line.strip())
    return " ".join(para)


def sections(doc: str | None) -> dict[str, list[str]]:
    """numpydoc sections of a docstring (a title underlined with dashes) → their lines."""
    out: dict[str, list[str]] = {}
    lines = inspect.cleandoc(doc or "").splitlines()
    current: str | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        underline = lines[i + 1].strip() if i + 1 < len(lines) else ""
        if line.strip() and underline and set(underline) == {"-"} and not line.startswith(" "):
            current = line.strip()
            out[current] = []
            i += 2
            continue
        if current is not None:
            out[current].append(line)
        i += 1
    return out


def entries(lines: list[str]) -> list[tuple[str, str]]:
    """(``name : type`` head, description on one line) of each entry of a section."""
    items: list[tuple[str, list[str]]] = []
    for line in lines:
        if not line.strip():
            continue
        if not line.startswith(" "):
            items.append((line.strip(), []))
        elif items:
            items[-1][1].append(line.strip())
    return [(head, " ".join(text)) for head, text in items]


def render_sections(doc: str | None, titles: tuple[str, ...]) -> list[str]:
    """Markdown lists of the chosen numpydoc sections."""
    found = sections(doc)
    out: list[str] = []
    for title in titles:
        items = entries(found.get(title, []))
        if not items:
            continue
        out += [f"**{title}**", ""]
        for head, text in items:
            name, _, kind = head.partition(" : ")
            head_md = f"`{name.strip()}`" + (f" ({kind.strip()})" if kind else "")
            out.append(f"- {head_md}" + (f": {text}" if text else ""))
        out.append("")
    return out


# --------------------------------------------------------------------------- signatures
def _default(value: Any) -> str:
    if inspect.isclass(value) or inspect.isfunction(_unwrap(value)) or inspect.isbuiltin(value):
        return getattr(_unwrap(value), "__qualname__", repr(value))
    if isinstance(value, set | frozenset) and value:  # set order follows string hashing, which varies per run
        items = ", ".join(sorted(_default(v) for v in value))
        return f"{type(value).__name__}({{{items}}})"
    return _ADDRESS.sub("", repr(value))


def _annotation(annotation: Any) -> str:
    return annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)


def _parameter(p: inspect.Parameter) -> str:
    stars = "*" if p.kind is p.VAR_POSITIONAL else ("**" if p.kind is p.VAR_KEYWORD else "")
    text = stars + p.name
    if p.annotation is not p.empty:
        text += f": {_annotation(p.annotation)}"
    if p.default is not p.empty:
        text += (" = " if p.annotation is not p.empty else "=") + _default(p.default)
    return text


def signature(obj: Any, skip_first: bool = False) -> str:
    """``(a: int, b: str = 'x') -> T`` with annotations as written and stable defaults.

    Annotations are shown as written (``from __future__ import annotations``
    keeps them as text); a class shows the arguments of its constructor.
    """
    try:
        sig = inspect.signature(_unwrap(obj))
    except (TypeError, ValueError):  # some built-in bases (exceptions) have none
        return "(...)"
    params = list(sig.parameters.values())[1 if skip_first else 0 :]
    parts: list[str] = []
    for i, p in enumerate(params):
        before = params[i - 1].kind if i else None
        if p.kind is p.KEYWORD_ONLY and before not in (p.KEYWORD_ONLY, p.VAR_POSITIONAL):
            parts.append("*")
        if before is p.POSITIONAL_ONLY and p.kind is not p.POSITIONAL_ONLY:
            parts.append("/")
        parts.append(_parameter(p))
    if params and params[-1].kind is params[-1].POSITIONAL_ONLY:
        parts.append("/")
    shown = sig.return_annotation not in (sig.empty, None, "None") or not inspect.isclass(_unwrap(obj))
    ret = f" -> {_annotation(sig.return_annotation)}" if shown and sig.return_annotation is not sig.empty else ""
    return f"({', '.join(parts)}){ret}"


# --------------------------------------------------------------------------- the page
def _methods(cls: type) -> list[str]:
    rows = []
    for name in sorted(vars(cls)):
        if name.startswith("_"):
            continue
        raw = vars(cls)[name]
        if isinstance(raw, property):
            rows.append(f"- `{name}` (property): {summary(raw.__doc__)}".rstrip(": "))
            continue
        func = raw.__func__ if isinstance(raw, classmethod | staticmethod) else raw
        if not inspect.isfunction(func):
            continue
        sig = signature(func, skip_first=not isinstance(raw, staticmethod))
        rows.append(f"- `{name}{sig}`" + (f": {summary(func.__doc__)}" if func.__doc__ else ""))
    return ["**Methods**", "", *rows, ""] if rows else []


def _fields(cls: type) -> list[str]:
    """The fields of a config dataclass: unit and help text from their metadata."""
    if not dataclasses.is_dataclass(cls):
        return []
    rows = []
    for f in dataclasses.fields(cls):
        meta = f.metadata
        if "help" in meta:
            notes = [n for n in (meta.get("unit"), "required" if meta.get("required") else "") if n]
            rows.append(f"- `{f.name}`" + (f" ({', '.join(notes)})" if notes else "") + f": {meta['help']}")
    return ["**Fields**", "", *rows, ""] if rows else []


def render_object(name: str, obj: Any) -> list[str]:
    """The section of one class or function."""
    target = _unwrap(obj)
    is_class = inspect.isclass(target)
    doc = inspect.getdoc(target) if is_class else target.__doc__
    out = [f"### {'class ' if is_class else ''}`{name}`", "", "```python", f"{name}{signature(obj)}", "```", ""]
    if summary(doc):
        out += [summary(doc), ""]
    out += render_sections(doc, CLASS_SECTIONS if is_class else FUNCTION_SECTIONS)
    if is_class:
        out += _fields(target) + _methods(target)
    return out


def render_module(module: ModuleType) -> list[str]:
    """The section of one module: its summary, then its classes and functions."""
    own, reexported = public_members(module)
    out = [f"## `{module.__name__}`", ""]
    if summary(module.__doc__):
        out += [summary(module.__doc__), ""]
    if reexported:
        out += ["Also importable from here: " + ", ".join(f"`{n}`" for n in sorted(reexported)) + ".", ""]
    for group in (
        [(n, o) for n, o in own if inspect.isclass(_unwrap(o))],
        [(n, o) for n, o in own if not inspect.isclass(_unwrap(o))],
    ):
        for name, obj in group:
            out += render_object(name, obj)
    return out


def render() -> str:
    """The text of docs/api.md."""
    modules = list(iter_modules())
    out = [
        "# API reference",
        "",
        f"Generated from the docstrings by `{COMMAND}`; edit the docstrings, not this page.",
        "",
    ]
    out += [f"- [`{m.__name__}`](#{m.__name__.replace('.', '')})" for m in modules]
    out.append("")
    for module in modules:
        out += render_module(module)
    return "\n".join(out).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write docs/api.md (or check it with ``--check``: exit 1 when out of date)."""
    args = sys.argv[1:] if argv is None else argv
    text = render()
    if "--check" in args:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
        if current != text:
            print(f"{OUTPUT.name} is out of date: run `{COMMAND}`", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT} ({len(text.splitlines())} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
