//! `ddn._native`: the Rust half of the Python package. A `.ddn` file is compiled
//! once; its nodes are solved and differentiated over NumPy arrays, a batch of
//! instances spread over the cores with the GIL released.
//!
//! **Batches.** A parameter given with one axis more than declared carries a
//! leading batch axis of length B; one given as declared is shared by every
//! instance (broadcast, as cvxpylayers does). Instance i's numbers are exactly
//! those of an unbatched call with its own parameters, whatever the thread
//! count: the same code runs per instance ([`runtime::Prepared::forward_batch`]).
//!
//! **Kept between calls.** A node keeps its kernels (the JIT's code) and, per
//! set of dimension sizes, the node prepared for them ([`runtime::Prepared`]: a
//! conic node's reductions recorded as a refill program, and the workspaces its
//! solves run in), so a call at sizes seen before records nothing and, once the
//! previous call's [`Solution`] is gone, allocates no workspace ([`owned`]).
//!
//! **Failure is per instance.** An instance that is not `optimal` (or whose
//! solve fails) has NaN outputs and a status code ([`status_names`]); the
//! caller decides whether that raises. Its gradient is NaN too, unless its
//! cotangents are all zero (the loss does not depend on it: the chain rule
//! gives zero, so a masked-out failure leaves the shared gradients intact).
//!
//! **Errors** in the inputs (shapes, NaN, domains, names) raise [`DdnError`]
//! with the message `ddnc run` prints (every problem found, joined by `; `).
//!
//! **Threads and `fork`.** Batches run on a pool of this module's own
//! ([`pool`]), never rayon's global one: a process forked from one that has
//! run a batch (a DataLoader worker) builds a pool of its own instead of
//! waiting on threads that `fork` did not copy. A batch on one thread runs on
//! the calling thread ([`dispatch`]), as a single instance does.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use ddn::diag::Color;
use ddn::eval::{concrete, Tensor};
use ddn::ir::{Dim, Output};
use ddn::loaded::Backend;
use ddn::runtime::{self, Bound as Instance, RunError, Solved, Status, Threads};
use numpy::ndarray::{ArrayD, IxDyn};
use numpy::{PyArray, PyArrayDyn, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

mod owned;
use owned::OwnedNode;

pyo3::create_exception!(
    ddn._native,
    DdnError,
    PyValueError,
    "A file that does not compile, or inputs a node rejects; the message is the one `ddnc` prints."
);

/// Parsing, checking and a smooth node's derivation recurse over expressions;
/// they run on a thread with `ddnc`'s stack size so that deeply nested (but
/// accepted) input does not overflow the caller's.
const STACK_BYTES: usize = 256 << 20;

/// The stack of a batch worker: the solvers' recursion depth is that of
/// `ddnc`'s main thread at most, which rayon's 2 MiB default does not promise.
const WORKER_STACK_BYTES: usize = 64 << 20;

/// The forward statuses in code order (the contract's, [`Status::ALL`]), then
/// `error` (the solve itself failed).
fn status_names() -> Vec<&'static str> {
    Status::ALL.iter().map(|s| s.name()).chain(["error"]).collect()
}

/// A status's index in [`Status::ALL`].
fn status_code(s: Status) -> u8 {
    Status::ALL.iter().position(|&t| t == s).map_or(ERROR_CODE, |i| i as u8)
}

/// The code of an instance whose solve returned an error.
const ERROR_CODE: u8 = Status::ALL.len() as u8;

/// `f()` on a thread with [`STACK_BYTES`] of stack.
fn on_big_stack<T: Send>(f: impl FnOnce() -> T + Send) -> PyResult<T> {
    std::thread::scope(|scope| {
        let handle = std::thread::Builder::new()
            .stack_size(STACK_BYTES)
            .spawn_scoped(scope, f)
            .map_err(|e| PyRuntimeError::new_err(format!("cannot start the compiler thread: {e}")))?;
        handle.join().map_err(|_| PyRuntimeError::new_err("internal error: the compiler panicked (please report it)"))
    })
}

