"""ddn: optimisation problems written in the ``.ddn`` language as differentiable
functions of NumPy arrays, PyTorch layers (:mod:`ddn.torch`) and JAX functions
(:mod:`ddn.jax`).

>>> import ddn, numpy as np
>>> m = ddn.compile('''
... node least_squares(A: real[m, n], b: real[m]) -> x: real[n] {
...     minimize sum_squares(A @ x - b)
... }''')
>>> node = m.node("least_squares")
>>> sol = node.forward(A=np.eye(3, 2), b=np.array([1.0, 2.0, 3.0]))
>>> sol.outputs["x"]
array([1., 2.])
>>> sol.backward(x=np.array([1.0, 0.0]))["b"]
array([1., 0., 0.])
>>> sol.jvp(b=np.array([1.0, 0.0, 0.0]))["x"]
array([1., 0.])

A parameter given with one axis more than declared is a batch (its leading
axis); parameters given as declared are shared by every instance. Instances
run in parallel in Rust, the GIL released; each has its own status
(:data:`STATUS_NAMES`), and a failed one NaN outputs instead of an exception.
"""

from __future__ import annotations

import os
from typing import Mapping

import numpy as np

from ._native import STATUS_NAMES, DdnError
from . import _native

__all__ = ["compile", "Module", "Node", "Solution", "DdnError", "STATUS_NAMES", "set_num_threads", "get_num_threads"]

#: The status code of an instance solved to optimality.
OPTIMAL = STATUS_NAMES.index("optimal")
#: The status codes that come with outputs and gradients: ``optimal``,
#: ``optimal_inaccurate`` (reduced accuracy) and ``stationary`` (a smooth node's
#: saddle or maximum); the contract's first three.
SOLVED = tuple(STATUS_NAMES.index(n) for n in ("optimal", "optimal_inaccurate", "stationary"))

_threads = 0


def set_num_threads(n: int) -> None:
    """Threads a batch runs on (0: ``RAYON_NUM_THREADS`` or every core, the default)."""
    global _threads
    if n < 0:
        raise ValueError(f"the thread count must be >= 0, not {n}")
    _threads = int(n)


def get_num_threads() -> int:
    """The thread count :func:`set_num_threads` set (0: rayon's default)."""
    return _threads


def _is_path(text: str) -> bool:
    """A path to a file rather than source: one line, and a file there."""
    return "\n" not in text and "{" not in text and os.path.isfile(text)


def compile(path_or_source: str | os.PathLike, *, backend: str = "jit") -> "Module":
    """Compiles a ``.ddn`` file (a path) or source text.

    ``backend`` runs the nodes' kernels: ``jit`` (Cranelift machine code),
    ``interpreter`` or ``evaluator``; all give the same numbers bit for bit.
    Raises :class:`DdnError` with the diagnostics ``ddnc check`` prints.
    """
    if isinstance(path_or_source, os.PathLike) or _is_path(path_or_source):
        path = os.fspath(path_or_source)
        with open(path, encoding="utf-8") as f:
            return Module(f.read(), name=path, backend=backend)
    return Module(path_or_source, name="<string>", backend=backend)


class Module:
    """A compiled ``.ddn`` file. Pickles as its source (compiled again on load)."""

    def __init__(self, source: str, *, name: str = "<string>", backend: str = "jit"):
        self.source = source
        self.name = name
        self.backend = backend
        self._file = _native.load(name, source, backend)

    def __reduce__(self):
        return (_rebuild_module, (self.source, self.name, self.backend))

    @property
    def nodes(self) -> list[str]:
        """The node names, in source order."""
        return self._file.nodes

    @property
    def warnings(self) -> str:
        return self._file.warnings

    def check(self) -> str:
        """``ddnc check``'s report: parameters, outputs, family and verdict per node."""
        return self._file.check_text()

    def node(self, name: str | None = None) -> "Node":
        """The node called ``name`` (may be left out when the file has one node)."""
        if name is None:
            if len(self.nodes) != 1:
                raise DdnError(f"`{self.name}` has nodes `{'`, `'.join(self.nodes)}`: name one")
            name = self.nodes[0]
        return Node(self, self._file.node(name))

    def __repr__(self) -> str:
        return f"ddn.Module({self.name!r}, nodes={self.nodes})"


def _rebuild_module(source: str, name: str, backend: str) -> Module:
    return Module(source, name=name, backend=backend)


def _as_float64(value) -> np.ndarray:
    return np.asarray(value, dtype=np.float64)


