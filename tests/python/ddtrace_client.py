"""Sends one trace through Datadog's own Python tracer (ddtrace) to the agent API at DD_TRACE_AGENT_URL: a web
span, a child sqlite query (traced by ddtrace's sqlite3 integration), a child that fails, and an N+1 loop of six
lookups taking 12 ms each (a SQL function that waits). Prints the ids as JSON for the test to look them up."""

import json
import sqlite3
import time

from ddtrace import patch
from ddtrace.trace import tracer

patch(sqlite3=True)

with tracer.trace("flask.request", service="dd-shop", resource="GET /cart", span_type="web") as root:
    root.set_tag("http.method", "GET")
    root.set_tag("http.status_code", "500")
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT)")
    db.execute("SELECT id, name FROM item WHERE id = ?", (1,)).fetchall()
    try:
        with tracer.trace("cart.load", service="dd-shop", resource="load_cart") as failing:
            raise KeyError("cart 42")
    except KeyError:
        pass
    db.executemany("INSERT INTO item (id, name) VALUES (?, ?)", [(item, f"item {item}") for item in range(6)])
    db.create_function("pause", 0, lambda: time.sleep(0.012) or 0)
    for item in range(6):
        db.execute("SELECT name, pause() FROM item WHERE id = ?", (item,)).fetchall()

ids = {
    "trace_id": format(root.trace_id, "032x"),
    "root": format(root.span_id, "016x"),
    "failing": format(failing.span_id, "016x"),
}
tracer.flush()
tracer.shutdown()
print(json.dumps(ids))