/// The process's batch pool: its owner's process id, thread count and the pool.
struct Pool {
    pid: u32,
    threads: usize,
    pool: Arc<rayon::ThreadPool>,
}

static POOL: Mutex<Option<Pool>> = Mutex::new(None);

/// The pool batches run on, with `threads` workers (0: rayon's default, the
/// `RAYON_NUM_THREADS` variable or every core). It is built on first use, again
/// when the count changes, and again in a forked child: there the parent's pool
/// is in memory but none of its threads exist, so it is leaked, never joined.
fn pool(threads: usize) -> Result<Arc<rayon::ThreadPool>, String> {
    let pid = std::process::id();
    let mut slot = POOL.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(p) = slot.as_ref().filter(|p| p.pid == pid && p.threads == threads) {
        return Ok(p.pool.clone());
    }
    if let Some(old) = slot.take().filter(|p| p.pid != pid) {
        std::mem::forget(old);
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .stack_size(WORKER_STACK_BYTES)
        .thread_name(|i| format!("ddn-{i}"))
        .build()
        .map_err(|e| format!("cannot start the batch threads: {e}"))?;
    let pool = Arc::new(pool);
    *slot = Some(Pool { pid, threads, pool: pool.clone() });
    Ok(pool)
}

/// The input problems found, joined as `ddnc run` prints them (one line).
fn ddn_error(messages: &[String]) -> PyErr {
    DdnError::new_err(messages.join("; "))
}

/// A compiled `.ddn` file.
#[pyclass(frozen, module = "ddn._native")]
struct File {
    compiled: Arc<ddn::Compiled>,
    name: String,
    backend: Backend,
}

/// Compiles `source` (named `name` in messages) with every node's kernels on
/// `backend` (`jit`, `interpreter` or `evaluator`; the numbers are the same).
#[pyfunction]
fn load(py: Python<'_>, name: String, source: String, backend: &str) -> PyResult<File> {
    let backend = match backend {
        "jit" => Backend::Jit,
        "interpreter" => Backend::Interpreter,
        "evaluator" => Backend::Evaluator,
        other => {
            return Err(PyValueError::new_err(format!(
                "unknown backend `{other}`: use `jit`, `interpreter` or `evaluator`"
            )))
        }
    };
    // A malformed DDN_MAX_* is an error, as in `ddnc` (not a silent default).
    ddn::limits::Limits::from_env().map_err(|e| DdnError::new_err(e.to_string()))?;
    let compiled = py.detach(|| on_big_stack(|| ddn::compile(&name, &source)))?;
    if compiled.has_errors() {
        return Err(DdnError::new_err(compiled.diagnostics_text(Color::Never)));
    }
    Ok(File { compiled: Arc::new(compiled), name, backend })
}

#[pymethods]
impl File {
    /// The node names, in source order.
    #[getter]
    fn nodes(&self) -> Vec<String> {
        self.compiled.program.nodes.iter().map(|n| n.name.clone()).collect()
    }

    /// The file's warnings as `ddnc check` prints them (empty when none).
    #[getter]
    fn warnings(&self) -> String {
        self.compiled.diagnostics_text(Color::Never)
    }

    /// `ddnc check`'s report: per node its parameters, outputs, family and verdict.
    fn check_text(&self) -> String {
        ddn::report::check_text(&self.compiled)
    }

    /// The node called `name`, its kernels ready (a smooth node's derivatives
    /// derived, its programs lowered).
    fn node(&self, py: Python<'_>, name: &str) -> PyResult<Node> {
        let nodes = &self.compiled.program.nodes;
        let Some(index) = nodes.iter().position(|n| n.name == name) else {
            let names: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
            return Err(DdnError::new_err(format!(
                "no node `{name}` in `{}`; it has `{}`",
                self.name,
                names.join("`, `")
            )));
        };
        let (compiled, backend) = (self.compiled.clone(), self.backend);
        let owned = py
            .detach(|| on_big_stack(|| OwnedNode::new(compiled, index, backend)))?
            .map_err(|e| DdnError::new_err(e.to_string()))?;
        Ok(Node { owned, index })
    }
}

/// One node of a compiled file, with its kernels and its prepared sizes.
#[pyclass(frozen, module = "ddn._native")]
struct Node {
    owned: OwnedNode,
    index: usize,
}

impl Node {
    fn ir(&self) -> &ddn::ir::Node {
        self.owned.node()
    }
}

/// The name, kind (`var` or `dual`) and declared shape of each output of `node`, in order.
fn outputs_of(node: &ddn::ir::Node) -> impl Iterator<Item = (&str, &'static str, &ddn::ir::Shape)> {
    node.outputs.iter().map(|o| match o {
        Output::Var(v) => {
            let var = node.var(*v);
            (var.name.as_str(), "var", &var.shape)
        }
        Output::Dual(c) => {
            let con = &node.constraints[*c];
            (con.name.as_deref().unwrap_or_default(), "dual", &con.shape)
        }
    })
}

/// A value passed from Python: its name, shape and row-major entries.
struct Arg {
    name: String,
    shape: Vec<usize>,
    data: Vec<f64>,
}

/// The float64 arrays of a dict, by name.
fn read_arrays(what: &str, dict: &Bound<'_, PyDict>) -> PyResult<Vec<Arg>> {
    let mut args = Vec::with_capacity(dict.len());
    for (k, v) in dict.iter() {
        let name: String = k.extract()?;
        let array: PyReadonlyArrayDyn<'_, f64> =
            v.extract().map_err(|_| PyTypeError::new_err(format!("{what} `{name}` must be a float64 NumPy array")))?;
        let data = match array.as_slice() {
            Ok(s) => s.to_vec(),
            Err(_) => array.as_array().iter().copied().collect(),
        };
        args.push(Arg { name, shape: array.shape().to_vec(), data });
    }
    Ok(args)
}

/// A row-major array of `shape` for NumPy (taking `data`, not copying it).
fn array<'py, T: numpy::Element>(
    py: Python<'py>,
    data: Vec<T>,
    shape: &[usize],
) -> PyResult<Bound<'py, PyArrayDyn<T>>> {
    let a = ArrayD::from_shape_vec(IxDyn(shape), data)
        .map_err(|e| PyRuntimeError::new_err(format!("internal: an output of the wrong size: {e}")))?;
    Ok(PyArray::from_owned_array(py, a))
}

