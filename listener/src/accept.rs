//! The accept loop every listener shares: the connection cap, TCP options, and accept errors backed off.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::Limits;

/// A refused connection, or an accept error, is logged at most this often per listener.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// The first pause after an accept error; it doubles up to [`MAX_BACKOFF`] while errors go on.
const FIRST_BACKOFF: Duration = Duration::from_millis(5);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// What a refused HTTP client reads before the connection closes.
pub(crate) const BUSY_RESPONSE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";

/// One accepted connection, holding its place under the cap until dropped.
pub(crate) struct Accepted {
    pub(crate) stream: TcpStream,
    pub(crate) peer: SocketAddr,
    #[cfg_attr(not(feature = "tonic"), allow(dead_code))]
    pub(crate) local: SocketAddr,
    pub(crate) permit: OwnedSemaphorePermit,
}

/// A listener with its cap.
pub(crate) struct Acceptor {
    listener: TcpListener,
    name: &'static str,
    slots: Arc<Semaphore>,
    cap: usize,
    keepalive: socket2::TcpKeepalive,
    /// Written to a connection refused at the cap (HTTP's 503), or nothing.
    refusal: &'static [u8],
    refused: RateLimited,
    errors: RateLimited,
    backoff: Duration,
}

impl Acceptor {
    pub(crate) fn new(
        listener: TcpListener,
        name: &'static str,
        limits: &Limits,
        refusal: &'static [u8],
    ) -> Acceptor {
        let cap = limits.max_connections.max(1);
        Acceptor {
            listener,
            name,
            slots: Arc::new(Semaphore::new(cap)),
            cap,
            keepalive: socket2::TcpKeepalive::new().with_time(limits.tcp_keepalive),
            refusal,
            refused: RateLimited::default(),
            errors: RateLimited::default(),
            backoff: FIRST_BACKOFF,
        }
    }

    /// The next connection under the cap. Connections past the cap are closed here (after the refusal is
    /// written, if the socket takes it at once); accept errors are waited out.
    pub(crate) async fn accept(&mut self) -> Accepted {
        loop {
            let (stream, peer) = match self.listener.accept().await {
                Ok(accepted) => {
                    self.backoff = FIRST_BACKOFF;
                    accepted
                }
                Err(e) => {
                    // Out of descriptors (EMFILE, ENFILE) or memory the error repeats at once while the
                    // connection waits in the backlog: pause rather than spin. Errors about the one
                    // connection (ECONNABORTED) pass as quickly.
                    if let Some(count) = self.errors.hit() {
                        tracing::warn!(
                            listener = self.name,
                            errors = count,
                            "accepting connections failed: {e}; backing off"
                        );
                    }
                    if !is_connection_error(&e) {
                        tokio::time::sleep(self.backoff).await;
                        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                    }
                    continue;
                }
            };
            let Ok(permit) = self.slots.clone().try_acquire_owned() else {
                if !self.refusal.is_empty() {
                    // Best effort, never waiting: a fresh socket's send buffer takes it.
                    let _ = stream.try_write(self.refusal);
                }
                drop(stream);
                if let Some(count) = self.refused.hit() {
                    tracing::warn!(
                        listener = self.name,
                        cap = self.cap,
                        refused = count,
                        "connections refused: the listener holds as many as it may"
                    );
                }
                continue;
            };
            let _ = stream.set_nodelay(true);
            let _ = socket2::SockRef::from(&stream).set_tcp_keepalive(&self.keepalive);
            let local = stream.local_addr().unwrap_or(peer);
            return Accepted {
                stream,
                peer,
                local,
                permit,
            };
        }
    }
}

/// An error about the one connection being accepted, not about the listener or the process.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Counts events and says when to log them: at the first, then at most every [`LOG_EVERY`] with the count
/// since the last log.
#[derive(Default)]
struct RateLimited {
    since_logged: u64,
    logged_at: Option<Instant>,
}

impl RateLimited {
    fn hit(&mut self) -> Option<u64> {
        self.since_logged += 1;
        let now = Instant::now();
        if self
            .logged_at
            .is_some_and(|at| now.duration_since(at) < LOG_EVERY)
        {
            return None;
        }
        self.logged_at = Some(now);
        Some(std::mem::take(&mut self.since_logged))
    }
}
