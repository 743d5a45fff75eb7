"""Synthetic chatbot events (placeholder; filled in below)."""

from __future__ import annotations
