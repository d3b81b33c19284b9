"""CSV tables read block by block, in bounded memory whatever the size of the file.

A table is read in two passes over the file, each holding one block of text at
a time (:data:`BLOCK_BYTES`):

1. :func:`scan_text` decodes the whole file once and checks what concerns it
   as a whole: it can be read, it is text in the given encoding (a bad byte is
   named with its line and offset), it is not empty, its header is separated
   by the expected delimiter, and whether its lines end with ``\\n`` or (classic
   Mac OS) with ``\\r`` only.  It also counts the lines, an upper bound on the
   records that the importer allocates its arrays for.
2. :func:`open_table` parses the records with the :mod:`csv` module and
   checks the header (unknown, repeated and missing columns); its records are
   then read one by one, as ``(line, fields)`` pairs, by the caller.

The checks and messages are those of reading the file whole; where a file has
several faults, the one reported is the same too (a malformed line anywhere
is named before a bad header, a bad byte before everything).
"""

from __future__ import annotations

import codecs
import csv
import difflib
import io
import itertools
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ecmsim.errors import InputDataError

#: Bytes of the file decoded at a time (the text of one block is held in memory, about 4 bytes a character).
BLOCK_BYTES = 1 << 22
_SEPARATORS = ((";", "semicolon"), ("\t", "tab"), ("|", "bar"))


@dataclass(frozen=True)
class TextInfo:
    """What the first pass learnt of a text file: line end and line count."""

    newline: str  # '\n' (also '\r\n'), or '' for files without any '\n' (lines end at '\r')
    n_lines: int  # line ends in the file, plus one


def _codec(path: Path, encoding: str, start: bytes) -> str:
    """The codec that decodes a file beginning with ``start`` as ``bytes.decode(encoding)`` decodes it whole."""
    enc = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
    try:
        info = codecs.lookup(enc)
    except LookupError:
        info = None
    if info is None or not getattr(info, "_is_text_encoding", True):  # bytes.decode refuses base64 too
        raise InputDataError(f"{path}: unknown encoding {encoding!r} (--encoding; e.g. utf-8, latin-1)")
    name = info.name
    boms = {"utf-16": (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE), "utf-32": (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)}
    if name in boms and not start.startswith(boms[name]):  # without one: the machine's byte order
        return f"{name}-{sys.byteorder[0]}e"
    return enc


def _blocks(path: Path) -> Iterator[bytes]:
    try:
        with open(path, "rb") as fh:
            while block := fh.read(BLOCK_BYTES):
                yield block
    except FileNotFoundError:
        raise InputDataError(f"{path}: file not found") from None
    except OSError as exc:
        raise InputDataError(f"{path}: cannot read: {exc.strerror}") from None


def _decoded(path: Path, encoding: str) -> Iterator[str]:
    """The text of ``path`` block by block; a byte that is not ``encoding`` is named with its line and offset."""
    blocks = _blocks(path)
    first = next(blocks, b"")  # a file that cannot be read is named before an unknown encoding
    while 0 < len(first) < 4 and (more := next(blocks, b"")):  # enough for a byte order mark
        first += more
    decoder = codecs.getincrementaldecoder(_codec(path, encoding, first))()
    offset = newlines = 0  # bytes fed to the decoder so far, and the b"\n" among them
    for block in itertools.chain((first,) if first else (), blocks, (b"",)):
        pending = decoder.getstate()[0]  # bytes of an unfinished character, decoded again with the block
        try:
            text = decoder.decode(block, final=not block)
        except UnicodeDecodeError as exc:
            fed = pending + block
            at = len(fed) - len(exc.object) + exc.start  # exc.object can lack a byte order mark
            line = newlines - pending.count(b"\n") + fed[:at].count(b"\n") + 1
            raise InputDataError(
                f"{path}:{line}: not {encoding} text (byte {fed[at]:#04x} at offset {offset - len(pending) + at}); "
                f"save the file as UTF-8 or give its encoding with --encoding (e.g. --encoding latin-1)"
            ) from None
        offset += len(block)
        newlines += block.count(b"\n")
        if text:
            yield text


def _check_delimiter(path: Path, first: str, delimiter: str) -> None:
    """Refuse a header line separated by another common delimiter than ``delimiter``."""
    if delimiter in first:
        return
    for cand, name in _SEPARATORS:
        if cand in first:
            opt = "'\\t'" if cand == "\t" else repr(cand)
            comma = " (or --decimal comma, which implies ';', for numbers written 1,234)" if cand == ";" else ""
            raise InputDataError(
                f"{path}:1: the header is separated by {name}s, expected {delimiter!r}; "
                f"export comma-separated values or pass --delimiter {opt}{comma}"
            )


def _first_line(head: str) -> str | None:
    """The first line of the text after leading white space, or None if ``head`` may not hold all of it."""
    lines = head.lstrip().splitlines(keepends=True)
    if not lines:
        return None
    if len(lines) > 1 or lines[0].splitlines()[0] != lines[0]:
        return lines[0].splitlines()[0]
    return None


