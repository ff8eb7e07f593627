"""Writes JSON log lines with Datadog's log injection (ddtrace adds dd.trace_id and dd.span_id to every record
written inside a span), as a service logging to a file would, and posts them to the collector's JSON log intake;
the trace itself goes to the agent API at DD_TRACE_AGENT_URL through ddtrace. Prints the ids as JSON.

Usage: ddtrace_logs_client.py LOG_INTAKE_URL   (DD_LOGS_INJECTION=true in the environment)"""

import io
import json
import logging
import sys
import urllib.request

from ddtrace import patch
from ddtrace.trace import tracer

patch(logging=True)
intake = sys.argv[1]


class JsonLines(logging.Formatter):
    """One JSON object a record, with the fields ddtrace injected."""

    def format(self, record):
        return json.dumps(
            {
                "timestamp": int(record.created * 1000),
                "levelname": record.levelname,
                "message": record.getMessage(),
                "logger.name": record.name,
                "dd.trace_id": getattr(record, "dd.trace_id", "0"),
                "dd.span_id": getattr(record, "dd.span_id", "0"),
                "dd.service": getattr(record, "dd.service", ""),
                "dd.env": getattr(record, "dd.env", ""),
                "dd.version": getattr(record, "dd.version", ""),
            }
        )


lines = io.StringIO()
handler = logging.StreamHandler(lines)
handler.setFormatter(JsonLines())
log = logging.getLogger("dd.cart")
log.setLevel(logging.INFO)
log.addHandler(handler)

with tracer.trace("flask.request", service="dd-shop", resource="GET /cart", span_type="web") as root:
    log.info("cart opened")
    with tracer.trace("cart.load", service="dd-shop", resource="load_cart") as child:
        log.error("cart 42 not found")

ids = {
    "trace_id": format(root.trace_id, "032x"),
    "root": format(root.span_id, "016x"),
    "child": format(child.span_id, "016x"),
}
tracer.flush()
tracer.shutdown()
request = urllib.request.Request(
    intake, data=lines.getvalue().encode(), headers={"Content-Type": "application/x-ndjson"}
)
with urllib.request.urlopen(request) as answer:
    assert answer.status == 202, answer.status
print(json.dumps(ids))
