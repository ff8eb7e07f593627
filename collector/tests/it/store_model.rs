//! The store against a reference model: random batches (trace ids from a small pool, so traces grow across
//! batches and get evicted and started again) on random, often tiny, capacities.

use std::collections::{BTreeSet, VecDeque};

use collector::TraceId;
use collector::store::{Inserted, Store, Trace};
use proptest::prelude::*;

use crate::spans::{ids, resource, span};

const SERVICES: [&str; 3] = ["ads", "discounts", "storefront"];

/// One span to insert: its trace (from a pool of 6), service, start time and whether its resource is a
/// fresh allocation rather than the service's shared one.
#[derive(Clone, Debug)]
struct Planned {
    trace: u128,
    service: usize,
    start_ns: u64,
    fresh_resource: bool,
}

fn planned() -> impl Strategy<Value = Planned> {
    (0u128..6, 0..SERVICES.len(), 0u64..100, any::<bool>()).prop_map(
        |(trace, service, start_ns, fresh_resource)| Planned {
            trace,
            service,
            start_ns,
            fresh_resource,
        },
    )
}

/// A stored trace as the model sees it.
#[derive(Debug)]
struct ModelTrace {
    id: u128,
    /// (span id, service, start), in arrival order.
    spans: Vec<(u64, usize, u64)>,
}

impl ModelTrace {
    fn start_ns(&self) -> u64 {
        self.spans.iter().map(|(_, _, start)| *start).min().unwrap()
    }

    fn services(&self) -> BTreeSet<&'static str> {
        self.spans
            .iter()
            .map(|(_, service, _)| SERVICES[*service])
            .collect()
    }
}

/// The reference: the stored traces, oldest first, and the counters.
#[derive(Debug, Default)]
struct Model {
    traces: VecDeque<ModelTrace>,
    accepted: u64,
    evicted: u64,
    evicted_traces: u64,
}

impl Model {
    fn stored(&self) -> u64 {
        self.traces.iter().map(|t| t.spans.len() as u64).sum()
    }

    /// Applies one batch the slow, obvious way and returns what the store should report for it.
    fn insert(&mut self, batch: &[(u64, &Planned)], capacity: usize) -> Inserted {
        for (span_id, planned) in batch {
            let entry = (*span_id, planned.service, planned.start_ns);
            match self.traces.iter_mut().find(|t| t.id == planned.trace) {
                Some(trace) => trace.spans.push(entry),
                None => self.traces.push_back(ModelTrace {
                    id: planned.trace,
                    spans: vec![entry],
                }),
            }
        }
        self.accepted += batch.len() as u64;
        let (mut evicted, mut evicted_traces) = (0, 0);
        while self.stored() > capacity as u64 {
            let oldest = self.traces.pop_front().unwrap();
            evicted += oldest.spans.len();
            evicted_traces += 1;
        }
        self.evicted += evicted as u64;
        self.evicted_traces += evicted_traces as u64;
        let still_stored: BTreeSet<u64> = self
            .traces
            .iter()
            .flat_map(|t| t.spans.iter().map(|(id, _, _)| *id))
            .collect();
        let stored = batch
            .iter()
            .filter(|(id, _)| still_stored.contains(id))
            .count();
        Inserted {
            accepted: batch.len(),
            stored,
            evicted,
            evicted_traces,
        }
    }
}

fn trace_ids(traces: &[std::sync::Arc<Trace>]) -> Vec<u128> {
    traces.iter().map(|t| t.id().to_u128()).collect()
}

