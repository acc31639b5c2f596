"""The station workflow behind ``ooc provision run``: one batch image, one device after another.

For each device::

    connect     the programmer reaches the device (pyocd: the probe; file/qemu: its output)
    claim       the registry records the UID as pending for this station (one transaction);
                a verified device is skipped, one another station holds is left alone
    key         root key = KDF(master, UID); the batch image gets this device's key slot and is
                opened with the device's key (key slot, header tag) before anything is written
    external    the image is programmed into the external NOR flash at the offset its
                (authenticated) superblock names
    keystore    the key storage record (UID, root key, security counter) into internal storage
    programmed  the registry records it
    verify      external flash and key storage are read back and compared byte for byte, and
                the image read back is mounted under the device's key (every chunk checked)
    verified    the registry records it: the device is done

Crash safety comes from two facts: every registry change is one transaction (a crash leaves
the device pending or programmed, never half-recorded), and every step before
"verified" can be repeated with the same result (the root key is derived, not random, so a
repeat writes the same key; the image bytes are the same). Re-running the station therefore
resumes a pending device from the start, and a device can never end up with two keys.
A programmer failure (a probe that disappears, a write that does not read back) marks that
device failed with its reason and the line goes on; a registry failure (full disk) stops the
line, since nothing may be programmed that cannot be recorded.

Tests crash the station at each step with ``OOC_INJECT_CRASH_AT=STEP[:N]`` (the process exits
at once with status 75 after STEP of the N-th device of the run).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ooc_sdk.build.directory import BuildDir, BuildInfo
from ooc_sdk.errors import ImageError, InvalidArgumentError
from ooc_sdk.formats import image as fmt
from ooc_sdk.formats.keystore import keystore_record as record
from ooc_sdk.image.batch import BATCH_KEY_FILE, read_batch_key
from ooc_sdk.image.keys import DeviceKey
from ooc_sdk.image.keystore import Keystore
from ooc_sdk.image.outdir import load_image
from ooc_sdk.image.pack import personalize
from ooc_sdk.image.reader import open_image, public_info
from ooc_sdk.provisioning.programmers import Programmer, ProgrammerError, Target, serial_uid
from ooc_sdk.provisioning.registry import Claim, Registry
from ooc_sdk.provisioning.sqlite_backend import file_station_lock
from ooc_sdk.targets import FlashProfile, McuProfile

STEPS = ("connect", "claim", "key", "external", "keystore", "programmed", "verify", "verified")
CRASH_ENV = "OOC_INJECT_CRASH_AT"
CRASH_EXIT = 75
ROOT_KEY_BYTES = 32
MAX_CONSECUTIVE_FAILURES = 3


@dataclass(frozen=True)
class BatchImage:
    """A batch build, checked: its image authenticates under the sealed content key."""

    out_dir: Path
    info: BuildInfo = field(repr=False)
    flash: FlashProfile = field(repr=False)  # the profiles the build was planned with
    mcu: McuProfile = field(repr=False)
    image: bytes = field(repr=False)
    build_id: bytes
    content_key: bytes = field(repr=False)
    flash_offset: int
    security_counter: int
    version: str

    @property
    def image_sha256(self) -> str:
        return hashlib.sha256(self.image).hexdigest()


def load_batch(out_dir: Path, keystore: Keystore) -> BatchImage:
    """The batch build in ``out_dir`` (``ooc build`` without ``--device-key``), its content
    key unsealed and every chunk of the image checked, so a wrong or damaged image stops the
    line before the first device rather than after it is programmed.

    Where the image goes (the superblock's ``base_offset``), the flash it was built for (page,
    sector and chip size) and its security counter come from the image's superblock and
    manifest once they authenticate. build.json and plan.json are advisory: a value of theirs
    that disagrees is refused, naming it (an edited or mixed-up build directory), as is a
    damaged directory. Every refusal is one InvalidArgumentError line (exit status 2)."""
    bd = BuildDir.open(out_dir)
    info, request = bd.info, bd.request()
    if info.device is not None:
        raise InvalidArgumentError(
            f"{out_dir} was built for device {info.device.uid}; a station needs a batch "
            "build (ooc build without --device-key)"
        )
    image = load_image(out_dir / "image")
    try:
        parsed = public_info(image)
    except ImageError as exc:
        raise InvalidArgumentError(f"{out_dir}/image/image.bin: {exc}") from None
    build_id = parsed.superblock["build_id"]
    if build_id.hex() != info.build_id:
        raise InvalidArgumentError(
            f"{out_dir}/image is build {build_id.hex()} but build.json names "
            f"{info.build_id}: the directory mixes two builds"
        )
    content_key = read_batch_key(out_dir / BATCH_KEY_FILE, keystore, build_id)
    probe = keystore.device_key(bytes(fmt.UID_BYTES), ROOT_KEY_BYTES)
    try:
        verified = open_image(personalize(image, probe, content_key), probe)
        for _ in verified.chunks():
            pass
    except ImageError as exc:
        raise InvalidArgumentError(f"{out_dir}/image fails its check: {exc}") from None
    sb, manifest = verified.info.superblock, verified.info.manifest  # authenticated
    if len(image) != sb["image_bytes"]:
        raise InvalidArgumentError(
            f"{out_dir}/image/image.bin is {len(image):,} bytes, its superblock says "
            f"{sb['image_bytes']:,}: damaged"
        )
    _check_advisory(out_dir, info, request.flash, sb, manifest)
    counter = int(manifest["security_counter"])
    return BatchImage(
        out_dir=out_dir,
        info=info,
        flash=request.flash,
        mcu=request.mcu,
        image=image,
        build_id=build_id,
        content_key=content_key,
        flash_offset=int(sb["base_offset"]),
        security_counter=counter,
        version=f"{info.model_name} sc{counter}",
    )


def _check_advisory(
    out_dir: Path,
    info: BuildInfo,
    flash: FlashProfile,
    sb: dict[str, Any],
    manifest: dict[str, Any],
) -> None:
    """build.json's and plan.json's copies of what the authenticated superblock and manifest
    say: the first that differs is refused, naming the file and the field."""
    checks = [
        ("build.json", "flash_offset", info.flash_offset, sb["base_offset"]),
        ("build.json", "security_counter", info.security_counter, manifest["security_counter"]),
        ("build.json", "image_bytes", info.image_bytes, sb["image_bytes"]),
        ("build.json", "model.sha256", info.model_sha256, manifest["model_sha256"].hex()),
        ("build.json", "flash.size_bytes", info.flash.size_bytes, sb["flash_bytes"]),
        ("build.json", "flash.page_bytes", info.flash.page_bytes, sb["page_bytes"]),
        ("build.json", "flash.sector_bytes", info.flash.sector_bytes, sb["sector_bytes"]),
        ("plan.json", "request.flash.size_bytes", flash.size_bytes, sb["flash_bytes"]),
        ("plan.json", "request.flash.page_bytes", flash.page_bytes, sb["page_bytes"]),
        ("plan.json", "request.flash.sector_bytes", flash.sector_bytes, sb["sector_bytes"]),
    ]
    for file, name, given, signed in checks:
        if given != signed:
            raise InvalidArgumentError(
                f"{out_dir}/{file}: {name} is {given}, but the image's authenticated header "
                f"says {signed}: refusing an edited or mixed-up build directory"
            )


@dataclass
class Outcome:
    uid: str
    status: str  # verified | already-verified | taken | failed | dry-run
    reason: str | None = None
    attempts: int = 0
    seconds: float = 0.0
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunSummary:
    station: str
    image: str
    outcomes: list[Outcome] = field(default_factory=list)
    stopped: str | None = None  # why the line stopped early, if it did

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    def to_json(self) -> dict[str, Any]:
        return {
            "station": self.station,
            "image": self.image,
            "counts": {
                s: self.count(s)
                for s in ("verified", "already-verified", "taken", "failed", "dry-run")
            },
            "stopped": self.stopped,
            "devices": [asdict(o) for o in self.outcomes],
        }


def keystore_record(
    device: DeviceKey, security_counter: int, anchors: tuple[bytes, ...] = ()
) -> bytes:
    """The key storage record a station programs into ``device``: its identity, the image's
    security counter and the vendor keys it trusts (trust anchors)."""
    return record(device.uid, device.root_key, security_counter, anchors)


def check_anchors_for(batch: BatchImage, anchors: tuple[bytes, ...]) -> None:
    """Devices given ``anchors`` run only images one of them signed: the batch must be such an
    image (SignatureError otherwise), and a signed batch needs anchors, or its signature would
    protect nothing (InvalidArgumentError)."""
    info = public_info(batch.image)
    if anchors:
        info.check_signature(anchors)
    elif info.signed:
        signer = info.signer_key_id.hex() if info.signer_key_id else "?"
        raise InvalidArgumentError(
            f"the batch image is signed (key id {signer}) but no --trust-anchor was given: "
            "devices would accept unsigned images; pass the vendor's .pub file",
            param="trust_anchors",
        )


class _Crash:
    """OOC_INJECT_CRASH_AT=STEP[:N]: exit abruptly after STEP of the N-th device (default 1)."""

    def __init__(self) -> None:
        spec = os.environ.get(CRASH_ENV, "")
        step, _, nth = spec.partition(":")
        if step and step not in STEPS:
            raise InvalidArgumentError(f"{CRASH_ENV}={spec}: the steps are {', '.join(STEPS)}")
        self.step, self.nth, self.device = step, int(nth or 1), 0

    def __call__(self, step: str) -> None:
        if step == self.step and self.device == self.nth:
            os._exit(CRASH_EXIT)


class Station:
    def __init__(
        self,
        batch: BatchImage,
        programmer: Programmer,
        registry: Registry | None,
        keystore: Keystore,
        *,
        station: str,
        dry_run: bool = False,
        say: Callable[[str], None] | None = None,
        anchors: tuple[bytes, ...] = (),
    ) -> None:
        if registry is None and not dry_run:
            raise InvalidArgumentError("a station needs a registry")
        check_anchors_for(batch, anchors)
        self.anchors = anchors
        if registry is not None:
            registry.use_key(keystore)  # its audit entries are MACed under the master key
        self.batch, self.programmer, self.registry = batch, programmer, registry
        self.keystore, self.station, self.dry_run = keystore, station, dry_run
        self.say = say or (lambda _m: None)
        self.crash = _Crash()

    # -- which devices ---------------------------------------------------------------------

    def _mine_unfinished(self) -> list[bytes]:
        """This station's devices of this image a crash left pending or programmed, or that
        failed: a re-run takes them first, before new serial numbers."""
        if self.registry is None:
            return []
        return [
            bytes.fromhex(d.uid)
            for d in self.registry.devices()
            if d.station == self.station
            and d.state in ("pending", "programmed", "failed")
            and d.image_id == self.batch.build_id.hex()
        ]

    def _verified_here(self) -> int:
        if self.registry is None:
            return 0
        return sum(
            1
            for d in self.registry.devices("verified")
            if d.station == self.station and d.image_id == self.batch.build_id.hex()
        )

    def _candidates(self, uids: list[bytes] | None) -> Iterator[bytes | None]:
        if not self.programmer.station_assigns_uid:
            while True:
                yield None  # the next device on the probe
        if uids is not None:
            yield from uids
            return
        yield from self._mine_unfinished()
        serial = 0
        while True:
            if self.dry_run or self.registry is None:
                serial += 1  # a dry run allocates nothing: the real run takes the next free serials
            else:
                (serial,) = self.registry.allocate_serials(self.station, 1)
            yield serial_uid(serial)

    # -- the run -------------------------------------------------------------------------------

    def run(
        self,
        count: int | None,
        uids: list[bytes] | None = None,
        wait_next: Callable[[], None] | None = None,
    ) -> RunSummary:
        """With UIDs the station assigns (file, qemu): provision until ``count`` devices of this
        image are verified by this station, counting earlier runs, so re-running the same
        command after a crash finishes the batch and no more; with ``uids``, work through the
        list (``count`` caps the devices verified in this run). With a probe (pyocd): ``count``
        devices in this run, one per connection, ``wait_next`` called between them."""
        summary = RunSummary(self.station, self.batch.build_id.hex())
        per_connect = not self.programmer.station_assigns_uid
        if count is None and uids is None and not per_connect:
            raise InvalidArgumentError("give `count` or `uids`", param=("count", "uids"))
        if uids is not None:
            goal, done = (count if count is not None else len(uids)), 0
        elif per_connect:
            goal, done = (count if count is not None else 1), 0
        else:
            goal, done = int(count or 0), self._verified_here()
            if done >= goal:
                summary.stopped = f"{done} of {goal} devices already verified at this station"
                return summary
        failures = 0
        for uid in self._candidates(uids):
            if done >= goal:
                break
            if per_connect and summary.outcomes and wait_next is not None:
                wait_next()
            outcome = self.provision_one(uid, len(summary.outcomes) + 1)
            summary.outcomes.append(outcome)
            ok = outcome.status in ("verified", "dry-run")
            done += 1 if (ok or per_connect) else 0
            failures = 0 if outcome.status != "failed" else failures + 1
            if failures >= MAX_CONSECUTIVE_FAILURES:
                summary.stopped = (
                    f"{failures} devices failed in a row (last: {outcome.reason}); "
                    "stopping the line"
                )
                break
        return summary

    def provision_one(self, uid: bytes | None, nth: int) -> Outcome:
        t0 = time.perf_counter()
        self.crash.device = nth
        label = uid.hex() if uid is not None else "(probe)"
        try:
            target = self.programmer.connect(uid)
        except ProgrammerError as exc:
            if uid is None:
                raise  # no device on the probe: nothing to record, and the line cannot go on
            return Outcome(label, "failed", str(exc), seconds=time.perf_counter() - t0)
        try:
            outcome = self._provision(target, uid)
        finally:
            target.close()
        outcome.seconds = round(time.perf_counter() - t0, 3)
        self.say(self._line(nth, outcome))
        return outcome

    def _line(self, nth: int, o: Outcome) -> str:
        text = {
            "verified": "verified",
            "already-verified": "already provisioned: skipped",
            "taken": "held by another station: skipped",
            "failed": f"FAILED: {o.reason}",
            "dry-run": "dry run: would be provisioned",
        }[o.status]
        return f"[{nth}] device {o.uid}: {text} ({o.seconds:.1f} s)"

    def _provision(self, target: Target, given: bytes | None) -> Outcome:
        batch, reg = self.batch, self.registry
        try:
            uid = target.read_uid()
        except ProgrammerError as exc:
            return Outcome(given.hex() if given else "(probe)", "failed", str(exc))
        self.crash("connect")
        device = self.keystore.device_key(uid, ROOT_KEY_BYTES)
        if self.dry_run or reg is None:
            return self._dry_run(target, device)
        claim, record = reg.claim(
            uid,
            station=self.station,
            key_id=device.key_id,
            image_id=batch.build_id,
            image_version=batch.version,
            security_counter=batch.security_counter,
        )
        if claim is Claim.DONE:
            return Outcome(uid.hex(), "already-verified", attempts=record.attempts)
        if claim is Claim.TAKEN:
            return Outcome(uid.hex(), "taken", f"held by station {record.station}")
        self.crash("claim")
        try:
            return self._program(target, device, record.attempts)
        except (ProgrammerError, ImageError) as exc:
            reason = str(exc)
            reg.set_state(uid, "failed", station=self.station, reason=reason)
            return Outcome(uid.hex(), "failed", reason, attempts=record.attempts)

    def _device_image(self, device: DeviceKey) -> bytes:
        image = personalize(self.batch.image, device, self.batch.content_key)
        open_image(image, device, expected_model_sha256=self.batch.info.model_sha256)
        return image

    def _program(self, target: Target, device: DeviceKey, attempts: int) -> Outcome:
        batch, reg, uid = self.batch, self.registry, device.uid
        assert reg is not None
        image = self._device_image(device)
        record = keystore_record(device, batch.security_counter, self.anchors)
        self.crash("key")
        target.program_external(batch.flash_offset, image)
        self.crash("external")
        target.program_keystore(record)
        self.crash("keystore")
        detail = {
            "image_sha256": hashlib.sha256(image).hexdigest(),
            "flash_offset": batch.flash_offset,
            "image_bytes": len(image),
            "artefacts": target.artefacts(),
        }
        reg.set_state(uid, "programmed", station=self.station, detail=detail)
        self.crash("programmed")
        back = target.read_external(batch.flash_offset, len(image))
        if back != image:
            at = _first_difference(back, image)
            raise ProgrammerError(
                f"external flash of {target.label} does not read back at offset "
                f"{batch.flash_offset + at:#x}"
            )
        if target.read_keystore()[: len(record)] != record:
            raise ProgrammerError(f"key storage of {target.label} does not read back")
        self._check_mounts(target, back, device)
        self.crash("verify")
        reg.set_state(
            uid, "verified", station=self.station, detail={"read_back": "equal", "mount": "ok"}
        )
        self.crash("verified")
        return Outcome(uid.hex(), "verified", attempts=attempts, detail=detail)

    def _check_mounts(self, target: Target, back: bytes, device: DeviceKey) -> None:
        """The image read back from the device mounts as the device will mount it: under the
        key its key storage now holds (the record read back equals ``device``'s), at the offset
        it was written to, not older than the stored counter, the build's model, and every
        chunk authenticating. A ProgrammerError (the device is recorded failed) if not."""
        batch = self.batch
        try:
            mounted = open_image(
                back,
                device,
                min_security_counter=batch.security_counter,
                expected_model_sha256=batch.info.model_sha256,
                trust_anchors=self.anchors,
            )
            for _ in mounted.chunks():
                pass
        except ImageError as exc:
            raise ProgrammerError(
                f"the image read back from {target.label} does not mount: {exc}"
            ) from None
        at = mounted.info.superblock["base_offset"]
        if at != batch.flash_offset:
            raise ProgrammerError(
                f"the image read back from {target.label} at {batch.flash_offset:#x} was built "
                f"for offset {at:#x}: it would not mount"
            )

    def _dry_run(self, target: Target, device: DeviceKey) -> Outcome:
        state = None
        if self.registry is not None:
            known = self.registry.get(device.uid)
            state = known.state if known is not None else None
        image = self._device_image(device)
        target.program_external(self.batch.flash_offset, image)
        target.program_keystore(keystore_record(device, self.batch.security_counter, self.anchors))
        return Outcome(
            device.uid.hex(),
            "dry-run",
            detail={
                "registry_state": state,
                "key_id": device.key_id.hex(),
                "image_sha256": hashlib.sha256(image).hexdigest(),
                "would_write": target.artefacts(),
            },
        )


def _first_difference(a: bytes, b: bytes) -> int:
    return next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )


def summary_lines(summary: RunSummary) -> list[str]:
    counts = summary.to_json()["counts"]
    parts = [f"{n} {name}" for name, n in counts.items() if n]
    lines = [
        f"station {summary.station}, image {summary.image}: {', '.join(parts) or 'nothing done'}"
    ]
    if summary.stopped:
        lines.append(summary.stopped)
    return lines


def dumps(summary: RunSummary) -> str:
    return json.dumps(summary.to_json(), indent=1)


def station_lock(registry: Path, station: str) -> contextlib.AbstractContextManager[object]:
    """Hold the lock of station ``station`` on registry file ``registry`` for a run (a lock file
    beside it: :func:`ooc_sdk.provisioning.sqlite_backend.file_station_lock`); a registry on a
    database server holds it there instead (:meth:`Registry.hold_station`)."""
    return file_station_lock(registry, station)
