"""Bulk import and export (DESIGN §3.9, §8): JSONL and CSV, all or nothing, coordinated
with a running server's queue."""
