//! The OTLP/gRPC receiver (`TraceService/Export`, port 4317; `LogsService/Export` too), gzip included: the same conversion as OTLP/HTTP,
//! answered the gRPC way — INVALID_ARGUMENT for bad input, RESOURCE_EXHAUSTED with retry info when full.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use tonic::codec::CompressionEncoding;
use tonic::{Request, Response, Status};
use tonic_types::{ErrorDetails, StatusExt as _};

use crate::ingest::Ingest;

/// OTLP/gRPC's default port.
pub const DEFAULT_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 4317);

/// How long a client told to back off should wait.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// The gRPC service name clients call.
const SERVICE_NAME: &str = "opentelemetry.proto.collector.trace.v1.TraceService";
const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// Serves the receiver on `listener` until `shutdown` completes, under `limits` like every listener: a
/// request not received and answered within the body timeout ends with an error status, a connection with
/// no request in flight is closed after the idle timeout, connections past the cap are closed at once.
pub async fn serve(
    listener: tokio::net::TcpListener,
    ingest: Ingest,
    max_body: usize,
    limits: listener::Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let logs = super::otlp_grpc_logs::service(ingest.store().logs().clone(), max_body);
    listener::grpc::server(&limits)
        .add_service(TraceServer {
            ingest,
            max_body,
            decoders: super::decoders(),
        })
        .add_service(logs)
        .serve_with_incoming_shutdown(
            listener::grpc::incoming(listener, "OTLP/gRPC", limits),
            shutdown,
        )
        .await
}

/// `TraceService/Export`, served by hand rather than by the generated server: the request arrives as raw
/// bytes, so a malformed one is decoded by [`crate::wire`], answered INVALID_ARGUMENT and counted, where the
/// generated server's codec would answer INTERNAL before any handler saw it.
#[derive(Clone, Debug)]
struct TraceServer {
    ingest: Ingest,
    max_body: usize,
    /// Large requests are decoded on blocking threads, this many at a time (see [`super::decode_aside`]).
    decoders: Arc<tokio::sync::Semaphore>,
}

impl tonic::server::NamedService for TraceServer {
    const NAME: &'static str = SERVICE_NAME;
}

impl<B> tower::Service<http::Request<B>> for TraceServer
where
    B: http_body::Body + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = std::convert::Infallible;
    type Future =
        std::pin::Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let server = self.clone();
        Box::pin(async move {
            if request.uri().path() != EXPORT_PATH {
                return Ok(
                    Status::unimplemented(format!("no method {}", request.uri().path()))
                        .into_http(),
                );
            }
            let mut gzip = tonic::codec::EnabledCompressionEncodings::default();
            gzip.enable(CompressionEncoding::Gzip);
            let mut grpc = tonic::server::Grpc::new(RawCodec)
                .apply_compression_config(gzip, gzip)
                .apply_max_message_size_config(Some(server.max_body), None);
            let handled = Arc::new(AtomicBool::new(false));
            let response = grpc
                .unary(
                    Export(
                        server.ingest.clone(),
                        handled.clone(),
                        server.decoders.clone(),
                    ),
                    request,
                )
                .await;
            if handled.load(Ordering::Relaxed) {
                return Ok(response);
            }
            Ok(refused_by_tonic(&server.ingest, response))
        })
    }
}

/// A request tonic answered before [`Export`] saw it: too large (before or while decompressing), compressed
/// with an encoding other than gzip, or cut short. Counts it and answers INVALID_ARGUMENT, which OTLP clients
/// do not retry, where tonic says OUT_OF_RANGE or RESOURCE_EXHAUSTED without retry info for a message that
/// will never fit.
fn refused_by_tonic(
    ingest: &Ingest,
    response: http::Response<tonic::body::Body>,
) -> http::Response<tonic::body::Body> {
    refused_by_tonic_to(|reason| ingest.reject(reason), response)
}

