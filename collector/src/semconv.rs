//! What a span is, read from OpenTelemetry's semantic conventions (current names first, then the older ones
//! that instrumentations still send): entry span or client call, database or HTTP, error or not, and which
//! endpoint, database or peer it concerns.

use rustc_hash::FxHashMap;

use crate::model::{SpanKind, SpanRead, StatusCode, Str, Value};

fn text<'a>(span: &'a impl SpanRead, keys: &[&str]) -> Option<&'a str> {
    keys.iter()
        .find_map(|key| span.attribute(key).and_then(Value::as_str))
        .filter(|s| !s.is_empty())
}

fn shared<'a>(span: &'a impl SpanRead, keys: &[&str]) -> Option<&'a Str> {
    keys.iter()
        .find_map(|key| span.attribute_str(key).filter(|s| !s.is_empty()))
}

/// `http.response.status_code`, or the older `http.status_code`.
pub fn http_status(span: &impl SpanRead) -> Option<i64> {
    ["http.response.status_code", "http.status_code"]
        .iter()
        .find_map(|key| span.attribute(key).and_then(Value::as_i64))
}

/// `http.request.method`, or the older `http.method`.
pub fn http_method(span: &impl SpanRead) -> Option<&str> {
    text(span, &["http.request.method", "http.method"])
}

/// `db.system.name`, or the older `db.system`: `sqlite`, `postgresql`, …
pub fn db_system(span: &impl SpanRead) -> Option<&Str> {
    shared(span, &["db.system.name", "db.system"])
}

/// `db.query.text`, or the older `db.statement`.
pub fn query_text(span: &impl SpanRead) -> Option<&str> {
    text(span, &["db.query.text", "db.statement"])
}

/// A span that starts a service's work on a request: a server or consumer span, or a root.
pub fn is_entry(span: &impl SpanRead) -> bool {
    matches!(span.kind(), SpanKind::Server | SpanKind::Consumer) || span.parent_span_id().is_none()
}

/// Whether the span failed, by the semantic conventions: its status is error, or it is a server span that
/// answered 5xx. A 4xx is the client's mistake, not the server's error; for clients any status code is left
/// to the instrumentation's status.
pub fn is_error(span: &impl SpanRead) -> bool {
    span.status_code() == StatusCode::Error
        || (span.kind() == SpanKind::Server && http_status(span).is_some_and(|code| code >= 500))
}

/// What a span calls, for the service map.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Peer {
    /// A database, by system (`sqlite`, `postgresql`).
    Database(Str),
    /// A service named by the caller (`peer.service`).
    Service(Str),
    /// A host (and port) the caller reached, which may turn out to be a known service.
    Address(Str),
}

/// Names strings made of two attributes ("GET" and "/products/{slug}") once, so that every span of an
/// endpoint shares one string.
#[derive(Default, Debug)]
pub struct Names {
    endpoints: FxHashMap<Str, FxHashMap<Str, Str>>,
    addresses: FxHashMap<Str, FxHashMap<i64, Str>>,
    databases: FxHashMap<Str, FxHashMap<Str, Str>>,
    size: usize,
}

/// Past this many names the cache starts over, so that odd routes cannot grow it without bound.
const MAX_NAMES: usize = 50_000;

impl Names {
    fn pair<K: std::hash::Hash + Eq + Clone>(
        map: &mut FxHashMap<Str, FxHashMap<K, Str>>,
        size: &mut usize,
        first: &Str,
        second: &K,
        make: impl FnOnce() -> String,
    ) -> Str {
        if let Some(found) = map.get(first).and_then(|inner| inner.get(second)) {
            return found.clone();
        }
        if *size >= MAX_NAMES {
            map.clear();
            *size = 0;
        }
        *size += 1;
        let made = Str::from(make());
        map.entry(first.clone())
            .or_default()
            .insert(second.clone(), made.clone());
        made
    }

    /// The endpoint an entry span serves: `METHOD route` when it has an `http.route`, else Datadog's resource
    /// (`resource.name`), else its name.
    pub fn endpoint(&mut self, span: &impl SpanRead) -> Str {
        if let Some(route) = shared(span, &["http.route"]) {
            let method = shared(span, &["http.request.method", "http.method"]);
            return match method {
                Some(method) => {
                    Self::pair(&mut self.endpoints, &mut self.size, method, route, || {
                        format!("{method} {route}")
                    })
                }
                None => route.clone(),
            };
        }
        shared(span, &["resource.name"])
            .cloned()
            .unwrap_or_else(|| span.name().clone())
    }