/// One output of every instance stacked into one array (the batch axis first
/// when there is one): instance `i`'s entries where `entry(i)` gives `shape`'s
/// count of them, NaN where it gives none (a failed instance).
fn stacked<'py, 'a>(
    py: Python<'py>,
    batch: Option<usize>,
    shape: &[usize],
    instances: usize,
    entry: impl Fn(usize) -> Option<&'a [f64]>,
) -> PyResult<Bound<'py, PyArrayDyn<f64>>> {
    let len: usize = shape.iter().product();
    let mut data = vec![f64::NAN; instances * len];
    for i in 0..instances {
        if let Some(e) = entry(i).filter(|e| e.len() == len) {
            data[i * len..(i + 1) * len].copy_from_slice(e);
        }
    }
    let full: Vec<usize> = batch.iter().copied().chain(shape.iter().copied()).collect();
    array(py, data, &full)
}

/// The batch size of `args` (the leading axis of those with one axis more than
/// `node` declares), or `None` when every one is as declared.
fn batch_size(node: &ddn::ir::Node, args: &[Arg]) -> Result<Option<usize>, String> {
    let mut batch: Option<(usize, &str)> = None;
    for a in args {
        let Some(p) = node.params.iter().find(|p| p.name == a.name) else { continue };
        if a.shape.len() != p.shape.rank() + 1 {
            continue;
        }
        match batch {
            Some((b, from)) if b != a.shape[0] => {
                return Err(format!(
                    "batched inputs disagree on the batch size: `{from}` has {b} instances, `{}` has {}",
                    a.name, a.shape[0]
                ))
            }
            Some(_) => {}
            None => batch = Some((a.shape[0], &a.name)),
        }
    }
    match batch {
        Some((0, from)) => Err(format!("an empty batch: `{from}` has 0 instances")),
        b => Ok(b.map(|(b, _)| b)),
    }
}