/// [`refused_by_tonic`], counting with `reject`.
pub(super) fn refused_by_tonic_to(
    reject: impl Fn(&'static str),
    response: http::Response<tonic::body::Body>,
) -> http::Response<tonic::body::Body> {
    let Some(status) = Status::from_header_map(response.headers()) else {
        return response;
    };
    let reason = match status.code() {
        tonic::Code::Ok => return response,
        tonic::Code::OutOfRange | tonic::Code::ResourceExhausted => "too_large",
        tonic::Code::Unimplemented => "unsupported_encoding",
        _ => "malformed_grpc",
    };
    reject(reason);
    match status.code() {
        tonic::Code::OutOfRange | tonic::Code::ResourceExhausted => {
            Status::invalid_argument(status.message().to_owned()).into_http()
        }
        // A message tonic's codec could not decode: the sender's fault, not the collector's.
        tonic::Code::Internal => {
            Status::invalid_argument(format!("malformed request: {}", status.message())).into_http()
        }
        _ => response,
    }
}

/// Passes request bytes through untouched and encodes responses with prost.
#[derive(Debug, Clone, Copy, Default)]
struct RawCodec;

impl tonic::codec::Codec for RawCodec {
    type Encode = ExportTraceServiceResponse;
    type Decode = bytes::Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl tonic::codec::Encoder for RawCodec {
    type Item = ExportTraceServiceResponse;
    type Error = Status;

    fn encode(
        &mut self,
        item: Self::Item,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), Status> {
        prost::Message::encode(&item, dst).map_err(|err| Status::internal(err.to_string()))
    }
}

impl tonic::codec::Decoder for RawCodec {
    type Item = bytes::Bytes;
    type Error = Status;

    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<bytes::Bytes>, Status> {
        use bytes::Buf as _;
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

/// The handler, which notes that it ran: what it refuses it counts itself.
struct Export(Ingest, Arc<AtomicBool>, Arc<tokio::sync::Semaphore>);

type Exported = Result<Response<ExportTraceServiceResponse>, Status>;

impl tonic::server::UnaryService<bytes::Bytes> for Export {
    type Response = ExportTraceServiceResponse;
    type Future = std::pin::Pin<Box<dyn Future<Output = Exported> + Send>>;

    fn call(&mut self, request: Request<bytes::Bytes>) -> Self::Future {
        self.1.store(true, Ordering::Relaxed);
        let body = request.into_inner();
        if body.len() < super::DECODE_ASIDE {
            return Box::pin(std::future::ready(export(&self.0, &body)));
        }
        let (ingest, decoders) = (self.0.clone(), self.2.clone());
        Box::pin(
            async move { super::decode_aside(&decoders, move || export(&ingest, &body)).await },
        )
    }
}

fn export(ingest: &Ingest, body: &[u8]) -> Result<Response<ExportTraceServiceResponse>, Status> {
    let decoded = match crate::wire::decode_for_store(body, ingest.interner()) {
        Ok(decoded) => decoded,
        Err(err) => {
            ingest.reject("malformed_protobuf");
            return Err(Status::invalid_argument(err.to_string()));
        }
    };
    ingest.reject_spans(decoded.rejected);
    if decoded.batch.is_empty() && decoded.rejected > 0 {
        ingest.reject("invalid_span");
        return Err(Status::invalid_argument(decoded.error.unwrap_or_default()));
    }
    if decoded.rejected > 0 {
        ingest.reject("invalid_span");
    }
    if let Err(overloaded) = ingest.submit_batch(decoded.batch) {
        return Err(Status::with_error_details(
            tonic::Code::ResourceExhausted,
            overloaded.to_string(),
            ErrorDetails::with_retry_info(Some(RETRY_AFTER)),
        ));
    }
    Ok(Response::new(ExportTraceServiceResponse {
        partial_success: (decoded.rejected > 0).then(|| ExportTracePartialSuccess {
            rejected_spans: decoded.rejected as i64,
            error_message: decoded.error.unwrap_or_default(),
        }),
    }))
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;

    use super::*;
    use crate::otlp;
    use crate::receivers::raw_codec::SendRaw;
    use crate::store::Store;

    const GOLDEN_JSON: &[u8] = include_bytes!("../../testdata/otlp-trace.json");

    async fn start(ingest: Ingest) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
        start_with(ingest, listener::Limits::default()).await
    }

    async fn start_with(
        ingest: Ingest,
        limits: listener::Limits,
    ) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(serve(listener, ingest, 1024 * 1024, limits, async move {
            let _ = stopped.await;
        }));
        (addr, stop)
    }

    /// Large requests are decoded on blocking threads: while one decodes, the query API served by the same
    /// runtime (here a single thread, as a worker busy decoding would be) still answers.
    #[tokio::test(flavor = "current_thread")]
    async fn decoding_large_requests_leaves_the_query_api_answering() {
        use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValue, any_value};
        use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
        use prost::Message as _;

        let running = crate::server::RunningCollector::start(&crate::server::CollectorOptions {
            otlp_http: None,
            otlp_grpc: Some("127.0.0.1:0".parse().unwrap()),
            datadog: None,
            api: Some("127.0.0.1:0".parse().unwrap()),
            ..crate::server::CollectorOptions::default()
        })
        .await
        .unwrap();
        // One span with a list of a million numbers, 4 MB, and how long decoding it takes on this machine.
        let one = AnyValue {
            value: Some(any_value::Value::IntValue(1)),
        };
        let request = opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![Span {
                        trace_id: vec![1; 16],
                        span_id: vec![2; 8],
                        name: "big".into(),
                        attributes: vec![KeyValue {
                            key: "list".into(),
                            value: Some(AnyValue {
                                value: Some(any_value::Value::ArrayValue(ArrayValue {
                                    values: vec![one; 1_000_000],
                                })),
                            }),
                            ..Default::default()
                        }],
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let started = std::time::Instant::now();
        crate::wire::decode(&request.encode_to_vec(), &crate::model::Interner::new()).unwrap();
        let decode = started.elapsed();

        let done = Arc::new(AtomicBool::new(false));
        let prober = crate::receivers::probe::every_20ms(
            format!("http://{}/api/stats", running.api.unwrap()),
            done.clone(),
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        // The client (whose encoding of the request takes as long as decoding it) runs on a thread of its own
        // too: this test's single thread serves the collector alone.
        let addr = running.otlp_grpc.unwrap();
        let exported = tokio::task::spawn_blocking(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move { client(addr).await.export(request).await.map(|_| ()) })
        });
        exported.await.unwrap().unwrap();
        done.store(true, Ordering::Release);
        // Joined off this thread, which must go on serving the probe still in flight.
        let (slowest, asked) = tokio::task::spawn_blocking(move || prober.join().unwrap())
            .await
            .unwrap();
        assert!(asked > 1, "the export ended before the API was asked");
        assert!(
            slowest * 3 < decode,
            "the API took {slowest:?} to answer while a request that takes {decode:?} to decode was decoded"
        );
        running.stop().await.unwrap();
    }

    async fn client(addr: SocketAddr) -> TraceServiceClient<tonic::transport::Channel> {
        TraceServiceClient::connect(format!("http://{addr}"))
            .await
            .unwrap()
            .send_compressed(CompressionEncoding::Gzip)
    }

    /// A request whose message never arrives whole ends with an error status at the request timeout; a
    /// connection with nothing in flight is closed at the idle timeout; real clients are served throughout.
    #[tokio::test]
    async fn a_stalled_request_ends_and_an_idle_connection_closes() {
        use tokio::io::AsyncReadExt as _;

        let store = Store::new(100);
        let (ingest, writer) = Ingest::new(store.clone(), 16, None).unwrap();
        let writer = tokio::spawn(writer.run_until(std::future::pending()));
        let limits = listener::Limits {
            body_read: Duration::from_millis(500),
            idle: Duration::from_millis(500),
            ..listener::Limits::default()
        };
        let (addr, _stop) = start_with(ingest.clone(), limits).await;

        // HTTP/2 by hand: the headers and 10 bytes of a message said to be 1,000 bytes long, then nothing.
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (send, connection) = h2::client::handshake(tcp).await.unwrap();
        tokio::spawn(connection);
        let mut send = send.ready().await.unwrap();
        let request = http::Request::builder()
            .method("POST")
            .uri(format!("http://{addr}{EXPORT_PATH}"))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(())
            .unwrap();
        let (response, mut body) = send.send_request(request, false).unwrap();
        let mut partial = vec![0u8];
        partial.extend_from_slice(&1000u32.to_be_bytes());
        partial.extend_from_slice(&[0; 10]);
        body.send_data(partial.into(), false).unwrap();
        let started = std::time::Instant::now();
        let response = tokio::time::timeout(Duration::from_secs(5), response)
            .await
            .expect("a stalled gRPC request was never answered")
            .unwrap();
        let status = response
            .headers()
            .get("grpc-status")
            .map(|status| status.to_str().unwrap().to_owned());
        assert!(
            status.as_deref().is_some_and(|status| status != "0"),
            "a stalled request got {status:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "answered after {:?}",
            started.elapsed()
        );

        // A connection that never sends a byte (not even the HTTP/2 preface) is closed.
        let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut buf = [0u8; 1024];
        let closed = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match silent.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "a silent connection stayed open");

        // A real client is served, and its channel outlives an idle period (it reconnects when closed).
        let mut client = client(addr).await;
        let golden = otlp::decode_json(GOLDEN_JSON).unwrap();
        client.export(golden.clone()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(800)).await;
        client.export(golden).await.unwrap();
        drop(ingest);
        writer.abort();
    }

    #[tokio::test]
    async fn bad_spans_are_invalid_arguments_and_a_full_queue_is_resource_exhausted() {
        let store = Store::new(100);
        let (ingest, writer) = Ingest::new(store.clone(), 1, None).unwrap();
        let (addr, stop) = start(ingest.clone()).await;
        let mut client = client(addr).await;
        let good = otlp::decode_json(GOLDEN_JSON).unwrap();

        let mut bad = good.clone();
        for span in &mut bad.resource_spans[0].scope_spans[0].spans {
            span.trace_id = vec![7; 5];
        }
        let status = client.export(bad).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert!(
            status.message().contains("trace_id must be 16 bytes"),
            "{}",
            status.message()
        );

        // The writer is not running: the first batch fills the one-batch queue.
        let answer = client.export(good.clone()).await.unwrap().into_inner();
        assert_eq!(answer.partial_success, None);
        let status = client.export(good.clone()).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        let retry = status.get_details_retry_info().expect("retry info");
        assert_eq!(retry.retry_delay, Some(RETRY_AFTER));

        let _ = stop.send(());
        drop(client);
        drop(ingest);
        tokio::time::timeout(Duration::from_secs(10), writer.run())
            .await
            .unwrap()
            .unwrap();
        let accounting = store.accounting();
        assert_eq!((accounting.accepted, accounting.stored), (2, 2));
        assert_eq!(accounting.rejected.get("invalid_span"), Some(&1));
        assert_eq!(
            accounting.rejected_spans, 2,
            "both spans of the bad request"
        );
        assert_eq!(accounting.rejected.get("queue_full"), Some(&1));
    }

    #[tokio::test]
    async fn malformed_protobuf_is_an_invalid_argument_counted_as_rejected() {
        let store = Store::new(100);
        let (ingest, writer) = Ingest::new(store.clone(), 8, None).unwrap();
        let writer = tokio::spawn(writer.run());
        let (addr, stop) = start(ingest.clone()).await;
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut grpc = tonic::client::Grpc::new(channel);
        let path: http::uri::PathAndQuery = EXPORT_PATH.parse().unwrap();
        grpc.ready().await.unwrap();
        let status = grpc
            .unary(
                Request::new(bytes::Bytes::from_static(b"\xff\xff\xff\xff")),
                path.clone(),
                SendRaw::<ExportTraceServiceResponse>::default(),
            )
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert!(
            status.message().contains("malformed OTLP protobuf"),
            "{}",
            status.message()
        );

        // The receiver keeps serving, and the good request after it is stored.
        let good = prost::Message::encode_to_vec(&otlp::decode_json(GOLDEN_JSON).unwrap());
        grpc.ready().await.unwrap();
        let answer = grpc
            .unary(
                Request::new(bytes::Bytes::from(good)),
                path,
                SendRaw::<ExportTraceServiceResponse>::default(),
            )
            .await
            .unwrap();
        assert_eq!(answer.into_inner().partial_success, None);

        let _ = stop.send(());
        drop(grpc);
        drop(ingest);
        tokio::time::timeout(Duration::from_secs(10), writer)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let accounting = store.accounting();
        assert_eq!(accounting.rejected.get("malformed_protobuf"), Some(&1));
        assert_eq!((accounting.accepted, accounting.stored), (2, 2));
    }

    #[tokio::test]
    async fn oversized_messages_and_decompression_bombs_are_invalid_arguments_counted_as_too_large()
    {
        let store = Store::new(100);
        let (ingest, writer) = Ingest::new(store.clone(), 8, None).unwrap();
        let writer = tokio::spawn(writer.run());
        let (addr, stop) = start(ingest.clone()).await;
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let path: http::uri::PathAndQuery = EXPORT_PATH.parse().unwrap();

        // Over the 1 MiB limit as sent.
        let mut plain = tonic::client::Grpc::new(channel.clone());
        plain.ready().await.unwrap();
        let status = plain
            .unary(
                Request::new(bytes::Bytes::from(vec![0u8; 2 << 20])),
                path.clone(),
                SendRaw::<ExportTraceServiceResponse>::default(),
            )
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert!(
            status.message().contains("too large"),
            "{}",
            status.message()
        );

        // A few kilobytes of gzip that inflate to 32 MiB, stopped at the limit.
        let mut gzip = tonic::client::Grpc::new(channel).send_compressed(CompressionEncoding::Gzip);
        gzip.ready().await.unwrap();
        let status = gzip
            .unary(
                Request::new(bytes::Bytes::from(vec![0u8; 32 << 20])),
                path.clone(),
                SendRaw::<ExportTraceServiceResponse>::default(),
            )
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert!(
            status.message().contains("size limit"),
            "{}",
            status.message()
        );

        // Still serving.
        let good = prost::Message::encode_to_vec(&otlp::decode_json(GOLDEN_JSON).unwrap());
        gzip.ready().await.unwrap();
        gzip.unary(
            Request::new(bytes::Bytes::from(good)),
            path,
            SendRaw::<ExportTraceServiceResponse>::default(),
        )
        .await
        .unwrap();

        let _ = stop.send(());
        drop(gzip);
        drop(plain);
        drop(ingest);
        tokio::time::timeout(Duration::from_secs(10), writer)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let accounting = store.accounting();
        assert_eq!(accounting.rejected.get("too_large"), Some(&2));
        assert_eq!((accounting.accepted, accounting.stored), (2, 2));
    }
}