    /// What a client span calls: a database, a named peer service, or an address; `None` for spans that
    /// call nothing outside their service.
    pub fn peer(&mut self, span: &impl SpanRead) -> Option<Peer> {
        if let Some(system) = db_system(span) {
            // A database is a node of its own, shared by the services that use it: `discounts-service.db
            // (sqlite)`; on PostgreSQL the database, not its schemas (`db.namespace` is `database|schema`), so
            // two services with a schema each in one database meet at one node, `lab_test (postgresql)`.
            return Some(Peer::Database(
                match shared(span, &["db.namespace", "db.name"]) {
                    Some(namespace) => Self::pair(
                        &mut self.databases,
                        &mut self.size,
                        system,
                        namespace,
                        || {
                            let database = namespace.split('|').next().unwrap_or(namespace);
                            format!("{database} ({system})")
                        },
                    ),
                    None => system.clone(),
                },
            ));
        }
        if !matches!(span.kind(), SpanKind::Client | SpanKind::Producer) {
            return None;
        }
        if let Some(service) = shared(span, &["peer.service"]) {
            return Some(Peer::Service(service.clone()));
        }
        let host = shared(span, &["server.address", "net.peer.name"])?;
        let port = ["server.port", "net.peer.port"]
            .iter()
            .find_map(|key| span.attribute(key).and_then(Value::as_i64));
        Some(Peer::Address(match port {
            Some(port) => Self::pair(&mut self.addresses, &mut self.size, host, &port, || {
                format!("{host}:{port}")
            }),
            None => host.clone(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::model::Span;
    use crate::testing::{self, Build as _};

    fn span(kind: SpanKind, attributes: &[(&str, Value)]) -> Span {
        attributes.iter().fold(
            testing::span(1, 2).parent(1).kind(kind),
            |span, (key, value)| span.attr(key, value.clone()),
        )
    }

    fn s(text: &str) -> Value {
        Value::Str(Str::from(text))
    }

    #[test]
    fn server_errors_are_5xx_or_error_status_and_4xx_is_not_an_error() {
        let cases = [
            (SpanKind::Server, 500, StatusCode::Unset, true),
            (SpanKind::Server, 503, StatusCode::Unset, true),
            (SpanKind::Server, 404, StatusCode::Unset, false),
            (SpanKind::Server, 200, StatusCode::Error, true),
            (SpanKind::Client, 500, StatusCode::Unset, false),
            (SpanKind::Client, 404, StatusCode::Error, true),
        ];
        for (kind, code, status, expected) in cases {
            let mut span = span(kind, &[("http.response.status_code", Value::Int(code))]);
            span.status.code = status;
            assert_eq!(is_error(&span), expected, "{kind:?} {code} {status:?}");
        }
        let old = span(SpanKind::Server, &[("http.status_code", s("502"))]);
        assert!(is_error(&old), "older attribute, as a string");
    }

    #[test]
    fn endpoints_are_method_and_route_else_resource_else_name() {
        let mut names = Names::default();
        let a = span(
            SpanKind::Server,
            &[
                ("http.request.method", s("GET")),
                ("http.route", s("/products/{slug}")),
            ],
        );
        let first = names.endpoint(&a);
        assert_eq!(&*first, "GET /products/{slug}");
        assert!(Arc::ptr_eq(&first, &names.endpoint(&a)), "made once");
        let dd = span(SpanKind::Server, &[("resource.name", s("GET /discount"))]);
        assert_eq!(&*names.endpoint(&dd), "GET /discount");
        assert_eq!(&*names.endpoint(&span(SpanKind::Server, &[])), "op");
    }

    #[test]
    fn peers_are_databases_named_services_or_addresses() {
        let mut names = Names::default();
        let db = span(SpanKind::Client, &[("db.system.name", s("sqlite"))]);
        assert_eq!(names.peer(&db), Some(Peer::Database(Str::from("sqlite"))));
        let old_db = span(SpanKind::Internal, &[("db.system", s("postgresql"))]);
        assert_eq!(
            names.peer(&old_db),
            Some(Peer::Database(Str::from("postgresql")))
        );
        let named_db = span(
            SpanKind::Client,
            &[
                ("db.system.name", s("sqlite")),
                ("db.namespace", s("discounts-service.db")),
            ],
        );
        assert_eq!(
            names.peer(&named_db),
            Some(Peer::Database(Str::from("discounts-service.db (sqlite)"))),
            "each service's own database is a node of its own"
        );
        for schema in ["ads_service", "discounts_service"] {
            let postgres = span(
                SpanKind::Client,
                &[
                    ("db.system.name", s("postgresql")),
                    ("db.namespace", s(&format!("lab_test|{schema}"))),
                ],
            );
            assert_eq!(
                names.peer(&postgres),
                Some(Peer::Database(Str::from("lab_test (postgresql)"))),
                "services with a schema each in one database share its node"
            );
        }
        let named = span(
            SpanKind::Client,
            &[("peer.service", s("ads")), ("server.address", s("h"))],
        );
        assert_eq!(names.peer(&named), Some(Peer::Service(Str::from("ads"))));
        let addressed = span(
            SpanKind::Client,
            &[
                ("server.address", s("127.0.0.1")),
                ("server.port", Value::Int(5002)),
            ],
        );
        assert_eq!(
            names.peer(&addressed),
            Some(Peer::Address(Str::from("127.0.0.1:5002")))
        );
        assert_eq!(names.peer(&span(SpanKind::Internal, &[])), None);
        assert_eq!(names.peer(&span(SpanKind::Client, &[])), None, "no address");
    }
}
