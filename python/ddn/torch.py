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

Forward mode works too (:mod:`torch.autograd.forward_ad` dual tensors): the
outputs' tangents come from the same optimality conditions as the gradients
(``Solution.jvp``), one solve with the kept factorisation.

A failed instance (infeasible, unbounded, out of iterations) does not raise by
default: its outputs and gradients are NaN and ``layer.last_status`` holds every
instance's status code (``ddn.STATUS_NAMES``); ``return_status=True`` returns it
too, and ``on_failure="raise"`` raises instead.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.autograd.forward_ad as _fwAD

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
_F32 = torch.float32
# The solved statuses are the first codes, in the contract's order.
_SOLVED_MAX = max(_ddn.SOLVED)
assert _ddn.SOLVED == tuple(range(_SOLVED_MAX + 1))


def _float64_numpy(t: torch.Tensor) -> np.ndarray:
    """The values of `t` as a float64 NumPy array (no copy when they already are one)."""
    if t.dtype is not _F64 or not t.is_cpu:
        t = t.to(_CPU, _F64)
    return (t.detach() if t.requires_grad else t).numpy()


def _inputs(node, params) -> tuple[dict[str, np.ndarray], torch.dtype, bool, bool]:
    """One pass over the parameters (in declaration order): their values as
    float64 NumPy arrays by name, the result dtype (float32 when some parameter
    is float32 and none float64, else float64), whether every one is float64
    on the CPU (nothing to convert either way) and whether any requires a gradient.

    A small call's Python time is mostly per-tensor attribute reads, so each
    is read once here."""
    arrays = {}
    f32 = f64 = grad = False
    plain = True
    for name, p in zip(node.param_names, params):
        dtype = p.dtype
        if dtype is _F64:
            f64 = True
        elif dtype is _F32:
            f32 = True
        if dtype is not _F64 or not p.is_cpu:
            plain = False
            p = p.to(_CPU, _F64)
        if p.requires_grad:
            grad = True
            p = p.detach()
        arrays[name] = p.numpy()
    return arrays, (_F32 if f32 and not f64 else _F64), plain, grad


def _any_failed(status: np.ndarray) -> bool:
    """Whether some instance is not solved. SOLVED is the first three codes (the
    contract's order): a comparison, not isin; an unbatched call's 0-d status is
    read as an int (a NumPy reduction costs microseconds)."""
    return (int(status) if status.ndim == 0 else int(status.max())) > _SOLVED_MAX


def _solve(layer: "Layer", arrays, dtype: torch.dtype, plain: bool, device) -> tuple[list[torch.Tensor], torch.Tensor, object]:
    """The node solved at `arrays`: its outputs as tensors (of `dtype`, on
    `device`), the status codes, and the native solution."""
    outputs, status, native = layer.node._native.forward(arrays, layer._thread_count())
    if layer.on_failure == "raise" and _any_failed(status):
        raise DdnError(_failure_text(status, native.messages))
    if plain or (dtype is _F64 and device == _CPU):
        outs = [torch.from_numpy(o) for o in outputs]
    else:
        outs = [torch.from_numpy(o).to(device, dtype) for o in outputs]
    return outs, torch.from_numpy(status), native


class _Call:
    """What a call passes to :class:`_Solve` besides the parameters, as one
    argument (each argument of ``Function.apply`` costs autograd's checks), and
    where the forward leaves the status codes (a non-differentiable output of
    the Function would cost autograd's bookkeeping on every call)."""

    __slots__ = ("layer", "arrays", "dtype", "plain", "status")

    def __init__(self, layer: "Layer", arrays, dtype: torch.dtype, plain: bool):
        self.layer, self.arrays, self.dtype, self.plain = layer, arrays, dtype, plain
        self.status = None


class _Solve(torch.autograd.Function):
    """Forward: the node's outputs (the status codes left in `call.status`);
    backward: the gradients of the parameters that require them; jvp: the
    outputs' tangents for the parameters' tangents."""

    @staticmethod
    def forward(ctx, call: _Call, *params: torch.Tensor):
        ctx.set_materialize_grads(False)
        device = params[0].device if params else _CPU
        layer, dtype, plain = call.layer, call.dtype, call.plain
        outs, codes, native = _solve(layer, call.arrays, dtype, plain, device)
        call.status = codes
        ctx.native = native
        ctx.layer = layer
        ctx.plain = plain
        if not plain:
            ctx.param_dtypes = [p.dtype for p in params]
            ctx.device = device
            ctx.dtype = dtype
        return tuple(outs)

    @staticmethod
    def backward(ctx, *grad_outputs):
        node = ctx.layer.node
        cot = {n: _float64_numpy(g) for n, g in zip(node.output_names, grad_outputs) if g is not None}
        needs = ctx.needs_input_grad[1:]
        grads, failures = ctx.native.backward(cot, [n for n, need in zip(node.param_names, needs) if need])
        if failures and ctx.layer.on_failure == "raise":
            raise DdnError("backward failed: " + "; ".join(f"instance {i}: {m}" for i, m in failures))
        if ctx.plain:
            back = [torch.from_numpy(grads[n]) if need else None for n, need in zip(node.param_names, needs)]
        else:
            device = ctx.device
            back = [
                torch.from_numpy(grads[n]).to(device, d) if need else None
                for n, need, d in zip(node.param_names, needs, ctx.param_dtypes)
            ]
        return (None, *back)

    @staticmethod
    def jvp(ctx, *tangents):
        node = ctx.layer.node
        dots = {n: _float64_numpy(t) for n, t in zip(node.param_names, tangents[1:]) if t is not None}
        outs, failures = ctx.native.jvp(dots)
        if failures and ctx.layer.on_failure == "raise":
            raise DdnError("forward mode failed: " + "; ".join(f"instance {i}: {m}" for i, m in failures))
        if ctx.plain:
            return tuple(torch.from_numpy(outs[n]) for n in node.output_names)
        return tuple(torch.from_numpy(outs[n]).to(ctx.device, ctx.dtype) for n in node.output_names)


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
        arrays, dtype, plain, grad = _inputs(self.node, params)
        # Inside a forward-mode level (`forward_ad.dual_level`), a parameter may
        # carry a tangent that only the Function sees (reading the level is a
        # module attribute: the public `unpack_dual` per parameter costs more).
        if (grad and torch.is_grad_enabled()) or _fwAD._current_level >= 0:
            call = _Call(self, arrays, dtype, plain)
            outs = _Solve.apply(call, *params)
            status = call.status
        else:
            # Nothing to differentiate: the solve without autograd's bookkeeping.
            outs, status, _ = _solve(self, arrays, dtype, plain, params[0].device if params else _CPU)
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
