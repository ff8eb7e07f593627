//! Spans shaped like the instrumented workshop shop's, generated: whole traces across the storefront, the ads
//! and discounts services and their databases, broken or fixed, for tests and benchmarks of the analyses, the
//! query API and the dashboard, and as the dashboard's fixture store. Only with the `fixtures` feature.

use std::sync::Arc;

use crate::model::{
    Event, KeyValue, Resource, Scope, Span, SpanId, SpanKind, Status, StatusCode, Str, TraceId,
    Value,
};

/// The state of the generated workshop shop (see [`generate`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workshop {
    /// Every fault on: the banner call in the layout fails some pages, ads and discounts sleep 2.5 s,
    /// discounts loads its relations one query at a time.
    Broken,
    /// Every fault fixed.
    Fixed,
    /// The ads and discounts services fixed (their version 1.1), the storefront still broken (its 1.0).
    SlowServicesFixed,
}

/// Where the misplaced banner call is, in the generated errors (as in `services/storefront`).
pub const BANNER_FILE: &str = "services/storefront/src/layout.rs";
pub const BANNER_LINE: i64 = 76;

/// Builds one generated trace's spans.
struct TraceBuilder {
    trace_id: TraceId,
    next_id: u64,
    scope: Arc<Scope>,
    spans: Vec<Span>,
}

fn text(key: &str, value: &str) -> KeyValue {
    use {Str, Value};
    KeyValue {
        key: Str::from(key),
        value: Value::Str(Str::from(value)),
    }
}

fn int(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: Str::from(key),
        value: Value::Int(value),
    }
}

const MS: u64 = 1_000_000;

impl TraceBuilder {
    /// A span, not yet added: its end is `start + duration` and may be moved before [`TraceBuilder::push`].
    #[allow(clippy::too_many_arguments)]
    fn span(
        &mut self,
        resource: &Arc<Resource>,
        parent: Option<SpanId>,
        name: &str,
        kind: SpanKind,
        start: u64,
        duration: u64,
        attributes: Vec<KeyValue>,
    ) -> Span {
        self.next_id += 1;
        Span {
            trace_id: self.trace_id,
            span_id: SpanId::from_u64(self.next_id),
            parent_span_id: parent,
            name: Str::from(name),
            kind,
            start_ns: start,
            end_ns: start + duration,
            status: Status::default(),
            attributes,
            events: Vec::new(),
            links: Vec::new(),
            resource: resource.clone(),
            scope: self.scope.clone(),
            dropped: Default::default(),
        }
    }

    fn push(&mut self, span: Span) {
        self.spans.push(span);
    }

    /// A SQLite query span under `parent`, on the service's own database file (as the shop names it).
    fn query(
        &mut self,
        resource: &Arc<Resource>,
        parent: SpanId,
        (query, table): (&str, &str),
        start: u64,
        duration: u64,
    ) {
        let span = self.span(
            resource,
            Some(parent),
            &format!("SELECT {table}"),
            SpanKind::Client,
            start,
            duration,
            vec![
                text("db.system.name", "sqlite"),
                text("db.namespace", &format!("{}.db", resource.service_name())),
                text("db.query.text", query),
                text("db.operation.name", "SELECT"),
                text("db.collection.name", table),
            ],
        );
        self.push(span);
    }

    /// An HTTP call from `caller` to `callee` on 127.0.0.1:`port`, whose server side runs `work` (which adds
    /// the callee's own child spans and returns when they end). Returns when the call ends.
    #[allow(clippy::too_many_arguments)]
    fn call(
        &mut self,
        caller: &Arc<Resource>,
        parent: SpanId,
        callee: &Arc<Resource>,
        port: i64,
        route: &str,
        start: u64,
        work: impl FnOnce(&mut TraceBuilder, SpanId, u64) -> u64,
    ) -> u64 {
        use SpanKind;
        let mut client = self.span(
            caller,
            Some(parent),
            "GET",
            SpanKind::Client,
            start,
            0,
            vec![
                text("http.request.method", "GET"),
                text("server.address", "127.0.0.1"),
                int("server.port", port),
                text("url.full", &format!("http://127.0.0.1:{port}{route}")),
                int("http.response.status_code", 200),
            ],
        );
        let server_start = start + MS / 4;
        let mut server = self.span(
            callee,
            Some(client.span_id),
            &format!("GET {route}"),
            SpanKind::Server,
            server_start,
            0,
            vec![
                text("http.request.method", "GET"),
                text("http.route", route),
                text("url.path", route),
                int("http.response.status_code", 200),
            ],
        );
        let done = work(self, server.span_id, server_start + MS / 4);
        server.end_ns = done + MS / 4;
        client.end_ns = server.end_ns + MS / 4;
        let end = client.end_ns;
        self.push(server);
        self.push(client);
        end
    }
}

