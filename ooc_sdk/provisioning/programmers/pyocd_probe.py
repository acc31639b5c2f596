"""``--programmer pyocd``: real devices through a debug probe (ST-LINK, J-Link, CMSIS-DAP).

Per device the station connects (one pyocd session with the chosen probe, the MCU profile's
``pyocd_target``), reads the chip's unique ID from ``uid_address``, programs the image into the
external NOR flash through the target's flash algorithm for it, writes the key storage record
into the internal flash at ``key_storage_address``, reads both back, and closes (resetting the
chip when anything was written). Writes go through pyocd's own FlashLoader / FileProgrammer
(FlashBuilder underneath): sector erase only, never a chip erase, so the firmware and the rest
of the flash stay; within the sectors written, bytes past the data read erased afterwards (as
the host flash tool does, and so no stale bytes of an older record survive in the key storage);
pages that already hold the right bytes are skipped.

A probe that disappears mid-write becomes a one-line ProgrammerError naming the probe and the
address; the registry keeps the device unfinished and a re-run provisions it again from the
start (the root key is derived, so it gets the same key).

Adding a board
--------------
Give the MCU profile (``ooc_sdk/targets/mcu/<name>.json``, or your own JSON with
``"base": "<bundled profile>"``) these fields, each with its source in ``"sources"``:

``pyocd_target``
    pyocd's name for the part. ``pyocd list --targets`` shows the built-in ones; for others
    install the vendor's CMSIS pack (``pyocd pack find <part>``, ``pyocd pack install <part>``)
    and use the name it lists. Its memory map must have a flash region (with an algorithm) at
    ``key_storage_address``; check with ``pyocd commander -t <target>`` then ``show map``.
``uid_address``, ``uid_bytes``
    the unique device ID register: the reference manual's "Unique device ID" section (ST: the
    chapter "Device electronic signature", e.g. RM0394 47.1: 0x1FFF7590, 96 bits), or
    ``UID_BASE`` in the vendor's CMSIS device header. The UID is those bytes in address order,
    zero-padded on the left to 16; the firmware's port must read its UID the same way.
``key_storage_address``, ``key_storage_bytes``
    internal flash reserved for the 188-byte key storage record: a whole erase unit (sector or
    page, from the reference manual's flash organization table) that the firmware's linker
    script leaves out. After provisioning, protect it (write protection, read-out protection);
    this programmer does not set option bytes.
``external_flash_address`` (optional)
    where the external NOR is memory-mapped (QUADSPI/OCTOSPI bank, e.g. 0x90000000 on STM32).
    The probe can program it only when the target's memory map has a flash region with an
    algorithm (FLM) there, from a board pack or a pyocd user script; without one, program the
    NOR with ``--programmer file`` (flash house or gang programmer) and use pyocd for the
    keys only.

Probe options (SWD frequency, connect mode under reset) come from pyocd's own configuration
file, ``pyocd.yaml`` in the working directory.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Iterator
from typing import Any

from ooc_sdk.formats import image as fmt
from ooc_sdk.provisioning.programmers.base import (
    KEYSTORE_BYTES,
    DryRunLog,
    ProgrammerError,
    check_record,
)
from ooc_sdk.provisioning.programmers.files import check_range
from ooc_sdk.targets import FlashProfile, McuProfile

REQUIRED_FIELDS = ("pyocd_target", "uid_address", "uid_bytes", "key_storage_address")

# (probe unique id or None, pyocd target name, session options) -> an opened pyocd Session
SessionFactory = Callable[[str | None, str, dict[str, Any]], Any]


def _quiet(_fraction: float) -> None:
    pass


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or "no detail"
    return f"{type(exc).__name__}: {text}"


def missing_fields(mcu: McuProfile) -> list[str]:
    """The profile fields the pyocd programmer needs and ``mcu`` lacks."""
    missing = [f for f in REQUIRED_FIELDS if getattr(mcu, f) in (None, "", 0)]
    if mcu.key_storage_bytes < KEYSTORE_BYTES:
        missing.append("key_storage_bytes")
    return missing


def open_pyocd_session(probe: str | None, target: str, options: dict[str, Any]) -> Any:
    """Open a pyocd session with the one connected probe (or the one whose unique ID contains
    ``probe``) for ``target``. Never prompts: no probe or several is a ProgrammerError."""
    try:
        from pyocd.core import exceptions as px
        from pyocd.core.helpers import ConnectHelper
    except ImportError:
        raise ProgrammerError("pyocd is not installed: pip install pyocd") from None
    where = f" matching {probe!r}" if probe else ""
    try:
        probes = ConnectHelper.get_all_connected_probes(blocking=False, unique_id=probe)
    except px.Error as exc:
        raise ProgrammerError(
            f"listing debug probes failed ({_one_line(exc)}): check USB access (udev rules)"
        ) from None
    if not probes:
        raise ProgrammerError(
            f"no debug probe{where} is connected: plug one in (pyocd list shows what pyocd sees)"
        )
    if len(probes) > 1:
        ids = ", ".join(p.unique_id for p in probes)
        raise ProgrammerError(
            f"{len(probes)} debug probes{where} are connected ({ids}): choose one with --probe ID"
        )
    unique_id = probes[0].unique_id
    session = ConnectHelper.session_with_chosen_probe(
        unique_id=unique_id,
        blocking=False,
        return_first=True,
        auto_open=False,
        target_override=target,
        options=options,
    )
    if session is None:
        raise ProgrammerError(f"probe {unique_id} went away: reconnect it and re-run")
    try:
        session.open()
    except px.Error as exc:
        with contextlib.suppress(Exception):
            session.close()
        raise ProgrammerError(
            f"probe {unique_id} cannot connect to a {target} ({_one_line(exc)}): check the "
            "board's power and SWD wiring and the MCU profile's pyocd_target, then re-run"
        ) from None
    return session


class PyocdProgrammer:
    """Devices on a debug probe. ``session_factory`` replaces :func:`open_pyocd_session`
    (tests inject a session whose target is a fake flash; nothing else changes)."""

    name = "pyocd"
    station_assigns_uid = False

    def __init__(
        self,
        *,
        mcu: McuProfile,
        flash: FlashProfile,
        flash_offset: int = 0,
        probe: str | None = None,
        dry_run: bool = False,
        session_factory: SessionFactory | None = None,
        session_options: dict[str, Any] | None = None,
    ) -> None:
        missing = missing_fields(mcu)
        if missing:
            raise ProgrammerError(
                f"MCU profile {mcu.name} cannot be programmed through pyocd: add "
                f"{', '.join(missing)} to its JSON (see 'Adding a board' in "
                "ooc_sdk/provisioning/programmers/pyocd_probe.py)"
            )
        self.mcu, self.flash, self.flash_offset = mcu, flash, flash_offset
        self.probe, self.dry_run = probe, dry_run
        self._factory = session_factory or open_pyocd_session
        self._options = {"hide_programming_progress": True, **(session_options or {})}
        self._target: PyocdTarget | None = None

    def connect(self, uid: bytes | None) -> PyocdTarget:
        if uid is not None:
            raise ProgrammerError(
                "the pyocd programmer reads each device's UID from the chip; the station must "
                "not assign one (no --uids with --programmer pyocd)"
            )
        self.close()
        session = self._factory(self.probe, self.mcu.pyocd_target, dict(self._options))
        self._target = PyocdTarget(session, self.mcu, self.flash, self.dry_run)
        return self._target

    def close(self) -> None:
        if self._target is not None:
            self._target.close()
            self._target = None


class PyocdTarget:
    def __init__(
        self, session: Any, mcu: McuProfile, flash: FlashProfile, dry_run: bool = False
    ) -> None:
        self._session, self.mcu, self.flash = session, mcu, flash
        self.probe_id = str(getattr(session.probe, "unique_id", "?"))
        self.label = f"probe {self.probe_id}"
        self._uid: bytes | None = None
        self._written = False
        self._closed = False
        self._dry = DryRunLog() if dry_run else None

    @property
    def _target(self) -> Any:
        return self._session.target

    @contextlib.contextmanager
    def _guard(self, doing: str, addr: int) -> Iterator[None]:
        """pyocd's exceptions as one-line ProgrammerErrors."""
        from pyocd.core import exceptions as px

        try:
            yield
        except px.ProbeDisconnected as exc:
            raise ProgrammerError(
                f"{self.label} disconnected while {doing} at {addr:#x} ({_one_line(exc)}): "
                "reconnect and re-run; the device stays unfinished and is provisioned again"
            ) from None
        except (px.ProbeError, px.TransferError) as exc:
            raise ProgrammerError(
                f"{self.label} lost the connection while {doing} at {addr:#x} "
                f"({_one_line(exc)}): reconnect and re-run; the device stays unfinished and is "
                "provisioned again"
            ) from None
        except px.FlashFailure as exc:
            at = exc.address if getattr(exc, "address", None) is not None else addr
            raise ProgrammerError(
                f"{self.label}: {doing} failed at {at:#x} ({_one_line(exc)}): check that the "
                "flash is not write- or read-protected, then re-run"
            ) from None
        except px.Error as exc:
            raise ProgrammerError(
                f"{self.label}: {doing} at {addr:#x} failed ({_one_line(exc)}): re-run"
            ) from None

    def _read(self, addr: int, length: int, what: str) -> bytes:
        with self._guard(f"reading {what}", addr):
            return bytes(self._target.read_memory_block8(addr, length))

    def _flash_region(self, addr: int, length: int, problem: str) -> Any:
        region = self._target.memory_map.get_region_for_address(addr)
        if (
            region is None
            or not region.is_flash
            or region.flash is None
            or not region.contains_range(start=addr, length=length)
        ):
            raise ProgrammerError(f"{self.label}: {problem}")
        return region

    def _external(self, offset: int, length: int) -> tuple[int, Any]:
        check_range(offset, length, self.flash, self.label)
        base = self.mcu.external_flash_address
        where = "pyocd cannot program the external flash"
        fix = (
            "program the NOR chip with --programmer file (flash house or gang programmer), or "
            "give pyocd a flash algorithm (FLM) for it"
        )
        if base is None:
            raise ProgrammerError(
                f"{self.label}: MCU profile {self.mcu.name} has no external_flash_address, so "
                f"{where}: {fix}"
            )
        addr = base + offset
        region = self._flash_region(
            addr,
            max(length, 1),
            f"pyocd target {self.mcu.pyocd_target} has no flash algorithm for the external "
            f"flash at {addr:#x} (+{length:#x}), so {where}: {fix}",
        )
        return addr, region

    def _keystore_region(self, length: int) -> tuple[int, Any]:
        addr = self.mcu.key_storage_address
        assert addr is not None
        if length > self.mcu.key_storage_bytes:
            raise ProgrammerError(
                f"{self.label}: a {length}-byte record does not fit key_storage_bytes "
                f"{self.mcu.key_storage_bytes} of MCU profile {self.mcu.name}"
            )
        region = self._flash_region(
            addr,
            length,
            f"pyocd target {self.mcu.pyocd_target} has no programmable flash at the key "
            f"storage address {addr:#x}: fix key_storage_address in MCU profile {self.mcu.name}",
        )
        return addr, region

    # -- the Target protocol ---------------------------------------------------------------

    def read_uid(self) -> bytes:
        if self._uid is None:
            addr, n = self.mcu.uid_address, self.mcu.uid_bytes
            assert addr is not None
            raw = self._read(addr, n, "the device UID")
            if raw in (b"\xff" * n, bytes(n)):
                raise ProgrammerError(
                    f"{self.label}: the device UID at {addr:#x} reads as all {raw[0]:#04x}: check "
                    f"uid_address in MCU profile {self.mcu.name} and the probe's target"
                )
            self._uid = raw.rjust(fmt.UID_BYTES, b"\0")
        return self._uid

    def program_external(self, offset: int, data: bytes) -> None:
        if not data:
            check_range(offset, 0, self.flash, self.label)
            return
        addr, _ = self._external(offset, len(data))
        if self._dry is not None:
            self._dry.would("external", offset, data)
            self._dry.external.append((offset, bytes(data)))
            return
        from pyocd.flash.loader import FlashLoader

        self._written = True
        with self._guard("programming the external flash", addr):
            loader = FlashLoader(
                self._session, progress=_quiet, chip_erase="sector", keep_unwritten=False
            )
            loader.add_data(addr, bytes(data))
            loader.commit()

    def read_external(self, offset: int, length: int) -> bytes:
        if self._dry is not None:
            check_range(offset, length, self.flash, self.label)
            return self._dry.overlay(offset, bytes([self.flash.erased_byte]) * length)
        if length == 0:
            return b""
        addr, region = self._external(offset, length)
        flash = region.flash
        from pyocd.core.exceptions import FlashFailure

        with self._guard("reading the external flash", addr):
            # as FlashBuilder does: initing the algorithm for verify maps external flash
            try:
                flash.init(flash.Operation.VERIFY)
            except FlashFailure:
                flash.init(flash.Operation.ERASE)
            try:
                return bytes(self._target.read_memory_block8(addr, length))
            finally:
                flash.cleanup()

    def program_keystore(self, record: bytes) -> None:
        check_record(record, self.read_uid(), self.label)
        addr, _ = self._keystore_region(len(record))
        if self._dry is not None:
            self._dry.would("keystore", addr, record)
            self._dry.keystore = bytes(record)
            return
        from pyocd.flash.file_programmer import FileProgrammer

        self._written = True
        with self._guard("programming the key storage", addr):
            FileProgrammer(
                self._session, progress=_quiet, chip_erase="sector", keep_unwritten=False
            ).program(io.BytesIO(record), file_format="bin", base_address=addr)

    def read_keystore(self) -> bytes:
        if self._dry is not None:
            return self._dry.keystore or b"\xff" * KEYSTORE_BYTES
        addr = self.mcu.key_storage_address
        assert addr is not None
        return self._read(addr, KEYSTORE_BYTES, "the key storage")

    def artefacts(self) -> dict[str, str]:
        out = {"probe": self.probe_id, "pyocd_target": self.mcu.pyocd_target}
        if self.mcu.external_flash_address is not None:
            out["external_flash_address"] = f"{self.mcu.external_flash_address:#x}"
        out["key_storage_address"] = f"{self.mcu.key_storage_address:#x}"
        return {**self._dry.entries, **out} if self._dry is not None else out

    def close(self) -> None:
        """Reset the chip if anything was written (the firmware starts over and reads its new
        key storage), then end the session. Never raises: the probe may be gone already."""
        if self._closed:
            return
        self._closed = True
        if self._written:
            with contextlib.suppress(Exception):
                self._target.reset()
        with contextlib.suppress(Exception):
            self._session.close()
