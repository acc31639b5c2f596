"""``ooc keygen``, ``ooc pack``, ``ooc verify`` and ``ooc dumpinfo``: device keys and the
encrypted, authenticated flash image."""

from __future__ import annotations

import time
from pathlib import Path

import click

from ooc_sdk.cli.options import (
    CIPHERS,
    EXISTING_FILE,
    INT,
    SIZE,
    TAGS,
    cipher_option,
    command,
    emit_json,
    flash_help,
    flash_offset_option,
    security_counter_option,
    signing_key_option,
    tag_option,
    trust_anchor_option,
)
from ooc_sdk.units import format_size


@command()
@click.option(
    "--out", "-o", "out", type=click.Path(path_type=Path), required=True, help="Key file to create."
)
@click.option(
    "--uid",
    default=None,
    help="Device UID in hex (up to 16 bytes, e.g. the MCU's 96-bit unique ID); default random.",
)
@click.option(
    "--bits",
    type=click.Choice(["128", "256"]),
    default="256",
    show_default=True,
    help="Root key length.",
)
@trust_anchor_option
@click.option("--force", is_flag=True, help="Replace an existing key file.")
def keygen(
    out: Path, uid: str | None, bits: str, trust_anchors: tuple[Path, ...], force: bool
) -> None:
    """Create a device key file: a device UID and a fresh random root key.

    The file is created with mode 0600 and other ooc commands refuse key files
    that group or others can read. The key itself is never printed; ooc shows
    only the UID and the key id (a public fingerprint derived from the key).
    With --trust-anchor the device also holds vendor public keys: it then runs
    only images one of them signed (ooc build/pack --signing-key).
    On a production line, root keys come from `ooc provision` instead.
    """
    import dataclasses

    from ooc_sdk.image import keys
    from ooc_sdk.image.keys import check_anchors
    from ooc_sdk.image.signing import key_id, read_trust_anchor

    anchors = check_anchors([read_trust_anchor(p) for p in trust_anchors])
    key = keys.generate(keys.parse_uid(uid) if uid else None, int(bits) // 8)
    key = dataclasses.replace(key, anchors=anchors)
    keys.write_key_file(out, key, force)
    click.echo(f"wrote {out} (mode 0600): device UID {key.uid.hex()}, key id {key.key_id.hex()}")
    for a in anchors:
        click.echo(f"  trust anchor: vendor key id {key_id(a).hex()}")


@command("signing-key")
@click.option(
    "--out",
    "-o",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Private key file to create (mode 0600); the public key goes beside it as .pub.",
)
@click.option("--force", is_flag=True, help="Replace existing key files.")
def signing_key(out: Path, force: bool) -> None:
    """Create a vendor signing key: an Ed25519 key pair for signing images.

    Writes OUT (the private key, PKCS#8 PEM, mode 0600: keep it offline or in
    an HSM, never on a station) and OUT with the suffix .pub (the public key,
    PEM). Give the private key to `ooc build/pack --signing-key`, and the
    public key to devices as their trust anchor (`ooc keygen --trust-anchor`,
    `ooc provision run --trust-anchor`). Prints the key id: the first 8 bytes
    of SHA-512 of the public key, as images name their signer.
    """
    from ooc_sdk.image.signing import SigningKey, write_signing_key

    key = SigningKey.generate()
    pub = write_signing_key(out, key, force)
    click.echo(f"wrote {out} (mode 0600) and {pub}: signing key id {key.key_id.hex()}")


@command()
@click.argument("model", type=EXISTING_FILE)
@click.option(
    "--device-key",
    type=EXISTING_FILE,
    required=True,
    help="Device key file (ooc keygen): the content key is wrapped for this device.",
)
@click.option(
    "--out",
    "-o",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Output directory (new or empty; see --force).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Replace OUT even though it is not empty (written beside it, swapped in when complete).",
)
@click.option("--flash", "flash", default="w25q128jv", show_default=True, help=flash_help())
@flash_offset_option
@cipher_option
@tag_option
@security_counter_option
@signing_key_option
@click.option(
    "--chunk-size", type=SIZE, default="8KiB", show_default=True, help="Largest weight chunk."
)
@click.option(
    "--scratch",
    type=SIZE,
    default="32KiB",
    show_default=True,
    help="Activation scratch partition (erase-sector multiple).",
)
@click.option(
    "--hex-base",
    type=INT,
    default=0,
    show_default=True,
    help="Address of flash offset 0 in image.hex (e.g. 0x90000000 for memory-mapped QSPI).",
)
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
def pack(
    model: Path,
    device_key: Path,
    out_dir: Path,
    force: bool,
    flash: str,
    flash_offset: int,
    cipher: str,
    tag: str,
    security_counter: int,
    signing_key: Path | None,
    chunk_size: int,
    scratch: int,
    hex_base: int,
    as_json: bool,
) -> None:
    """Pack MODEL's weights into an encrypted, authenticated flash image.

    Each image build draws a fresh random content key. Weights are cut into
    chunks (at most --chunk-size, in the order layers use them), each encrypted
    with AES-CTR and tagged over its table entry and ciphertext. The header
    (superblock, manifest, chunk table) carries its own AES-CMAC tag, and the
    content key is stored only wrapped (RFC 3394) for the device in
    --device-key. Writes to OUT: image.bin and image.hex (the flash image),
    manifest.json (public description) and keyslot.bin (the wrapped key).
    Byte layout: docs/FORMAT.md.
    """
    from ooc_sdk.fileio import check_out_dir
    from ooc_sdk.image.keys import read_key_file
    from ooc_sdk.image.outdir import write_image_dir
    from ooc_sdk.image.pack import PackOptions, pack_image
    from ooc_sdk.image.signing import read_signing_key
    from ooc_sdk.model import load_model
    from ooc_sdk.targets import load_flash

    check_out_dir(out_dir, force)
    device = read_key_file(device_key)
    signer = read_signing_key(signing_key) if signing_key is not None else None
    options = PackOptions(
        flash=load_flash(flash),
        cipher=CIPHERS[cipher],
        tag_alg=TAGS[tag],
        security_counter=security_counter,
        chunk_bytes=chunk_size,
        scratch_bytes=scratch,
        base_offset=flash_offset,
        signing_key=signer,
    )
    t0 = time.perf_counter()
    packed = pack_image(load_model(model), device, options)
    files = write_image_dir(out_dir, packed, hex_base, force=force)
    seconds = time.perf_counter() - t0
    m = packed.manifest
    if as_json:
        emit_json(
            {
                "files": {k: str(v) for k, v in files.items()},
                "image_bytes": m["image_bytes"],
                "weights_bytes": m["weights_bytes"],
                "chunks": len(packed.chunks),
                "build_id": m["build_id"],
                "device_uid": m["key_slot"]["device_uid"],
                "seconds": seconds,
            }
        )
        return
    click.echo(
        f"packed {m['model']['name']}: {m['weights_bytes']:,} weight bytes in "
        f"{len(packed.chunks)} chunks, image {format_size(m['image_bytes'])} "
        f"({m['cipher']}, {m['tag']}) for device {m['key_slot']['device_uid']} "
        f"in {seconds:.2f} s -> {out_dir}/"
    )


@command()
@click.argument("image", type=click.Path(exists=True, path_type=Path))
@click.option("--device-key", type=EXISTING_FILE, required=True, help="Device key file.")
@click.option(
    "--min-security-counter",
    type=INT,
    default=0,
    show_default=True,
    help="The device's anti-rollback counter: older images are refused.",
)
@click.option(
    "--model",
    "model",
    type=EXISTING_FILE,
    default=None,
    help="Also check the image holds this model.",
)
@trust_anchor_option
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def verify(
    image: Path,
    device_key: Path,
    min_security_counter: int,
    model: Path | None,
    trust_anchors: tuple[Path, ...],
    as_json: bool,
) -> None:
    """Check every tag of IMAGE (an `ooc pack` directory or image file) as the device would.

    Verifies the superblock and manifest structure, the key slot for this
    device (UID, key id, RFC 3394 unwrap), the header tag, the security
    counter, and every chunk's tag. With trust anchors (--trust-anchor, or
    those the device key file holds) the image must also carry a valid
    Ed25519 signature by one of them over its header and every chunk, as such
    a device checks at install. Exit 0 when all hold; otherwise one line
    naming the first failure and exit 2.
    """
    import hashlib

    from ooc_sdk.fileio import MAX_MODEL_BYTES, read_bytes
    from ooc_sdk.image.keys import check_anchors, read_key_file
    from ooc_sdk.image.outdir import load_image
    from ooc_sdk.image.reader import open_image
    from ooc_sdk.image.signing import read_trust_anchor

    expected = (
        hashlib.sha256(read_bytes(model, "model", MAX_MODEL_BYTES)).hexdigest() if model else None
    )
    device = read_key_file(device_key)
    anchors = check_anchors([read_trust_anchor(p) for p in trust_anchors]) or device.anchors
    verified = open_image(
        load_image(image), device, min_security_counter, expected, trust_anchors=anchors
    )
    total = sum(len(plain) for _, plain in verified.chunks())
    m = verified.info.manifest
    if as_json:
        emit_json(
            {
                "ok": True,
                "chunks": m["n_chunks"],
                "weights_bytes": total,
                "security_counter": m["security_counter"],
                "signed_by": verified.info.signer_key_id.hex() if anchors else None,
            }
        )
        return
    kid = verified.info.signer_key_id
    if anchors and kid is not None:
        signed = f"; signed by trusted key id {kid.hex()}"
    elif kid is not None:
        signed = f"; signed by key id {kid.hex()}, not checked (give --trust-anchor)"
    else:
        signed = ""
    click.echo(
        f"OK: header and {m['n_chunks']} chunk tags verify ({total:,} weight bytes); "
        f"security counter {m['security_counter']}{signed}"
    )


@command()
@click.argument("image", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--json", "as_json", is_flag=True, help="Print everything, with every region, as JSON."
)
def dumpinfo(image: Path, as_json: bool) -> None:
    """Show what an image reveals without a key.

    The model identity, build, algorithms, security counter, key slot owner
    (device UID and key id), the signer's key id (signed images) and the
    partition map. --json adds `regions` (a signed image's signature block is
    the region of kind "signature"): every
    byte range of the image file with `offset`, `length`, `kind` and
    `authenticated` (true when a tag protects it), so anyone can see which
    bytes are protected. Nothing here is checked cryptographically: use
    `ooc verify` for that.
    """
    from ooc_sdk.image.outdir import load_image
    from ooc_sdk.image.reader import public_info

    info = public_info(load_image(image))
    pub = info.public()
    regions = info.regions()
    if as_json:
        emit_json({**pub, "regions": regions})
        return
    click.echo(
        f"ooc image v{pub['format_version']}: model {pub['model']['name']} "
        f"(sha256 {pub['model']['sha256'][:16]}..), built by ooc {pub['sdk_version']}, "
        f"security counter {pub['security_counter']}"
    )
    click.echo(
        f"  {pub['cipher']} + {pub['tag']} tags, {pub['n_chunks']} chunks, "
        f"{pub['weights_bytes']:,} weight bytes, largest chunk {pub['max_chunk_bytes']:,}"
    )
    if pub["approximate"]:
        click.echo("  APPROXIMATE build: operand groups skipped (manifest.json `approx`)")
    ks = pub["key_slot"]
    click.echo(f"  key slot: device UID {ks['device_uid']}, key id {ks['key_id']}")
    sig = pub["signature"]
    click.echo(
        f"  signed: {sig['alg']} by vendor key id {sig['key_id']} (not checked here)"
        if sig
        else "  unsigned: devices with a trust anchor refuse it"
    )
    for p in pub["partitions"]:
        click.echo(f"  {p['kind']:<9} {p['offset']:#010x}  {format_size(p['length'])}")
    auth = sum(r["length"] for r in regions if r["authenticated"])
    click.echo(f"  {auth:,} of {pub['image_bytes']:,} bytes authenticated (--json lists regions)")
