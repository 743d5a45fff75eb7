"""Chatbot event and output columns (the answer keys are never listed: they are data)."""

from __future__ import annotations

SESSION_KEYS = ("customer", "flow", "session")
EVENT_SCHEMA = (
    "customer string, flow string, session string, timestamp string, content map<string,string>"
)
BOUNDS = ("first_answer_dt", "last_answer_dt")
LONG_COLUMNS = (*SESSION_KEYS, "key", "value", "answered_at")
REJECT_COLUMNS = ("source", "regra", "record")
# Written without offset, in UTC (the sessions' time zone is UTC in every engine).
DATETIME_FORMAT = "yyyy-MM-dd'T'HH:mm:ss"
