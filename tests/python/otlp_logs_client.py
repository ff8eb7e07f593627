"""Writes log records inside a trace through the real OpenTelemetry Python SDK: the logging module's records, handed
to OpenTelemetry's LoggingHandler, exported with the OTLP log exporter (HTTP or gRPC) beside the trace's spans.
Prints the ids as JSON for the test to look them up.

Usage: otlp_logs_client.py ENDPOINT http|grpc   (ENDPOINT: http://host:4318 or http://host:4317)"""

import json
import logging
import sys

from opentelemetry import trace
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

endpoint, protocol = sys.argv[1], sys.argv[2]
resource = Resource.create({"service.name": "python-shop", "service.version": "2.1"})
if protocol == "grpc":
    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    span_exporter = OTLPSpanExporter(endpoint=endpoint, insecure=True)
    log_exporter = OTLPLogExporter(endpoint=endpoint, insecure=True)
else:
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    span_exporter = OTLPSpanExporter(endpoint=endpoint + "/v1/traces")
    log_exporter = OTLPLogExporter(endpoint=endpoint + "/v1/logs")

tracer_provider = TracerProvider(resource=resource)
tracer_provider.add_span_processor(SimpleSpanProcessor(span_exporter))
logger_provider = LoggerProvider(resource=resource)
logger_provider.add_log_record_processor(SimpleLogRecordProcessor(log_exporter))
log = logging.getLogger("shop.checkout")
log.setLevel(logging.INFO)
log.addHandler(LoggingHandler(level=logging.INFO, logger_provider=logger_provider))
tracer = tracer_provider.get_tracer("lab.tests", "0.1")

with tracer.start_as_current_span("GET /checkout", kind=trace.SpanKind.SERVER) as root:
    log.info("checkout started", extra={"order.id": 7, "payment.provider": "acme-pay"})
    with tracer.start_as_current_span("charge card") as child:
        log.error("card declined: insufficient funds")
    log.warning("checkout failed")

ids = {
    "trace_id": format(root.get_span_context().trace_id, "032x"),
    "root": format(root.get_span_context().span_id, "016x"),
    "child": format(child.get_span_context().span_id, "016x"),
}
logger_provider.shutdown()
tracer_provider.shutdown()
print(json.dumps(ids))
