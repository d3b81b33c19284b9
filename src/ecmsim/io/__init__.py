"""All file output and HDF5 access of ecmsim lives in this package, one module per file kind.

* :mod:`ecmsim.io.common`: the spine: file kinds and headers, datasets with
  units and dimension scales, atomic writes (every output), checked reads;
* :mod:`ecmsim.io.result`: simulation and equilibrium result files;
* :mod:`ecmsim.io.batch`: inspection batch files;
* :mod:`ecmsim.io.qc_results`: QC results files (verdicts of one check);
* :mod:`ecmsim.io.store`: the QC store (ledger database, archived inputs, trace, audit);
* :mod:`ecmsim.io.spc_limits`: frozen SPC control limits;
* :mod:`ecmsim.io.sweep`: parameter-sweep files and their journal;
* :mod:`ecmsim.io.strings`: fixed-length ASCII identifiers shared by them.
"""

from __future__ import annotations

from ecmsim.io.batch import (
    INSPECTION_SCHEMA,
    INSPECTION_SCHEMA_VERSION,
    Batch,
    Design,
    open_batch,
    read_batch,
    write_batch,
)
from ecmsim.io.common import (
    FILE_KINDS,
    FileKind,
    atomic_h5,
    atomic_write,
    check_header,
    open_h5,
    write_dataset,
    write_header,
    write_provenance,
)
from ecmsim.io.qc_results import QC_RESULT_SCHEMA, QC_RESULT_SCHEMA_VERSION, read_qc_result
from ecmsim.io.result import (
    RESULT_SCHEMA,
    RESULT_SCHEMA_VERSION,
    ResultFile,
    ResultProfile,
    read_result,
    write_equilibrium,
    write_result,
)
from ecmsim.io.spc_limits import (
    SPC_LIMITS_SCHEMA,
    SPC_LIMITS_SCHEMA_VERSION,
    FrozenLimit,
    SpcLimits,
    read_spc_limits,
    write_spc_limits,
)
from ecmsim.io.store import open_store
from ecmsim.io.sweep import SWEEP_SCHEMA, SWEEP_SCHEMA_VERSION, SweepData, read_sweep, write_sweep

__all__ = [
    "FILE_KINDS",
    "INSPECTION_SCHEMA",
    "INSPECTION_SCHEMA_VERSION",
    "QC_RESULT_SCHEMA",
    "QC_RESULT_SCHEMA_VERSION",
    "RESULT_SCHEMA",
    "RESULT_SCHEMA_VERSION",
    "SPC_LIMITS_SCHEMA",
    "SPC_LIMITS_SCHEMA_VERSION",
    "SWEEP_SCHEMA",
    "SWEEP_SCHEMA_VERSION",
    "Batch",
    "Design",
    "FileKind",
    "FrozenLimit",
    "ResultFile",
    "ResultProfile",
    "SpcLimits",
    "SweepData",
    "atomic_h5",
    "atomic_write",
    "check_header",
    "open_batch",
    "open_h5",
    "open_store",
    "read_batch",
    "read_qc_result",
    "read_result",
    "read_spc_limits",
    "read_sweep",
    "write_batch",
    "write_dataset",
    "write_equilibrium",
    "write_header",
    "write_provenance",
    "write_result",
    "write_spc_limits",
    "write_sweep",
]
