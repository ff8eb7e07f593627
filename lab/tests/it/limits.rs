//! `lab collect` under the usual desktop limit of 1,024 open files, flooded with 1,100 idle connections:
//! each listener holds only its share, refuses the rest at once, and the query API keeps answering.
//! The collector runs as a child process, so the limit (set by `ulimit` in the shell that starts it) is its
//! own, not the test binary's.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Kills the collector however the test ends.
struct Collector(Child);

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The address on the line of `stdout` that starts with `label`.
fn address(lines: &[String], label: &str) -> SocketAddr {
    let line = lines
        .iter()
        .find(|line| line.starts_with(label))
        .unwrap_or_else(|| panic!("no {label:?} line in {lines:?}"));
    let rest = &line[label.len()..];
    let rest = rest.trim_start_matches("http://");
    let end = rest.find(['/', ' ']).unwrap_or(rest.len());
    rest[..end].parse().unwrap()
}

/// One request on a fresh connection; the status line, or what went wrong, within `limit`.
fn ask(addr: SocketAddr, path: &str, limit: Duration) -> Result<String, String> {
    let mut stream =
        TcpStream::connect_timeout(&addr, limit).map_err(|e| format!("connecting: {e}"))?;
    stream.set_read_timeout(Some(limit)).unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nhost: lab\r\nconnection: close\r\n\r\n").as_bytes(),
        )
        .map_err(|e| format!("sending: {e}"))?;
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => response.extend_from_slice(&buf[..n]),
            Err(e) if response.is_empty() => return Err(format!("reading: {e}")),
            Err(_) => break,
        }
    }
    let response = String::from_utf8_lossy(&response);
    Ok(response.lines().next().unwrap_or_default().to_owned())
}

#[test]
fn a_flood_of_idle_connections_under_1024_open_files_leaves_the_query_api_answering() {
    // This side holds 1,100 sockets too.
    let files = listener::open_files::raise().unwrap();
    assert!(
        files.now > 2048,
        "the test needs more than {} open files",
        files.now
    );

    let mut child = Command::new("bash")
        .arg("-c")
        .arg(r#"ulimit -n 1024 && exec "$0" collect --otlp-http 127.0.0.1:0 --otlp-grpc 127.0.0.1:0 --datadog 127.0.0.1:0 --api 127.0.0.1:0"#)
        .arg(env!("CARGO_BIN_EXE_lab"))
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let collector = Collector(child);
    let mut lines = Vec::new();
    for line in stdout.lines() {
        let line = line.unwrap();
        let last = line.starts_with("Keeping at most");
        lines.push(line);
        if last {
            break;
        }
    }
    let api = address(&lines, "Query API on ");
    let receivers = [
        address(&lines, "OTLP/HTTP receiver on "),
        address(&lines, "OTLP/gRPC receiver on "),
        address(&lines, "Datadog agent API on "),
    ];
    assert_eq!(
        ask(api, "/api/stats", Duration::from_secs(5)),
        Ok("HTTP/1.1 200 OK".to_owned())
    );

    // 1,100 connections that send nothing, spread over the receivers; kept open by this side.
    let mut flood = Vec::new();
    for i in 0..1100 {
        let addr = receivers[i % receivers.len()];
        if let Ok(stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            flood.push(stream);
        }
    }
    // Let the collector accept (and refuse) them all.
    std::thread::sleep(Duration::from_millis(500));

    let started = Instant::now();
    assert_eq!(
        ask(api, "/api/stats", Duration::from_secs(5)),
        Ok("HTTP/1.1 200 OK".to_owned()),
        "the query API did not answer with 1,100 idle connections open"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    // A flooded receiver refuses a new connection at once rather than leaving it in the backlog.
    let refused = ask(receivers[0], "/v1/traces", Duration::from_secs(2));
    assert!(
        refused
            .as_deref()
            .is_ok_and(|status| status.starts_with("HTTP/1.1 503"))
            || refused
                .as_deref()
                .is_err_and(|e| !e.contains("timed out") && !e.contains("would block")),
        "a flooded receiver answered {refused:?}"
    );
    drop(flood);
    drop(collector);
}
