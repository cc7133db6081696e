"""What every experiment shares: its command line, where figures go, a
description of the machine, wall-clock timing, and peak memory.

Peak memory is the growth of the resident set of a fresh process over one
call: the kernel's high-water mark (VmHWM in /proc/self/status) is reset to the
current resident set by writing 5 to /proc/self/clear_refs (Linux >= 4.0), the
call runs, and the new high-water mark minus the resident set before it is the
peak. It counts every allocation, torch's and the Rust extension's alike, which
torch's own profiler would not. The process is fresh, and glibc's malloc is told
to return freed memory to the kernel (a fixed mmap threshold of 64 KiB instead
of its adaptive one, and no trim threshold), so that memory freed by an earlier
call is not reused unseen.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import pathlib
import platform
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
STDLIB = ROOT / "stdlib"
DOCS = ROOT / "docs" / "experiments"


def parse_args(doc: str, extra=None) -> argparse.Namespace:
    """``--quick`` (seconds, for CI) and ``--out`` (where the figures and the
    JSON record go: docs/experiments/ for a full run, a temporary folder for a
    quick one, so that a quick run never overwrites the documented figures)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes and few steps (seconds; what CI runs)")
    parser.add_argument("--out", type=pathlib.Path, default=None, help="folder for the PNGs and the JSON record")
    parser.add_argument("--memory-probe", nargs=2, metavar=("METHOD", "SIZES"), help=argparse.SUPPRESS)
    if extra is not None:
        extra(parser)
    args = parser.parse_args()
    if args.out is None:
        args.out = pathlib.Path(tempfile.gettempdir()) / "ddn-experiments" if args.quick else DOCS
    args.out.mkdir(parents=True, exist_ok=True)
    return args


def one_thread():
    """torch and ddn on one thread each: the machine is shared, and the
    comparison is of algorithms, not of parallel runtimes."""
    import torch

    import ddn

    torch.set_num_threads(1)
    ddn.set_num_threads(1)
    torch.set_default_dtype(torch.float64)


def machine() -> dict:
    """The facts a reader needs to weigh the timings."""
    import torch

    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "load_average": os.getloadavg(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def best_time(f, repeats: int) -> float:
    """The least CPU seconds of the process (every thread) over ``repeats`` calls
    of ``f``, after one warm-up call. CPU time, not wall-clock time: on a shared
    machine the wall clock counts the time other processes held the cores; and
    the minimum, since interference (caches, memory bandwidth) only ever adds.
    With torch and ddn on one thread each (:func:`one_thread`) the two agree on
    a quiet machine."""
    f()
    times = []
    for _ in range(repeats):
        t = time.process_time()
        f()
        times.append(time.process_time() - t)
    return min(times)


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        line = next(line for line in f if line.startswith(field + ":"))
    return int(line.split()[1])


def peak_memory(f) -> int:
    """Bytes by which the resident set peaked above its level before ``f()``."""
    gc.collect()
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    before = _status_kb("VmRSS")
    f()
    return (_status_kb("VmHWM") - before) * 1024


def peak_memory_of(script: str, method: str, sizes: list[int]) -> list[int]:
    """:func:`peak_memory` of `script`'s call for `method` at each size, measured
    in a fresh process (`script --memory-probe METHOD S1,S2,...` prints the
    bytes, one line per size)."""
    env = dict(os.environ, GLIBC_TUNABLES="glibc.malloc.mmap_threshold=65536:glibc.malloc.trim_threshold=0")
    arg = ",".join(map(str, sizes))
    out = subprocess.run([sys.executable, script, "--memory-probe", method, arg], env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"the memory probe of {method} at {arg} failed:\n{out.stderr}")
    return [int(line) for line in out.stdout.split()[-len(sizes) :]]


def savefig(fig, args, name: str) -> pathlib.Path:
    path = args.out / name
    fig.savefig(path, dpi=110, bbox_inches="tight")
    print(f"wrote {path}", flush=True)
    return path


def write_record(args, name: str, record: dict) -> pathlib.Path:
    path = args.out / name
    path.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {path}", flush=True)
    return path


def pyplot():
    """matplotlib's pyplot without a display."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
