"""All HDF5 access of ecmsim lives in this package.

* :mod:`ecmsim.io.common`: atomic writes, provenance, datasets with units;
* :mod:`ecmsim.io.result`: simulation result files.
"""

from __future__ import annotations

from ecmsim.io.common import atomic_h5, open_h5, write_dataset, write_provenance
from ecmsim.io.result import RESULT_SCHEMA, RESULT_SCHEMA_VERSION, read_result, write_equilibrium, write_result

__all__ = [
    "RESULT_SCHEMA",
    "RESULT_SCHEMA_VERSION",
    "atomic_h5",
    "open_h5",
    "read_result",
    "write_dataset",
    "write_equilibrium",
    "write_provenance",
    "write_result",
]