class Node:
    """One node of a :class:`Module`: forward and backward over NumPy arrays."""

    def __init__(self, module: Module, native):
        self.module = module
        self._native = native
        self.name: str = native.name
        #: ``(name, declared type, rank)`` per parameter, in declaration order.
        self.params: list[tuple[str, str, int]] = native.params
        #: ``(name, "var" | "dual", declared type)`` per output, in declaration order.
        self.outputs: list[tuple[str, str, str]] = native.outputs
        self.param_names = [p[0] for p in self.params]
        self.output_names = [o[0] for o in self.outputs]
        self.family: str = native.family
        self.convex: bool = native.convex

    def __reduce__(self):
        return (_rebuild_node, (self.module, self.name))

    def forward(self, inputs: Mapping[str, object] | None = None, /, *, threads: int | None = None, **kw) -> "Solution":
        """Solves the node: parameters by name (a mapping, keywords, or both).

        Arrays with one axis more than declared form a batch. Raises
        :class:`DdnError` for bad inputs (the message ``ddnc run`` prints).
        """
        values = dict(inputs or {}, **kw)
        arrays = {k: _as_float64(v) for k, v in values.items()}
        outputs, status, native = self._native.forward(arrays, _threads if threads is None else threads)
        return Solution(self, dict(zip(self.output_names, outputs)), status, native)

    def explain(self, inputs: Mapping[str, object] | None = None, /, **kw) -> str:
        """``ddnc explain``: the checked problem; with a conic node's inputs, its standard form."""
        values = dict(inputs or {}, **kw)
        if not values:
            return self._native.explain(None)
        return self._native.explain({k: _as_float64(v) for k, v in values.items()})

    def output_shapes(self, shapes: Mapping[str, tuple[int, ...]]) -> list[tuple[int, ...]]:
        """Each output's shape for parameters of these (unbatched) shapes."""
        return [tuple(s) for s in self._native.output_shapes({k: list(v) for k, v in shapes.items()})]

    def __repr__(self) -> str:
        params = ", ".join(f"{n}: {t}" for n, t, _ in self.params)
        outs = ", ".join(f"{n}: {t}" if k == "var" else f"dual {n}" for n, k, t in self.outputs)
        return f"<ddn node {self.name}({params}) -> ({outs}), {self.family}>"


def _rebuild_node(module: Module, name: str) -> Node:
    return module.node(name)


class Solution:
    """A forward solve: ``outputs`` by name, ``status`` codes per instance
    (index :data:`STATUS_NAMES`), and :meth:`backward`."""

    def __init__(self, node: Node, outputs: dict[str, np.ndarray], status: np.ndarray, native):
        self.node = node
        self.outputs = outputs
        self.status = status
        self._native = native

    @property
    def status_names(self) -> list[str]:
        return [STATUS_NAMES[c] for c in np.atleast_1d(self.status)]

    @property
    def ok(self) -> bool:
        """Whether every instance is solved (``SOLVED``: its outputs are given)."""
        return bool(np.all(np.isin(self.status, SOLVED)))

    @property
    def messages(self) -> list[str | None]:
        """Per instance: why its solve failed (status ``error``), else ``None``."""
        return self._native.messages

    def info(self, i: int = 0) -> dict:
        """Instance ``i``'s solver facts (solver, iterations, residuals, objective, ...)."""
        import json

        return json.loads(self._native.info(i))

    def backward(self, cotangents: Mapping[str, object] | None = None, /, *, wanted=None, **kw) -> dict[str, np.ndarray]:
        """dL/dparameters for dL/doutputs (by output name; missing ones are zero).

        A batched parameter gets a gradient per instance, a shared one the sum
        over instances. A failed instance's gradient is NaN (zero if its
        cotangents are all zero).
        """
        values = dict(cotangents or {}, **kw)
        grads, failures = self._native.backward({k: _as_float64(v) for k, v in values.items()}, wanted)
        self.backward_failures = failures
        return grads

    def jvp(self, tangents: Mapping[str, object] | None = None, /, **kw) -> dict[str, np.ndarray]:
        """The outputs' tangents (by output name) for tangents of the parameters
        (by parameter name, each shaped as its parameter was given, batch axis
        included; missing ones are zero): forward mode, from the same optimality
        conditions as :meth:`backward`, so ``<jvp(t), c> = <t, backward(c)>``.
        A failed instance's tangents are NaN.
        """
        values = dict(tangents or {}, **kw)
        outs, failures = self._native.jvp({k: _as_float64(v) for k, v in values.items()})
        self.jvp_failures = failures
        return outs
