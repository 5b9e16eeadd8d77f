"""A pickle reader that can rebuild plain data and numpy arrays and nothing else.

CIFAR-10's python batches are pickles; `pickle.load` on a file from the internet can run any
code. This unpickler resolves only the globals needed to rebuild numpy arrays, dtypes and
scalars, so a file referring to anything else (os.system, builtins.eval, ...) is refused with a
`DataError`.

What each pickle protocol needs for a numpy array (numpy 1.x writes `numpy.core.*`, numpy 2
`numpy._core.*`; both are accepted and resolved to the installed numpy's own functions):
  * protocols 0-4: `multiarray._reconstruct`, `numpy.ndarray`, `numpy.dtype` (+ `multiarray.scalar`
    for numpy scalars); protocols 0-2 written by Python 3 store bytes as `_codecs.encode(text,
    "latin1")`, which is allowed for the latin-1 codec only;
  * protocol 5: `numeric._frombuffer` (the array's bytes travel in-band as a bytearray).
"""

from __future__ import annotations

import codecs
import io
import pickle

import numpy as np

from tinycim.errors import DataError

LATIN1_NAMES = frozenset({"latin1", "latin-1", "iso-8859-1", "iso8859-1", "l1"})


def _latin1_encode(text: str, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """`_codecs.encode` as protocol 0-2 pickles use it for bytes, for the latin-1 codec only."""
    if not isinstance(text, str) or not isinstance(encoding, str) or encoding.lower() not in LATIN1_NAMES:
        raise pickle.UnpicklingError(f"refusing _codecs.encode with encoding {encoding!r}")
    return codecs.encode(text, "latin1", errors)


def _numpy_core():
    try:
        from numpy._core import multiarray, numeric  # numpy >= 2
    except ImportError:  # numpy 1.x
        from numpy.core import multiarray, numeric  # type: ignore[no-redef]  # same names, numpy 1.x path
    return multiarray, numeric


def _allowed_globals() -> dict[tuple[str, str], object]:
    multiarray, numeric = _numpy_core()
    table: dict[tuple[str, str], object] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _latin1_encode,
    }
    for core in ("numpy.core", "numpy._core"):
        table[(f"{core}.multiarray", "_reconstruct")] = multiarray._reconstruct
        table[(f"{core}.multiarray", "scalar")] = multiarray.scalar
        table[(f"{core}.numeric", "_frombuffer")] = numeric._frombuffer
    return table


ALLOWED_GLOBALS = frozenset(_allowed_globals())


class RestrictedUnpickler(pickle.Unpickler):
    """Resolves only `ALLOWED_GLOBALS`; refuses every other global and persistent ids."""

    _table = _allowed_globals()

    def find_class(self, module: str, name: str):
        try:
            return self._table[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}") from None

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("refusing persistent ids")


def safe_load(data: bytes, where: str):
    """Unpickle plain data from `data` (Python 2 pickles decoded as latin-1); `DataError` names `where`."""
    try:
        return RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()
    except pickle.UnpicklingError as err:
        raise DataError(f"{where}: not a plain-data pickle ({err}); refusing to load it") from None
    except (
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
        KeyError,
        MemoryError,
        OverflowError,
    ) as err:
        raise DataError(f"{where}: truncated or corrupt pickle ({type(err).__name__}: {err})") from None
