"""Optional native kernel: rosetta/runtime/native/acc16.c as a plain shared library (loaded with ctypes, no Python
API). Everything else is declared in pyproject.toml. Without a C compiler, or on a platform the source does not
build for, the build goes on without it and rosetta keeps its ONNX Runtime int8 path."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("rosetta.runtime.native._acc16", ["src/rosetta/runtime/native/acc16.c"],
                             extra_compile_args=["-O3"], libraries=["m"], optional=True)])