/// Runs `batch` for `instances` instances on `threads` threads: on the calling
/// thread ([`Threads::Calling`]) when there is one instance or the pool has one
/// thread, so that a call pays no hand-off to a pool thread and back; across
/// the pool otherwise.
fn dispatch<T: Send>(instances: usize, threads: usize, batch: impl FnOnce(Threads) -> T + Send) -> Result<T, String> {
    if instances == 1 {
        return Ok(batch(Threads::Calling));
    }
    let pool = pool(threads)?;
    if pool.current_num_threads() == 1 {
        return Ok(batch(Threads::Calling));
    }
    Ok(pool.install(|| batch(Threads::Pool)))
}

#[pymethods]
impl Node {
    #[getter]
    fn name(&self) -> String {
        self.ir().name.clone()
    }

    /// `(name, declared type, rank)` of each parameter, in declaration order.
    #[getter]
    fn params(&self) -> Vec<(String, String, usize)> {
        let node = self.ir();
        node.params
            .iter()
            .map(|p| (p.name.clone(), node.shape_str(&p.shape).replacen("real", p.base.name(), 1), p.shape.rank()))
            .collect()
    }

    /// `(name, "var" | "dual", declared type)` of each output, in declaration order.
    #[getter]
    fn outputs(&self) -> Vec<(String, &'static str, String)> {
        let node = self.ir();
        let declared = |o: &Output, shape| match o {
            Output::Var(v) => node.shape_str(shape).replacen("real", node.var(*v).base.name(), 1),
            Output::Dual(_) => node.shape_str(shape),
        };
        node.outputs
            .iter()
            .zip(outputs_of(node))
            .map(|(o, (n, kind, s))| (n.to_string(), kind, declared(o, s)))
            .collect()
    }

