"""The wear a field device's flash dump shows (``ooc audit wear --dump FLASH.bin``; docs/audit.md,
"Wear").

The dump holds the image; its scratch partition holds the activation spill ring, whose sector
headers carry each sector's erase count (:mod:`ooc_sdk.audit.ring`), and its metadata partition
(littlefs) names the model and build. The report gives the counts, the sectors' states and the
share of the endurance already used. The text and the heatmap of the report are
:func:`ooc_sdk.audit.wear.render` and :func:`ooc_sdk.audit.wear.plot_wear` (both modes).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ooc_sdk.audit.ring import read_ring
from ooc_sdk.audit.wear import parse_endurance, resolve_endurance, scratch_layout
from ooc_sdk.errors import ImageError, ImageTruncatedError, InvalidArgumentError
from ooc_sdk.fileio import MAX_IMAGE_BYTES, read_bytes
from ooc_sdk.formats import image as fmt
from ooc_sdk.targets import FlashProfile, flash_profiles, load_flash

if TYPE_CHECKING:
    from ooc_sdk.image.reader import ImageInfo


def find_superblock(data: bytes, image_offset: int | None = None) -> int:
    """The offset of the ooc image in a flash dump: ``image_offset``, or the first 256-byte-aligned
    offset holding the superblock magic whose base_offset field names that offset."""
    from ooc_sdk.formats.image import SUPERBLOCK, SUPERBLOCK_MAGIC

    if image_offset is not None:
        if image_offset < 0 or image_offset + 4 > len(data):
            raise InvalidArgumentError(
                f"`image_offset` {image_offset} is beyond the {len(data):,}-byte dump",
                param="image_offset",
            )
        if data[image_offset : image_offset + 4] != SUPERBLOCK_MAGIC:
            raise ImageError(f"no ooc image superblock (OOCI magic) at offset {image_offset:#x}")
        return image_offset
    pos = data.find(SUPERBLOCK_MAGIC)
    while pos >= 0:
        if pos % 256 == 0 and pos + SUPERBLOCK.size <= len(data):
            sb = SUPERBLOCK.unpack(data, pos)
            if sb["base_offset"] == pos:
                return pos
        pos = data.find(SUPERBLOCK_MAGIC, pos + 1)
    raise ImageError(
        "not an ooc flash dump: no image superblock (OOCI magic) at any sector-aligned offset"
    )


def audit_dump(
    path: Path,
    *,
    flash: str | None = None,
    image_offset: int | None = None,
    endurance: str | int | None = None,
) -> dict[str, Any]:
    """The wear a device's flash dump shows: each scratch sector's erase count (its ring header),
    the metadata partition's files, and the share of the endurance already used."""
    data, off, image = _read_dump(path, image_offset)
    sb = image.superblock
    sector = sb["sector_bytes"]
    flash_p = _dump_flash(path, flash, sb)
    cycles, cycles_src = _dump_endurance(endurance, flash_p, sb)
    layout = scratch_layout(image.partitions, sb["flash_bytes"], len(image.data), sector)
    layout["image_offset"] = off
    s_off, s_len = layout["scratch_offset"], layout["scratch_bytes"]
    ring = read_ring(image.data[s_off : s_off + s_len], sector) if s_len else {"sectors": []}
    sectors = ring["sectors"]
    counts = [s["erase_count"] for s in sectors]
    worst = max(range(len(counts)), key=lambda i: counts[i]) if counts else None
    meta = _dump_metadata(image, sector)
    public = image.public()
    mx = max(counts) if counts else 0
    report: dict[str, Any] = {
        "mode": "dump",
        "dump": str(path),
        "dump_bytes": len(data),
        "image_offset": off,
        "image": {
            "model": public["model"]["name"],
            "build_id": public["build_id"],
            "image_bytes": public["image_bytes"],
            "partitions": public["partitions"],
        },
        "flash": flash_p.name if flash_p is not None else None,
        "endurance_cycles": cycles,
        "endurance_source": cycles_src,
        "layout": layout,
        "metadata": meta,
        "metadata_matches_image": meta.get("build_id") in (None, public["build_id"]),
        "sectors": sectors,
        "erase_counts": counts,
        "max_erases": mx,
        "mean_erases": sum(counts) / len(counts) if counts else 0.0,
        "min_erases": min(counts) if counts else 0,
        "worst_sector": worst,
        "head_sector": ring.get("head"),
        "highest_boot": ring.get("highest_boot"),
        "damaged_sectors": [s["index"] for s in sectors if s["state"] == "damaged"],
        "erased_sectors": [s["index"] for s in sectors if s["state"] == "erased"],
        "lifetime_used": mx / cycles,
        "lifetime_used_mean": (sum(counts) / len(counts) / cycles) if counts else 0.0,
    }
    report["statement"] = (
        f"the most-erased scratch sector ({worst}) has {mx:,} of {cycles:,} cycles: "
        f"{100 * mx / cycles:.3g}% of its endurance used"
        if counts
        else "the image has no scratch partition: inference never erases this flash"
    )
    return report


