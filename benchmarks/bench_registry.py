"""The device registry under a line's load: devices per second for 1, 4 and 8 stations on SQLite
(one PC, one file) and on PostgreSQL, in one run.

Run: python benchmarks/bench_registry.py [--devices N] [--stations 1,4,8] [--work-ms MS]
                                         [--postgres URL] [--out FILE]

Each station is its own process with its own Registry, doing per device exactly the registry
work `ooc provision run` does: a serial number, the claim, "programmed" (with the station's
detail) and "verified": four write transactions, each with its audit entry (hashed, MACed). The
programming itself is left out (``--work-ms`` adds that much sleep per device, outside any
transaction, to model it), so the numbers are what the registry can take, not what a line
programs. All stations start together; devices per second is all stations' devices over the
time until the last one finishes. After each run the audit chain is verified.

SQLite: a new file per run in a temporary directory (WAL, synchronous=FULL). PostgreSQL: a new
database per run on a server this script starts in a temporary directory (tests/pgserver.py:
initdb, pg_ctl, fsync on, localhost TCP), or with ``--postgres URL`` a database of yours that
``ooc registry migrate`` made (each run adds its devices to it). Prints a table and writes JSON
(default benchmarks/results/registry.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from ooc_sdk.image.keystore import SecretKeystore  # noqa: E402
from ooc_sdk.provisioning.registry import Registry  # noqa: E402

MASTER = bytes(range(32))

STATION = r"""
import json, sys, time
from pathlib import Path
from ooc_sdk.image.keystore import SecretKeystore
from ooc_sdk.provisioning.programmers import serial_uid
from ooc_sdk.provisioning.registry import Claim, Registry

location, station, go, count, work = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
ks = SecretKeystore(bytes(range(32)))
with Registry.open(location if "://" in location else Path(location), key=ks) as reg:
    print("ready", flush=True)
    while not go.exists():
        time.sleep(0.0005)
    t0 = time.perf_counter()
    for _ in range(count):
        (serial,) = reg.allocate_serials(station, 1)
        uid = serial_uid(serial)
        outcome, _ = reg.claim(uid, station=station, key_id=ks.device_key(uid).key_id,
                               image_id=bytes(16), image_version="bench sc0", security_counter=0)
        assert outcome is Claim.NEW, outcome
        if work:
            time.sleep(work)
        reg.set_state(uid, "programmed", station=station,
                      detail={"image_sha256": "00" * 32, "flash_offset": 0, "image_bytes": 4096})
        reg.set_state(uid, "verified", station=station, detail={"read_back": "equal", "mount": "ok"})
    print(json.dumps({"seconds": time.perf_counter() - t0}), flush=True)
"""


def _run(location: str, stations: int, per_station: int, work_s: float, tmp: Path) -> float:
    """Wall seconds for ``stations`` processes to do ``per_station`` devices each."""
    go = tmp / f"go-{time.monotonic_ns()}"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", STATION, location, f"bench-{i}", str(go), str(per_station),
             str(work_s)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        )
        for i in range(stations)
    ]  # fmt: skip
    try:
        for p in procs:
            assert p.stdout is not None
            if p.stdout.readline() != "ready\n":
                raise RuntimeError(f"a station did not start: {p.communicate()[1].strip()}")
        t0 = time.perf_counter()
        go.touch()
        for p in procs:
            _, err = p.communicate(timeout=1800)
            if p.returncode != 0:
                raise RuntimeError(f"a station failed: {err.strip()}")
        return time.perf_counter() - t0
    finally:
        for p in procs:
            p.kill()
            p.wait()


def _check(location: str | Path, expect: int) -> None:
    with Registry.open(location, create=False) as reg:
        report = reg.verify_chain(SecretKeystore(MASTER))
        verified = len(reg.devices("verified"))
    if not report.ok or verified < expect:
        raise RuntimeError(f"{location}: {verified} verified, audit {report.reason or 'ok'}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--devices", type=int, default=50, help="devices per station (default 50)")
    ap.add_argument("--stations", default="1,4,8", help="station counts (default 1,4,8)")
    ap.add_argument("--work-ms", type=float, default=0.0, help="programming time per device")
    ap.add_argument("--postgres", default=None, metavar="URL", help="an existing registry")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "registry.json")
    args = ap.parse_args()
    counts = [int(n) for n in args.stations.split(",")]
    rows: list[dict[str, Any]] = []
    server = None
    with tempfile.TemporaryDirectory(prefix="ooc-bench-registry-") as tmp_name:
        tmp = Path(tmp_name)
        try:
            if args.postgres is None:
                import pgserver

                print("starting a PostgreSQL server (fsync on) ...", file=sys.stderr)
                server = pgserver.start_server(fsync=True)
            for backend in ("sqlite", "postgresql"):
                for n in counts:
                    if backend == "sqlite":
                        location: str = str(tmp / f"registry-{n}.sqlite")
                    elif server is not None:
                        location = server.create_database(f"bench_{n}")
                    else:
                        location = args.postgres
                    Registry.migrate(location)
                    print(f"{backend}: {n} stations x {args.devices} devices ...", file=sys.stderr)
                    seconds = _run(location, n, args.devices, args.work_ms / 1000, tmp)
                    _check(location, n * args.devices)
                    devices = n * args.devices
                    rows.append({
                        "backend": backend, "stations": n, "devices": devices,
                        "seconds": round(seconds, 3), "devices_per_s": round(devices / seconds, 1),
                        "transactions_per_s": round(4 * devices / seconds, 1),
                    })  # fmt: skip
        finally:
            if server is not None:
                import pgserver

                pgserver.remove(server)
    print(f"{'backend':<12}{'stations':>9}{'devices':>9}{'seconds':>9}{'devices/s':>11}{'tx/s':>9}")
    for r in rows:
        print(
            f"{r['backend']:<12}{r['stations']:>9}{r['devices']:>9}{r['seconds']:>9.2f}"
            f"{r['devices_per_s']:>11.1f}{r['transactions_per_s']:>9.1f}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "devices_per_station": args.devices,
                "work_ms": args.work_ms,
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                "rows": rows,
            },
            indent=1,
        )
        + "\n"
    )
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
