"""The build directory's one owner (ooc_sdk/build/directory.py): build.json and plan.json read
back as typed records, the plan rebuilt without planning again, and every damaged or foreign
file refused with one BuildDirError."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from conftest import shared_model
from ooc_sdk.build import BuildRequest, build
from ooc_sdk.build.directory import BUILD_JSON, PLAN_JSON, BuildDir, BuildDirError, BuildInfo
from ooc_sdk.errors import InvalidArgumentError
from ooc_sdk.formats import image as fmt
from ooc_sdk.image.keys import DeviceKey
from ooc_sdk.model import load_model
from ooc_sdk.plan.request import PlanRequest
from ooc_sdk.targets import load_flash, load_mcu

FLASH, M4 = load_flash("w25q128jv"), load_mcu("cortex-m4")
DEVICE = DeviceKey(bytes.fromhex("b1d0" * 8), bytes(range(16)))


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A per-layer build of kws and a fused, spilling build of ResNet-8 at 12 KiB."""
    root = tmp_path_factory.mktemp("builds")
    out = {}
    for name, model, req in (
        ("paged", "kws_ref_model.tflite", PlanRequest(64 * 1024, FLASH, M4, tag="poly1305")),
        ("spill", "pretrainedResnet_quant.tflite", PlanRequest(12 * 1024, FLASH, M4, fuse=True)),
    ):
        path = shared_model(model)
        graph = load_model(path)
        res = build(graph, path.read_bytes(), root / name, DEVICE, BuildRequest(req))
        out[name] = res
    return out


@pytest.mark.parametrize("which", ["paged", "spill"])
def test_plan_reads_back_without_planning(builds: dict[str, Any], which: str) -> None:
    res = builds[which]
    bd = BuildDir.open(res.out_dir)
    assert bd.info == res.info
    assert BuildInfo.from_json(json.loads(json.dumps(res.info.to_json()))) == res.info
    p = bd.plan()
    assert p.plan_id == res.plan.plan_id and p.plan_id.hex() == bd.info.plan_id
    assert p.to_json() == res.plan.to_json()
    assert p.sram_bytes == res.plan.sram_bytes
    if which == "spill":
        assert p.fusion is not None and p.fusion.spills
        assert p.fusion.digest == res.plan.fusion.digest
        assert p.spill == res.plan.spill
    assert bd.request() == PlanRequest.from_json(bd.plan_json()["request"])
    assert bd.graph().name == res.plan.graph.name


def _copy(res: Any, tmp_path: Path) -> Path:
    out = tmp_path / "copy"
    shutil.copytree(res.out_dir, out)
    return out


def _edit(path: Path, edit: Any) -> None:
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda d: d.pop("c_name"), "lacks 'c_name'"),
        (lambda d: d.update(flash_offset="0"), "'flash_offset' has the wrong type"),
        (lambda d: d.update(fused=1), "'fused' has the wrong type"),
        (lambda d: d.update(format=99), "format is 99"),
        (lambda d: d.pop("format"), "format is None"),
        (lambda d: d["flash"].pop("page_bytes"), "lacks 'page_bytes'"),
        (lambda d: d.update(device=[]), "not a JSON object"),
    ],
)
def test_a_damaged_build_json_is_one_error(
    builds: dict[str, Any], tmp_path: Path, edit: Any, match: str
) -> None:
    out = _copy(builds["paged"], tmp_path)
    _edit(out / BUILD_JSON, edit)
    with pytest.raises(BuildDirError, match=match):
        BuildDir.open(out)


def test_missing_or_unreadable_files(builds: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(BuildDirError, match="not an ooc build directory"):
        BuildDir.open(tmp_path)
    out = _copy(builds["paged"], tmp_path)
    (out / BUILD_JSON).write_text("{not json")
    with pytest.raises(BuildDirError, match="not valid JSON"):
        BuildDir.open(out)
    out2 = tmp_path / "b"
    shutil.copytree(builds["paged"].out_dir, out2)
    (out2 / PLAN_JSON).unlink()
    with pytest.raises(BuildDirError, match=r"lacks plan\.json"):
        BuildDir.open(out2).plan()
    other = shared_model("hello_world_int8.tflite")
    with pytest.raises(BuildDirError, match="not the model this build was made from"):
        BuildDir.open(out2).graph(other)
    _edit(out2 / BUILD_JSON, lambda d: d["model"].update(source=str(other)))
    with pytest.raises(BuildDirError, match="not the model this build was made from"):
        BuildDir.open(out2).graph()
    _edit(out2 / BUILD_JSON, lambda d: d["model"].update(source=str(tmp_path / "gone.tflite")))
    with pytest.raises(
        BuildDirError, match=r"is not at .*gone\.tflite .*give its path with `model`"
    ):
        BuildDir.open(out2).graph()
    assert BuildDir.open(out2).graph(shared_model(builds["paged"].plan.graph.name + ".tflite"))


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda d: d["record"]["steps"][0].__setitem__(1, 1), "does not match its plan_id"),
        (lambda d: d["record"].__setitem__("slot_bytes", 8), "does not match its plan_id"),
        (lambda d: d["record"]["steps"].__setitem__(0, [1, 2]), "malformed"),
        (lambda d: d.pop("record"), "no plan record"),
        (lambda d: d["request"].update(verify="never"), "`verify` must be one of"),
        (lambda d: d["request"]["flash"].update(page_bytes=3), "power of two"),
        (lambda d: d.update(plan_id="00" * 16), "not the plan of this build"),
    ],
)
def test_an_edited_plan_json_is_refused(
    builds: dict[str, Any], tmp_path: Path, edit: Any, match: str
) -> None:
    out = _copy(builds["spill"], tmp_path)
    _edit(out / PLAN_JSON, edit)
    with pytest.raises(BuildDirError, match=match):
        BuildDir.open(out).plan()


def test_image_files_stay_inside_the_build(builds: dict[str, Any], tmp_path: Path) -> None:
    out = _copy(builds["paged"], tmp_path)
    bd = BuildDir.open(out)
    assert bd.file("image.bin").read_bytes()[:4] == fmt.SUPERBLOCK_MAGIC
    _edit(out / BUILD_JSON, lambda d: d["files"].update({"image.bin": "../../etc/passwd"}))
    with pytest.raises(BuildDirError, match="outside the build"):
        BuildDir.open(out).file("image.bin")
    with pytest.raises(BuildDirError, match="lists no"):
        BuildDir.open(out).file("nothing.bin")


def test_request_is_checked_when_made() -> None:
    with pytest.raises(InvalidArgumentError, match="`verify` must be one of"):
        PlanRequest(None, FLASH, M4, verify="sometimes")
    with pytest.raises(InvalidArgumentError, match=r"`slots` must be 1 \.\. 2"):
        PlanRequest(None, FLASH, M4, slots=3)
    with pytest.raises(InvalidArgumentError, match=r"`max_mac_overhead` must be at least 1\.0"):
        PlanRequest(None, FLASH, M4, max_mac_overhead=0.5)
    with pytest.raises(InvalidArgumentError, match="`budget` must be positive"):
        PlanRequest(0, FLASH, M4)
    r = PlanRequest(1 << 16, FLASH, M4, cipher="aes256", tag="poly1305", kernels="dsp")
    assert PlanRequest.from_json(json.loads(json.dumps(r.to_json()))) == r
    assert r.crypto.key_bits == 256 and r.crypto.tag == "poly1305" and r.dsp
