"""Sends one nested trace with attributes, a recorded exception and an N+1 loop (six lookups of 12 ms, as an ORM
over a networked database makes) through the real OpenTelemetry Python SDK and its OTLP exporter (HTTP or gRPC),
then prints the ids it used as JSON, for the test to look them up.

Usage: otlp_client.py ENDPOINT http|grpc none|gzip"""

import json
import sys
import time

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode

endpoint, protocol, compression = sys.argv[1], sys.argv[2], sys.argv[3]

provider = TracerProvider(
    resource=Resource.create(
        {"service.name": "python-shop", "service.version": "2.1", "deployment.environment.name": "lab"}
    )
)
if protocol == "grpc":
    from grpc import Compression
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    exporter = OTLPSpanExporter(
        endpoint=endpoint,
        insecure=True,
        compression=Compression.Gzip if compression == "gzip" else Compression.NoCompression,
    )
else:
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    exporter = OTLPSpanExporter(
        endpoint=endpoint,
        compression=Compression.Gzip if compression == "gzip" else Compression.NoCompression,
    )
provider.add_span_processor(SimpleSpanProcessor(exporter))
tracer = provider.get_tracer("lab.tests", "0.1")

with tracer.start_as_current_span("GET /checkout", kind=trace.SpanKind.SERVER) as root:
    root.set_attribute("http.request.method", "GET")
    root.set_attribute("http.route", "/checkout")
    root.set_attribute("http.response.status_code", 500)
    with tracer.start_as_current_span("SELECT order", kind=trace.SpanKind.CLIENT) as child:
        child.set_attribute("db.system.name", "sqlite")
        child.set_attribute("db.query.text", "SELECT * FROM orders WHERE id = ?")
        try:
            raise ValueError("no such order")
        except ValueError as err:
            child.record_exception(err)
            child.set_status(Status(StatusCode.ERROR, "no such order"))
    for line in range(6):
        with tracer.start_as_current_span("SELECT order_line", kind=trace.SpanKind.CLIENT) as lookup:
            lookup.set_attribute("db.system.name", "postgresql")
            lookup.set_attribute("db.query.text", "SELECT * FROM order_line WHERE order_id = ?")
            time.sleep(0.012)

ids = {
    "trace_id": format(root.get_span_context().trace_id, "032x"),
    "root": format(root.get_span_context().span_id, "016x"),
    "child": format(child.get_span_context().span_id, "016x"),
}
provider.shutdown()
print(json.dumps(ids))
