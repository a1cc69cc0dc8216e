"""Rotated-box math in NumPy, shared by the PyTorch models (training, export) and the runtime (no PyTorch here)."""
