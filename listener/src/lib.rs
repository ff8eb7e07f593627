//! How every listener of the lab is served: one hardened accept loop and connection setup shared by the
//! collector's receivers and query API, the shop's services and the recording proxy.
//!
//! What a client cannot do to a listener served here, whatever it sends or withholds:
//! - hold a connection with headers it never finishes ([`Limits::header_read`], hyper's own timer);
//! - hold a request, and the memory of its body, with a body it never finishes ([`Limits::body_read`]: the
//!   handler's read fails, the client gets 408 and the connection is closed);
//! - hold a connection with nothing in flight ([`Limits::idle`]; HTTP/2 also pings, [`Limits::h2_keepalive`]);
//! - open more than [`Limits::max_connections`] at once: past the cap a connection is accepted and closed at
//!   once (HTTP gets a 503 with `Retry-After` first), counted, and logged at most every few seconds, so the
//!   kernel's backlog never fills and the other listeners of the process keep their file descriptors;
//! - make the accept loop spin or stop: accept errors (out of file descriptors) back off and go on.
//!
//! [`serve`] serves an axum router (HTTP/1 and HTTP/2, with `ConnectInfo<SocketAddr>` in every request);
//! `grpc` (feature `tonic`) gives tonic's `Server` the same accept loop and guard. [`open_files`] raises the
//! process's open-files limit to what the system allows, once, at start-up.

mod accept;
mod body;
#[cfg(feature = "tonic")]
pub mod grpc;
mod guard;
mod http;
mod limits;
pub mod open_files;

pub use body::timed_out;
pub use http::serve;
pub use limits::{LISTENERS_PER_PROCESS, Limits, MAX_CONNECTIONS};
