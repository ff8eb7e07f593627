//! tonic's `Server` on the same footing as the HTTP listeners: [`incoming`] is the capped, idle-guarded
//! accept stream to hand to `serve_with_incoming_shutdown`, and [`TrackInFlightLayer`] tells each
//! connection's guard which requests are in flight (so only a connection with none is closed as idle).
//! Timeouts, keepalive and per-connection limits are tonic builder settings: see [`server`].

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::Stream;
use http::{Request, Response};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;

use crate::Limits;
use crate::accept::Acceptor;
pub use crate::body::Tracked;
use crate::guard::{Activity, Guarded};

/// Requests one gRPC connection runs at once; more wait (the HTTP/2 stream limit is above it).
pub const CONCURRENCY_PER_CONNECTION: usize = 32;

/// The largest HTTP/2 frame a client may send: a request in one or a few DATA frames rather than in HTTP/2's
/// default 16 KiB ones (a batch of 512 spans is about 200 KiB, so thirteen of them, each handled on its own).
/// Requests are read whole anyway, up to the body limit.
const MAX_FRAME: u32 = 1 << 20;

/// tonic's server builder with this listener's limits: a request timeout of [`Limits::body_read`] (a gRPC
/// request is read whole before it is handled, so a stalled one ends there), HTTP/2 keepalive pings, TCP
/// keepalive, a stream limit and a concurrency limit per connection, and [`TrackInFlightLayer`].
pub fn server(
    limits: &Limits,
) -> tonic::transport::Server<
    tower::layer::util::Stack<TrackInFlightLayer, tower::layer::util::Identity>,
> {
    tonic::transport::Server::builder()
        .timeout(limits.body_read)
        .http2_keepalive_interval(Some(limits.h2_keepalive))
        .http2_keepalive_timeout(Some(limits.h2_keepalive_timeout))
        .tcp_keepalive(Some(limits.tcp_keepalive))
        .max_concurrent_streams(limits.max_concurrent_streams)
        .max_frame_size(Some(MAX_FRAME))
        .concurrency_limit_per_connection(CONCURRENCY_PER_CONNECTION)
        .layer(TrackInFlightLayer)
}

/// The connections of `listener` under the cap, each idle-guarded, for tonic's
/// `serve_with_incoming_shutdown`. Never yields an error: accept errors are backed off inside.
pub fn incoming(
    listener: TcpListener,
    name: &'static str,
    limits: Limits,
) -> impl Stream<Item = Result<GrpcConnection, Infallible>> + Send + 'static {
    let acceptor = Acceptor::new(listener, name, &limits, b"");
    futures::stream::unfold(acceptor, move |mut acceptor| {
        let idle = limits.idle;
        async move {
            let accepted = acceptor.accept().await;
            let activity = Activity::new();
            let info = GrpcConnectInfo {
                remote: accepted.peer,
                local: accepted.local,
                activity: activity.clone(),
            };
            let io = Guarded::new(accepted.stream, accepted.permit, activity, idle);
            Some((Ok(GrpcConnection { io, info }), acceptor))
        }
    })
}

/// One accepted gRPC connection.
pub struct GrpcConnection {
    io: Guarded,
    info: GrpcConnectInfo,
}

/// What tonic puts in every request's extensions for a [`GrpcConnection`].
#[derive(Clone, Debug)]
pub struct GrpcConnectInfo {
    /// The peer.
    pub remote: SocketAddr,
    /// This end.
    pub local: SocketAddr,
    activity: Arc<Activity>,
}

impl tonic::transport::server::Connected for GrpcConnection {
    type ConnectInfo = GrpcConnectInfo;

    fn connect_info(&self) -> GrpcConnectInfo {
        self.info.clone()
    }
}

impl AsyncRead for GrpcConnection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for GrpcConnection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// Counts each request in flight on its connection's idle guard until its response body is done.
#[derive(Clone, Copy, Debug, Default)]
pub struct TrackInFlightLayer;

impl<S> tower::Layer<S> for TrackInFlightLayer {
    type Service = TrackInFlight<S>;

    fn layer(&self, inner: S) -> TrackInFlight<S> {
        TrackInFlight(inner)
    }
}

/// See [`TrackInFlightLayer`].
#[derive(Clone, Debug)]
pub struct TrackInFlight<S>(S);

impl<S, RequestBody, ResponseBody> tower::Service<Request<RequestBody>> for TrackInFlight<S>
where
    S: tower::Service<Request<RequestBody>, Response = Response<ResponseBody>>,
    S::Future: Send + 'static,
    ResponseBody: http_body::Body + Unpin,
{
    type Response = Response<Tracked<ResponseBody>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send + 'static>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: Request<RequestBody>) -> Self::Future {
        let in_flight = request
            .extensions()
            .get::<GrpcConnectInfo>()
            .map(|info| info.activity.begin());
        let response = self.0.call(request);
        Box::pin(async move {
            let response = response.await?;
            Ok(response.map(|body| Tracked::new(body, in_flight)))
        })
    }
}
