"""Shared fixtures. Models from ../shared/models are required: a missing
directory fails the tests that need it (never a silent skip)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_MODELS = Path(os.environ.get("OOC_SHARED_MODELS", ROOT.parent / "shared" / "models"))

# The supported real models with the MAC counts their publishers quote.
PUBLISHED_MACS = {
    "vww_96_int8.tflite": 7.49e6,
    "kws_ref_model.tflite": 2.66e6,
    "pretrainedResnet_quant.tflite": 12.5e6,
    "mobilenet_v2_quantized_1x3x224x224.tflite": 300.8e6,
}
SUPPORTED_SHARED = [
    "vww_96_int8.tflite",
    "pretrainedResnet_quant.tflite",
    "kws_ref_model.tflite",
    "ad01_int8.tflite",
    "person_detect.tflite",
    "micro_speech_quantized.tflite",
    "hello_world_int8.tflite",
    "mobilenet_v2_quantized_1x3x224x224.tflite",
]
# Arena totals measured with the tflite-micro interpreter (../shared/models/README.md).
TFLM_ARENA = {
    "vww_96_int8.tflite": 103_680,
    "person_detect.tflite": 85_264,
    "pretrainedResnet_quant.tflite": 55_984,
    "kws_ref_model.tflite": 24_272,
    "micro_speech_quantized.tflite": 7_584,
    "ad01_int8.tflite": 3_984,
}


def shared_model(name: str) -> Path:
    path = SHARED_MODELS / name
    if not path.is_file():
        pytest.fail(
            f"{path} is missing: the tests need ../shared/models beside the project", pytrace=False
        )
    return path


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private golden cache for tests that look at caching itself."""
    d = tmp_path / "cache"
    monkeypatch.setenv("OOC_CACHE_DIR", str(d))
    return d
