"""Rosetta: read every word in everyday images, with rotated boxes, on plain CPUs."""

__version__ = "0.1.0"
__all__ = ["__version__"]
