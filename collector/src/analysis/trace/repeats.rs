//! N+1 detection: runs of sibling calls under one parent that repeat statements ([`find_repeats`]).

use std::cmp::Reverse;
use std::sync::Arc;

use rustc_hash::{FxHashMap, FxHashSet};

use super::call::{call_site, classify, db_system};
use super::{Config, Index, Repeat, RepeatKind, RepeatedStatement, entry_index};
use crate::model::{Span, SpanId, Str, Value, attribute};

fn service(span: &Span) -> Str {
    match attribute(&span.resource.attributes, "service.name") {
        Some(Value::Str(name)) => name.clone(),
        _ => Arc::from(span.service_name()),
    }
}

/// N+1 findings: for each parent, its children sorted by start (ties: arrival order) are cut into runs of
/// consecutive database spans or consecutive HTTP client spans (any other sibling ends a run); one [`Repeat`] per
/// run whose statements repeated `min_repeats` times or more take `min_total_ns` together. Siblings sharing a
/// span id count once. Findings come most time first (ties: in order of their parent's first child's arrival).
pub fn find_repeats(spans: &[Span], config: &Config) -> Vec<Repeat> {
    let index = Index::new(spans);
    let mut found = Vec::new();
    let mut seen = FxHashSet::default();
    let mut run: Vec<(usize, String)> = Vec::new();
    for &parent in &index.parents {
        let mut siblings = index.children_of(parent).to_vec();
        seen.clear();
        siblings.retain(|&i| seen.insert(spans[i].span_id));
        siblings.sort_by_key(|&i| spans[i].start_ns);
        let mut run_kind = None;
        for &i in &siblings {
            let class = classify(&spans[i]);
            let kind = class.as_ref().map(|(kind, _)| *kind);
            if kind != run_kind {
                if let Some(kind) = run_kind {
                    found.extend(report_run(&index, parent, kind, &mut run, config));
                }
                run_kind = kind;
            }
            if let Some((_, statement)) = class {
                run.push((i, statement));
            }
        }
        if let Some(kind) = run_kind {
            found.extend(report_run(&index, parent, kind, &mut run, config));
        }
    }
    found.sort_by_key(|repeat| Reverse(repeat.total_ns));
    found
}

