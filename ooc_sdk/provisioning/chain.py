"""The device registry's audit log: its hash chain, its MACs, and the replay that checks every
device record against it (:mod:`ooc_sdk.provisioning.registry` stores it and calls
:func:`verify`).

Hash chain. Entry ``n`` (``seq`` = n = 1, 2, ...) stores ``hash_n`` with::

    hash_n = SHA-256(prev_hash_n || u64be(seq) || f(time) || f(station) || f(uid) || f(event)
                     || f(detail))
    f(s)   = u32be(len(utf8(s))) || utf8(s)      (uid: "" for NULL; a real UID is 32 characters)
    prev_hash_1 = 32 zero bytes, prev_hash_n = hash_(n-1)   (raw bytes; stored as hex)

``detail`` is hashed exactly as stored: the JSON text written once at append time with sorted
keys, ``","``/``":"`` separators and ASCII escapes, so a verifier in another language hashes bytes
and never re-encodes JSON.

MAC (schema 3). Each entry also stores ``mac_n = HMAC-SHA256(K, hash_n)`` with
``K = SP 800-108 KDF(master secret, label "ooc registry mac", empty context, 32 bytes)``, the KDF
the device keys use (:meth:`ooc_sdk.image.keystore.SecretKeystore.registry_mac`). ``hash_n``
covers every earlier entry, so one good MAC authenticates the whole log up to its entry. Only a
holder of the factory master key (a station) can append; the ``meta`` row ``mac_key_id`` names
the master key id the registry is kept under. Entries written before schema 3 have no MAC and are
authenticated by the first MAC after them.

Replay. Every device record is a function of its audit entries, so :func:`verify` rebuilds each
record from the log and compares every field (``uid``, ``key_id``, ``image_id``,
``image_version``, ``security_counter``, ``station``, ``state``, ``reason``, ``attempts``,
``created``, ``updated``), the records' order (their ``id`` column) and the serial counter:

- ``claim`` with ``outcome`` ``new``: a record appears: ``key_id``, ``image_id``,
  ``image_version``, ``security_counter``, ``attempts`` from the detail, ``station`` = the entry's
  station, ``state`` pending, no ``reason``, ``created`` = ``updated`` = the entry's time;
- ``claim`` with ``outcome`` ``resume``: ``image_id``, ``image_version``, ``security_counter``,
  ``attempts`` from the detail, ``station`` = the entry's, ``state`` pending, no ``reason``,
  ``updated`` = the entry's time (``key_id`` must be the record's: a device never gets two keys);
- ``state``: ``state`` and ``reason`` (absent: none) from the detail, ``updated`` = the time;
- ``serials``: the ``meta`` row ``next_serial`` is 1 + the last serial handed out (1 with none).

What is detected, with ``--master-key`` (the MACs checked): an edit of any field of any audit
entry or device record; an entry, a device record or a tail of the log deleted or added outside
ooc (unless the records and the head are cut back to an earlier, genuine state: see below); a
chain rewritten from any entry on, however consistently (its MACs do not verify). Without the key
the same, except a consistent rewrite of the chain (the hashes recomputed), which only the MACs
or an exported head catch.

What is not: a registry rolled back whole to an earlier copy of itself, or its log and records cut
back together to an earlier entry with the head moved there, or replaced by another registry kept
under the same master key. Each is genuine history, so only a head recorded outside the registry
catches it: export ``entries``, ``head`` and ``head_mac`` (``ooc device audit --json``) to the
line's MES at each shift or lot, and check later with ``--expect-count N --expect-head HASH``
(the exported entry must still be in the log with that hash).
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

GENESIS_HASH = bytes(32)
# The device record's fields, in the order of its dataclass and of the SQL column list.
DEVICE_FIELDS = (
    "uid",
    "key_id",
    "image_id",
    "image_version",
    "security_counter",
    "station",
    "state",
    "reason",
    "attempts",
    "created",
    "updated",
)
AUDIT_FIELDS = ("seq", "time", "station", "uid", "event", "detail", "prev_hash", "hash", "mac")


class AuditKey(Protocol):
    """What appending to (and fully auditing) a registry needs from the factory keystore
    (:class:`ooc_sdk.image.keystore.Keystore` has both members)."""

    @property
    def key_id(self) -> bytes:
        """The master key's public fingerprint."""
        ...

    def registry_mac(self, message: bytes) -> bytes:
        """HMAC-SHA256 of ``message`` under the registry MAC key derived from the master."""
        ...


