"""The Numba cache guard: a folder keyed by the kernel sources, set before Numba is imported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ecmsim.numba_cache import kernel_source_hash


def test_tests_run_with_the_keyed_cache_folder() -> None:
    folder = Path(os.environ["NUMBA_CACHE_DIR"])
    assert folder.name == f"kernels-{kernel_source_hash()}"
    import numba

    assert Path(numba.config.CACHE_DIR) == folder


def test_hash_follows_every_kernel_file(tmp_path: Path) -> None:
    """Editing any file of a copy of the kernels package changes the hash (run in a child process)."""
    import ecmsim.kernels  # noqa: F401  (only to find its folder)

    src = Path(sys.modules["ecmsim.kernels"].__file__).parent
    pkg = tmp_path / "ecmsim_copy" / "ecmsim"
    (pkg / "kernels").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    for f in src.glob("*.py"):
        (pkg / "kernels" / f.name).write_text(f.read_text(encoding="utf-8"), encoding="utf-8")
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); "
        "import importlib.util, pathlib, runpy; "
        f"m = runpy.run_path({str(Path(__file__).parents[1] / 'src/ecmsim/numba_cache.py')!r}); "
        "print(m['kernel_source_hash']())"
    )

    def digest() -> str:
        return subprocess.run(
            [sys.executable, "-c", code, str(pkg.parent)], capture_output=True, text=True, check=True
        ).stdout.strip()

    first = digest()
    assert first == kernel_source_hash()  # a faithful copy hashes the same
    (pkg / "kernels" / "levelset.py").write_text(
        (pkg / "kernels" / "levelset.py").read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8"
    )
    second = digest()
    assert second != first
    (pkg / "kernels" / "new_module.py").write_text("X = 1\n", encoding="utf-8")
    assert digest() not in {first, second}


def test_guard_refuses_after_numba_was_imported(tmp_path: Path) -> None:
    code = (
        "import numba, os\n"
        "os.environ.pop('NUMBA_CACHE_DIR', None)\n"
        "from ecmsim.numba_cache import use_keyed_cache_dir\n"
        "try:\n    use_keyed_cache_dir()\nexcept RuntimeError as e:\n    print('refused:', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert out.stdout.startswith("refused:")
