//! The store's read API, eviction and accounting, case by case.

use std::collections::BTreeMap;
use std::sync::Arc;

use collector::TraceId;
use collector::model::Resource;
use collector::store::{DEFAULT_CAPACITY, Inserted, Store, Trace};

use crate::spans::{ids, resource, span};

fn trace_ids(traces: &[Arc<Trace>]) -> Vec<u128> {
    traces.iter().map(|t| t.id().to_u128()).collect()
}

fn service_ids(store: &Store, service: &str) -> Vec<u128> {
    store
        .trace_ids_for_service(service, usize::MAX)
        .into_iter()
        .map(TraceId::to_u128)
        .collect()
}

#[test]
fn an_empty_store_has_nothing() {
    let store = Store::default();
    assert_eq!(store.capacity(), DEFAULT_CAPACITY);
    assert_eq!(DEFAULT_CAPACITY, 1_000_000);
    assert!(store.is_empty());
    assert_eq!(store.trace_count(), 0);
    assert_eq!(store.insert(Vec::new()), Inserted::default());
    assert!(store.trace(&TraceId::from_u128(1)).is_none());
    assert!(store.services().is_empty());
    assert!(store.latest(10).is_empty());
    assert!(store.snapshot().is_empty());
    assert!(store.trace_ids_for_service("ads", 10).is_empty());
    let accounting = store.accounting();
    assert_eq!(
        (accounting.accepted, accounting.stored, accounting.evicted),
        (0, 0, 0)
    );
    assert_eq!(accounting.capacity, DEFAULT_CAPACITY as u64);
    assert!(accounting.rejected.is_empty());
}

#[test]
fn spans_are_grouped_by_trace_across_batches_in_arrival_order() {
    let store = Store::new(100);
    let (ads, shop) = (resource("ads"), resource("storefront"));
    let mut child = span(1, 11, &ads, 150);
    child.parent_span_id = Some(collector::SpanId::from_u64(10));
    let mut sibling = span(1, 12, &ads, 160);
    sibling.parent_span_id = Some(collector::SpanId::from_u64(10));
    let inserted = store.insert(vec![child, span(2, 20, &shop, 300), sibling]);
    assert_eq!(
        inserted,
        Inserted {
            accepted: 3,
            stored: 3,
            evicted: 0,
            evicted_traces: 0
        }
    );
    // The root arrives last, as it usually does, and starts earliest.
    store.insert(vec![span(1, 10, &shop, 100)]);

    assert_eq!(store.len(), 4);
    assert_eq!(store.trace_count(), 2);
    let trace = store.trace(&TraceId::from_u128(1)).unwrap();
    assert_eq!(ids(trace.spans()), [11, 12, 10]);
    assert_eq!(trace.len(), 3);
    assert!(!trace.is_empty());
    assert_eq!(
        (trace.start_ns(), trace.end_ns(), trace.duration_ns()),
        (100, 170, 70)
    );
    assert_eq!(trace.root().map(|root| root.span_id.to_u64()), Some(10));
    let services: Vec<&str> = trace.services().iter().map(|s| &**s).collect();
    assert_eq!(services, ["ads", "storefront"]);
    assert_eq!(ids(trace.to_vec()), [11, 12, 10]);
    assert!(store.trace(&TraceId::from_u128(3)).is_none());
    let listed: Vec<String> = store.services().iter().map(|s| s.to_string()).collect();
    assert_eq!(listed, ["ads", "storefront"]);
}

#[test]
fn the_service_index_lists_newest_entries_first() {
    let store = Store::new(100);
    let (ads, shop) = (resource("ads"), resource("storefront"));
    store.insert(vec![span(1, 1, &shop, 10), span(2, 2, &ads, 20)]);
    store.insert(vec![span(3, 3, &shop, 30)]);
    // Trace 2 is older than trace 3 even though it meets the storefront later.
    store.insert(vec![span(2, 4, &shop, 25)]);
    assert_eq!(service_ids(&store, "storefront"), [3, 2, 1]);
    assert_eq!(service_ids(&store, "ads"), [2]);
    assert_eq!(store.trace_ids_for_service("storefront", 2).len(), 2);
    assert_eq!(trace_ids(&store.traces_for_service("storefront", 1)), [3]);
    assert!(service_ids(&store, "nobody").is_empty());
}

