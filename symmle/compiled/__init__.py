"""`CompiledModel`: vectorised evaluation of a `symmle.model.Model` (numpy, numba), and `threads`.

Get a compiled model with ``model.compile()``. Results are bit-identical for any number of
threads; the library never changes its caller's CPU affinity or BLAS thread settings.
"""

from ._backend import BACKENDS, default_backend, resolve_backend
from ._chunks import CHUNK_BYTES, CHUNK_ROWS, HESSIAN_BYTES, JACOBIAN_BYTES
from ._model import CompiledModel
from ._parallel import MAX_AUTO_THREADS, num_threads, threads
from ._precompile import precompile

__all__ = ["BACKENDS", "CHUNK_BYTES", "CHUNK_ROWS", "HESSIAN_BYTES", "JACOBIAN_BYTES",
           "MAX_AUTO_THREADS", "CompiledModel", "default_backend", "num_threads",
           "precompile", "resolve_backend", "threads"]
