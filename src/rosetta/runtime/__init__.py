"""Inference without PyTorch: ONNX Runtime sessions on the shipped graphs, pre- and post-processing in NumPy and
OpenCV. Nothing under this package imports torch (a test checks it)."""
