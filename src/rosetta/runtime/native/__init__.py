"""The native int8 kernel's C source (``acc16.c``) and, once built, its shared library
(:mod:`rosetta.runtime.acc16` loads it with ctypes)."""