#[test]
fn the_time_index_finds_traces_by_start() {
    let store = Store::new(100);
    let shop = resource("storefront");
    store.insert(
        (1..=5)
            .map(|t| span(t, t as u64, &shop, t as u64 * 100))
            .collect(),
    );
    assert_eq!(
        trace_ids(&store.traces_between(200, 400, 10)),
        [3, 2],
        "from included, to excluded"
    );
    assert_eq!(trace_ids(&store.traces_between(0, u64::MAX, 2)), [5, 4]);
    assert!(store.traces_between(400, 400, 10).is_empty());
    assert!(store.traces_between(500, 100, 10).is_empty());
    assert_eq!(trace_ids(&store.latest(3)), [5, 4, 3]);
    // A span that starts earlier moves its trace in the index.
    store.insert(vec![span(5, 50, &shop, 50)]);
    assert_eq!(trace_ids(&store.latest(2)), [4, 3]);
    assert_eq!(trace_ids(&store.traces_between(0, 100, 10)), [5]);
}

#[test]
fn the_oldest_whole_traces_are_evicted_first() {
    let store = Store::new(5);
    let shop = resource("storefront");
    store.insert(vec![
        span(1, 1, &shop, 0),
        span(1, 2, &shop, 0),
        span(2, 3, &shop, 0),
    ]);
    store.insert(vec![span(3, 4, &shop, 0), span(2, 5, &shop, 0)]);
    assert_eq!(store.len(), 5);
    // One more span: trace 1 (two spans, the oldest) goes whole.
    let inserted = store.insert(vec![span(3, 6, &shop, 0)]);
    assert_eq!(
        inserted,
        Inserted {
            accepted: 1,
            stored: 1,
            evicted: 2,
            evicted_traces: 1
        }
    );
    assert_eq!(trace_ids(&store.snapshot()), [2, 3]);
    assert!(store.trace(&TraceId::from_u128(1)).is_none());
    let accounting = store.accounting();
    assert_eq!(
        (accounting.accepted, accounting.stored, accounting.evicted),
        (6, 4, 2)
    );
    assert_eq!(
        (accounting.stored_traces, accounting.evicted_traces),
        (2, 1)
    );
}

#[test]
fn an_evicted_trace_starts_again_as_a_new_entry() {
    let store = Store::new(2);
    let shop = resource("storefront");
    store.insert(vec![span(1, 1, &shop, 0)]);
    let first_seq = store.trace(&TraceId::from_u128(1)).unwrap().seq();
    store.insert(vec![span(2, 2, &shop, 0), span(3, 3, &shop, 0)]);
    assert!(store.trace(&TraceId::from_u128(1)).is_none());
    store.insert(vec![span(1, 4, &shop, 0)]);
    let again = store.trace(&TraceId::from_u128(1)).unwrap();
    assert_eq!(
        ids(again.spans()),
        [4],
        "only the spans since the new entry"
    );
    assert!(again.seq() > first_seq);
    assert_eq!(trace_ids(&store.snapshot()), [3, 1]);
}

#[test]
fn a_trace_bigger_than_the_capacity_is_evicted_entirely() {
    let store = Store::new(3);
    let shop = resource("storefront");
    store.insert(vec![span(1, 1, &shop, 0)]);
    let inserted = store.insert((10..14).map(|id| span(2, id, &shop, 0)).collect());
    assert_eq!(
        inserted,
        Inserted {
            accepted: 4,
            stored: 0,
            evicted: 5,
            evicted_traces: 2
        }
    );
    assert!(store.is_empty());
    assert!(
        store.services().is_empty(),
        "no service is left without traces"
    );
    assert!(store.latest(10).is_empty());
    let accounting = store.accounting();
    assert_eq!(
        (accounting.accepted, accounting.stored, accounting.evicted),
        (5, 0, 5)
    );
}

#[test]
fn a_store_of_capacity_zero_evicts_everything() {
    let store = Store::new(0);
    let inserted = store.insert(vec![span(1, 1, &resource("ads"), 0)]);
    assert_eq!(
        inserted,
        Inserted {
            accepted: 1,
            stored: 0,
            evicted: 1,
            evicted_traces: 1
        }
    );
    assert_eq!(store.accounting().evicted, 1);
}

#[test]
fn rejected_payloads_are_counted_by_reason() {
    let store = Store::new(10);
    store.reject("decode", 1);
    store.reject("too_large", 2);
    store.reject("decode", 3);
    let accounting = store.accounting();
    let expected: BTreeMap<String, u64> =
        [("decode".to_owned(), 4), ("too_large".to_owned(), 2)].into();
    assert_eq!(accounting.rejected, expected);
    assert_eq!(accounting.rejected_total(), 6);
    assert_eq!(
        accounting.accepted, 0,
        "rejected payloads are not accepted spans"
    );
}

