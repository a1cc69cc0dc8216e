"""Inference without PyTorch: ONNX Runtime graphs plus NumPy/OpenCV pre- and post-processing."""
