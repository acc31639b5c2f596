"""Approximate inference by computation skipping (issue 27): operand significance, the cost
model calibrated on the Cortex-M4, and the design-space exploration behind ``ooc approx``.

The configuration file itself belongs to :mod:`ooc_sdk.model.approx`; this package runs models
(tflite-micro for accuracy, the emulator for the cost coefficients), so it sits beside
``ooc_sdk.audit`` in the layers."""

from ooc_sdk.approx.cost import Cost, estimate
from ooc_sdk.approx.data import DataError, Dataset, natural_images, natural_inputs
from ooc_sdk.approx.search import Exploration, Point, explore
from ooc_sdk.approx.significance import LayerSignificance, significance

__all__ = [
    "Cost",
    "DataError",
    "Dataset",
    "Exploration",
    "LayerSignificance",
    "Point",
    "estimate",
    "explore",
    "natural_images",
    "natural_inputs",
    "significance",
]