#[test]
fn a_snapshot_held_by_a_reader_does_not_change() {
    let store = Store::new(100);
    let shop = resource("storefront");
    store.insert(vec![span(1, 1, &shop, 100)]);
    let held = store.trace(&TraceId::from_u128(1)).unwrap();
    let everything = store.snapshot();
    store.insert(vec![span(1, 2, &resource("ads"), 50)]);
    assert_eq!(ids(held.spans()), [1]);
    assert_eq!((held.start_ns(), held.services().len()), (100, 1));
    assert_eq!(everything[0].len(), 1);
    let now = store.trace(&TraceId::from_u128(1)).unwrap();
    assert_eq!(ids(now.spans()), [1, 2]);
    assert_eq!(now.start_ns(), 50);
}

#[test]
fn spans_without_a_service_name_count_as_unknown_service() {
    let store = Store::new(10);
    store.insert(vec![span(1, 1, &Arc::new(Resource::default()), 0)]);
    let listed: Vec<String> = store.services().iter().map(|s| s.to_string()).collect();
    assert_eq!(listed, ["unknown_service"]);
    assert_eq!(service_ids(&store, "unknown_service"), [1]);
}

#[test]
fn clones_share_one_store() {
    let store = Store::new(10);
    let clone = store.clone();
    clone.insert(vec![span(1, 1, &resource("ads"), 0)]);
    assert_eq!(store.len(), 1);
    assert!(format!("{store:?}").contains("stored: 1"));
}

proptest::proptest! {
    /// `search` finds what a plain filter and sort over every stored trace finds, whichever index it uses.
    #[test]
    fn search_agrees_with_filtering_every_trace(
        traces in proptest::collection::vec((0..4usize, 0..4usize, proptest::bool::ANY, 0..1000u64, 1..500u64), 1..120),
        service in proptest::option::of(0..5usize),
        endpoint in proptest::option::of(0..5usize),
        error in proptest::option::of(proptest::bool::ANY),
        min_duration_ns in 0..400u64,
        max_duration_ns in proptest::option::of(0..600u64),
        since_ns in 0..600u64,
        limit in 0..30usize,
        by_duration in proptest::bool::ANY,
    ) {
        use collector::model::{KeyValue, StatusCode, Value};
        use collector::store::TraceQuery;
        let services = ["ads", "discounts", "storefront", "db", "nobody"];
        let routes = ["/a", "/b", "/c", "/d", "/none"];
        let store = Store::new(10_000);
        for (i, (s, r, failed, start, duration)) in traces.iter().enumerate() {
            let mut root = span(i as u128 + 1, i as u64 * 2 + 1, &resource(services[*s]), *start);
            root.end_ns = start + duration;
            root.attributes.push(KeyValue { key: "http.route".into(), value: Value::Str(routes[*r].into()) });
            root.attributes.push(KeyValue {
                key: "http.request.method".into(),
                value: Value::Str("GET".into()),
            });
            if *failed {
                root.status.code = StatusCode::Error;
            }
            // A second service in every other trace.
            let mut batch = vec![root];
            if i % 2 == 0 {
                let mut child = span(i as u128 + 1, i as u64 * 2 + 2, &resource(services[(s + 1) % 4]), *start);
                child.parent_span_id = Some(collector::SpanId::from_u64(i as u64 * 2 + 1));
                batch.push(child);
            }
            store.insert(batch);
        }
        let endpoint_name = endpoint.map(|r| format!("GET {}", routes[r]));
        let query = TraceQuery {
            service: service.map(|s| services[s].to_owned()),
            endpoint: endpoint_name.clone(),
            error,
            min_duration_ns,
            max_duration_ns: max_duration_ns.unwrap_or(u64::MAX),
            since_ns,
            limit,
            by_duration,
        };
        let mut expected: Vec<Arc<Trace>> = store
            .snapshot()
            .into_iter()
            .filter(|t| {
                t.start_ns() >= since_ns
                    && t.duration_ns() >= min_duration_ns
                    && max_duration_ns.is_none_or(|max| t.duration_ns() <= max)
                    && error.is_none_or(|e| e == (t.error_count() > 0))
                    && query.service.as_deref().is_none_or(|s| t.services().iter().any(|x| &**x == s))
                    && endpoint_name.as_deref().is_none_or(|e| {
                        t.entries().iter().any(|(s, n)| {
                            &**n == e && query.service.as_deref().is_none_or(|w| &**s == w)
                        })
                    })
            })
            .collect();
        expected.sort_by_key(|t| {
            std::cmp::Reverse((if by_duration { t.duration_ns() } else { t.start_ns() }, t.seq()))
        });
        expected.truncate(limit);
        if endpoint.is_some_and(|r| r < 4) && service.is_none() && error.is_none() && min_duration_ns == 0 && since_ns == 0 && limit > 0 {
            proptest::prop_assert!(!expected.is_empty() || !traces.iter().any(|t| Some(t.1) == endpoint), "endpoints match at all");
        }
        proptest::prop_assert_eq!(trace_ids(&store.search(&query)), trace_ids(&expected));
    }
}
