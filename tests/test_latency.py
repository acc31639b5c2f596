"""The out-of-core latency model, against hand-computed pipelines."""

from __future__ import annotations

import dataclasses

import pytest

from ooc_sdk.errors import InvalidArgumentError
from ooc_sdk.plan.latency import Crypto, Step, estimate
from ooc_sdk.targets import load_flash, load_mcu

# Round numbers so every expected value is exact arithmetic.
FLASH = dataclasses.replace(load_flash("w25q128jv"), read_bytes_per_s=1e6, read_command_s=0.0)
SOFT = dataclasses.replace(
    load_mcu("cortex-m4"),
    clock_hz=1e6,
    cycles_per_mac=1.0,
    aes_cycles_per_byte=1.0,
    cmac_cycles_per_byte=1.0,
    poly1305_cycles_per_byte=0.25,
)
HW = dataclasses.replace(SOFT, aes_engine=True, aes_engine_bytes_per_s=4e6)


def test_no_prefetch_is_the_sum_of_everything() -> None:
    steps = [Step(macs=1000, fetch_bytes=1000, reads=1)] * 3
    est = estimate(steps, FLASH, SOFT, slots=1)
    # per step: read 1 ms + AES 1 ms + CMAC 1 ms + compute 1 ms
    assert est.seconds == pytest.approx(3 * 0.004)
    assert est.in_sram_seconds == pytest.approx(0.003)
    assert est.ratio == pytest.approx(4.0)


def test_prefetch_hides_reads_behind_compute() -> None:
    steps = [Step(macs=3000, fetch_bytes=1000, reads=1)] * 4
    est = estimate(steps, FLASH, HW, slots=2)
    # engine: CTR + CMAC = 2 passes at 4 MB/s = 0.5 ms; only the first read and its crypto show
    assert est.seconds == pytest.approx(0.001 + 0.0005 + 4 * 0.003)
    no_prefetch = estimate(steps, FLASH, HW, slots=1)
    assert no_prefetch.seconds == pytest.approx(4 * (0.001 + 0.0005 + 0.003))


def test_bandwidth_bound_steps_wait_for_flash() -> None:
    steps = [Step(macs=100, fetch_bytes=5000, reads=1)] * 3
    est = estimate(steps, FLASH, HW, slots=2)
    # reads back to back (5 ms each); the last step's crypto (2.5 ms) and compute follow
    assert est.seconds == pytest.approx(3 * 0.005 + 0.0025 + 0.0001)


def test_software_crypto_poly1305_and_aes256() -> None:
    steps = [Step(macs=0, fetch_bytes=1000, reads=1)]
    poly = estimate(steps, FLASH, SOFT, Crypto("poly1305"), slots=1)
    assert poly.seconds == pytest.approx(0.001 + 0.001 + 0.00025)
    cmac256 = estimate(steps, FLASH, SOFT, Crypto("cmac", 256), slots=1)
    assert cmac256.seconds == pytest.approx(0.001 + 2 * 0.0014)
    forced = estimate(steps, FLASH, HW, slots=1, use_engine=False)
    assert forced.seconds == pytest.approx(0.003)


def test_tags_checked_at_boot_leave_only_decryption() -> None:
    steps = [Step(macs=1000, fetch_bytes=1000, reads=1)] * 2
    est = estimate(steps, FLASH, SOFT, Crypto("none"), slots=1)
    # per step: read 1 ms + AES-CTR 1 ms + compute 1 ms (no CMAC pass)
    assert est.seconds == pytest.approx(2 * 0.003)
    engine = estimate(steps, FLASH, HW, Crypto("none"), slots=1)
    # engine: CTR only, 1 pass at 4 MB/s = 0.25 ms
    assert engine.seconds == pytest.approx(2 * (0.001 + 0.00025 + 0.001))


def test_weights_already_resident_cost_nothing() -> None:
    est = estimate([Step(macs=2000)], FLASH, SOFT)
    assert est.seconds == est.in_sram_seconds == pytest.approx(0.002)


def test_bad_arguments() -> None:
    with pytest.raises(InvalidArgumentError):
        estimate([Step(1)], FLASH, SOFT, slots=0)
    with pytest.raises(InvalidArgumentError):
        Crypto("gcm")


def test_a_draining_step_waits_for_the_prefetch_in_flight() -> None:
    """A fused block that re-streams weights or uses the spill ring computes only once the
    next step's read (started after its own chunks were verified) has finished: that read no
    longer hides behind its compute."""
    steps = [Step(macs=3000, fetch_bytes=1000, reads=1)] * 4
    plain = estimate(steps, FLASH, HW, slots=2)
    drained = [steps[0], dataclasses.replace(steps[1], drain=True), *steps[2:]]
    est = estimate(drained, FLASH, HW, slots=2)
    # step 2's read starts when its slot frees (step 0 done, 4.5 ms), and step 1, which would
    # compute from 4.5 ms, waits for it: 1 ms later, and everything after it too
    assert est.seconds == pytest.approx(plain.seconds + 0.001)
    assert est.flash_seconds == pytest.approx(plain.flash_seconds)  # read once, earlier
    # nothing in flight: one slot (no prefetch), or no later step that reads
    assert estimate(drained, FLASH, HW, slots=1).seconds == pytest.approx(
        estimate(steps, FLASH, HW, slots=1).seconds
    )
    last = [*steps[:3], dataclasses.replace(steps[3], drain=True)]
    assert estimate(last, FLASH, HW, slots=2).seconds == pytest.approx(plain.seconds)
