"""tinycim model zoo: TinyML networks for analog compute-in-memory co-design, in the manner of timm.

>>> from tinycim.models import create_model, list_models, count_params, count_macs
>>> m = create_model("analognet_kws", num_classes=12)
>>> count_macs(m, m.input_shape)  # useful Conv/Linear MACs for one sample

Every model takes ``num_classes``, ``in_channels`` (``in_features`` for MLPs) or ``input_shape``,
``act_layer``, ``norm_layer``, ``conv_layer`` / ``linear_layer``; has a ``default_input_shape`` class
attribute and an ``input_shape`` instance attribute (no batch dim); uses only standard torch layers with
each BatchNorm directly after the conv it normalises; and is traceable by ``torch.fx``.

The family modules are imported explicitly below so the registry is complete and deterministic
after ``import tinycim.models``; nothing registers by import side effect of other modules.
"""

from __future__ import annotations

from tinycim.models import analognet, dscnn, har, mobilenet, plain, resnet  # noqa: F401  (registers models)
from tinycim.models import recurrent  # noqa: F401  (registers lstm_kws, gru_kws, crnn_kws, kwt_tiny)
from tinycim.models._registry import (
    ModelSpec,
    create_model,
    get_model_spec,
    is_model,
    list_models,
    register_model,
)
from tinycim.models.builders import PlainCNN, ResBlock, ResNetLike, resnet_like
from tinycim.models.stats import count_macs, count_params, layer_stats, model_info, summary

__all__ = [
    "ModelSpec",
    "create_model",
    "get_model_spec",
    "is_model",
    "list_models",
    "register_model",
    "PlainCNN",
    "ResBlock",
    "ResNetLike",
    "resnet_like",
    "count_macs",
    "count_params",
    "layer_stats",
    "model_info",
    "summary",
]
