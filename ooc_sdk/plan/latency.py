"""Latency of an out-of-core schedule: flash, crypto and CPU as three pipelined resources.

A schedule is a list of steps; step k computes ``macs`` (or measured ``compute_cycles``, or
``kernel_instructions`` from the core's cost table, ooc_sdk/plan/costs.py) once its weight chunks
(``fetch_bytes`` in ``reads`` flash read commands) are in SRAM, verified and decrypted. The model:

- the flash bus reads one step's chunks at a time (read command overhead + bytes / throughput);
- as the runtime's pager does (c_runtime/src/pager.c), the read of a step's chunks starts once
  the previous reading step's chunks are verified and decrypted (with two slots: before that
  step computes), or once it has computed (one slot); the first starts at once;
- with a hardware AES engine, CTR and CMAC run on the engine after the read, beside the CPU
  (a Poly1305 tag is then computed by the CPU); without one, the CPU verifies and decrypts
  (cycles per byte from the MCU profile) before it computes;
- the CPU runs verification (when software) and compute, one step after the other;
- a ``sync`` step's read waits for the CPU (weights re-streamed inside a fused block);
- a ``drain`` step does not compute while a read is in flight (a fused block that re-streams
  weights or uses the spill ring: the bus is its own): the next step's prefetch, if it has
  started, finishes first;
- ``slots = 1`` is no prefetch: read, verify, compute, in turn;
- with a cost table the CPU also spends the pager's instructions per reading step and per chunk,
  and the crypto's set-up per chunk (software AES); these are not in the all-in-SRAM baseline.

The all-in-SRAM baseline is the compute alone. Profiles: ooc_sdk/targets (every value sourced).
"""

from __future__ import annotations

from dataclasses import dataclass

from ooc_sdk.errors import InvalidArgumentError
from ooc_sdk.formats import image as fmt
from ooc_sdk.plan.costs import load_costs
from ooc_sdk.targets import FlashProfile, McuProfile

AES256_ROUNDS_FACTOR = 14 / 10  # software AES-256 costs 14 rounds to AES-128's 10


@dataclass(frozen=True)
class Step:
    macs: int  # multiply-accumulates computed in this step
    fetch_bytes: int = 0  # chunk bytes read from flash before it (ciphertext)
    reads: int = 0  # flash read commands (one per chunk)
    # measured compute (e.g. instructions counted under QEMU times a CPI), replacing the MCU
    # profile's cycles per MAC for this step
    compute_cycles: float | None = None
    # read while the CPU waits (no prefetch): the read starts once the previous step computed
    sync: bool = False
    # computes only once the prefetch in flight (the next step's read) has finished
    drain: bool = False
    # the kernels' instructions from the core's cost table (costs.py), times the MCU profile's
    # cycles per instruction; None: macs times the profile's cycles per MAC
    kernel_instructions: float | None = None
    chunks: int = 0  # chunks read per pass (per-chunk pager and crypto costs)
    passes: int = 1  # times the step's chunks are read per inference (a streamed piece's rows)


@dataclass(frozen=True)
class Crypto:
    tag: str = "cmac"  # "cmac", "poly1305", or "none" (tags checked once at boot, not per read)
    key_bits: int = 128

    @classmethod
    def for_image(cls, cipher: int, tag_alg: int) -> Crypto:
        """The crypto of an image packed with these manifest values (formats/image.py)."""
        return cls(
            "poly1305" if tag_alg == fmt.TAG_POLY1305 else "cmac",
            8 * fmt.CIPHER_KEY_BYTES[cipher],
        )

    def __post_init__(self) -> None:
        if self.tag not in ("cmac", "poly1305", "none") or self.key_bits not in (128, 256):
            raise InvalidArgumentError(f"unknown crypto setting {self.tag}/{self.key_bits}")


@dataclass(frozen=True)
class Estimate:
    seconds: float
    in_sram_seconds: float  # all weights in SRAM: compute only
    flash_seconds: float  # total flash bus busy time
    crypto_seconds: float  # total time spent verifying and decrypting (CPU or engine)
    compute_seconds: float

    @property
    def ratio(self) -> float:
        """Out-of-core latency over all-in-SRAM latency."""
        return self.seconds / self.in_sram_seconds if self.in_sram_seconds else float("inf")