/// Model spans shaped like the instrumented workshop shop's, for tests and benchmarks of the analyses, the
/// query API and the dashboard: `requests` storefront requests cycling through the home page, a product
/// page, a taxon page and the cart, each a whole trace across store-frontend, advertisements-service and
/// discounts-service and their SQLite databases, starting at `start_ns` one second apart. In the broken
/// state the taxon and cart pages fail with the layout's `MissingAdError` (at [`BANNER_FILE`] line
/// [`BANNER_LINE`]), ads and discounts sleep 2.5 s and discounts issues 1 + 103 + 101 statements.
pub fn generate(state: Workshop, requests: usize, start_ns: u64) -> Vec<Span> {
    use std::sync::Arc;

    use {Event, Resource, Scope, SpanKind, Status, StatusCode, Str, TraceId};

    // Whether the storefront is broken, and whether the services it calls are.
    let (front_broken, broken) = match state {
        Workshop::Broken => (true, true),
        Workshop::Fixed => (false, false),
        Workshop::SlowServicesFixed => (true, false),
    };
    let version = |broken: bool| if broken { "1.0" } else { "1.1" };
    let resource = |service: &str, broken: bool| {
        Arc::new(Resource {
            attributes: vec![
                text("service.name", service),
                text("service.version", version(broken)),
                text("deployment.environment.name", "lab"),
            ],
        })
    };
    let (front, ads, discounts) = (
        resource("store-frontend", front_broken),
        resource("advertisements-service", broken),
        resource("discounts-service", broken),
    );
    let sleep = if broken { 2_500 * MS } else { 0 };
    let scope = Arc::new(Scope {
        name: Str::from("lab"),
        version: None,
    });
    let mut out = Vec::new();
    for request in 0..requests {
        let mut trace = TraceBuilder {
            trace_id: TraceId::from_u128(0x5eed << 112 | request as u128),
            next_id: request as u64 * 1000,
            scope: scope.clone(),
            spans: Vec::new(),
        };
        let t0 = start_ns + request as u64 * 1_000_000_000;
        let (route, path) = match request % 4 {
            0 => ("/", "/"),
            1 => ("/products/{slug}", "/products/cool-bits"),
            2 => ("/t/{*permalink}", "/t/categories/bags"),
            _ => ("/cart", "/cart"),
        };
        let fails = front_broken && request % 4 >= 2;
        let mut root = trace.span(
            &front,
            None,
            &format!("GET {route}"),
            SpanKind::Server,
            t0,
            0,
            vec![
                text("http.request.method", "GET"),
                text("http.route", route),
                text("url.path", path),
                int("http.response.status_code", if fails { 500 } else { 200 }),
            ],
        );
        let root_id = root.span_id;
        let mut cursor = t0 + MS / 2;
        let taxons = ("SELECT id, name, permalink FROM taxon ORDER BY id", "taxon");
        trace.query(&front, root_id, taxons, cursor, MS);
        cursor += MS;
        if request % 4 == 0 {
            // The home page shows a coupon from discounts.
            cursor = trace.call(&front, root_id, &discounts, 5001, "/discount", cursor, |t, server, mut at| {
                if broken {
                    let list = ("SELECT id, name, code, value, discount_type_id FROM discount ORDER BY id", "discount");
                    let kind = ("SELECT id, name, discount_query, influencer_id FROM discount_type WHERE id = $1", "discount_type");
                    let influencer = ("SELECT id, name FROM influencer WHERE id = $1", "influencer");
                    t.query(&discounts, server, list, at, MS);
                    at += MS;
                    for i in 0..103 {
                        t.query(&discounts, server, kind, at, MS / 2);
                        at += MS / 2;
                        if i < 101 {
                            t.query(&discounts, server, influencer, at, MS / 2);
                            at += MS / 2;
                        }
                    }
                } else {
                    let joined = ("SELECT d.id, d.name, d.code, d.value, t.id, t.name, i.id, i.name FROM discount d JOIN discount_type t ON t.id = d.discount_type_id LEFT JOIN influencer i ON i.id = t.influencer_id ORDER BY d.id", "discount");
                    t.query(&discounts, server, joined, at, 3 * MS);
                    at += 3 * MS;
                }
                at + sleep
            });
        }
        if request % 4 <= 1 {
            // Home and product pages show an ad.
            cursor = trace.call(
                &front,
                root_id,
                &ads,
                5002,
                "/ads",
                cursor,
                |t, server, at| {
                    let ads_query = (
                        "SELECT id, name, url, weight, path FROM advertisement",
                        "advertisement",
                    );
                    t.query(&ads, server, ads_query, at, MS);
                    at + MS + sleep
                },
            );
        }
        let mut render = trace.span(
            &front,
            Some(root_id),
            "render layout",
            SpanKind::Internal,
            cursor,
            2 * MS,
            vec![text(
                "code.function.name",
                "storefront::layout::Layout::new",
            )],
        );
        if fails {
            let message = "no ad was loaded for this page";
            render.status = Status {
                code: StatusCode::Error,
                message: Some(Str::from(message)),
            };
            render.attributes.push(text("code.file.path", BANNER_FILE));
            render.attributes.push(int("code.line.number", BANNER_LINE));
            let stack = format!(
                "   0: storefront::layout::banner\n             at ./{BANNER_FILE}:{BANNER_LINE}:13\n   \
                 1: storefront::pages::taxon\n             at ./services/storefront/src/pages.rs:120:5\n"
            );
            render.events.push(Event {
                name: Str::from("exception"),
                time_ns: cursor + MS,
                attributes: vec![
                    text("exception.type", "MissingAdError"),
                    text("exception.message", message),
                    text("exception.stacktrace", &stack),
                ],
            });
            root.status = Status {
                code: StatusCode::Error,
                message: None,
            };
        }
        cursor += 2 * MS;
        trace.push(render);
        root.end_ns = cursor + MS / 2;
        trace.push(root);
        out.extend(trace.spans);
    }
    out
}

