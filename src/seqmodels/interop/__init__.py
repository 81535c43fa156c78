"""Weights from and to other libraries: ``torch.nn`` modules and Keras arrays.

``seqmodels.interop.torch``: ``from_torch``, ``to_torch`` and the state
converters. ``seqmodels.interop.keras``: ``from_keras``, ``from_keras_layer``
and ``to_keras`` (Keras itself is not needed).
"""

from seqmodels.interop.keras import from_keras, from_keras_layer, to_keras
from seqmodels.interop.torch import (
    from_torch,
    state_from_torch,
    state_to_torch,
    to_torch,
)

__all__ = [
    "from_keras",
    "from_keras_layer",
    "from_torch",
    "state_from_torch",
    "state_to_torch",
    "to_keras",
    "to_torch",
]
