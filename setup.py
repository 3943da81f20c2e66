"""Wheels with the binary kernels compiled in: ``pip wheel --no-deps .`` (or ``python -m build``)
compiles ``runtime/kernels/src`` with this machine's C compiler into
``runtime/kernels/_prebuilt/`` of the wheel, tagged ``py3-none-<platform>``, so the machine that
installs it (a Raspberry Pi) needs no compiler. Without a compiler the wheel is still built and the
kernels are compiled on first use, as from a source checkout. ``BNN_WHEEL_KERNELS=0`` skips it."""

import importlib.util
import os
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

try:
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # setuptools < 70.1
    from wheel.bdist_wheel import bdist_wheel

HERE = Path(__file__).resolve().parent


def _compile_module():
    """runtime/kernels/compile.py on its own (the package imports numpy, absent in a build env)."""
    spec = importlib.util.spec_from_file_location("bnn_kernels_compile", HERE / "runtime" / "kernels" / "compile.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class BuildPyWithKernels(build_py):
    def run(self):
        super().run()
        if self.editable_mode or os.environ.get("BNN_WHEEL_KERNELS", "1") == "0":
            return
        compile_mod = _compile_module()
        dest = Path(self.build_lib) / "runtime" / "kernels" / "_prebuilt"
        try:
            print(f"compiled the binary kernels into the wheel: {compile_mod.build_prebuilt(dest)}")
        except compile_mod.KernelError as e:
            print(f"warning: the wheel carries no compiled kernels ({e}); they are built on first use",
                  file=sys.stderr)


class PlatformWheel(bdist_wheel):
    """py3-none-<platform>: the library depends on the machine, not on the Python version."""

    def finalize_options(self):
        super().finalize_options()
        self.root_is_pure = False

    def get_tag(self):
        return "py3", "none", super().get_tag()[2]


setup(cmdclass={"build_py": BuildPyWithKernels, "bdist_wheel": PlatformWheel})