def estimate(
    steps: list[Step],
    flash: FlashProfile,
    mcu: McuProfile,
    crypto: Crypto | None = None,
    slots: int = 2,
    dsp: bool = False,
    use_engine: bool = True,
) -> Estimate:
    """Simulate the pipeline; ``use_engine=False`` forces software AES on an MCU with an engine.
    Long because it is one simulation loop over the steps with its state in locals."""
    if slots < 1:
        raise InvalidArgumentError("at least one chunk slot is needed")
    crypto = crypto or Crypto()
    clock = mcu.clock_hz
    cpm = mcu.cycles_per_mac_dsp if dsp else mcu.cycles_per_mac
    cpi = mcu.cycles_per_instruction or 1.0
    table = load_costs(mcu.core)
    engine = mcu.aes_engine and use_engine
    software_cpb = _software_crypto_cycles_per_byte(mcu, crypto)

    def read_seconds(step: Step) -> float:
        return step.reads * flash.read_command_s + step.fetch_bytes / flash.read_bytes_per_s

    def compute_seconds(step: Step) -> float:
        if step.compute_cycles is not None:
            return step.compute_cycles / clock
        if step.kernel_instructions is not None:
            return step.kernel_instructions * cpi / clock
        return step.macs * cpm / clock

    def overhead_seconds(step: Step) -> tuple[float, float]:
        """The pager's and the crypto set-up's CPU time for a reading step (cost table)."""
        if table is None or not step.fetch_bytes or step.kernel_instructions is None:
            return 0.0, 0.0
        pager = (table.pager_per_step + table.pager_per_chunk * step.chunks) * step.passes
        setup = 0.0 if engine or crypto.tag == "none" else table.crypto_per_chunk * step.chunks
        return pager * cpi / clock, setup * step.passes * cpi / clock

    flash_free = engine_free = cpu_free = 0.0
    compute_done: list[float] = []
    # when the last reading step's chunks were verified (two slots) or it computed (one): the
    # pager starts the next read then; 0 before the first
    read_gate = 0.0
    prefetched: dict[int, float] = {}  # step -> when its read finished (read early, by a drain)
    total_flash = total_crypto = total_compute = 0.0
    for k, step in enumerate(steps):
        if step.macs < 0 or step.fetch_bytes < 0 or step.reads < 0:
            raise InvalidArgumentError("negative step figures")
        compute = compute_seconds(step)
        pager, setup = overhead_seconds(step)
        total_compute += compute
        ready = 0.0
        cpu_crypto = 0.0
        if step.fetch_bytes:
            if k in prefetched:
                ready = prefetched.pop(k)
            else:
                start = max(flash_free, cpu_free if step.sync else read_gate)
                f = read_seconds(step)
                flash_free = start + f
                total_flash += f
                ready = flash_free
            if engine:
                passes = 2 if crypto.tag == "cmac" else 1  # CTR (+ CMAC) on the engine
                e = passes * step.fetch_bytes / mcu.aes_engine_bytes_per_s
                engine_free = max(engine_free, ready) + e
                ready = engine_free
                total_crypto += e
                if crypto.tag == "poly1305":
                    cpu_crypto = step.fetch_bytes * mcu.poly1305_cycles_per_byte / clock
            else:
                cpu_crypto = step.fetch_bytes * software_cpb / clock + setup
        total_crypto += cpu_crypto
        begin = max(cpu_free, ready) + cpu_crypto + pager
        if step.fetch_bytes and not step.sync and slots > 1:
            read_gate = begin  # verified: the next read starts while this step computes
        j = _read_in_flight(steps, k, slots) if step.drain else None
        if j is not None:  # it finishes before this step computes
            f = read_seconds(steps[j])
            flash_free = max(flash_free, read_gate) + f
            total_flash += f
            prefetched[j] = flash_free
            begin = max(begin, flash_free)
        cpu_free = begin + compute
        if step.fetch_bytes and not step.sync and slots == 1:
            read_gate = cpu_free  # one slot: the next read starts once this step computed
        compute_done.append(cpu_free)
    return Estimate(
        seconds=cpu_free,
        in_sram_seconds=total_compute,
        flash_seconds=total_flash,
        crypto_seconds=total_crypto,
        compute_seconds=total_compute,
    )


def _software_crypto_cycles_per_byte(mcu: McuProfile, crypto: Crypto) -> float:
    """CPU cycles per byte of decrypting and checking the tag in software (no engine)."""
    aes_factor = AES256_ROUNDS_FACTOR if crypto.key_bits == 256 else 1.0
    tag_cpb = {
        "poly1305": mcu.poly1305_cycles_per_byte,
        "cmac": mcu.cmac_cycles_per_byte * aes_factor,
        "none": 0.0,
    }[crypto.tag]
    return mcu.aes_cycles_per_byte * aes_factor + tag_cpb


def _read_in_flight(steps: list[Step], k: int, slots: int) -> int | None:
    """The step whose read is in flight while draining step ``k`` waits to compute: with two
    slots, the next step with chunks (not a synchronous one), whose read the pager started once
    the last reading step up to ``k`` was verified; None if there is none."""
    j = next((i for i in range(k + 1, len(steps))
              if steps[i].fetch_bytes and not steps[i].sync), None)  # fmt: skip
    return j if j is not None and slots > 1 else None
