"""The notification message and the micro-batch summary, written once.

`FIELDS` are the JSON keys of a message, in the seed's order: the stream parses and
checks them (transforms), the generator writes and breaks them (esteira.datagen).
"""

from __future__ import annotations

FIELDS = ("customer_id", "message_id", "customer_name", "channel", "payload", "event_datetime")

# A collected `transforms.batch_summary` row, turned back into a frame for gold's MERGE.
SUMMARY_SCHEMA = ("reason string, customer_id long, customer_name string, channel string, "
                  "minute_us long, n long, newest_us long, oldest_us long")
