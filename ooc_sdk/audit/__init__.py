"""Audits of an ``ooc build``: what an inference costs on the device.

- :mod:`ooc_sdk.audit.energy`: energy per inference, per part (compute, crypto, flash read,
  program, erase, waiting) and per layer, against the same model run in SRAM
  (``ooc audit energy``; docs/audit.md).
"""

from ooc_sdk.audit.energy import PARTS, audit_energy, energy_report

__all__ = ["PARTS", "audit_energy", "energy_report"]
