"""The build directory (``ooc build -o OUT``): its files, and the one module that writes and
reads ``build.json`` and ``plan.json``.

    build.json      what was built (:class:`BuildInfo`): model, budget, profiles, device, files
    plan.json       the plan: its summary (ooc plan --json), its request and its exact record
    image/          the flash image: image.bin, image.hex, manifest.json, keyslot.bin
    c/              the firmware sources: ooc_model_<name>.c/.h (paged tables), ooc_runtime/, ...
    flash.bin       the emulated NOR chip with the image programmed at its offset (host runs)
    flash.bin.wear  the emulator's wear history (ooc_nor_emu.h)
    batch-key.bin   batch builds only (no device key): the content key sealed under the factory
                    master key, mode 0600, for ``ooc provision run`` (no flash.bin then)

No copy of the model: a build directory is what stations receive, and the model's weights are
in it only encrypted. build.json records the model's sha256 and, advisory, the file it was
read from; :meth:`BuildDir.graph` reads that file (or one the caller names) and accepts it only
when it has that hash.

A build directory is untrusted input: :meth:`BuildDir.open` checks every field of build.json
for its type, and :meth:`BuildDir.plan` rebuilds the plan from plan.json only when it carries
the plan id the build was made with. Any missing, damaged or foreign file is one
:class:`BuildDirError` naming the directory and what is wrong.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ooc_sdk.errors import InvalidArgumentError, ModelMismatchError, OocError, WrongDeviceError
from ooc_sdk.fileio import (
    MAX_JSON_BYTES,
    MAX_MODEL_BYTES,
    FileAccessError,
    FileMissingError,
    read_bytes,
    read_text,
    write_atomic,
)
from ooc_sdk.image.keys import DeviceKey
from ooc_sdk.model.ir import Graph
from ooc_sdk.plan.record import plan_from_json, plan_record
from ooc_sdk.plan.request import PlanRequest
from ooc_sdk.plan.schedule import Plan
from ooc_sdk.targets import FlashProfile

BUILD_JSON = "build.json"
PLAN_JSON = "plan.json"
MODEL_FILE = "model.tflite"
APPROX_JSON = "approx.json"  # an approximate build's configuration (ooc_sdk/model/approx.py)
FLASH_BIN = "flash.bin"
BUILD_FORMAT = 1  # build.json's "format": the layout this module writes and reads


class BuildDirError(InvalidArgumentError):
    """A build directory that is missing, damaged, or not written by this version of ooc."""


@dataclass(frozen=True)
class FlashGeometry:
    """What the host tools need of the flash profile: geometry and read timing."""

    size_bytes: int
    page_bytes: int
    sector_bytes: int
    read_bytes_per_s: float
    read_command_s: float

    @classmethod
    def of(cls, flash: FlashProfile) -> FlashGeometry:
        return cls(flash.size_bytes, flash.page_bytes, flash.sector_bytes,
                   flash.read_bytes_per_s, flash.read_command_s)  # fmt: skip


@dataclass(frozen=True)
class DeviceRecord:
    """The device a single-device build's image is wrapped for (public values only)."""

    uid: str  # hex
    key_id: str  # hex


@dataclass(frozen=True)
class BatchRecord:
    """A batch build: the factory master key its content key is sealed under."""

    master_key_id: str  # hex
    key_file: str  # relative to the build directory