/// Everything the store exposes, checked against the model.
fn check(store: &Store, model: &Model, window: (u64, u64)) -> Result<(), TestCaseError> {
    let accounting = store.accounting();
    prop_assert_eq!(accounting.accepted, accounting.stored + accounting.evicted);
    prop_assert_eq!(accounting.accepted, model.accepted);
    prop_assert_eq!(accounting.stored, model.stored());
    prop_assert_eq!(accounting.evicted, model.evicted);
    prop_assert_eq!(accounting.stored_traces, model.traces.len() as u64);
    prop_assert_eq!(accounting.evicted_traces, model.evicted_traces);
    prop_assert_eq!(store.len() as u64, model.stored());
    prop_assert!(store.len() <= store.capacity());
    prop_assert_eq!(store.trace_count(), model.traces.len());

    // The age order: what is left is exactly the model's traces, oldest first, so eviction took the oldest.
    let snapshot = store.snapshot();
    let model_ids: Vec<u128> = model.traces.iter().map(|t| t.id).collect();
    prop_assert_eq!(trace_ids(&snapshot), model_ids.clone());
    prop_assert!(snapshot.windows(2).all(|w| w[0].seq() < w[1].seq()));
    let mut visited = Vec::new();
    store.for_each_trace(|trace| visited.push(trace.id().to_u128()));
    prop_assert_eq!(&visited, &model_ids);

    // Whole traces: each holds every span inserted for it since its entry was created, in arrival order.
    for expected in &model.traces {
        let trace = store.trace(&TraceId::from_u128(expected.id));
        prop_assert!(trace.is_some(), "trace {} missing", expected.id);
        let trace = trace.unwrap();
        let expected_ids: Vec<u64> = expected.spans.iter().map(|(id, _, _)| *id).collect();
        prop_assert_eq!(ids(trace.spans()), expected_ids);
        prop_assert_eq!(trace.len(), expected.spans.len());
        prop_assert_eq!(trace.start_ns(), expected.start_ns());
        let end = expected
            .spans
            .iter()
            .map(|(_, _, start)| start + 10)
            .max()
            .unwrap();
        prop_assert_eq!(trace.end_ns(), end);
        let services: BTreeSet<&str> = trace.services().iter().map(|s| &**s).collect();
        prop_assert_eq!(
            services.len(),
            trace.services().len(),
            "services are distinct"
        );
        prop_assert_eq!(services, expected.services());
    }
    for absent in 0u128..6 {
        if !model_ids.contains(&absent) {
            prop_assert!(store.trace(&TraceId::from_u128(absent)).is_none());
        }
    }

    // The service index.
    let services: BTreeSet<&str> = model.traces.iter().flat_map(|t| t.services()).collect();
    let listed = store.services();
    let listed: Vec<&str> = listed.iter().map(|s| &**s).collect();
    prop_assert_eq!(listed, services.iter().copied().collect::<Vec<_>>());
    for service in SERVICES {
        let expected: Vec<u128> = model
            .traces
            .iter()
            .rev()
            .filter(|t| t.services().contains(service))
            .map(|t| t.id)
            .collect();
        let got: Vec<u128> = store
            .trace_ids_for_service(service, usize::MAX)
            .into_iter()
            .map(TraceId::to_u128)
            .collect();
        prop_assert_eq!(&got, &expected);
        let limited: Vec<u128> = store
            .trace_ids_for_service(service, 2)
            .into_iter()
            .map(TraceId::to_u128)
            .collect();
        prop_assert_eq!(&limited[..], &expected[..expected.len().min(2)]);
        prop_assert_eq!(
            trace_ids(&store.traces_for_service(service, usize::MAX)),
            expected
        );
    }

    // The time index: latest start first, ties newest entry first.
    let mut by_time: Vec<(u64, usize, u128)> = model
        .traces
        .iter()
        .enumerate()
        .map(|(age, t)| (t.start_ns(), age, t.id))
        .collect();
    by_time.sort_unstable_by(|a, b| b.cmp(a));
    let latest: Vec<u128> = by_time.iter().map(|(_, _, id)| *id).collect();
    prop_assert_eq!(trace_ids(&store.latest(usize::MAX)), latest.clone());
    prop_assert_eq!(
        trace_ids(&store.latest(3)),
        latest[..latest.len().min(3)].to_vec()
    );
    let (from, to) = window;
    let between: Vec<u128> = by_time
        .iter()
        .filter(|(start, _, _)| (from..to).contains(start))
        .map(|(_, _, id)| *id)
        .collect();
    prop_assert_eq!(
        trace_ids(&store.traces_between(from, to, usize::MAX)),
        between.clone()
    );
    prop_assert_eq!(
        trace_ids(&store.traces_between(from, to, 1)),
        between[..between.len().min(1)].to_vec()
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn the_store_behaves_like_the_model(
        capacity in prop_oneof![0usize..4, 4usize..16, 16usize..64],
        batches in prop::collection::vec(prop::collection::vec(planned(), 0..10), 1..25),
        window in (0u64..110, 0u64..110),
    ) {
        let store = Store::new(capacity);
        let mut model = Model::default();
        let shared: Vec<_> = SERVICES.iter().map(|name| resource(name)).collect();
        let mut next_span_id = 1u64;
        for batch in &batches {
            let numbered: Vec<(u64, &Planned)> = batch
                .iter()
                .map(|planned| {
                    next_span_id += 1;
                    (next_span_id, planned)
                })
                .collect();
            let spans = numbered
                .iter()
                .map(|(id, planned)| {
                    let resource = if planned.fresh_resource {
                        resource(SERVICES[planned.service])
                    } else {
                        shared[planned.service].clone()
                    };
                    span(planned.trace, *id, &resource, planned.start_ns)
                })
                .collect();
            let expected = model.insert(&numbered, capacity);
            prop_assert_eq!(store.insert(spans), expected);
            check(&store, &model, window)?;
        }
    }
}
