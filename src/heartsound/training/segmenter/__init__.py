"""Training the neural heart-sound segmenter (PyTorch) and exporting it to ONNX for
:mod:`heartsound.segmentation.neural`.

After Renna, Oliveira, Coimbra, "Deep convolutional neural networks for heart sound
segmentation", IEEE J. Biomed. Health Inform. 23(6):2435-2445, 2019: a network maps the
Springer envelopes (plus log band energies, :func:`heartsound.segmentation.neural.neural_features`)
at 50 Hz to per-frame probabilities of S1, systole, S2 and diastole, which the HSMM of
Springer et al. (2016) then decodes.

Network (:func:`SegmenterNet`): a small fully convolutional 1-D U-Net (Renna et al. use a
U-Net too): three encoder levels of two kernel-5 convolutions with batch norm and
max-pooling, a dilated bottleneck, a mirrored decoder with skip connections, softmax over 4
states per frame. It reads a whole recording of any length (the ONNX time axis is dynamic;
inference pads it to a multiple of 8 frames), with a receptive field of several seconds.

Training data: CirCor 2022 ``.tsv`` states at 50 Hz; unannotated frames (state 0) are
masked out of the cross-entropy. Augmentation (:func:`augment`), applied to the audio
before the features are computed, with several augmented copies per recording cached
under :func:`default_cache_dir`: random gain with clipping, additive white or coloured
(pink, brown) noise at 0-30 dB SNR, band-limiting (random low-pass 150-800 Hz, high-pass
40-120 Hz), and a time stretch of the heart rate (audio and labels resampled by 0.8-1.25).

Modules: :mod:`.config` (:class:`TrainConfig`), :mod:`.augmentation`, :mod:`.data` (feature
cache, folds, windows, duration statistics), :mod:`.model` (the U-Net), :mod:`.loop`
(:func:`train`), :mod:`.export` (:func:`export_onnx`) and :mod:`.cv` (:func:`train_corpus`
behind ``heartsound train segmenter --method neural``, :func:`cross_validate`, and
:func:`compare_cv` against springer2016). ``python -m heartsound.training.segmenter`` runs
the last two.
"""

from __future__ import annotations

from . import augmentation
from . import config, cv, data, export, loop, model
from .augmentation import add_noise, augment, noisy
from .config import TrainConfig, default_cache_dir
from .cv import compare_cv, cross_validate, cross_validate_from_args, train_corpus
from .data import FeatureCache, build_cache, fold_indices, sample_windows, sound_durations
from .export import export_onnx
from .loop import Trained, train
from .model import SegmenterNet, time_multiple

_noisy = noisy  # the name the comparison tests use

__all__ = ["TrainConfig", "SegmenterNet", "augment", "add_noise", "noisy", "FeatureCache",
           "build_cache", "fold_indices", "sample_windows", "sound_durations", "Trained",
           "train", "time_multiple", "export_onnx", "cross_validate", "compare_cv",
           "train_corpus", "cross_validate_from_args", "default_cache_dir",
           "augmentation", "config", "cv", "data", "export", "loop", "model"]
