"""A ddn node as a PyTorch layer.

>>> layer = ddn.torch.Layer("stdlib/optnet_qp.ddn", "optnet_qp")
>>> z = layer(Q, p, G, h, A, b)          # p may be (B, n): a batch of B problems

The call runs a :class:`torch.autograd.Function`: the forward solves the node in
Rust (a batch across the cores, the GIL released), the backward differentiates
its optimality conditions. A parameter with one axis more than declared is a
batch; the others are shared by every instance (broadcast, as cvxpylayers does)
and get the sum of the instances' gradients. float32 and float64 tensors go in,
the same dtype comes out (the solve is in float64). Outputs are returned in
declaration order (named duals included): one tensor, or a tuple.

A failed instance (infeasible, unbounded, out of iterations) does not raise by
default: its outputs and gradients are NaN and ``layer.last_status`` holds every
instance's status code (``ddn.STATUS_NAMES``); ``return_status=True`` returns it
too, and ``on_failure="raise"`` raises instead.
"""

from __future__ import annotations

import numpy as np
import torch

import ddn as _ddn
from ddn import DdnError, STATUS_NAMES

__all__ = ["Layer"]


def _failure_text(status: np.ndarray, messages) -> str:
    codes = np.atleast_1d(status)
    bad = [i for i, c in enumerate(codes) if c not in _ddn.SOLVED]
    parts = []
    for i in bad[:5]:
        why = STATUS_NAMES[codes[i]]
        if messages[i]:
            why += f" ({messages[i]})"
        parts.append(f"instance {i}: {why}" if codes.shape != () else why)
    more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
    return f"{len(bad)} of {codes.size} instances not solved: " + "; ".join(parts) + more


_CPU = torch.device("cpu")
_F64 = torch.float64
# The solved statuses are the first codes, in the contract's order.
_SOLVED_MAX = max(_ddn.SOLVED)
assert _ddn.SOLVED == tuple(range(_SOLVED_MAX + 1))


def _float64_numpy(t: torch.Tensor) -> np.ndarray:
    """The values of `t` as a float64 NumPy array (no copy when they already are one)."""
    if t.dtype is not _F64 or not t.is_cpu:
        t = t.to(_CPU, _F64)
    return (t.detach() if t.requires_grad else t).numpy()


