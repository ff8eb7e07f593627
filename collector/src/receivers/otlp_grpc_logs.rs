//! `LogsService/Export` on the OTLP/gRPC listener: log records into the log store, by tonic's generated server,
//! wrapped so that what tonic refuses before the handler sees it (a message it cannot decode, too large, in an
//! encoding other than gzip) is answered INVALID_ARGUMENT and counted in the log store's accounting, as the
//! handler counts what it refuses itself.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use tonic::codec::CompressionEncoding;
use tonic::{Request, Response, Status};

use crate::logs::LogStore;

/// The service to add to the gRPC server.
pub(super) fn service(logs: LogStore, max_body: usize) -> Counted {
    Counted {
        inner: LogsServiceServer::new(Handler { logs: logs.clone() })
            .accept_compressed(CompressionEncoding::Gzip)
            .send_compressed(CompressionEncoding::Gzip)
            .max_decoding_message_size(max_body),
        logs,
    }
}

/// Requests of this many records or more are converted on a blocking thread.
const ASIDE_RECORDS: usize = 4_096;

#[derive(Debug)]
struct Handler {
    logs: LogStore,
}

#[tonic::async_trait]
impl LogsService for Handler {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        let request = request.into_inner();
        let records: usize = (request.resource_logs.iter())
            .flat_map(|r| &r.scope_logs)
            .map(|s| s.log_records.len())
            .sum();
        let logs = self.logs.clone();
        let keep = move || {
            let converted =
                crate::logs::from_request(&request, logs.interner(), crate::logs::now_ns());
            logs.accept(converted)
        };
        // A large request is converted and stored off the async workers, as the HTTP receivers do it.
        let kept = if records < ASIDE_RECORDS {
            keep()
        } else {
            tokio::task::spawn_blocking(keep)
                .await
                .map_err(|_| Status::internal("storing the log records failed"))?
        };
        // Counted by `accept`: the only refusal answered INVALID_ARGUMENT before the wrapper looks.
        let (rejected, error) = kept.map_err(Status::invalid_argument)?;
        Ok(Response::new(ExportLogsServiceResponse {
            partial_success: (rejected > 0).then(|| ExportLogsPartialSuccess {
                rejected_log_records: rejected as i64,
                error_message: error.unwrap_or_default(),
            }),
        }))
    }
}

/// The generated server, its refusals counted.
#[derive(Clone)]
pub(super) struct Counted {
    inner: LogsServiceServer<Handler>,
    logs: LogStore,
}

impl tonic::server::NamedService for Counted {
    const NAME: &'static str = <LogsServiceServer<Handler> as tonic::server::NamedService>::NAME;
}

impl<B> tower::Service<http::Request<B>> for Counted
where
    B: http_body::Body + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        tower::Service::<http::Request<B>>::poll_ready(&mut self.inner, cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let answer = self.inner.call(request);
        let logs = self.logs.clone();
        Box::pin(async move {
            let response = answer.await?;
            let handled = tonic::Status::from_header_map(response.headers())
                .is_some_and(|status| status.code() == tonic::Code::InvalidArgument);
            if handled {
                return Ok(response);
            }
            Ok(super::otlp_grpc::refused_by_tonic_to(
                |reason| logs.reject(reason),
                response,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};

    use super::*;
    use crate::receivers::raw_codec::SendRaw;
    use crate::server::{CollectorOptions, RunningCollector};

    fn request(trace_id: Vec<u8>) -> ExportLogsServiceRequest {
        ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                scope_logs: vec![ScopeLogs {
                    log_records: vec![LogRecord {
                        time_unix_nano: 1,
                        trace_id,
                        ..LogRecord::default()
                    }],
                    ..ScopeLogs::default()
                }],
                ..ResourceLogs::default()
            }],
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_large_grpc_request_is_stored_whole() {
        let running = RunningCollector::start(&CollectorOptions {
            otlp_http: None,
            otlp_grpc: Some("127.0.0.1:0".parse().unwrap()),
            datadog: None,
            api: None,
            ..CollectorOptions::default()
        })
        .await
        .unwrap();
        let mut client =
            LogsServiceClient::connect(format!("http://{}", running.otlp_grpc.unwrap()))
                .await
                .unwrap();
        // Past ASIDE_RECORDS: converted and stored on a blocking thread.
        let mut large = request(vec![3; 16]);
        let record = large.resource_logs[0].scope_logs[0].log_records[0].clone();
        large.resource_logs[0].scope_logs[0].log_records = vec![record; ASIDE_RECORDS + 1];
        client.export(large).await.unwrap();
        let stats = running.store.logs().stats();
        assert_eq!(stats.accepted, ASIDE_RECORDS as u64 + 1);
        running.stop().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn grpc_log_refusals_are_invalid_argument_and_counted() {
        let running = RunningCollector::start(&CollectorOptions {
            otlp_http: None,
            otlp_grpc: Some("127.0.0.1:0".parse().unwrap()),
            datadog: None,
            api: None,
            max_body: 4096,
            ..CollectorOptions::default()
        })
        .await
        .unwrap();
        let addr = running.otlp_grpc.unwrap();
        let mut client = LogsServiceClient::connect(format!("http://{addr}"))
            .await
            .unwrap();
        // Taken, then refused by the handler (a bad id), then by tonic (too large).
        client.export(request(vec![3; 16])).await.unwrap();
        let bad = client.export(request(vec![3; 5])).await.unwrap_err();
        assert_eq!(bad.code(), tonic::Code::InvalidArgument, "{bad:?}");
        let mut huge = request(vec![3; 16]);
        huge.resource_logs[0].scope_logs[0].log_records[0].severity_text = "x".repeat(10_000);
        let large = client.export(huge).await.unwrap_err();
        assert_eq!(large.code(), tonic::Code::InvalidArgument, "{large:?}");
        // Bytes that are no protobuf message, sent as one.
        let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut raw = tonic::client::Grpc::new(channel);
        raw.ready().await.unwrap();
        let path = http::uri::PathAndQuery::from_static(
            "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
        );
        let garbage = raw
            .unary::<_, ExportLogsServiceResponse, _>(
                Request::new(bytes::Bytes::from_static(b"\xff\xff\xff\xff")),
                path,
                SendRaw::<ExportLogsServiceResponse>::default(),
            )
            .await
            .unwrap_err();
        assert_eq!(garbage.code(), tonic::Code::InvalidArgument, "{garbage:?}");

        let stats = running.store.logs().stats();
        assert_eq!((stats.accepted, stats.rejected_records), (1, 1));
        assert_eq!(
            stats.rejected.get("invalid_log_record"),
            Some(&1),
            "{stats:?}"
        );
        assert_eq!(stats.rejected.get("too_large"), Some(&1), "{stats:?}");
        assert_eq!(stats.rejected.get("malformed_grpc"), Some(&1), "{stats:?}");
        running.stop().await.unwrap();
    }
}
