"""A pickle reader that can rebuild plain data and numpy arrays and nothing else.

CIFAR-10's python batches are pickles; `pickle.load` on a file from the internet can run any
code. This unpickler resolves only the globals needed to rebuild numpy arrays, so a file
referring to anything else (os.system, builtins.eval, ...) is refused with a `DataError`.
"""
from __future__ import annotations

import io
import pickle

from tinycim.errors import DataError

ALLOWED_GLOBALS = frozenset({
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
})


class RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")
        return super().find_class(module, name)

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("refusing persistent ids")


def safe_load(data: bytes, where: str):
    """Unpickle plain data from `data` (Python 2 pickles decoded as latin-1); `DataError` names `where`."""
    try:
        return RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()
    except pickle.UnpicklingError as err:
        raise DataError(f"{where}: not a plain-data pickle ({err}); refusing to load it") from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError, MemoryError) as err:
        raise DataError(f"{where}: truncated or corrupt pickle ({type(err).__name__}: {err})") from None
