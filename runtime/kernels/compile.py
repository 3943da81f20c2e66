"""Building the kernel library: compiler flags, cache folders, the library compiled into a wheel.
No numpy here, so ``setup.py`` can load this file on its own to compile the library into a wheel."""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

SRC = Path(__file__).resolve().parent / "src"
SOURCES = ("bnn_core.c", "bnn_x86.c", "bnn_neon.c", "flexbuf.c", "bnn_tflite.c", "bnn_delegate.c", "bnn_capi.c")
HEADERS = ("bnn.h", "bnn_capi.h", "bnn_glue.h", "flexbuf.h", "tflite_abi.h")
CFLAGS = ("-O3", "-std=gnu11", "-ffp-contract=off", "-fPIC", "-shared", "-fvisibility=hidden", "-pthread", "-Wall")
INSTALL_HINT = ("the binary kernels need a C compiler (apt install gcc, or set CC) and a TFLite "
                "interpreter (pip install -r requirements-runtime.txt)")
PREBUILT = Path(__file__).resolve().parent / "_prebuilt"  # filled when a wheel is built (setup.py)


class KernelError(RuntimeError):
    """The kernels cannot be built, loaded or trusted here; the message names the fix."""


def _sources_hash(cc: str) -> str:
    h = hashlib.sha256()
    for name in SOURCES + HEADERS:
        h.update(name.encode())
        h.update((SRC / name).read_bytes())
    h.update(" ".join(CFLAGS).encode())
    h.update(cc.encode())
    h.update(platform.machine().encode())
    return h.hexdigest()[:16]


def _cache_dirs() -> list[Path]:
    dirs = []
    if os.environ.get("BNN_KERNELS_DIR"):
        dirs.append(Path(os.environ["BNN_KERNELS_DIR"]))
    dirs.append(Path(__file__).resolve().parent / "_build")
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    dirs.append(Path(xdg) / "bnn-landmarks" / "kernels")
    return dirs


def _compiler() -> str:
    return os.environ.get("CC") or "cc"


def library_name(cc: str | None = None) -> str:
    return f"libbnn-{platform.machine()}-{_sources_hash(cc or _compiler())}.so"


def prebuilt_name() -> str:
    """The name of a library compiled into a wheel: these sources, this machine, any compiler."""
    return f"libbnn-{platform.machine()}-{_sources_hash('')}.so"


def build_prebuilt(dest: str | Path, cc: str | None = None) -> Path:
    """Compile the library into ``dest`` under :func:`prebuilt_name` (for a wheel: a Pi that
    installs it needs no compiler)."""
    dest = Path(dest)
    path = build(out_dir=dest, cc=cc, force=True)
    return path.replace(dest / prebuilt_name())


def build(out_dir: str | Path | None = None, cc: str | None = None, force: bool = False,
          extra_flags: tuple[str, ...] = ()) -> Path:
    """Compile the kernel library (if needed) and return its path: the one compiled into the
    installed wheel when there is one for these sources and this machine, else the cached one.

    Args:
        out_dir: folder for the library; default: the first writable cache folder.
        cc: C compiler; default ``$CC`` or ``cc``.
        force: rebuild even if a library for these sources exists.
        extra_flags: appended to the compiler flags (e.g. sanitizers); they change the file name.

    Raises:
        KernelError: no compiler, or compilation failed (the compiler's message is included).
    """
    if out_dir is None and not force and not extra_flags and (PREBUILT / prebuilt_name()).is_file():
        return PREBUILT / prebuilt_name()  # compiled into the installed wheel
    cc = cc or _compiler()
    if shutil.which(cc.split()[0]) is None:
        raise KernelError(f"C compiler {cc!r} not found; {INSTALL_HINT}")
    name = library_name(cc + " ".join(extra_flags))
    candidates = [Path(out_dir)] if out_dir else _cache_dirs()
    if not force:
        for d in candidates:
            if (d / name).is_file():
                return d / name
    last_error = None
    for d in candidates:
        try:
            d.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".bnn-", suffix=".so", dir=d)
            os.close(fd)
        except OSError as e:
            last_error = e
            continue
        cmd = [*cc.split(), *CFLAGS, *extra_flags, "-o", tmp, *(str(SRC / s) for s in SOURCES), "-lm"]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            os.unlink(tmp)
            raise KernelError(f"compiling the binary kernels failed:\n{' '.join(cmd)}\n{r.stderr.strip()}")
        os.replace(tmp, d / name)  # atomic: a concurrent loader never sees half a library
        return d / name
    raise KernelError(f"no writable folder for the kernel library ({last_error}); set BNN_KERNELS_DIR")
