"""Training code (PyTorch). Only modules in this package import torch (on first use,
:func:`heartsound.training.runtime.import_torch`); inference
(:mod:`heartsound.segmentation`, :mod:`heartsound.classification`) runs the exported ONNX
models with ONNX Runtime and never imports this package.

* :mod:`.classifier`: the attention CNN/RNN classifiers (a package split by concern).
* :mod:`.segmenter`: the neural segmenter (idem).
* :mod:`.ablation`: the architecture ablation of the classifiers.
* :mod:`.config`: the hyper-parameters every trainer shares, and the command-line options
  made from the configuration dataclasses.
* :mod:`.runtime`, :mod:`.onnx_export`: torch import, process pool, ONNX clean-up.

Nothing is imported here: import the subpackages directly.
"""
