"""A ddn node as a JAX function with a custom VJP (or, ``mode="forward"``, a custom JVP).

>>> f = ddn.jax.function("stdlib/least_squares.ddn", "least_squares")
>>> x = f(A, b)                                   # outputs in declaration order
>>> jax.jit(jax.grad(lambda A, b: f(A, b).sum()))(A, b)
>>> jax.vmap(f, in_axes=(None, 0))(A, bs)         # a batch: one Rust call, across the cores

The node runs on the host through :func:`jax.pure_callback`, so the function
works under ``jit``, ``grad`` and ``vmap`` (a vmapped call is one batched call
into Rust). The backward callback solves the node again at the same
parameters (deterministic, so the same solution) and differentiates it. A
failed instance's outputs and gradients are NaN. float32 and float64 arrays
go in, the same dtype comes out (the solve is in float64).

``mode="forward"`` gives the same function with a custom JVP instead, for
``jax.jvp`` and ``jax.jacfwd``: the tangent callback solves the node again (as
the backward one does: the primal outputs must not depend on the tangents, or
``jacfwd``'s vmap over tangents would batch them) and returns the outputs'
tangents from the same optimality conditions. JAX takes one custom rule per
function, and a host callback cannot be transposed, so that function has no
reverse mode: use the default ``mode="reverse"`` for ``grad``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import ddn as _ddn

__all__ = ["function"]


def function(
    path_or_source,
    node: str | None = None,
    *,
    backend: str = "jit",
    threads: int | None = None,
    mode: str = "reverse",
):
    """The node called ``node`` of a ``.ddn`` file or source as a JAX function of
    its parameters (positional, in declaration order). It returns one array, or
    a tuple for several outputs. ``mode``: ``"reverse"`` (a custom VJP: ``grad``,
    ``vjp``, ``jacrev``) or ``"forward"`` (a custom JVP: ``jvp``, ``jacfwd``)."""
    if mode not in ("reverse", "forward"):
        raise ValueError(f'mode must be "reverse" or "forward", not {mode!r}')
    module = path_or_source if isinstance(path_or_source, _ddn.Module) else _ddn.compile(path_or_source, backend=backend)
    n = module.node(node)
    ranks = [r for _, _, r in n.params]

    def thread_count() -> int:
        return _ddn.get_num_threads() if threads is None else threads

    def lead(params) -> tuple[int, ...]:
        """The batch shape: the leading axes beyond each parameter's declared rank."""
        batch: tuple[int, ...] = ()
        for p, r in zip(params, ranks):
            extra = tuple(p.shape[: p.ndim - r]) if p.ndim > r else ()
            if extra and batch and extra != batch:
                raise ValueError(f"batched parameters disagree on the batch shape: {batch} and {extra}")
            batch = batch or extra
        return batch

    def result_dtype(params):
        return jnp.result_type(*[p.dtype for p in params], jnp.float32)

    def host_arrays(params, batch):
        """float64 arrays with at most one batch axis (several are flattened)."""
        arrays = {}
        for (name, _, r), p in zip(n.params, params):
            a = np.asarray(p, dtype=np.float64)
            if a.ndim > r:
                a = a.reshape((-1,) + a.shape[a.ndim - r :])
            arrays[name] = a
        return arrays

    def shaped(outputs, params, batch):
        """Host outputs (one batch axis at most) in the callers' batch shape and dtype."""
        dtype = result_dtype(params)
        return tuple(np.asarray(o.reshape(batch + o.shape[1 if batch else 0 :]), dtype=dtype) for o in outputs)

    def host_forward(*params):
        batch = lead(params)
        outputs, _, _ = n._native.forward(host_arrays(params, batch), thread_count())
        return shaped(outputs, params, batch)

    def host_jvp(*args):
        params, dots = args[: len(ranks)], args[len(ranks) :]
        batch = lead(params)
        arrays = host_arrays(params, batch)
        _, _, solution = n._native.forward(arrays, thread_count())
        flat = {name: np.asarray(d, dtype=np.float64).reshape(arrays[name].shape) for (name, _, _), d in zip(n.params, dots)}
        tangents, _ = solution.jvp(flat)
        return shaped([tangents[k] for k in n.output_names], params, batch)

    def host_backward(*args):
        params, cots = args[: len(ranks)], args[len(ranks) :]
        batch = lead(params)
        arrays = host_arrays(params, batch)
        _, _, solution = n._native.forward(arrays, thread_count())
        flat = {}
        for name, c in zip(n.output_names, cots):
            c = np.asarray(c, dtype=np.float64)
            flat[name] = c.reshape((-1,) + c.shape[len(batch) :]) if batch else c
        grads, _ = solution.backward(flat, None)
        return tuple(
            np.asarray(grads[name].reshape(p.shape), dtype=p.dtype) for (name, _, _), p in zip(n.params, params)
        )

    def out_structs(params):
        batch = lead(params)
        core = n.output_shapes({name: p.shape[p.ndim - r :] for (name, _, r), p in zip(n.params, params)})
        dtype = result_dtype(params)
        return tuple(jax.ShapeDtypeStruct(batch + s, dtype) for s in core)

    def solve(*params):
        return jax.pure_callback(host_forward, out_structs(params), *params, vmap_method="broadcast_all")

    if mode == "reverse":

        @jax.custom_vjp
        def f(*params):
            return solve(*params)

        def f_fwd(*params):
            return solve(*params), params

        def f_bwd(params, cots):
            structs = tuple(jax.ShapeDtypeStruct(p.shape, p.dtype) for p in params)
            return jax.pure_callback(host_backward, structs, *params, *cots, vmap_method="broadcast_all")

        f.defvjp(f_fwd, f_bwd)
    else:

        @jax.custom_jvp
        def f(*params):
            return solve(*params)

        @f.defjvp
        def f_jvp(params, dots):
            tangents = jax.pure_callback(host_jvp, out_structs(params), *params, *dots, vmap_method="broadcast_all")
            return solve(*params), tangents

    def call(*params):
        if len(params) != len(ranks):
            raise TypeError(f"node `{n.name}` takes {len(ranks)} parameters ({', '.join(n.param_names)}), {len(params)} given")
        params = tuple(jnp.asarray(p, dtype=result_dtype([jnp.asarray(p)])) for p in params)
        outs = f(*params)
        return outs[0] if len(outs) == 1 else outs

    call.node = n
    return call
