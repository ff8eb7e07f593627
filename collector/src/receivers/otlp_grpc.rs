//! The OTLP/gRPC receiver (`TraceService/Export`, port 4317), gzip included: the same conversion as OTLP/HTTP,
//! answered the gRPC way — INVALID_ARGUMENT for bad input, RESOURCE_EXHAUSTED with retry info when full.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tonic::codec::CompressionEncoding;
use tonic::{Request, Response, Status};
use tonic_types::{ErrorDetails, StatusExt as _};

use crate::ingest::Ingest;
use crate::otlp;

/// OTLP/gRPC's default port.
pub const DEFAULT_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 4317);

/// How long a client told to back off should wait.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// The gRPC service, ready for `tonic::transport::Server::add_service`.
pub fn service(ingest: Ingest, max_body: usize) -> TraceServiceServer<Receiver> {
    TraceServiceServer::new(Receiver { ingest })
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(max_body)
}

/// Serves the receiver on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    ingest: Ingest,
    max_body: usize,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    tonic::transport::Server::builder()
        .add_service(service(ingest, max_body))
        .serve_with_incoming_shutdown(tokio_stream_listener(listener), shutdown)
        .await
}

fn tokio_stream_listener(
    listener: tokio::net::TcpListener,
) -> tonic::transport::server::TcpIncoming {
    tonic::transport::server::TcpIncoming::from(listener)
}

#[derive(Debug, Clone)]
pub struct Receiver {
    ingest: Ingest,
}

#[async_trait::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let converted = otlp::from_request(request.get_ref(), self.ingest.interner());
        if converted.spans.is_empty() && converted.rejected > 0 {
            self.ingest.reject("invalid_span");
            return Err(Status::invalid_argument(
                converted.error.unwrap_or_default(),
            ));
        }
        if converted.rejected > 0 {
            self.ingest.reject("invalid_span");
        }
        if let Err(overloaded) = self.ingest.submit(converted.spans) {
            return Err(Status::with_error_details(
                tonic::Code::ResourceExhausted,
                overloaded.to_string(),
                ErrorDetails::with_retry_info(Some(RETRY_AFTER)),
            ));
        }
        Ok(Response::new(ExportTraceServiceResponse {
            partial_success: (converted.rejected > 0).then(|| ExportTracePartialSuccess {
                rejected_spans: converted.rejected as i64,
                error_message: converted.error.unwrap_or_default(),
            }),
        }))
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;

    use super::*;
    use crate::store::Store;

    const GOLDEN_JSON: &[u8] = include_bytes!("../../testdata/otlp-trace.json");

    async fn start(ingest: Ingest) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(serve(listener, ingest, 1024 * 1024, async move {
            let _ = stopped.await;
        }));
        (addr, stop)
    }

    async fn client(addr: SocketAddr) -> TraceServiceClient<tonic::transport::Channel> {
        TraceServiceClient::connect(format!("http://{addr}"))
            .await
            .unwrap()
            .send_compressed(CompressionEncoding::Gzip)
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
        assert_eq!(accounting.rejected.get("queue_full"), Some(&1));
    }
}