def _tensor(a: np.ndarray, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    t = torch.from_numpy(a)
    return t if dtype is torch.float64 and device == _CPU else t.to(device, dtype)


def _solve(layer: "Layer", dtype: torch.dtype, params) -> tuple[list[torch.Tensor], torch.Tensor, object]:
    """The node solved at `params`: its outputs as tensors (of `dtype`, on the
    parameters' device), the status codes, and the native solution."""
    node = layer.node
    # _float64_numpy inlined: this loop is most of a small call's Python time.
    arrays = {}
    for name, p in zip(node.param_names, params):
        if p.dtype is not _F64 or not p.is_cpu:
            p = p.to(_CPU, _F64)
        arrays[name] = (p.detach() if p.requires_grad else p).numpy()
    outputs, status, native = node._native.forward(arrays, layer._thread_count())
    # SOLVED is the first three codes (the contract's order): a comparison, not isin.
    if layer.on_failure == "raise" and (status > _SOLVED_MAX).any():
        raise DdnError(_failure_text(status, native.messages))
    if dtype is _F64 and (not params or params[0].is_cpu):
        outs = [torch.from_numpy(o) for o in outputs]
    else:
        device = params[0].device
        outs = [torch.from_numpy(o).to(device, dtype) for o in outputs]
    return outs, torch.from_numpy(status), native


class _Solve(torch.autograd.Function):
    """Forward: the node's outputs and the status codes; backward: the gradients
    of the parameters that require them."""

    @staticmethod
    def forward(ctx, layer: "Layer", dtype: torch.dtype, *params: torch.Tensor):
        ctx.set_materialize_grads(False)
        outs, status, native = _solve(layer, dtype, params)
        ctx.native = native
        ctx.layer = layer
        ctx.param_dtypes = [p.dtype for p in params]
        ctx.device = params[0].device if params else _CPU
        ctx.mark_non_differentiable(status)
        return (*outs, status)

    @staticmethod
    def backward(ctx, *grad_outputs):
        node = ctx.layer.node
        cot = {n: _float64_numpy(g) for n, g in zip(node.output_names, grad_outputs[:-1]) if g is not None}
        wanted = [n for n, need in zip(node.param_names, ctx.needs_input_grad[2:]) if need]
        grads, failures = ctx.native.backward(cot, wanted)
        if failures and ctx.layer.on_failure == "raise":
            raise DdnError("backward failed: " + "; ".join(f"instance {i}: {m}" for i, m in failures))
        return (
            None,
            None,
            *(
                _tensor(grads[n], ctx.device, d) if n in grads else None
                for n, d in zip(node.param_names, ctx.param_dtypes)
            ),
        )


class Layer(torch.nn.Module):
    """A ddn node as a :class:`torch.nn.Module`.

    ``path_or_source``: a ``.ddn`` file or source text; ``node``: the node's name
    (may be left out when the file has one). ``on_failure``: ``"nan"`` (the
    default: a failed instance's outputs and gradients are NaN, its status in
    ``last_status``) or ``"raise"``. ``return_status``: also return the status
    codes (a uint8 tensor, one per instance). ``threads``: batch threads (default
    :func:`ddn.get_num_threads`). ``backend``: ``jit``, ``interpreter`` or
    ``evaluator`` (the same numbers).

    Picklable: the layer is compiled again from its source where it is loaded.
    """

    def __init__(
        self,
        path_or_source,
        node: str | None = None,
        *,
        on_failure: str = "nan",
        return_status: bool = False,
        threads: int | None = None,
        backend: str = "jit",
    ):
        super().__init__()
        if on_failure not in ("nan", "raise"):
            raise ValueError(f'on_failure must be "nan" or "raise", not {on_failure!r}')
        self.module = path_or_source if isinstance(path_or_source, _ddn.Module) else _ddn.compile(path_or_source, backend=backend)
        self.node = self.module.node(node)
        self.on_failure = on_failure
        self.return_status = return_status
        self.threads = threads
        #: The status codes of the last call (index ``ddn.STATUS_NAMES``).
        self.last_status: torch.Tensor | None = None

    def _thread_count(self) -> int:
        return _ddn.get_num_threads() if self.threads is None else self.threads

    def forward(self, *args, **kwargs):
        node = self.node
        if not kwargs and len(args) == len(node.param_names) and all(isinstance(a, torch.Tensor) for a in args):
            return self._call(args)
        if len(args) > len(node.param_names):
            raise TypeError(f"node `{node.name}` takes {len(node.param_names)} parameters, {len(args)} given")
        values = dict(zip(node.param_names, args))
        for k, v in kwargs.items():
            if k in values:
                raise TypeError(f"parameter `{k}` given twice")
            values[k] = v
        missing = [n for n in node.param_names if n not in values]
        unknown = [k for k in values if k not in node.param_names]
        if missing or unknown:
            # The node's own message (ddnc's) for missing and unknown inputs.
            node.forward({k: _to_numpy(v) for k, v in values.items()})
        params = [values[n] if isinstance(values[n], torch.Tensor) else torch.as_tensor(values[n]) for n in node.param_names]
        return self._call(params)

    def _call(self, params):
        """The call with every parameter a tensor, in declaration order."""
        dtypes = {p.dtype for p in params}
        dtype = torch.float32 if torch.float32 in dtypes and torch.float64 not in dtypes else torch.float64
        if torch.is_grad_enabled() and any(p.requires_grad for p in params):
            *outs, status = _Solve.apply(self, dtype, *params)
        else:
            # Nothing to differentiate: the solve without autograd's bookkeeping.
            outs, status, _ = _solve(self, dtype, params)
        # A plain attribute: nn.Module.__setattr__'s checks for parameters,
        # buffers and submodules cost microseconds per call.
        object.__setattr__(self, "last_status", status)
        result = outs[0] if len(outs) == 1 else tuple(outs)
        return (result, status) if self.return_status else result

    @property
    def last_status_names(self) -> list[str]:
        """The last call's statuses by name."""
        if self.last_status is None:
            return []
        return [STATUS_NAMES[int(c)] for c in self.last_status.reshape(-1)]

    def extra_repr(self) -> str:
        return f"{self.node!r}, on_failure={self.on_failure!r}"


def _to_numpy(v):
    if isinstance(v, torch.Tensor):
        return v.detach().to("cpu", torch.float64).numpy()
    return v
