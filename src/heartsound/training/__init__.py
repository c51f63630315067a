"""Training code (PyTorch). Only modules in this package import torch; inference
(:mod:`heartsound.segmentation`, :mod:`heartsound.classification`) runs the exported ONNX
models with ONNX Runtime. Nothing is imported here: import the submodules
(:mod:`heartsound.training.segmenter`, :mod:`heartsound.training.classifier`) directly.
"""