    #[getter]
    fn family(&self) -> &'static str {
        self.ir().class.family.name()
    }

    #[getter]
    fn convex(&self) -> bool {
        self.ir().class.convex
    }

    /// `ddnc explain` for this node: the checked problem and, given inputs of a
    /// conic node, its standard form.
    #[pyo3(signature = (inputs = None))]
    fn explain(&self, py: Python<'_>, inputs: Option<&Bound<'_, PyDict>>) -> PyResult<String> {
        let node = self.ir();
        let standard = match inputs {
            Some(dict) if node.class.family.is_conic() => {
                let values = read_arrays("input", dict)?
                    .into_iter()
                    .map(|a| (a.name, Tensor { shape: a.shape, data: a.data }))
                    .collect();
                let bound = runtime::bind(node, &values).map_err(|e| ddn_error(&e.0))?;
                let canon = py.detach(|| on_big_stack(|| ddn::canon::canonicalize(node, &bound)))?;
                Some(canon.map_err(|e| DdnError::new_err(e.message))?)
            }
            _ => None,
        };
        Ok(ddn::report::explain_text(&self.owned.analysed(), standard.as_ref()))
    }

    /// The shape of each output for parameters of the given shapes (as
    /// declared, without a batch axis): the dimension names resolved from the
    /// first parameter axis that carries each.
    fn output_shapes(&self, shapes: BTreeMap<String, Vec<usize>>) -> PyResult<Vec<Vec<usize>>> {
        let node = self.ir();
        let mut dims = vec![None; node.dims.len()];
        for p in &node.params {
            let Some(shape) = shapes.get(&p.name) else {
                return Err(DdnError::new_err(format!("missing input `{}`", p.name)));
            };
            for (d, &len) in p.shape.0.iter().zip(shape) {
                if let Dim::Named(id) = d {
                    dims[id.0 as usize].get_or_insert(len);
                }
            }
        }
        let dims: Vec<usize> = dims.into_iter().map(|d| d.unwrap_or(0)).collect();
        Ok(outputs_of(node).map(|(_, _, s)| concrete(s, &dims)).collect())
    }

    /// Seconds of each of `repeat` calls (after one warm-up) of the Rust work
    /// an unbatched [`Node::forward`] wraps: binding the inputs and the solve
    /// with the node prepared for these sizes (kept, as a call keeps it). The difference to a Python call's time is
    /// the Python overhead (the benchmark in python/bench).
    fn time_forward(&self, py: Python<'_>, inputs: &Bound<'_, PyDict>, repeat: usize) -> PyResult<Vec<f64>> {
        let node = self.ir();
        let values: BTreeMap<String, Tensor> = read_arrays("input", inputs)?
            .into_iter()
            .map(|a| (a.name, Tensor { shape: a.shape, data: a.data }))
            .collect();
        let owned = &self.owned;
        let once = || -> Result<(), String> {
            let bound = runtime::bind(node, &values).map_err(|e| e.to_string())?;
            owned.prepared(&bound).and_then(|p| p.forward(&bound)).map_err(|e| e.to_string())?;
            Ok(())
        };
        py.detach(|| {
            once()?;
            (0..repeat)
                .map(|_| {
                    let start = std::time::Instant::now();
                    once().map(|()| start.elapsed().as_secs_f64())
                })
                .collect::<Result<Vec<f64>, String>>()
        })
        .map_err(|e: String| DdnError::new_err(e))
    }

    /// Solves the node at `inputs` (float64 arrays by parameter name; see the
    /// module docs for batches) on `threads` threads. Returns the outputs in
    /// declaration order, the status codes (shape `[B]` for a batch, `[]`
    /// otherwise) and the
    /// [`Solution`] for the backward pass.
    #[allow(clippy::type_complexity)]
    fn forward<'py>(
        &self,
        py: Python<'py>,
        inputs: &Bound<'py, PyDict>,
        threads: usize,
    ) -> PyResult<(Vec<Bound<'py, PyArrayDyn<f64>>>, Bound<'py, PyArrayDyn<u8>>, Solution)> {
        let node = self.ir();
        let args = read_arrays("input", inputs)?;
        let batch = batch_size(node, &args).map_err(|e| ddn_error(&[e]))?;
        let batched: Vec<bool> = node
            .params
            .iter()
            .map(|p| batch.is_some() && args.iter().any(|a| a.name == p.name && a.shape.len() == p.shape.rank() + 1))
            .collect();
        let bounds = match batch {
            None => {
                let values = args.into_iter().map(|a| (a.name, Tensor { shape: a.shape, data: a.data })).collect();
                vec![runtime::bind(node, &values).map_err(|e| ddn_error(&e.0))?]
            }
            Some(b) => bind_batch(node, &args, b).map_err(|e| ddn_error(&e))?,
        };
        let owned = &self.owned;
        let solved = py
            .detach(|| dispatch(bounds.len(), threads, |on| owned.forward_batch(&bounds, on)))
            .map_err(PyRuntimeError::new_err)?;

        let shapes: Vec<Vec<usize>> = outputs_of(node).map(|(_, _, s)| concrete(s, &bounds[0].dims)).collect();
        let codes: Vec<u8> = solved.iter().map(|s| s.as_ref().map_or(ERROR_CODE, |s| status_code(s.status))).collect();
        let messages: Vec<Option<String>> = solved.iter().map(|s| s.as_ref().err().map(|e| e.to_string())).collect();
        let mut outputs = Vec::with_capacity(shapes.len());
        for (k, shape) in shapes.iter().enumerate() {
            outputs.push(stacked(py, batch, shape, solved.len(), |i| {
                let s = solved[i].as_ref().ok().filter(|s| s.status.is_solved())?;
                s.outputs.get(k).map(|(_, t)| t.data.as_slice())
            })?);
        }
        let status = array(py, codes.clone(), batch.as_slice())?;
        let solution = Solution {
            compiled: self.owned.compiled().clone(),
            index: self.index,
            threads,
            batch,
            batched,
            shapes,
            codes,
            messages,
            state: Mutex::new(State { bounds, solved }),
        };
        Ok((outputs, status, solution))
    }
}