/// The finding of one run (emptied), if it repeats statements `min_repeats` times taking `min_total_ns` together.
fn report_run(
    index: &Index<'_>,
    parent: SpanId,
    kind: RepeatKind,
    run: &mut Vec<(usize, String)>,
    config: &Config,
) -> Option<Repeat> {
    let spans = index.spans;
    let mut position: FxHashMap<String, usize> = FxHashMap::default();
    // Each statement with its first span.
    let mut statements: Vec<(usize, RepeatedStatement)> = Vec::new();
    for (i, statement) in run.drain(..) {
        let span = &spans[i];
        let at = match position.get(&statement) {
            Some(&at) => at,
            None => {
                position.insert(statement.clone(), statements.len());
                statements.push((
                    i,
                    RepeatedStatement {
                        statement,
                        repeats: 0,
                        total_ns: 0,
                        span_ids: Vec::new(),
                    },
                ));
                statements.len() - 1
            }
        };
        let entry = &mut statements[at].1;
        entry.repeats += 1;
        entry.total_ns = entry.total_ns.saturating_add(span.duration_ns());
        entry.span_ids.push(span.span_id);
    }
    // The first rule that holds: its statements are those repeated often enough for it.
    let (mut statements, total_ns) = config.rules().find_map(|(repeats, total)| {
        let kept: Vec<_> = statements
            .iter()
            .filter(|(_, s)| s.repeats >= repeats)
            .cloned()
            .collect();
        let total_ns = kept
            .iter()
            .fold(0u64, |sum, (_, s)| sum.saturating_add(s.total_ns));
        (!kept.is_empty() && total_ns >= total).then_some((kept, total_ns))
    })?;
    statements.sort_by_key(|(_, s)| (Reverse(s.repeats), Reverse(s.total_ns)));
    let &(first, _) = statements.first()?;
    let span = &spans[first];
    Some(Repeat {
        kind,
        service: service(span),
        parent_span_id: parent,
        entry_span_id: entry_index(spans, &index.by_id, span).map(|i| spans[i].span_id),
        db_system: match kind {
            RepeatKind::Database => db_system(span).cloned(),
            RepeatKind::Http => None,
        },
        total_ns,
        statements: statements.into_iter().map(|(_, s)| s).collect(),
        location: call_site(span),
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_spans::{DISCOUNT_TYPE, INFLUENCER, LIST, MS, US, get, query, span};
    use super::*;
    use crate::model::SpanKind;
    use crate::testing::Build as _;

    /// Back-to-back queries under `parent`, ids from `first_id`, starting at 1 ms.
    fn queries(first_id: u64, parent: u64, duration: u64, sqls: &[String]) -> Vec<Span> {
        (0..)
            .zip(sqls)
            .map(|(n, sql)| query(first_id + n, parent, MS + n * duration, duration, sql))
            .collect()
    }

    fn root() -> Span {
        span(1, None, 0, 10_000 * MS).kind(SpanKind::Server)
    }

    /// The discounts handler: the list query, then a lazy-loading loop over 103 discount types and 101
    /// influencers, interleaved; 1 ms a query.
    fn workshop(literal_ids: bool) -> Vec<Span> {
        let mut sqls = vec![LIST.to_string()];
        for n in 0..103 {
            sqls.push(if literal_ids {
                format!("SELECT id, name, discount_query, influencer_id FROM discount_type WHERE id = {n}")
            } else {
                "SELECT id, name, discount_query, influencer_id FROM discount_type WHERE id = $1".into()
            });
            if n < 101 {
                sqls.push(if literal_ids {
                    format!("SELECT id, name FROM influencer WHERE id = 'inf-{n}'")
                } else {
                    "SELECT id, name FROM influencer WHERE id = $1".into()
                });
            }
        }
        let mut spans = vec![root()];
        spans.extend(queries(10, 1, MS, &sqls));
        spans
    }

    fn repeated(sql: &str, times: usize) -> Vec<String> {
        vec![sql.to_string(); times]
    }

    type Expected = Vec<(RepeatKind, Vec<(&'static str, usize)>)>;

    fn summary(repeats: &[Repeat]) -> Vec<(RepeatKind, Vec<(String, usize)>)> {
        repeats
            .iter()
            .map(|r| {
                let statements = r
                    .statements
                    .iter()
                    .map(|s| (s.statement.clone(), s.repeats));
                (r.kind, statements.collect())
            })
            .collect()
    }

    #[test]
    fn n_plus_one_cases() {
        // The cases are written against thresholds of their own, not the defaults, which may move.
        let default = Config {
            min_repeats: 5,
            min_total_ns: 50 * MS,
            many: None,
        };
        let mut cases: Vec<(&str, Vec<Span>, Config, Expected)> = vec![
            (
                "workshop loop",
                workshop(false),
                default,
                vec![(
                    RepeatKind::Database,
                    vec![(DISCOUNT_TYPE, 103), (INFLUENCER, 101)],
                )],
            ),
            (
                "workshop loop, literal ids",
                workshop(true),
                default,
                vec![(
                    RepeatKind::Database,
                    vec![(DISCOUNT_TYPE, 103), (INFLUENCER, 101)],
                )],
            ),
            (
                "only the statement repeated often enough",
                workshop(false),
                Config {
                    min_repeats: 102,
                    ..default
                },
                vec![(RepeatKind::Database, vec![(DISCOUNT_TYPE, 103)])],
            ),
            (
                "the loop's time counts, not one statement's (103 ms + 101 ms)",
                workshop(false),
                Config {
                    min_total_ns: 204 * MS,
                    ..default
                },
                vec![(
                    RepeatKind::Database,
                    vec![(DISCOUNT_TYPE, 103), (INFLUENCER, 101)],
                )],
            ),
            (
                "total time threshold",
                workshop(false),
                Config {
                    min_total_ns: 205 * MS,
                    ..default
                },
                vec![],
            ),
            (
                "two statements of a loop, each under the time threshold, together over it",
                queries(
                    10,
                    1,
                    6 * MS,
                    &[INFLUENCER, DISCOUNT_TYPE]
                        .repeat(5)
                        .into_iter()
                        .map(str::to_owned)
                        .collect::<Vec<_>>(),
                ),
                default,
                vec![(
                    RepeatKind::Database,
                    vec![(INFLUENCER, 5), (DISCOUNT_TYPE, 5)],
                )],
            ),
            (
                "the time of statements repeated too few times does not count",
                queries(
                    10,
                    1,
                    9 * MS,
                    &[repeated(INFLUENCER, 5), repeated(DISCOUNT_TYPE, 4)].concat(),
                ),
                default,
                vec![],
            ),
            (
                "4 repeats",
                queries(10, 1, 20 * MS, &repeated(INFLUENCER, 4)),
                default,
                vec![],
            ),
            (
                "4 repeats with min_repeats 4",
                queries(10, 1, 20 * MS, &repeated(INFLUENCER, 4)),
                Config {
                    min_repeats: 4,
                    ..default
                },
                vec![(RepeatKind::Database, vec![(INFLUENCER, 4)])],
            ),
            (
                "10 repeats of 1 µs",
                queries(10, 1, US, &repeated(INFLUENCER, 10)),
                default,
                vec![],
            ),
            (
                "10 repeats of 1 µs, no time threshold",
                queries(10, 1, US, &repeated(INFLUENCER, 10)),
                Config {
                    min_total_ns: 0,
                    ..default
                },
                vec![(RepeatKind::Database, vec![(INFLUENCER, 10)])],
            ),
            (
                "exactly at both thresholds",
                queries(10, 1, 10 * MS, &repeated(INFLUENCER, 5)),
                default,
                vec![(RepeatKind::Database, vec![(INFLUENCER, 5)])],
            ),
            (
                "different queries",
                queries(
                    10,
                    1,
                    20 * MS,
                    &["alpha", "beta", "gamma", "delta", "epsilon", "zeta"]
                        .map(|table| format!("SELECT id FROM {table} WHERE id = $1")),
                ),
                default,
                vec![],
            ),
            (
                "HTTP client loop",
                (17..27)
                    .map(|n| get(n, 1, n * 20 * MS, 10 * MS, &format!("/products/{n}")))
                    .collect(),
                default,
                vec![(
                    RepeatKind::Http,
                    vec![("GET catalog:8080/products/{id}", 10)],
                )],
            ),
        ];
        // A template render after every 3 queries: runs of 3.
        let mut interrupted = Vec::new();
        for n in 0..30 {
            let start = n * 20 * MS;
            interrupted.push(query(100 + n, 1, start, 10 * MS, INFLUENCER));
            if n % 3 == 2 {
                interrupted.push(span(200 + n, Some(1), start + 10 * MS, start + 11 * MS));
            }
        }
        cases.push((
            "non-DB sibling every 3 queries",
            interrupted,
            default,
            vec![],
        ));
        // 3 and 3 under two parents.
        let mut split = vec![
            span(2, Some(1), 0, 100 * MS),
            span(3, Some(1), 100 * MS, 200 * MS),
        ];
        split.extend(queries(10, 2, 20 * MS, &repeated(INFLUENCER, 3)));
        split.extend(queries(20, 3, 20 * MS, &repeated(INFLUENCER, 3)));
        cases.push(("3 and 3 under two parents", split.clone(), default, vec![]));
        cases.push((
            "3 and 3 under two parents, min_repeats 3",
            split,
            Config {
                min_repeats: 3,
                ..default
            },
            vec![
                (RepeatKind::Database, vec![(INFLUENCER, 3)]),
                (RepeatKind::Database, vec![(INFLUENCER, 3)]),
            ],
        ));
        // Database then HTTP siblings: two runs, two findings; the HTTP one takes more time.
        let mut mixed = queries(10, 1, 10 * MS, &repeated(INFLUENCER, 6));
        mixed.extend((0..6).map(|n| get(30 + n, 1, (100 + 20 * n) * MS, 20 * MS, "/ads/0b7f3a9c")));
        cases.push((
            "a database run then an HTTP run",
            mixed,
            default,
            vec![
                (RepeatKind::Http, vec![("GET catalog:8080/ads/{id}", 6)]),
                (RepeatKind::Database, vec![(INFLUENCER, 6)]),
            ],
        ));
        // The same loop reported the same whatever the arrival order.
        let mut shuffled = workshop(false);
        shuffled.reverse();
        shuffled.swap(3, 150);
        cases.push((
            "workshop loop in reverse arrival order",
            shuffled,
            default,
            vec![(
                RepeatKind::Database,
                vec![(DISCOUNT_TYPE, 103), (INFLUENCER, 101)],
            )],
        ));

        for (name, spans, config, expected) in cases {
            let expected: Vec<(RepeatKind, Vec<(String, usize)>)> = expected
                .into_iter()
                .map(|(kind, s)| {
                    (
                        kind,
                        s.into_iter().map(|(q, n)| (q.to_string(), n)).collect(),
                    )
                })
                .collect();
            assert_eq!(summary(&find_repeats(&spans, &config)), expected, "{name}");
        }
    }

    /// The default rules, case by case: real clients' loops over the network and the shop's over SQLite are
    /// found, and their near misses (and a page's handful of fast lookups) are not.
    #[test]
    fn the_default_rules_find_slow_loops_and_fast_local_ones_and_not_their_near_misses() {
        let sqlite_loop = |duration| {
            let mut sqls = Vec::new();
            for _ in 0..101 {
                sqls.extend([DISCOUNT_TYPE.to_owned(), INFLUENCER.to_owned()]);
            }
            sqls.extend(repeated(DISCOUNT_TYPE, 2));
            queries(10, 1, duration, &sqls)
        };
        let cases: Vec<(&str, Vec<Span>, Option<usize>)> = vec![
            (
                "Python OpenTelemetry: 6 lookups of 12 ms (72 ms)",
                queries(10, 1, 12 * MS, &repeated(INFLUENCER, 6)),
                Some(6),
            ),
            (
                "5 lookups of 10 ms: exactly the rule",
                queries(10, 1, 10 * MS, &repeated(INFLUENCER, 5)),
                Some(5),
            ),
            (
                "6 lookups of 8 ms (48 ms): too little time",
                queries(10, 1, 8 * MS, &repeated(INFLUENCER, 6)),
                None,
            ),
            (
                "4 lookups of 30 ms: too few",
                queries(10, 1, 30 * MS, &repeated(INFLUENCER, 4)),
                None,
            ),
            (
                "the shop over SQLite: 103 + 101 statements of 20 µs (4 ms)",
                sqlite_loop(20 * US),
                Some(103),
            ),
            (
                "the shop's loop on a very fast machine: 204 statements of 4 µs (0.8 ms)",
                sqlite_loop(4 * US),
                None,
            ),
            (
                "10 local lookups of 100 µs (1 ms): exactly the second rule",
                queries(10, 1, 100 * US, &repeated(INFLUENCER, 10)),
                Some(10),
            ),
            (
                "9 local lookups of 1 ms: a page's handful",
                queries(10, 1, MS, &repeated(INFLUENCER, 9)),
                None,
            ),
            (
                "10 local lookups of 50 µs (0.5 ms)",
                queries(10, 1, 50 * US, &repeated(INFLUENCER, 10)),
                None,
            ),
        ];
        for (name, spans, expected) in cases {
            let found = find_repeats(&spans, &Config::default());
            let most = found.first().map(|r| r.statements[0].repeats);
            assert_eq!(most, expected, "{name}");
        }
    }

    #[test]
    fn workshop_finding_in_full() {
        let found = find_repeats(&workshop(false), &Config::default());
        assert_eq!(found.len(), 1);
        let repeat = &found[0];
        assert_eq!(&*repeat.service, "discounts");
        assert_eq!(repeat.parent_span_id, SpanId::from_u64(1));
        assert_eq!(repeat.entry_span_id, Some(SpanId::from_u64(1)));
        assert_eq!(repeat.db_system.as_deref(), Some("postgresql"));
        assert_eq!(repeat.total_ns, 204 * MS);
        let discount_type = &repeat.statements[0];
        assert_eq!(discount_type.total_ns, 103 * MS);
        assert_eq!(discount_type.span_ids.len(), 103);
        // After the list query (id 10), the loop alternates discount type, influencer.
        assert_eq!(
            discount_type.span_ids[..2],
            [SpanId::from_u64(11), SpanId::from_u64(13)]
        );
        assert_eq!(repeat.statements[1].span_ids[0], SpanId::from_u64(12));
    }

    #[test]
    fn older_attributes_entry_span_and_duplicates() {
        // storefront server 1 → client 2 → discounts server 3 → internal 4 → loop of `db.statement` spans, each
        // span sent twice.
        let mut spans = vec![
            span(1, None, 0, 500 * MS)
                .service("storefront")
                .kind(SpanKind::Server),
            span(2, Some(1), MS, 400 * MS)
                .service("storefront")
                .kind(SpanKind::Client),
            span(3, Some(2), 2 * MS, 390 * MS).kind(SpanKind::Server),
            span(4, Some(3), 3 * MS, 380 * MS),
        ];
        for n in 0..6 {
            let start = 10 * MS + n * 20 * MS;
            let old = span(10 + n, Some(4), start, start + 15 * MS)
                .kind(SpanKind::Client)
                .text("db.system", "sqlite")
                .text(
                    "db.statement",
                    &format!("SELECT id, name FROM influencer WHERE id = {n}"),
                );
            spans.push(old.clone());
            spans.push(old);
        }
        let five = Config {
            min_repeats: 5,
            ..Config::default()
        };
        let found = find_repeats(&spans, &five);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].statements[0].statement, INFLUENCER);
        assert_eq!(
            found[0].statements[0].repeats, 6,
            "a span sent twice counts once"
        );
        assert_eq!(found[0].db_system.as_deref(), Some("sqlite"));
        assert_eq!(found[0].parent_span_id, SpanId::from_u64(4));
        assert_eq!(found[0].entry_span_id, Some(SpanId::from_u64(3)));

        // A loop whose parent is missing has no entry span.
        let orphans = queries(10, 99, 20 * MS, &repeated(INFLUENCER, 5));
        let found = find_repeats(&orphans, &five);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].parent_span_id, SpanId::from_u64(99));
        assert_eq!(found[0].entry_span_id, None);
    }
}