def scan_text(path: str | Path, delimiter: str, encoding: str = "utf-8") -> TextInfo:
    """First pass over a CSV file: readable, ``encoding`` text, not empty, header separated by ``delimiter``.

    Raises
    ------
    InputDataError
        Naming the file (and the line and byte offset of a byte that is not
        ``encoding`` text, or the delimiter the header uses).
    """
    p = Path(path)
    head, first = "", None
    lf = cr = 0
    for text in _decoded(p, encoding):
        if first is None:
            head += text
            first = _first_line(head)
        lf += text.count("\n")
        cr += text.count("\r")
    if not head.strip():
        raise InputDataError(f"{p}: the file is empty")
    _check_delimiter(p, first if first is not None else _first_line(head + "\n") or "", delimiter)
    return TextInfo("\n" if lf else "", (lf if lf else cr) + 1)


def _lines(path: Path, info: TextInfo, encoding: str) -> Iterator[str]:
    """The lines of the file, each with its line end, split as :class:`io.StringIO` does with ``info.newline``."""
    end = info.newline or "\r"
    rest = ""
    for text in _decoded(path, encoding):
        text = rest + text
        cut = text.rfind(end) + 1
        rest = text[cut:]
        if cut:
            yield from io.StringIO(text[:cut], newline=info.newline)
    if rest:
        yield rest


def _check_header(path: Path, header: list[str], required: Sequence[str], optional: Sequence[str]) -> None:
    allowed = (*required, *optional)
    unknown = [c for c in header if c not in allowed]
    if unknown:
        hints = []
        for c in unknown:
            near = difflib.get_close_matches(c, allowed, n=1, cutoff=0.6)
            hints.append(f"{c!r}" + (f" (did you mean {near[0]!r}?)" if near else ""))
        raise InputDataError(
            f"{path}:1: unknown column{'s' if len(unknown) > 1 else ''} {', '.join(hints)}; "
            f"allowed: {', '.join(allowed)}"
        )
    dup = sorted({c for c in header if header.count(c) > 1})
    if dup:
        raise InputDataError(f"{path}:1: column {dup[0]!r} appears more than once")
    missing = [c for c in required if c not in header]
    if missing:
        raise InputDataError(
            f"{path}:1: missing required column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
            f"(found: {', '.join(header)}; required: {', '.join(required)})"
        )


def _records(path: Path, info: TextInfo, delimiter: str, encoding: str) -> Iterator[tuple[int, list[str]]]:
    """``(line, stripped fields)`` of every record that is not blank, the header included."""
    # Records end at "\n" (or "\r\n"), so that line numbers are those an editor shows; a
    # stray "\r" inside a field is then an error at its own line, not a hidden extra line
    # that shifts every later number.  Only a file without any "\n" (classic Mac OS line
    # ends) is read with "\r" as the line end.
    reader = csv.reader(_lines(path, info, encoding), delimiter=delimiter, strict=True)
    try:
        for fields in reader:
            if not fields or all(not f.strip() for f in fields):
                continue
            yield reader.line_num, [f.strip() for f in fields]
    except csv.Error as exc:
        why = str(exc)
        if "new-line character seen in unquoted field" in why:
            why = "a carriage return (\\r) inside an unquoted field; remove it or quote the field"
        raise InputDataError(f"{path}:{reader.line_num}: malformed CSV: {why}") from None


@dataclass
class Table:
    """An open CSV table: its checked header, its records (read once, in order) and the file's line count."""

    header: list[str]
    records: Iterator[tuple[int, list[str]]]
    n_lines: int


def open_table(
    path: str | Path, required: Sequence[str], optional: Sequence[str], delimiter: str, encoding: str = "utf-8"
) -> Table:
    """Scan a CSV file, read and check its header, and return its data records to be read one by one.

    The header is normalised (stripped, lower case).  Iterating over the
    records raises :class:`InputDataError` at a malformed line, and at the end
    of a file without any data record.

    Raises
    ------
    InputDataError
        Naming the file and the line: unreadable, not ``encoding`` text, empty,
        another delimiter, malformed, no header, unknown, repeated or missing columns.
    """
    p = Path(path)
    info = scan_text(p, delimiter, encoding)
    records = _records(p, info, delimiter, encoding)
    first = next(records, None)
    if first is None:
        raise InputDataError(f"{p}: no header row (every line is empty)")
    header = [f.lower() for f in first[1]]
    try:
        _check_header(p, header, required, optional)
    except InputDataError:
        for _ in records:  # a malformed line further on is named first, as when the file is read whole
            pass
        raise
    return Table(header, _data(p, records), info.n_lines)


def _data(path: Path, records: Iterator[tuple[int, list[str]]]) -> Iterator[tuple[int, list[str]]]:
    n = 0
    for rec in records:
        n += 1
        yield rec
    if not n:
        raise InputDataError(f"{path}: no data rows after the header")