/// Binds instance `i` of a batch for every `i`: batched arguments sliced on
/// their leading axis, the others shared. The errors of the first instance
/// that has any, each prefixed with its index.
fn bind_batch(node: &ddn::ir::Node, args: &[Arg], batch: usize) -> Result<Vec<Instance>, Vec<String>> {
    let batched: Vec<bool> = args
        .iter()
        .map(|a| node.params.iter().any(|p| p.name == a.name && a.shape.len() == p.shape.rank() + 1))
        .collect();
    let mut bounds = Vec::with_capacity(batch);
    for i in 0..batch {
        let values: BTreeMap<String, Tensor> = args
            .iter()
            .zip(&batched)
            .map(|(a, &b)| {
                let t = if b {
                    let len = a.data.len() / batch;
                    Tensor { shape: a.shape[1..].to_vec(), data: a.data[i * len..(i + 1) * len].to_vec() }
                } else {
                    Tensor { shape: a.shape.clone(), data: a.data.clone() }
                };
                (a.name.clone(), t)
            })
            .collect();
        match runtime::bind(node, &values) {
            Ok(b) => bounds.push(b),
            Err(e) => return Err(e.0.into_iter().map(|m| format!("instance {i}: {m}")).collect()),
        }
    }
    Ok(bounds)
}

/// What a forward keeps for its backward passes.
struct State {
    bounds: Vec<Instance>,
    solved: Vec<Result<Solved, RunError>>,
}

/// A derivative pass's result: arrays by name, and `(instance, message)` for
/// each optimal instance whose pass failed.
type Derivatives<'py> = (Bound<'py, PyDict>, Vec<(usize, String)>);

/// A forward solve of one node over one instance or a batch.
#[pyclass(frozen, module = "ddn._native")]
struct Solution {
    compiled: Arc<ddn::Compiled>,
    index: usize,
    threads: usize,
    batch: Option<usize>,
    /// Per parameter (declaration order): whether it had a batch axis.
    batched: Vec<bool>,
    /// Each output's shape (without the batch axis).
    shapes: Vec<Vec<usize>>,
    codes: Vec<u8>,
    messages: Vec<Option<String>>,
    state: Mutex<State>,
}

#[pymethods]
impl Solution {
    /// Per instance: why its solve failed (status `error`), else `None`.
    #[getter]
    fn messages(&self) -> Vec<Option<String>> {
        self.messages.clone()
    }

    /// Instance `i`'s solver facts (solver, iterations, residuals, …) as JSON text.
    fn info(&self, i: usize) -> PyResult<String> {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match state.solved.get(i) {
            Some(Ok(s)) => serde_json::to_string(&s.info).map_err(|e| PyRuntimeError::new_err(e.to_string())),
            Some(Err(e)) => Ok(serde_json::json!({ "error": e.to_string() }).to_string()),
            None => Err(PyValueError::new_err(format!("no instance {i}: the solve has {}", state.solved.len()))),
        }
    }