@dataclass(frozen=True)
class AuditEntry:
    """One entry of the append-only audit log."""

    seq: int
    time: str
    station: str
    uid: str | None  # None for serial allocation
    event: str  # claim, state, serials
    detail: dict[str, Any]
    prev_hash: str  # hex
    hash: str  # hex
    mac: str | None = None  # hex; None for entries written before schema 3

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Anchor:
    """A head exported earlier: entry ``count`` had hash ``head`` (``count`` None: the head now)."""

    head: str
    count: int | None = None


@dataclass(frozen=True)
class ChainReport:
    """The result of :func:`verify` (:meth:`Registry.verify_chain`)."""

    ok: bool
    entries: int  # entries in the log
    first_bad: int | None  # seq of the first entry that fails (or is missing), else None
    reason: str  # the first problem ("" when ok)
    head: str = ""  # hex hash of the last entry (64 zeros for an empty log)
    head_mac: str | None = None  # hex MAC stored with the log's last entry (None: none)
    macs: str = "not checked"  # "verified", "failed" or "not checked" (no key given)
    key_id: str | None = None  # the master key id the MACs were checked under
    problems: tuple[str, ...] = field(default_factory=tuple)  # every problem, one line each

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["problems"] = list(self.problems)
        return out


def entry_hash(
    prev_hash: bytes, seq: int, stamp: str, station: str, uid: str | None, event: str, detail: str
) -> bytes:
    """The audit chain hash of one entry (the encoding in the module docstring)."""
    h = hashlib.sha256(prev_hash)
    h.update(struct.pack(">Q", seq))
    for text in (stamp, station, uid or "", event, detail):
        data = text.encode()
        h.update(struct.pack(">I", len(data)) + data)
    return h.digest()


def canonical_json(detail: dict[str, Any]) -> str:
    """The stored (and hashed) text of an audit detail."""
    return json.dumps(
        detail, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    )


def entry_mac(key: AuditKey, digest: bytes) -> str:
    """The stored MAC (hex) of the entry whose chain hash is ``digest``."""
    return key.registry_mac(digest).hex()


