//! The timeouts and the connection cap of one listener, with defaults like the OpenTelemetry Collector's.

use std::time::Duration;

/// How many listeners one process of the lab shares its file descriptors among (`lab up` has seven: four of
/// the collector's, three of the shop's). Each gets an equal share, so a flood on one cannot take the
/// descriptors the others need.
pub const LISTENERS_PER_PROCESS: usize = 8;

/// The most connections one listener holds, however high the open-files limit: far more than the lab's own
/// clients open, few enough that a flood costs megabytes, not gigabytes.
pub const MAX_CONNECTIONS: usize = 4096;

/// The limits of one listener. `Default` is what every listener of the lab uses; tests shorten them.
#[derive(Debug, Clone)]
pub struct Limits {
    /// From a request's first byte to the end of its headers (HTTP/1). The OpenTelemetry Collector's
    /// `read_header_timeout` default: one minute.
    pub header_read: Duration,
    /// From the end of a request's headers to the end of its body. Past it the handler's read fails, the
    /// client gets 408 Request Timeout and the connection is closed, so what the body had buffered is freed.
    /// One minute, the `read_timeout` of the OpenTelemetry Collector's Datadog receiver.
    pub body_read: Duration,
    /// How long a connection with no request in flight stays open (keep-alive, HTTP/2, gRPC; also a
    /// connection that never sends anything). The OpenTelemetry Collector's `idle_timeout`: one minute.
    pub idle: Duration,
    /// HTTP/2 connections are pinged this often when quiet, and closed when a ping is not answered within
    /// [`Limits::h2_keepalive_timeout`]: a peer that vanished is noticed without waiting for `idle`.
    pub h2_keepalive: Duration,
    /// How long an HTTP/2 ping may go unanswered (gRPC's default keepalive timeout: 20 s).
    pub h2_keepalive_timeout: Duration,
    /// TCP keepalive on every accepted connection: the kernel notices a peer that vanished.
    pub tcp_keepalive: Duration,
    /// Streams one HTTP/2 connection may have open at once (the common default of Go's and nghttp2's
    /// servers is 100 to 250).
    pub max_concurrent_streams: u32,
    /// Connections this listener holds at once; past it new ones are accepted and closed at once.
    pub max_connections: usize,
    /// Once shutdown is asked for, how long connections get to finish their requests before they are
    /// dropped.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read: Duration::from_secs(60),
            body_read: Duration::from_secs(60),
            idle: Duration::from_secs(60),
            h2_keepalive: Duration::from_secs(60),
            h2_keepalive_timeout: Duration::from_secs(20),
            tcp_keepalive: Duration::from_secs(60),
            max_concurrent_streams: 100,
            max_connections: connection_share(crate::open_files::soft_limit()),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// One listener's share of `open_files` descriptors: a reserve (a quarter, at least 256) is kept for files,
/// the recording, databases and outgoing connections; the rest is split among [`LISTENERS_PER_PROCESS`]
/// listeners, between 16 and [`MAX_CONNECTIONS`] each.
pub fn connection_share(open_files: u64) -> usize {
    let open_files = usize::try_from(open_files).unwrap_or(usize::MAX);
    let reserve = (open_files / 4).max(256);
    (open_files.saturating_sub(reserve) / LISTENERS_PER_PROCESS).clamp(16, MAX_CONNECTIONS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_leave_a_reserve_and_stay_bounded() {
        // The usual desktop limit: 8 listeners of 96 and 256 descriptors to spare.
        assert_eq!(connection_share(1024), 96);
        assert!(connection_share(1024) * LISTENERS_PER_PROCESS + 256 <= 1024);
        assert_eq!(connection_share(256), 16);
        assert_eq!(connection_share(1 << 20), MAX_CONNECTIONS);
    }

    #[test]
    fn defaults_are_the_collectors() {
        let limits = Limits::default();
        assert_eq!(limits.header_read, Duration::from_secs(60));
        assert_eq!(limits.body_read, Duration::from_secs(60));
        assert_eq!(limits.idle, Duration::from_secs(60));
        assert!(limits.max_connections >= 16);
    }
}
