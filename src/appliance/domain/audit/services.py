"""The audit trail: one row per admin action, written in the action's own transaction.

The row writer lives in ``lib/audit.py`` so that the generic CRUD service can write it without
importing an area; every area names it ``record_audit``."""

from __future__ import annotations

from appliance.lib.audit import write_audit as record_audit

__all__ = ["record_audit"]
