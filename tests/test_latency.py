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
    # as the pager does, each read starts once the previous step's chunks are verified and
    # decrypted: read 5 ms then crypto 2.5 ms per step, in turn; the last compute follows
    assert est.seconds == pytest.approx(3 * (0.005 + 0.0025) + 0.0001)


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


def test_the_next_read_starts_once_the_current_chunks_are_verified() -> None:
    """The pager starts the next read after load_end (c_runtime/src/pager.c): with software
    crypto the read does not overlap the verification of the chunks before it."""
    steps = [Step(macs=100, fetch_bytes=1000, reads=1)] * 2
    est = estimate(steps, FLASH, SOFT, slots=2)
    # step 0: read 0-1 ms, AES + CMAC 1-3 ms, compute 3-3.1 ms; step 1's read starts at 3 ms
    # (not at 1 ms, when the bus was free): 3-4 ms, its crypto 4-6 ms, compute to 6.1 ms
    assert est.seconds == pytest.approx(0.0061)


def test_the_cost_table_prices_kernels_pager_and_crypto_setup() -> None:
    """With the core's cost table, a step's compute is its kernel instructions at the profile's
    CPI, and a reading step adds the pager's and the crypto set-up's instructions per chunk."""
    from ooc_sdk.plan.costs import load_costs

    table = load_costs("cortex-m4")
    assert table is not None and "dsp" in table.kernels
    assert table.pager_per_step > 0 and table.crypto_per_chunk > 0
    mcu = dataclasses.replace(SOFT, cycles_per_instruction=1.0)
    fast = dataclasses.replace(FLASH, read_bytes_per_s=1e18)
    alone = estimate([Step(macs=10, kernel_instructions=500.0)], fast, mcu, slots=1)
    assert alone.seconds == pytest.approx(500e-6)  # 1 MHz, CPI 1; not 10 MACs x 1 cycle
    read = Step(macs=10, fetch_bytes=100, reads=2, kernel_instructions=500.0, chunks=2)
    est = estimate([read], fast, mcu, Crypto("poly1305"), slots=1)
    extra = table.pager_per_step + 2 * table.pager_per_chunk + 2 * table.crypto_per_chunk
    assert est.seconds == pytest.approx((500 + 100 * 1.25 + extra) * 1e-6)
    assert est.in_sram_seconds == pytest.approx(500e-6)  # the pager is not in the baseline
    twice = estimate([dataclasses.replace(read, passes=2)], fast, mcu, Crypto("poly1305"), slots=1)
    # read twice (a streamed piece): fetch_bytes already counts both passes, the per-chunk and
    # per-step work doubles
    assert twice.seconds == pytest.approx(est.seconds + extra * 1e-6)


def test_requests_default_to_the_mcus_kernels_and_tag() -> None:
    from ooc_sdk.plan.request import PlanRequest

    m4, m4_aes = load_mcu("cortex-m4"), load_mcu("cortex-m4-aes")
    soft = PlanRequest(budget=None, flash=FLASH, mcu=m4)
    assert (soft.kernels, soft.tag) == ("dsp", "poly1305")
    assert PlanRequest(budget=None, flash=FLASH, mcu=m4_aes).tag == "cmac"
    asked = PlanRequest(budget=None, flash=FLASH, mcu=m4, tag="cmac", kernels="ref")
    assert (asked.kernels, asked.tag) == ("ref", "cmac")
    assert PlanRequest.from_json(asked.to_json()) == asked