/// The log records the shop writes while serving `spans` (from [`generate`]), as its services write them:
/// an ERROR in each span that raised an exception (its message, where it was raised), and a WARN in each
/// call to another service that took a second or more. Oldest first.
pub fn log_records(spans: &[Span]) -> Vec<crate::logs::LogRecord> {
    use crate::logs::{LogRecord, TraceRef};
    use crate::model::attribute_str;

    let record =
        |span: &Span, time_ns, severity_number, severity, body: String, attributes| LogRecord {
            time_ns,
            severity_number,
            severity_text: Str::from(severity),
            body,
            attributes,
            resource: span.resource.clone(),
            trace: TraceRef::Full(span.trace_id),
            span_id: Some(span.span_id),
        };
    let mut out = Vec::new();
    for span in spans {
        for event in span.events.iter().filter(|e| &*e.name == "exception") {
            let field = |key| attribute_str(&event.attributes, key).map_or("", |s| &**s);
            let mut attributes = vec![text("error.kind", field("exception.type"))];
            attributes.extend(
                span.attributes
                    .iter()
                    .filter(|kv| kv.key.starts_with("code."))
                    .cloned(),
            );
            out.push(record(
                span,
                event.time_ns,
                17,
                "ERROR",
                field("exception.message").to_owned(),
                attributes,
            ));
        }
        let took_ms = (span.end_ns.saturating_sub(span.start_ns)) / MS;
        if span.kind == SpanKind::Client && took_ms >= 1_000 {
            let url = attribute_str(&span.attributes, "url.full").map_or("", |s| &**s);
            out.push(record(
                span,
                span.end_ns,
                13,
                "WARN",
                format!("slow answer from {url}: {took_ms} ms (over 1000 ms)"),
                vec![int("duration_ms", took_ms as i64)],
            ));
        }
    }
    out.sort_by_key(|r| r.time_ns);
    out
}

