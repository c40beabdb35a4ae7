"""Checks: `check` and `check --pr` (CI), `verify` (the hash chains), `doctor` (the clone)."""