@dataclass(frozen=True)
class BuildInfo:
    """build.json."""

    sdk_version: str
    model_name: str
    model_sha256: str
    model_source: str | None  # the model file the build read (advisory: checked by its hash)
    c_name: str
    budget_bytes: int | None
    fused: bool
    flash_profile: str
    flash: FlashGeometry
    flash_offset: int
    mcu: str
    verify: str
    device: DeviceRecord | None
    batch: BatchRecord | None
    security_counter: int
    build_id: str
    plan_id: str
    image_bytes: int
    files: dict[str, str]  # image file name -> path relative to the build directory
    program_ops: int | None  # page programs writing flash.bin (None: a batch build)
    erase_ops: int | None
    seconds: float
    # an approximate build (--approx): Approximation.to_json(); its configuration is OUT/approx.json
    approx: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if d["approx"] is None:  # an exact build's build.json has no such key
            del d["approx"]
        model = {
            "name": d.pop("model_name"),
            "sha256": d.pop("model_sha256"),
            "source": d.pop("model_source"),
        }
        flash_write = {"program_ops": d.pop("program_ops"), "erase_ops": d.pop("erase_ops")}
        return {"format": BUILD_FORMAT, "model": model, **d, "flash_write": flash_write}

    @classmethod
    def from_json(cls, d: Any) -> BuildInfo:
        """Parse build.json, checking each field's type. Raises InvalidArgumentError."""
        if not isinstance(d, dict):
            raise InvalidArgumentError("it is not a JSON object")
        if d.get("format") != BUILD_FORMAT:
            raise InvalidArgumentError(
                f"its format is {d.get('format')!r}, this ooc reads format {BUILD_FORMAT} (made "
                "by another version of ooc: build again)"
            )
        model, fw = _get(d, "model", dict), _get(d, "flash_write", dict)
        flash = _get(d, "flash", dict)
        dev, batch = d.get("device"), d.get("batch")
        return cls(
            sdk_version=_get(d, "sdk_version", str),
            model_name=_get(model, "name", str),
            model_sha256=_get(model, "sha256", str),
            model_source=_get(model, "source", str, optional=True) if "source" in model else None,
            c_name=_get(d, "c_name", str),
            budget_bytes=_get(d, "budget_bytes", int, optional=True),
            fused=_get(d, "fused", bool),
            flash_profile=_get(d, "flash_profile", str),
            flash=FlashGeometry(
                **{
                    f.name: _get(flash, f.name, (int, float))
                    for f in dataclasses.fields(FlashGeometry)
                }
            ),
            flash_offset=_get(d, "flash_offset", int),
            mcu=_get(d, "mcu", str),
            verify=_get(d, "verify", str),
            device=None
            if dev is None
            else DeviceRecord(_get(dev, "uid", str), _get(dev, "key_id", str)),
            batch=None
            if batch is None
            else BatchRecord(_get(batch, "master_key_id", str), _get(batch, "key_file", str)),
            security_counter=_get(d, "security_counter", int),
            build_id=_get(d, "build_id", str),
            plan_id=_get(d, "plan_id", str),
            image_bytes=_get(d, "image_bytes", int),
            files={str(k): str(v) for k, v in _get(d, "files", dict).items()},
            program_ops=_get(fw, "program_ops", int, optional=True),
            erase_ops=_get(fw, "erase_ops", int, optional=True),
            seconds=float(_get(d, "seconds", (int, float))),
            approx=_get(d, "approx", dict, optional=True) if "approx" in d else None,
        )


def _get(d: Any, key: str, kind: type | tuple[type, ...], optional: bool = False) -> Any:
    if not isinstance(d, dict):
        raise InvalidArgumentError(f"a record holding {key!r} is not a JSON object")
    if key not in d or (d[key] is None and not optional):
        raise InvalidArgumentError(f"it lacks {key!r}")
    v = d[key]
    if v is None:
        return None
    # bool is an int in Python: keep the two apart
    if not isinstance(v, kind) or (isinstance(v, bool) and kind is not bool):
        raise InvalidArgumentError(f"its {key!r} has the wrong type ({type(v).__name__})")
    return v


def plan_file_json(p: Plan) -> dict[str, Any]:
    """plan.json: the plan's summary, its id, its request and its exact record."""
    return {**p.to_json(), "plan_id": p.plan_id.hex(), "request": p.request.to_json(),
            "record": plan_record(p)}  # fmt: skip


def write_build_files(out_dir: Path, info: BuildInfo, p: Plan) -> None:
    """Write plan.json, then build.json (last: a directory without it is not a build)."""
    write_atomic(out_dir / PLAN_JSON, json.dumps(plan_file_json(p), indent=1) + "\n")
    write_atomic(out_dir / BUILD_JSON, json.dumps(info.to_json(), indent=1) + "\n")