    /// dL/dparameters for the cotangents dL/doutputs (float64 arrays by output
    /// name, shaped as the outputs; a missing one is zero), for the parameters
    /// named in `wanted` (all when `None`). A parameter with a batch axis gets
    /// one gradient per instance; a shared one the sum over instances, in
    /// instance order. Returns the gradients and `(instance, message)` for each
    /// optimal instance whose backward pass failed (its gradient is NaN).
    #[pyo3(signature = (cotangents, wanted = None))]
    fn backward<'py>(
        &self,
        py: Python<'py>,
        cotangents: &Bound<'py, PyDict>,
        wanted: Option<Vec<String>>,
    ) -> PyResult<Derivatives<'py>> {
        let node = &self.compiled.program.nodes[self.index];
        let outputs: Vec<&str> = outputs_of(node).map(|(n, _, _)| n).collect();
        let instances = self.codes.len();
        let mut cot: Vec<Vec<(String, Tensor)>> = vec![Vec::new(); instances];
        let mut zero = vec![true; instances];
        for a in read_arrays("cotangent", cotangents)? {
            let Some(k) = outputs.iter().position(|&o| o == a.name) else {
                return Err(ddn_error(&[format!(
                    "unknown output `{}`: node `{}` returns `{}`",
                    a.name,
                    node.name,
                    outputs.join("`, `")
                )]));
            };
            let expected: Vec<usize> = self.batch.iter().copied().chain(self.shapes[k].iter().copied()).collect();
            if a.shape != expected {
                return Err(ddn_error(&[format!(
                    "cotangent `{}` must have shape {expected:?} (its output's), found {:?}",
                    a.name, a.shape
                )]));
            }
            let len: usize = self.shapes[k].iter().product();
            for (i, chunk) in a.data.chunks(len.max(1)).take(instances).enumerate() {
                zero[i] &= chunk.iter().all(|&v| v == 0.0);
                cot[i].push((a.name.clone(), Tensor { shape: self.shapes[k].clone(), data: chunk.to_vec() }));
            }
        }

        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let State { bounds, solved } = &mut *state;
        let threads = self.threads;
        let grads = py
            .detach(|| dispatch(instances, threads, |on| ddn::diff::backward_batch(node, bounds, solved, &cot, on)))
            .map_err(PyRuntimeError::new_err)?;
        let dims = bounds.first().map(|b| b.dims.clone()).unwrap_or_default();
        drop(state);

        let failures = self.failures(&grads);
        let result = PyDict::new(py);
        for (k, p) in node.params.iter().enumerate() {
            if wanted.as_ref().is_some_and(|w| !w.contains(&p.name)) {
                continue;
            }
            // An instance without gradients contributes zero if the loss does not
            // depend on it (all its cotangents zero), NaN otherwise.
            let contribution = |i: usize| -> Result<&[f64], f64> {
                match &grads[i] {
                    Ok(g) => Ok(&g[k].data),
                    Err(_) if zero[i] => Err(0.0),
                    Err(_) => Err(f64::NAN),
                }
            };
            let shape = concrete(&p.shape, &dims);
            let len: usize = shape.iter().product();
            let value = if self.batched[k] {
                let mut data = Vec::with_capacity(instances * len);
                for i in 0..instances {
                    match contribution(i) {
                        Ok(g) => data.extend_from_slice(g),
                        Err(fill) => data.extend(std::iter::repeat_n(fill, len)),
                    }
                }
                let full: Vec<usize> = std::iter::once(instances).chain(shape.iter().copied()).collect();
                array(py, data, &full)?
            } else {
                let mut sum: Option<Vec<f64>> = None;
                for i in 0..instances {
                    match (contribution(i), sum.as_mut()) {
                        (Ok(g), None) => sum = Some(g.to_vec()),
                        (Ok(g), Some(s)) => s.iter_mut().zip(g).for_each(|(s, g)| *s += g),
                        (Err(fill), None) => sum = Some(vec![fill; len]),
                        (Err(fill), Some(s)) => s.iter_mut().for_each(|s| *s += fill),
                    }
                }
                array(py, sum.unwrap_or_else(|| vec![0.0; len]), &shape)?
            };
            result.set_item(&p.name, value)?;
        }
        Ok((result, failures))
    }

    /// The outputs' tangents for the parameters' tangents (float64 arrays by
    /// parameter name, each shaped as its parameter was given: with the batch
    /// axis when the parameter had one; a missing one is zero): forward mode,
    /// from the same optimality conditions and factorisation as `backward`
    /// ([`ddn::diff::jvp`]). Returns the tangents by output name (NaN for an
    /// instance without them) and `(instance, message)` for each optimal
    /// instance whose tangents failed.
    fn jvp<'py>(&self, py: Python<'py>, tangents: &Bound<'py, PyDict>) -> PyResult<Derivatives<'py>> {
        let node = &self.compiled.program.nodes[self.index];
        let instances = self.codes.len();
        let args = read_arrays("tangent", tangents)?;
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let State { bounds, solved } = &mut *state;
        let dims = bounds.first().map(|b| b.dims.clone()).unwrap_or_default();
        let mut dots: Vec<Vec<(String, Tensor)>> = vec![Vec::new(); instances];
        for a in args {
            let Some(k) = node.params.iter().position(|p| p.name == a.name) else {
                let names: Vec<&str> = node.params.iter().map(|p| p.name.as_str()).collect();
                return Err(ddn_error(&[format!(
                    "unknown parameter `{}`: node `{}` takes `{}`",
                    a.name,
                    node.name,
                    names.join("`, `")
                )]));
            };
            let shape = concrete(&node.params[k].shape, &dims);
            let lead = self.batch.filter(|_| self.batched[k]);
            let expected: Vec<usize> = lead.iter().copied().chain(shape.iter().copied()).collect();
            if a.shape != expected {
                return Err(ddn_error(&[format!(
                    "tangent `{}` must have shape {expected:?} (its parameter's), found {:?}",
                    a.name, a.shape
                )]));
            }
            let len: usize = shape.iter().product();
            for (i, dot) in dots.iter_mut().enumerate() {
                let data = if lead.is_some() { a.data[i * len..(i + 1) * len].to_vec() } else { a.data.clone() };
                dot.push((a.name.clone(), Tensor { shape: shape.clone(), data }));
            }
        }
        let threads = self.threads;
        let outs = py
            .detach(|| dispatch(instances, threads, |on| ddn::diff::jvp_batch(node, bounds, solved, &dots, on)))
            .map_err(PyRuntimeError::new_err)?;
        drop(state);

        let failures = self.failures(&outs);
        let result = PyDict::new(py);
        for ((name, _, _), shape) in outputs_of(node).zip(&self.shapes) {
            let tangent = stacked(py, self.batch, shape, instances, |i| {
                let out = outs[i].as_ref().ok()?;
                out.iter().find(|(n, _)| n == name).map(|(_, t)| t.data.as_slice())
            })?;
            result.set_item(name, tangent)?;
        }
        Ok((result, failures))
    }
}

impl Solution {
    /// `(instance, message)` for each optimal instance whose derivative pass failed.
    fn failures<T>(&self, results: &[Result<T, RunError>]) -> Vec<(usize, String)> {
        results
            .iter()
            .enumerate()
            .filter(|(i, _)| self.codes[*i] == 0)
            .filter_map(|(i, r)| r.as_ref().err().map(|e| (i, e.to_string())))
            .collect()
    }
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // Instances are the level that runs in parallel; faer's own rayon
    // parallelism inside one would compete with it (runtime::batch's docs).
    ddn::faer::set_global_parallelism(ddn::faer::Par::Seq);
    m.add_function(wrap_pyfunction!(load, m)?)?;
    m.add_class::<File>()?;
    m.add_class::<Node>()?;
    m.add_class::<Solution>()?;
    m.add("DdnError", m.py().get_type::<DdnError>())?;
    m.add("STATUS_NAMES", status_names())?;
    Ok(())
}