def _read_dump(path: Path, image_offset: int | None) -> tuple[bytes, int, ImageInfo]:
    """The dump's bytes, the image's offset in them and the image (ooc_sdk.image.reader)."""
    from ooc_sdk.image.reader import parse_image

    data = read_bytes(path, "flash dump", MAX_IMAGE_BYTES)
    if not data:
        raise ImageError(f"{path} is empty, not a flash dump")
    try:
        off = find_superblock(data, image_offset)
    except ImageError as exc:
        raise ImageError(f"{path}: {exc}") from None
    try:
        image = parse_image(data[off:])
    except ImageTruncatedError:
        held = len(data) - off
        if held < fmt.SUPERBLOCK.size:
            raise ImageTruncatedError(
                f"{path} is a truncated flash dump: it holds {held:,} bytes of the image at "
                f"offset {off:#x}, less than its header"
            ) from None
        size = fmt.SUPERBLOCK.unpack(data, off)["image_bytes"]
        raise ImageTruncatedError(
            f"{path} is a truncated flash dump: the image at offset {off:#x} needs {size:,} "
            f"bytes, the dump holds {held:,} of them"
        ) from None
    return data, off, image


def _dump_flash(path: Path, flash: str | None, sb: dict[str, Any]) -> FlashProfile | None:
    """The flash profile: ``flash`` (its sectors must be the image's), else the first bundled
    profile with the image's chip size and sector size, else None."""
    sector = sb["sector_bytes"]
    if flash is not None:
        flash_p = load_flash(flash)
        if flash_p.sector_bytes != sector:
            raise InvalidArgumentError(
                f"`flash` {flash_p.name} has {flash_p.sector_bytes}-byte sectors, the image in "
                f"{path} was packed for {sector}-byte sectors",
                param="flash",
            )
        return flash_p
    match = [
        load_flash(n)
        for n in flash_profiles()
        if load_flash(n).size_bytes == sb["flash_bytes"] and load_flash(n).sector_bytes == sector
    ]
    return match[0] if match else None


def _dump_endurance(
    endurance: str | int | None, flash_p: FlashProfile | None, sb: dict[str, Any]
) -> tuple[int, str]:
    """The endurance in cycles and where it comes from: ``endurance``, else the flash profile."""
    cycles = parse_endurance(endurance) if isinstance(endurance, str) else endurance
    if cycles is not None:
        return cycles, "--endurance"
    if flash_p is not None:
        return resolve_endurance(flash_p, None)
    raise InvalidArgumentError(
        f"no bundled flash profile matches the image's chip ({sb['flash_bytes']:,} bytes, "
        f"{sb['sector_bytes']}-byte sectors): give `flash` or `endurance`",
        param=("flash", "endurance"),
    )


def _dump_metadata(image: ImageInfo, sector: int) -> dict[str, Any]:
    """The metadata partition's files (name: bytes) and, from its manifest, the model and build;
    ``error`` says why they are missing."""
    from ooc_sdk.image.metadata import read_metadata

    meta: dict[str, Any] = {"files": None, "error": None}
    m_part = next(((o, n) for k, o, n in image.partitions if k == fmt.PART_METADATA), None)
    if m_part is None:
        meta["error"] = "the image has no metadata partition"
        return meta
    try:
        files = read_metadata(image.data[m_part[0] : m_part[0] + m_part[1]], sector)
        meta["files"] = {name: len(body) for name, body in sorted(files.items())}
        if "manifest.json" in files:
            manifest = json.loads(files["manifest.json"])
            meta["model"] = (
                manifest.get("model", {}).get("name")
                if isinstance(manifest.get("model"), dict)
                else manifest.get("model")
            )
            meta["build_id"] = manifest.get("build_id")
    except (ImageError, ValueError) as exc:
        meta["error"] = str(exc)
    return meta