class BuildDir:
    """A build directory opened for reading: ``info`` is its build.json."""

    def __init__(self, path: Path, info: BuildInfo) -> None:
        self.path = path
        self.info = info
        self._plan_json: dict[str, Any] | None = None

    @classmethod
    def open(cls, path: Path) -> BuildDir:
        """Read and check OUT/build.json. Raises BuildDirError."""
        path = Path(path)
        f = path / BUILD_JSON
        try:
            raw = json.loads(read_text(f, "build record", MAX_JSON_BYTES))
        except FileMissingError:
            raise BuildDirError(
                f"{path} is not an ooc build directory (no {BUILD_JSON}; run ooc build)"
            ) from None
        except FileAccessError as exc:
            raise BuildDirError(str(exc)) from None
        except json.JSONDecodeError as exc:
            raise BuildDirError(f"{f} is damaged: not valid JSON ({exc})") from None
        try:
            return cls(path, BuildInfo.from_json(raw))
        except (InvalidArgumentError, TypeError) as exc:
            raise BuildDirError(f"{f} is damaged or foreign: {exc}") from None

    @property
    def c_dir(self) -> Path:
        return self.path / "c"

    @property
    def model_path(self) -> Path | None:
        """The model file build.json names (advisory), or OUT/model.tflite of a build made by
        an older ooc, or None."""
        if self.info.model_source is not None:
            return Path(self.info.model_source)
        legacy = self.path / MODEL_FILE
        return legacy if legacy.is_file() else None

    def file(self, name: str) -> Path:
        """A file of the image listed in build.json (``image.bin``, ...)."""
        if name not in self.info.files:
            raise BuildDirError(f"{self.path / BUILD_JSON} lists no {name}")
        rel = Path(self.info.files[name])
        if rel.is_absolute() or ".." in rel.parts:
            raise BuildDirError(f"{self.path / BUILD_JSON}: {name} lies outside the build")
        return self.path / rel

    def plan_json(self) -> dict[str, Any]:
        """plan.json as read (its summary keys are those of ``ooc plan --json``)."""
        if self._plan_json is None:
            f = self.path / PLAN_JSON
            try:
                data = json.loads(read_text(f, "plan record", MAX_JSON_BYTES))
            except FileMissingError:
                raise BuildDirError(f"{self.path} lacks {PLAN_JSON}: run ooc build again") from None
            except FileAccessError as exc:
                raise BuildDirError(str(exc)) from None
            except json.JSONDecodeError as exc:
                raise BuildDirError(f"{f} is damaged: not valid JSON ({exc})") from None
            if not isinstance(data, dict) or data.get("plan_id") != self.info.plan_id:
                raise BuildDirError(f"{f} is not the plan of this build (its plan_id differs)")
            self._plan_json = data
        return self._plan_json

    def request(self) -> PlanRequest:
        """What the build's plan was asked for (plan.json ``request``): budget, profiles, ..."""
        try:
            return PlanRequest.from_json(self.plan_json().get("request"))
        except InvalidArgumentError as exc:
            raise BuildDirError(f"{self.path / PLAN_JSON}: {exc}") from None

    def graph(self, model: Path | None = None) -> Graph:
        """The build's model: ``model``, else the file build.json names (:attr:`model_path`),
        accepted only when its sha256 is the one build.json records."""
        from ooc_sdk.model.reader import parse_model

        path = Path(model) if model is not None else self.model_path
        if path is None:
            raise BuildDirError(
                f"{self.path / BUILD_JSON} names no model file: give `model` (the .tflite this "
                "build was made from)",
                param="model",
            )
        try:
            g = parse_model(read_bytes(path, "model", MAX_MODEL_BYTES), self.info.model_name)
        except FileMissingError:
            raise BuildDirError(
                f"the model this build was made from is not at {path} (the build holds no copy): "
                f"put it back or give its path with `model` (sha256 "
                f"{self.info.model_sha256[:16]}..)",
                param="model",
            ) from None
        except OocError as exc:
            raise BuildDirError(f"{path}: {exc}") from None
        g.source = str(path.resolve())
        if g.sha256 != self.info.model_sha256:
            raise BuildDirError(
                f"{path} is not the model this build was made from (its sha256 differs from "
                f"build.json's {self.info.model_sha256[:16]}..)",
                param="model",
            )
        return self._approximate(g) if self.info.approx is not None else g

    def _approximate(self, g: Graph) -> Graph:
        """An approximate build's graph: its configuration (OUT/approx.json, which must be the
        one build.json records) applied to the model."""
        from ooc_sdk.lower.skip import approximate
        from ooc_sdk.model import approx

        assert self.info.approx is not None
        try:
            config = approx.load(self.path / APPROX_JSON)
        except OocError as exc:
            raise BuildDirError(f"{self.path} is an approximate build: {exc}") from None
        out = approximate(g, config)
        if out.approx.config_sha256 != self.info.approx.get("config_sha256"):
            raise BuildDirError(
                f"{self.path / APPROX_JSON} is not the configuration this build was made with"
            )
        return out

    def plan(self, graph: Graph | None = None) -> Plan:
        """The plan the build was made with, read back from plan.json (no planning)."""
        try:
            return plan_from_json(self.plan_json(), graph if graph is not None else self.graph())
        except BuildDirError:
            raise
        except InvalidArgumentError as exc:
            raise BuildDirError(f"{self.path / PLAN_JSON}: {exc}") from None

    def check_for(self, graph: Graph, device: DeviceKey) -> None:
        """Refuse running this build with another model or another device's key."""
        made = (self.info.approx or {}).get("config_sha256")
        given = graph.approx.config_sha256 if graph.approx is not None else None
        if graph.sha256 != self.info.model_sha256 or made != given:
            raise ModelMismatchError("the model (or its approximation) does not match the build")
        dev = self.info.device
        if dev is not None and device.uid.hex() != dev.uid:
            raise WrongDeviceError(
                f"this build's image is for device {dev.uid}, the key file is for "
                f"{device.uid.hex()}"
            )

    def flash_file(self) -> Path:
        """OUT/flash.bin, or a clear error for a batch build (which has none)."""
        if self.info.device is None:
            raise BuildDirError(
                f"{self.path} is a batch build: it runs on provisioned devices only (ooc "
                "provision run --programmer qemu, then run a device's flash)"
            )
        return self.path / FLASH_BIN
