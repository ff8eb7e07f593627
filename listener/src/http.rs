//! Serving an axum router on a listener: HTTP/1 and HTTP/2 through hyper-util's connection builder with a
//! timer, under the listener's cap, each connection idle-guarded and each request body under a deadline.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use http::{Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceExt as _;

use crate::Limits;
use crate::accept::{Acceptor, BUSY_RESPONSE};
use crate::body::{Deadline, Tracked};
use crate::guard::{Activity, Guarded};

/// Serves `router` on `listener` until `shutdown` completes, then lets the connections finish their
/// requests for up to [`Limits::shutdown_grace`]. `name` says which listener in the log. Every request
/// carries `ConnectInfo<SocketAddr>` (the peer), as with axum's `into_make_service_with_connect_info`.
pub async fn serve(
    listener: TcpListener,
    name: &'static str,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut acceptor = Acceptor::new(listener, name, &limits, BUSY_RESPONSE);
    let builder = Arc::new(connection_builder(&limits));
    let graceful = GracefulShutdown::new();
    let mut shutdown = pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = acceptor.accept() => accepted,
        };
        let activity = Activity::new();
        let io = TokioIo::new(Guarded::new(
            accepted.stream,
            accepted.permit,
            activity.clone(),
            limits.idle,
        ));
        let service = TowerToHyperService::new(Connection {
            router: router.clone(),
            peer: accepted.peer,
            activity,
            body_read: limits.body_read,
        });
        let watcher = graceful.watcher();
        let builder = builder.clone();
        tokio::spawn(async move {
            let connection = builder.serve_connection_with_upgrades(io, service);
            if let Err(e) = watcher.watch(connection).await {
                tracing::debug!(listener = name, "connection closed: {e}");
            }
        });
    }
    // Stop listening at once: new clients are refused by the kernel rather than left waiting.
    drop(acceptor);
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            listener = name,
            "connections still open after the shutdown grace period were dropped"
        );
    }
    Ok(())
}

/// HTTP/1 with hyper's header-read timeout (which needs a timer to fire at all) and keep-alive; HTTP/2
/// with keepalive pings and a stream limit.
fn connection_builder(limits: &Limits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(limits.h2_keepalive)
        .keep_alive_timeout(limits.h2_keepalive_timeout)
        .max_concurrent_streams(limits.max_concurrent_streams);
    builder
}

/// The router as one connection serves it.
#[derive(Clone)]
struct Connection {
    router: Router,
    peer: SocketAddr,
    activity: Arc<Activity>,
    body_read: Duration,
}

impl tower::Service<Request<Incoming>> for Connection {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Incoming>) -> Self::Future {
        let in_flight = self.activity.begin();
        let expired = Arc::new(AtomicBool::new(false));
        let mut request =
            request.map(|body| Body::new(Deadline::new(body, self.body_read, expired.clone())));
        request.extensions_mut().insert(ConnectInfo(self.peer));
        let router = self.router.clone();
        Box::pin(async move {
            let response = router.oneshot(request).await?;
            let response = if expired.load(Ordering::Relaxed) {
                body_timed_out()
            } else {
                response
            };
            Ok(response.map(|body| Body::new(Tracked::new(body, Some(in_flight)))))
        })
    }
}

/// What a client whose body did not arrive in time gets, whatever the handler made of the failed read:
/// 408, and the connection closed.
fn body_timed_out() -> Response<Body> {
    let mut response = Response::new(Body::from("the request body was not received in time\n"));
    *response.status_mut() = StatusCode::REQUEST_TIMEOUT;
    response.headers_mut().insert(
        header::CONNECTION,
        header::HeaderValue::from_static("close"),
    );
    response
}
