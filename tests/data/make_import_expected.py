"""Store what the whole-file CSV importer made of the import test cases (tests/data/import_expected.json).

Usage::

    git show 93bf584:tests/qc/legacy_importer.py > /tmp/legacy_importer.py
    python tests/data/make_import_expected.py /tmp/legacy_importer.py

The streaming importer (``ecmsim.qc.importer``) replaced a whole-file one,
which is kept only in the history (the commit above).  For every case of
``tests/qc/test_streaming_import.py`` this runs the given importer module and
writes its outcome (the message, or every array and list of the batch) as
JSON; the test then holds the streaming importer to it.  Run it again only
with that old importer, never with the one under test.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "qc"))

import test_streaming_import as cases_module  # noqa: E402


def main(oracle: str) -> None:
    spec = importlib.util.spec_from_file_location("oracle_importer", oracle)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = {}
    for name, files in cases_module.cases().items():
        with tempfile.TemporaryDirectory() as folder:
            measurements, design, kw = files(Path(folder))
            out[name] = cases_module.outcome(module, measurements, design, **kw)
    lines = [f"{json.dumps(k)}: {json.dumps(v, sort_keys=True)}" for k, v in sorted(out.items())]
    (HERE / "import_expected.json").write_text("{\n" + ",\n".join(lines) + "\n}\n")  # a case a line


if __name__ == "__main__":
    main(sys.argv[1])
