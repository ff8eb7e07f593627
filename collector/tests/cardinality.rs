//! Memory is bounded by what is kept, not by how many distinct names arrive: 100,000 spans, each from a
//! service of its own, cost about what 100,000 spans of one service cost, and `/api/services` stays small.
//!
//! A test binary of its own, with one test: it counts every allocation of the process.

use std::sync::Arc;

use cap::Cap;
use collector::model::Span;
use collector::server::{CollectorOptions, RunningCollector};
use collector::testing::{Build as _, resource, span};

#[global_allocator]
static ALLOCATOR: Cap<std::alloc::System> = Cap::new(std::alloc::System, usize::MAX);

const SPANS: usize = 100_000;

/// `SPANS` server spans a millisecond apart ending now, each its own trace, of `services` services (each
/// with its own version and endpoint when there are many).
fn spans(services: usize) -> Vec<Span> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let resources: Vec<_> = (0..services)
        .map(|i| {
            let mut resource = (*resource(&format!("service-{i:06}"))).clone();
            resource.attributes.push(collector::testing::text(
                "service.version",
                &format!("1.0.{i}"),
            ));
            Arc::new(resource)
        })
        .collect();
    (0..SPANS)
        .map(|i| {
            let end = now - (SPANS - i) as u64 * 1_000_000;
            span(i as u128 + 1, 1)
                .resource(&resources[i % services])
                .kind(collector::model::SpanKind::Server)
                .name("GET")
                .text("http.request.method", "GET")
                .text("http.route", &format!("/route/{}", i % services))
                .attr(
                    "http.response.status_code",
                    collector::model::Value::Int(200),
                )
                .at(end - 2_000_000, end)
        })
        .collect()
}

/// Bytes held after `SPANS` spans of `services` services went through a collector (store and analyses),
/// its `/api/services` answer, and its stats.
async fn cost(services: usize) -> (usize, Vec<u8>, protocol::Stats) {
    let running = RunningCollector::start(&CollectorOptions {
        otlp_http: None,
        otlp_grpc: None,
        datadog: None,
        api: Some("127.0.0.1:0".parse().unwrap()),
        ..CollectorOptions::default()
    })
    .await
    .unwrap();
    let batches: Vec<Vec<Span>> = spans(services).chunks(512).map(<[Span]>::to_vec).collect();
    let before = ALLOCATOR.allocated();
    for batch in batches {
        running.ingest.submit_waiting(batch).await.unwrap();
    }
    while running.store.accounting().accepted < SPANS as u64 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let held = ALLOCATOR.allocated().saturating_sub(before);
    let url = format!("http://{}/api/services?window=all", running.api.unwrap());
    let body = reqwest::get(&url).await.unwrap().bytes().await.unwrap();
    let stats =
        collector::query::Query::new(running.store.clone(), running.analysis.clone()).stats();
    running.stop().await.unwrap();
    (held, body.to_vec(), stats)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_services_cost_about_what_one_does() {
    let (one, one_answer, _) = cost(1).await;
    let (many, many_answer, stats) = cost(SPANS).await;
    eprintln!(
        "100,000 spans: one service {} MB ({} B answer), 100,000 services {} MB ({} B answer)",
        one / 1_000_000,
        one_answer.len(),
        many / 1_000_000,
        many_answer.len()
    );
    assert!(
        many_answer.len() < 1_000_000,
        "/api/services answered {} bytes",
        many_answer.len()
    );
    assert!(
        many < 2 * one + 20_000_000,
        "100,000 services hold {many} bytes, one service {one}"
    );
    // Past the first thousand, services count together, and the stats say how many spans did.
    let answer: protocol::ServicesResponse = serde_json::from_slice(&many_answer).unwrap();
    let other = (answer.services.iter())
        .find(|s| s.name == "(other services)")
        .expect("the overflow service is listed");
    assert_eq!(other.requests, (SPANS - 1000) as u64);
    assert_eq!(stats.grouped.services, (SPANS - 1000) as u64);
    assert_eq!(stats.accepted, SPANS as u64);
}
