"""The ONNX graphs that ship with the package, written from the PyTorch models (training side: imports torch)."""