/// One shopper's session in the broken shop as Datadog's browser SDK reports it, newline-delimited: the home
/// page (5.1 s), a product page (2.6 s, where adding to the cart throws in the page script), the cart
/// answering 500. Its documents and its call name the traces [`generate`] makes for requests 4, 1 and 3
/// (and 5 for the call), so they open in a store that holds those. `start_ns` is when the session starts.
pub fn browser_session(start_ns: u64) -> String {
    let ms = start_ns / 1_000_000;
    let base = "http://127.0.0.1:3000";
    let common = |kind: &str, view: &str, url: &str, at: u64| {
        serde_json::json!({
            "type": kind, "date": ms + at, "service": "store-frontend", "version": "1.0",
            "source": "browser", "session": { "id": "5e551011-0000-4000-8000-000000000001" },
            "view": { "id": view, "url": format!("{base}{url}") },
        })
    };
    let with = |mut event: serde_json::Value, extra: serde_json::Value| {
        if let (Some(event), serde_json::Value::Object(extra)) = (event.as_object_mut(), extra) {
            for (key, value) in extra {
                match (event.get_mut(&key), value) {
                    (Some(serde_json::Value::Object(into)), serde_json::Value::Object(from)) => {
                        into.extend(from)
                    }
                    (_, value) => {
                        event.insert(key, value);
                    }
                }
            }
        }
        event
    };
    let view = |id: &str, url: &str, at: u64, load_ms: u64, lcp_ms: u64| {
        with(
            common("view", id, url, at),
            serde_json::json!({
                "view": { "loading_time": load_ms * MS, "largest_contentful_paint": lcp_ms * MS,
                          "cumulative_layout_shift": 0.01, "time_spent": 4_000 * MS },
                "_dd": { "document_version": 3 },
            }),
        )
    };
    let document = |id: &str, url: &str, at: u64, status: u16, trace: u64| {
        with(
            common("resource", id, url, at),
            serde_json::json!({
                "resource": { "type": "document", "url": format!("{base}{url}"), "status_code": status,
                              "duration": 100 * MS },
                "_dd": { "trace_id": trace.to_string() },
            }),
        )
    };
    let product = "/products/cool-bits";
    let events = [
        view("v-home", "/", 0, 5_120, 5_090),
        document("v-home", "/", 1, 200, 4),
        view("v-product", product, 8_000, 2_610, 2_580),
        document("v-product", product, 8_001, 200, 1),
        with(
            common("action", "v-product", product, 11_000),
            serde_json::json!({ "action": { "type": "click", "target": { "name": "Add to cart" },
                                            "loading_time": 60 * MS } }),
        ),
        with(
            common("resource", "v-product", product, 11_010),
            serde_json::json!({
                "resource": { "type": "xhr", "method": "POST", "status_code": 200, "duration": 35 * MS,
                              "url": format!("{base}/api/v2/storefront/cart/add_item") },
                "_dd": { "trace_id": "5" },
            }),
        ),
        with(
            common("error", "v-product", product, 11_050),
            serde_json::json!({ "error": {
                "source": "source", "type": "TypeError",
                "message": "Cannot set properties of null (setting 'textContent')",
                "stack": format!("TypeError: Cannot set properties of null (setting 'textContent')\n  at updateCartBadge @ {base}/assets/storefront.js:21:57\n  at xhr.onload @ {base}/assets/storefront.js:49:9"),
            } }),
        ),
        view("v-cart", "/cart", 15_000, 180, 170),
        document("v-cart", "/cart", 15_001, 500, 3),
    ];
    let lines: Vec<String> = events.iter().map(|e| e.to_string()).collect();
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_banner_line_is_the_layouts_banner_call() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(BANNER_FILE);
        let text = std::fs::read_to_string(&path).unwrap();
        let line = text
            .lines()
            .nth(usize::try_from(BANNER_LINE - 1).unwrap())
            .unwrap_or_default();
        assert!(
            line.contains("banner("),
            "{BANNER_FILE}:{BANNER_LINE} is {line:?}"
        );
    }
}
