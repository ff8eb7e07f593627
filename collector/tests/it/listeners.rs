//! Every listener of a started collector, against clients that trickle, stall or idle: each is closed
//! within its timeout, and a stalled body is answered and counted.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use collector::server::{CollectorOptions, RunningCollector};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

async fn start(limits: listener::Limits) -> RunningCollector {
    let local = Some("127.0.0.1:0".parse().unwrap());
    RunningCollector::start(&CollectorOptions {
        otlp_http: local,
        otlp_grpc: local,
        datadog: local,
        api: local,
        limits,
        ..CollectorOptions::default()
    })
    .await
    .unwrap()
}

/// Reads until the server closes the connection or `limit` passes: what was read, and when it closed.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (Vec<u8>, Option<Duration>) {
    let started = Instant::now();
    let mut read = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let left = limit.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return (read, None),
            Ok(Ok(0) | Err(_)) => return (read, Some(started.elapsed())),
            Ok(Ok(n)) => read.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test]
async fn a_stalled_otlp_body_is_answered_408_counted_and_closed() {
    let running = start(listener::Limits {
        body_read: Duration::from_millis(500),
        ..listener::Limits::default()
    })
    .await;
    let mut stream = TcpStream::connect(running.otlp_http.unwrap())
        .await
        .unwrap();
    // 1 MiB of the 16 MiB announced, then nothing: before, the megabyte stayed buffered for good.
    stream
        .write_all(
            b"POST /v1/traces HTTP/1.1\r\nhost: collector\r\ncontent-type: application/x-protobuf\r\ncontent-length: 16777216\r\n\r\n",
        )
        .await
        .unwrap();
    stream.write_all(&vec![0u8; 1 << 20]).await.unwrap();
    let (response, closed) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 408"), "{response:?}");
    assert!(
        closed.is_some_and(|took| took < Duration::from_secs(3)),
        "closed after {closed:?}"
    );
    let rejected = running.store.accounting().rejected;
    assert_eq!(rejected.get("body_timeout"), Some(&1), "{rejected:?}");
    running.stop().await.unwrap();
}

#[tokio::test]
async fn trickling_and_idle_clients_are_closed_on_every_http_listener() {
    let running = start(listener::Limits {
        header_read: Duration::from_millis(500),
        idle: Duration::from_millis(500),
        ..listener::Limits::default()
    })
    .await;
    let listeners: [(&str, SocketAddr); 3] = [
        ("OTLP/HTTP", running.otlp_http.unwrap()),
        ("Datadog", running.datadog.unwrap()),
        ("query API", running.api.unwrap()),
    ];
    for (name, addr) in listeners {
        // Headers one byte every 100 ms, never finished.
        let stream = TcpStream::connect(addr).await.unwrap();
        let (mut reader, mut writer) = stream.into_split();
        let trickle = tokio::spawn(async move {
            for byte in b"POST /v0.4/traces HTTP/1.1\r\nx-slow: ".iter().cycle() {
                if writer.write_all(&[*byte]).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        let mut buf = [0u8; 1024];
        let closed = tokio::time::timeout(Duration::from_secs(5), async {
            while let Ok(1..) = reader.read(&mut buf).await {}
        })
        .await;
        trickle.abort();
        assert!(
            closed.is_ok(),
            "{name}: a trickling client stayed connected"
        );

        // A keep-alive connection after its answer, with nothing more to ask.
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /api/stats HTTP/1.1\r\nhost: collector\r\n\r\n")
            .await
            .unwrap();
        let (response, closed) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
        assert!(response.starts_with(b"HTTP/1.1 "), "{name}: no answer");
        assert!(
            closed.is_some_and(|took| took >= Duration::from_millis(400)),
            "{name}: an idle keep-alive connection closed after {closed:?}"
        );
    }
    running.stop().await.unwrap();
}