class _Replay:
    """Device records rebuilt from the audit entries (the rules in the module docstring)."""

    def __init__(self) -> None:
        self.devices: dict[str, dict[str, Any]] = {}  # insertion order = order of first claim
        self.next_serial = 1
        self.problems: list[str] = []

    def apply(
        self, seq: int, stamp: str, station: str, uid: str | None, event: str, d: Any
    ) -> None:
        try:
            self._apply(seq, stamp, station, uid, event, d)
        except (KeyError, TypeError, AttributeError, ValueError) as e:
            self.problems.append(f"entry {seq}: its {event} detail is malformed ({e!r})")

    def _apply(
        self, seq: int, stamp: str, station: str, uid: str | None, event: str, d: Any
    ) -> None:
        known = self.devices.get(uid) if uid is not None else None
        if event == "serials":
            self.next_serial = max(self.next_serial, int(d["first"]) + int(d["count"]))
        elif uid is None:
            self.problems.append(f"entry {seq}: a {event} entry names no device")
        elif event == "claim" and d["outcome"] == "new":
            if known is not None:
                self.problems.append(f"entry {seq}: a new claim of device {uid}, claimed before")
                return
            self.devices[uid] = {
                "uid": uid,
                "key_id": d["key_id"],
                **self._claimed(d, station, stamp),
                "created": stamp,
            }
        elif known is None:
            self.problems.append(f"entry {seq}: a {event} of device {uid}, never claimed new")
        elif event == "claim" and d["outcome"] == "resume":
            if d["key_id"] != known["key_id"]:
                self.problems.append(f"entry {seq}: device {uid} resumed under another key id")
            known.update(self._claimed(d, station, stamp))
        elif event == "state":
            known.update(state=d["state"], reason=d.get("reason"), updated=stamp)
        else:
            self.problems.append(f"entry {seq}: an entry ooc does not write ({event!r})")

    @staticmethod
    def _claimed(d: Mapping[str, Any], station: str, stamp: str) -> dict[str, Any]:
        return {
            "image_id": d["image_id"],
            "image_version": d["image_version"],
            "security_counter": d["security_counter"],
            "station": station,
            "state": "pending",
            "reason": None,
            "attempts": d["attempts"],
            "updated": stamp,
        }

    def compare(self, rows: Sequence[tuple[Any, ...]], next_serial: str | None) -> None:
        """Check the device records (``rows``: DEVICE_FIELDS, in ``id`` order) and the serial
        counter against the replay; one problem per device."""
        seen: list[str] = []
        for row in rows:
            record = dict(zip(DEVICE_FIELDS, row, strict=True))
            uid = record["uid"]
            expected = self.devices.get(uid)
            if expected is None:
                self.problems.append(f"device {uid} has no audit entry (added outside ooc)")
                continue
            seen.append(uid)
            edits = [
                f"{name} is {record[name]!r}, its audit log says {expected[name]!r}"
                for name in DEVICE_FIELDS
                if record[name] != expected[name] or type(record[name]) is not type(expected[name])
            ]
            if edits:
                self.problems.append(
                    f"device {uid}: {'; '.join(edits)} (the device record was edited)"
                )
        for uid in self.devices.keys() - set(seen):
            self.problems.append(
                f"device {uid} is in the audit log but has no record (the record was deleted)"
            )
        if seen != [u for u in self.devices if u in set(seen)]:
            self.problems.append(
                "the device records' order (their id) is not the order of their first claims "
                "(ids were edited)"
            )
        if next_serial != str(self.next_serial):
            self.problems.append(
                f"the serial counter is {next_serial}, its audit log says {self.next_serial} "
                "(the counter was edited)"
            )


def _same(a: str, b: str) -> bool:
    """Constant-time comparison of two hex texts (any text an attacker stored included)."""
    return hmac.compare_digest(a.encode(errors="replace"), b.encode())


def _mac_key(key: AuditKey | None, meta: Mapping[str, str]) -> tuple[str | None, list[str]]:
    """The id of ``key`` and a problem when the registry is kept under another master key."""
    if key is None:
        return None, []
    key_id = key.key_id.hex()
    kept = meta.get("mac_key_id") or ""
    if kept and kept != key_id:
        return key_id, [f"the registry is kept under master key id {kept}, not {key_id}"]
    return key_id, []


