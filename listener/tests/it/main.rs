//! The listener against real sockets on 127.0.0.1: what slow, stalled, idle and too many clients get.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::routing::{get, post};
use listener::Limits;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Limits short enough for tests; each test shortens the one it checks further.
fn limits() -> Limits {
    Limits {
        header_read: Duration::from_secs(30),
        body_read: Duration::from_secs(30),
        idle: Duration::from_secs(30),
        max_connections: 64,
        ..Limits::default()
    }
}

async fn start(router: Router, limits: Limits) -> SocketAddr {
    let socket = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(listener::serve(
        socket,
        "test",
        router,
        limits,
        std::future::pending(),
    ));
    addr
}

fn router() -> Router {
    Router::new()
        .route("/", get(|| async { "hello" }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(600)).await;
                "late"
            }),
        )
        .route(
            "/peer",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
        )
}

/// Reads until the server closes the connection (end of stream or reset), at most `limit`; what was read
/// and when the connection ended, or `None` if it was still open.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (Vec<u8>, Option<Duration>) {
    let started = Instant::now();
    let mut read = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        let left = limit.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return (read, None),
            Ok(Ok(0) | Err(_)) => return (read, Some(started.elapsed())),
            Ok(Ok(n)) => read.extend_from_slice(&buf[..n]),
        }
    }
}

/// Sends one GET on `stream` and reads its whole response (which has a `content-length`).
async fn get_once(stream: &mut TcpStream, path: &str) -> String {
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nhost: test\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed before the response ended");
        response.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&response);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length: "))
                .unwrap()
                .parse()
                .unwrap();
            if body.len() >= length {
                return text.into_owned();
            }
        }
    }
}

#[tokio::test]
async fn headers_sent_one_byte_at_a_time_are_cut_off_at_the_header_timeout() {
    let addr = start(
        router(),
        Limits {
            header_read: Duration::from_millis(400),
            ..limits()
        },
    )
    .await;
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    // One byte every 50 ms, never reaching the end of the headers.
    let trickle = tokio::spawn(async move {
        for byte in b"GET / HTTP/1.1\r\nx-long-header: ".iter().cycle() {
            if writer.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    trickle.abort();
    assert!(
        closed.is_ok(),
        "a trickling client was still connected after 5 s"
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(3),
        "closed after {took:?}, not at the 400 ms header timeout"
    );
}

#[tokio::test]
async fn a_stalled_body_is_answered_408_closed_and_its_buffer_freed() {
    let failed_reads = Arc::new(AtomicUsize::new(0));
    let failed = failed_reads.clone();
    let router = Router::new().route(
        "/upload",
        post(move |request: Request| async move {
            // Buffers the body as the receivers do, with a limit well above what is sent.
            match axum::body::to_bytes(request.into_body(), 32 << 20).await {
                Ok(body) => format!("{} bytes", body.len()),
                Err(_) => {
                    failed.fetch_add(1, Ordering::SeqCst);
                    "read failed".to_owned()
                }
            }
        }),
    );
    let addr = start(
        router,
        Limits {
            body_read: Duration::from_millis(500),
            ..limits()
        },
    )
    .await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    // 1 MiB of the 16 MiB announced, then nothing.
    stream
        .write_all(b"POST /upload HTTP/1.1\r\nhost: test\r\ncontent-length: 16777216\r\n\r\n")
        .await
        .unwrap();
    stream.write_all(&vec![b'x'; 1 << 20]).await.unwrap();
    let started = Instant::now();
    let (response, closed) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    let response = String::from_utf8_lossy(&response);
    assert!(
        response.starts_with("HTTP/1.1 408"),
        "a stalled body got {response:?}"
    );
    let closed = closed.expect("the connection stayed open after the 408");
    assert!(
        closed >= Duration::from_millis(400) && closed < Duration::from_secs(3),
        "closed after {:?}, not at the 500 ms body timeout",
        started.elapsed()
    );
    // The handler's read failed and it returned: the megabyte it had buffered is gone with it.
    assert_eq!(failed_reads.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let addr = start(
        router(),
        Limits {
            idle: Duration::from_millis(400),
            ..limits()
        },
    )
    .await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    assert!(get_once(&mut stream, "/").await.ends_with("hello"));
    // Kept alive: a second request on the same connection is served.
    assert!(get_once(&mut stream, "/").await.ends_with("hello"));
    let (_, closed) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    let closed = closed.expect("an idle keep-alive connection stayed open");
    assert!(
        closed >= Duration::from_millis(300) && closed < Duration::from_secs(3),
        "closed after {closed:?}, not at the 400 ms idle timeout"
    );

    // A connection that never sends a byte is idle from the start.
    let mut silent = TcpStream::connect(addr).await.unwrap();
    let (_, closed) = read_until_closed(&mut silent, Duration::from_secs(5)).await;
    assert!(closed.is_some(), "a silent connection stayed open");
}

#[tokio::test]
async fn a_request_in_flight_is_not_idle() {
    let addr = start(
        router(),
        Limits {
            idle: Duration::from_millis(200),
            ..limits()
        },
    )
    .await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    // The handler takes three idle periods; the connection stays for its answer.
    assert!(get_once(&mut stream, "/slow").await.ends_with("late"));
}

#[tokio::test]
async fn connections_past_the_cap_are_refused_at_once_and_served_again_below_it() {
    let addr = start(
        router(),
        Limits {
            max_connections: 2,
            ..limits()
        },
    )
    .await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        assert!(get_once(&mut stream, "/").await.ends_with("hello"));
        held.push(stream);
    }
    let mut refused = TcpStream::connect(addr).await.unwrap();
    let (response, closed) = read_until_closed(&mut refused, Duration::from_secs(2)).await;
    let response = String::from_utf8_lossy(&response);
    assert!(
        response.starts_with("HTTP/1.1 503") && response.contains("retry-after: 1"),
        "past the cap: {response:?}"
    );
    assert!(
        closed.is_some_and(|took| took < Duration::from_millis(500)),
        "a refused connection was not closed at once: {closed:?}"
    );
    // Below the cap again once one closes.
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET / HTTP/1.1\r\nhost: test\r\n\r\n")
            .await
            .unwrap();
        let (response, _) = read_until_closed(&mut stream, Duration::from_millis(300)).await;
        if String::from_utf8_lossy(&response).starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(Instant::now() < deadline, "no place freed under the cap");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn every_request_knows_its_peer() {
    let addr = start(router(), limits()).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let local = stream.local_addr().unwrap();
    assert!(
        get_once(&mut stream, "/peer")
            .await
            .ends_with(&local.to_string())
    );
}
