"""Hyper-parameters of a classifier training run (all stored in the model card and ONNX)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...classification.frontend import FrontendConfig
from ...classification.tasks import TASKS, check_task
from ...errors import ParameterError
from ..config import BaseTrainConfig, option, ordered_fields

__all__ = ["TrainConfig", "MODELS", "ATTENTIONS", "EARLY_STOPS", "BALANCES", "RULE_TUNINGS"]

MODELS = ("cnn", "lstm", "gru")
#: Inner-validation score for early stopping: recording UAR of the arg-max decisions, or
#: the threshold-free macro one-vs-rest ROC AUC of the recording probabilities.
EARLY_STOPS = ("uar", "auc")
ATTENTIONS = ("sigmoid", "softmax", None)
BALANCES = (None, "database")
#: How the patient aggregation thresholds are chosen (:func:`~.rules.tune_rules`).
RULE_TUNINGS = ("grid", "bagged")
#: Key order of the ``train`` metadata of the shipped bundles.
_METADATA_ORDER = ("task", "model", "attention", "upsample", "widths", "time_pool", "rnn_units",
                   "bidirectional", "batch_size", "lr", "weight_decay", "max_epochs",
                   "patience", "crops_per_recording", "val_fraction", "seed", "augment",
                   "max_minutes", "rule_tuning", "early_stop", "balance", "inner_folds",
                   "domain_adversarial", "frontend")


@dataclass
class TrainConfig(BaseTrainConfig):
    """Hyper-parameters of one classifier training run (Ren et al. 2022 networks).

    The shared fields (``batch_size``, ``lr``, ``weight_decay``, ``max_epochs``,
    ``patience``, ``val_fraction``, ``seed``, ``max_minutes``) are those of
    :class:`~heartsound.training.config.BaseTrainConfig`.
    """

    task: str = option("abnormal", "classification task", choices=TASKS)
    model: str = option("cnn", "network body", choices=MODELS)
    attention: str | None = option("sigmoid", "rectification of the attention branch",
                                   choices=ATTENTIONS,
                                   none_flag=("--no-attention", "global average pooling "
                                              "instead of attention pooling"))
    upsample: bool = option(False, "randomly up-sample minority classes (default: "
                            "class-weighted loss)")
    widths: tuple[int, ...] = option((16, 32, 64, 64), "CNN channels of the four conv layers")
    time_pool: tuple[int, ...] = option((2, 2, 2, 2), "CNN max-pooling factor along time "
                                        "per layer")
    rnn_units: tuple[int, ...] = option((64, 128, 64), "LSTM/GRU units per layer", nargs="+")
    #: LSTM/GRU only: bidirectional recurrent layers (forward and backward states
    #: concatenated, so the next layer and the attention head see 2 x units features).
    bidirectional: bool = option(False, "lstm/gru: bidirectional recurrent layers (forward "
                                 "and backward states concatenated before the attention "
                                 "head)")
    crops_per_recording: int = option(2, "random crops per recording per epoch")
    augment: bool = option(True, "no tilt/band-limit/mask augmentation", negate="--no-augment")
    #: Probability that a training crop also gets a simulated stethoscope response
    #: (:func:`~.data.device_response`); 0 = off (no random draws: runs without it are
    #: unchanged). Applies only with ``augment``.
    device_augment: float = option(0.0, "probability per training crop of a simulated "
                                   "stethoscope response (smooth random per-band gain "
                                   "curve, +-6 dB; 0: off)")
    rule_tuning: str = option("grid", "how the patient aggregation thresholds are chosen on "
                              "the inner validation split: best of a grid, or bootstrap-bagged "
                              "(median of the best thresholds over resamples)",
                              choices=RULE_TUNINGS)
    early_stop: str = option("uar", "inner-validation score for early stopping and model "
                             "selection: recording UAR of arg-max decisions or macro "
                             "one-vs-rest ROC AUC of the recording probabilities",
                             choices=EARLY_STOPS)
    frontend: FrontendConfig = field(default_factory=FrontendConfig)
    #: None, or "database": each epoch draws recordings so that every (database, class)
    #: cell weighs the same (PhysioNet 2016 databases a-f and each other corpus are
    #: databases); the loss is then unweighted.
    balance: str | None = option(None, "database: draw training recordings so that every "
                                 "(database, class) pair weighs the same (PhysioNet 2016 a-f "
                                 "and CirCor are databases)", choices=BALANCES)
    #: 1: one network, early-stopped and its rules tuned on a ``val_fraction`` split.
    #: K > 1: cross-fitting, an ensemble of K networks, each trained on K-1 of K
    #: patient-grouped inner folds and early-stopped on the remaining one; the rules are
    #: tuned on the out-of-fold probabilities of *all* training patients, and the ensemble
    #: averages the members' log-probabilities (see :func:`~.trainer.train`).
    inner_folds: int = option(1, "K > 1: cross-fitting, an ensemble of K networks each "
                              "trained on K-1 patient-grouped inner folds and early-stopped "
                              "on the last, with the aggregation rules tuned on the "
                              "out-of-fold predictions of all training patients (1: one "
                              "network, 15% inner split)")
    #: Weight of domain-adversarial training (Ganin & Lempitsky, "Unsupervised domain
    #: adaptation by backpropagation", ICML 2015): a linear head predicts the recording's
    #: database (:func:`~.data.database`) from the time/frequency-averaged body features
    #: through a gradient-reversal layer, so the body is pushed to features that do not
    #: identify the database. The reversal weight ramps 0 -> this value as
    #: 2 / (1 + exp(-10 p)) - 1 over the epochs (p = epoch / max_epochs). 0 = off; the
    #: head is not exported.
    domain_adversarial: float = option(0.0, "domain-adversarial training against the "
                                       "recording's database (gradient reversal, Ganin & "
                                       "Lempitsky 2015) with this final weight (0: off)")

    def __post_init__(self) -> None:
        super().__post_init__()
        check_task(self.task)
        self._check_choices()
        if self.domain_adversarial < 0:
            raise ParameterError("domain_adversarial must be >= 0, got "
                                 f"{self.domain_adversarial}")
        if not 0.0 <= self.device_augment <= 1.0:
            raise ParameterError("device_augment is a probability in [0, 1], got "
                                 f"{self.device_augment}")
        if self.inner_folds < 1:
            raise ParameterError(f"inner_folds must be >= 1, got {self.inner_folds}")
        if self.balance is not None and self.upsample:
            raise ParameterError("balance and upsample are exclusive: both resample the "
                                 "training recordings")
        if self.frontend.phase_channels and self.model == "cnn":
            raise ParameterError("phase channels apply to the lstm and gru models only, "
                                 "not cnn (they are not a frequency axis)")
        if self.bidirectional and self.model == "cnn":
            raise ParameterError("bidirectional applies to the lstm and gru models only, "
                                 "not cnn")

    def _check_choices(self) -> None:
        if self.balance not in BALANCES:
            raise ParameterError(f"unknown balance {self.balance!r}; valid: database, None")
        if self.model not in MODELS:
            raise ParameterError(f"unknown model {self.model!r}; valid: {', '.join(MODELS)}")
        if self.attention not in ATTENTIONS:
            raise ParameterError(f"unknown attention {self.attention!r}; valid: sigmoid, "
                                 "softmax, None")
        if self.early_stop not in EARLY_STOPS:
            raise ParameterError(f"unknown early-stopping score {self.early_stop!r}; valid: "
                                 f"{', '.join(EARLY_STOPS)}")
        if self.rule_tuning not in RULE_TUNINGS:
            raise ParameterError(f"unknown rule tuning {self.rule_tuning!r}; valid: "
                                 f"{', '.join(RULE_TUNINGS)}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (tuples as lists, the front end as its dict); options at
        their "off" value are left out, so results and models made before the option
        existed compare equal."""
        d = ordered_fields(self, _METADATA_ORDER)
        d["widths"] = list(self.widths)
        d["time_pool"] = list(self.time_pool)
        d["rnn_units"] = list(self.rnn_units)
        d["frontend"] = self.frontend.to_dict()
        if self.balance is None:
            d.pop("balance")
        if not self.bidirectional and self.model == "cnn":  # RNNs always record it
            d.pop("bidirectional")
        if self.inner_folds == 1:
            d.pop("inner_folds")
        if not self.domain_adversarial:
            d.pop("domain_adversarial")
        if not self.device_augment:
            d.pop("device_augment")
        return d