class _Walk:
    """One pass over the log: links, hashes, MACs, the exported head, and the replay."""

    def __init__(self, key: AuditKey | None, key_id: str | None, expect: Anchor | None) -> None:
        self.key, self.key_id, self.expect = key, key_id, expect
        self.replay = _Replay()
        self.problems: list[str] = []
        self.prev, self.n = GENESIS_HASH, 0
        self.last_mac: str | None = None
        self.first_bad: int | None = None  # the first entry whose MAC fails
        self.keyed = False  # an entry with a MAC was seen

    def entry(self, row: tuple[Any, ...]) -> tuple[int, str] | None:
        """Check one entry; a broken link or hash is returned (seq, problem): the walk stops."""
        seq, stamp, station, uid, event, detail, prev_hex, hash_hex, mac = row
        if seq != self.n + 1:
            return self.n + 1, f"entry {self.n + 1} is missing (the log jumps to {seq})"
        texts = (stamp, station, uid or "", event, detail, prev_hex, hash_hex, mac or "")
        if not all(isinstance(t, str) for t in texts):
            return seq, f"entry {seq}: a field that is text holds another type (altered)"
        if prev_hex != self.prev.hex():
            return seq, f"entry {seq}: its prev_hash is not entry {seq - 1}'s hash"
        digest = entry_hash(self.prev, seq, stamp, station, uid, event, detail)
        if digest.hex() != hash_hex:
            return seq, f"entry {seq}: its contents do not match its hash (the entry was altered)"
        if self.key is not None and self.first_bad is None:
            if mac is None and self.keyed:
                self.mac_problem(seq, "it has no MAC, though earlier entries have")
            elif mac is not None and not _same(mac, entry_mac(self.key, digest)):
                self.mac_problem(
                    seq,
                    f"its MAC does not verify under master key id {self.key_id} (the log was "
                    "rewritten without the key from this entry on)",
                )
        self.keyed = self.keyed or mac is not None
        if self.expect is not None and self.expect.count == seq and self.expect.head != hash_hex:
            self.problems.append(
                f"entry {seq}: its hash is {hash_hex}, not the exported head {self.expect.head} "
                "(the log was rewritten since the head was exported)"
            )
        try:
            parsed = json.loads(detail)
        except ValueError:
            self.replay.problems.append(f"entry {seq}: its detail is not JSON")
        else:
            self.replay.apply(seq, stamp, station, uid, event, parsed)
        self.prev, self.n, self.last_mac = digest, seq, mac
        return None

    def mac_problem(self, seq: int, text: str) -> None:
        self.problems.append(f"entry {seq}: {text}")
        self.first_bad = seq

    def head(self, count: int, head: str) -> tuple[int, str] | None:
        """Check the meta head against the log's end (a mismatch stops the audit)."""
        n = self.n
        if count > n:
            return n + 1, (
                f"the log ends at entry {n} but the head records {count} entries (entries were "
                "removed from the end)"
            )
        if count < n:
            return count + 1, f"entries after {count} are not in the head (added outside ooc)"
        if head != self.prev.hex():
            return n, f"entry {n}: its hash is not the head's (the log was rewritten)"
        if self.key is not None and n and self.last_mac is None and self.first_bad is None:
            self.mac_problem(
                n,
                "the last entry has no MAC: nothing authenticates the log (written before "
                "schema 3 and not since, or rewritten without the key)",
            )
        return None


def verify(
    entries: Iterable[tuple[Any, ...]],
    devices: Sequence[tuple[Any, ...]],
    meta: Mapping[str, str],
    key: AuditKey | None = None,
    expect: Anchor | None = None,
) -> ChainReport:
    """Check the log (``entries``: AUDIT_FIELDS rows in seq order) against its head (``meta``),
    its MACs (with ``key``), an exported head (``expect``) and the device records (``devices``,
    DEVICE_FIELDS rows in ``id`` order). A broken link or head stops the check (nothing after it
    can be trusted); every other problem is collected, one line each."""
    head_count, head_hash = int(meta["audit_count"]), meta["audit_head"]
    key_id, wrong_key = _mac_key(key, meta)
    walk = _Walk(None if wrong_key else key, key_id, expect)
    broken, total, last_mac = None, 0, None
    for row in entries:  # streamed: a long log is never held whole
        total, last_mac = total + 1, row[-1]
        broken = broken or walk.entry(row)  # after a break, only counted
    broken = broken or walk.head(head_count, head_hash)
    if broken is not None:
        seq, text = broken
        problems, first_bad = [*wrong_key, text], seq
    else:
        walk.problems.extend(_anchor_problems(expect, walk.n, head_hash))
        walk.replay.compare(devices, meta.get("next_serial"))
        problems = [*wrong_key, *walk.problems, *walk.replay.problems]
        first_bad = walk.first_bad
    if key is None:
        macs = "not checked"
    else:
        macs = "failed" if wrong_key or broken or walk.first_bad is not None else "verified"
    return ChainReport(
        ok=not problems,
        entries=total,
        first_bad=first_bad,
        reason=problems[0] if problems else "",
        head=head_hash,
        head_mac=last_mac,
        macs=macs,
        key_id=key_id,
        problems=tuple(problems),
    )


def _anchor_problems(expect: Anchor | None, n: int, head: str) -> list[str]:
    if expect is None:
        return []
    if expect.count is None:
        if expect.head != head:
            return [f"the head is {head}, not the exported head {expect.head}"]
        return []
    if expect.count > n:
        return [
            f"the log has {n} entries, fewer than the {expect.count} of the exported head "
            "(entries were removed)"
        ]
    if expect.count == 0 and expect.head != GENESIS_HASH.hex():
        return [f"an exported head of 0 entries is {GENESIS_HASH.hex()}, not {expect.head}"]
    return []
