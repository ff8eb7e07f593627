//! What a call is, as N+1 detection reads it: its kind and statement ([`classify`]), and the line it was made at
//! ([`call_site`]).

use std::fmt::Write as _;

use super::RepeatKind;
use crate::analysis::normalize::normalize_query;
use crate::model::{Span, SpanKind, Str, Value};

/// The line a span was made at, as `(file, line)`: its `code.file.path` (or the older `code.filepath`) and
/// `code.line.number` (or `code.lineno`; 0 when neither is given). For a database call, the line that ran the
/// statement: an N+1's loop.
pub fn call_site(span: &Span) -> Option<(String, u32)> {
    let text = |key: &str| span.attribute(key).and_then(Value::as_str);
    let file = text("code.file.path").or_else(|| text("code.filepath"))?;
    let line = ["code.line.number", "code.lineno"]
        .iter()
        .find_map(|key| span.attribute(key).and_then(Value::as_i64))
        .and_then(|line| u32::try_from(line).ok())
        .unwrap_or(0);
    Some((file.to_owned(), line))
}

fn str_attr<'s>(span: &'s Span, key: &str) -> Option<&'s Str> {
    match span.attribute(key) {
        Some(Value::Str(s)) => Some(s),
        _ => None,
    }
}

pub(super) fn db_system(span: &Span) -> Option<&Str> {
    str_attr(span, "db.system.name").or_else(|| str_attr(span, "db.system"))
}

/// The kind and statement of a span N+1 detection looks at; `None` for any other span.
pub(super) fn classify(span: &Span) -> Option<(RepeatKind, String)> {
    if db_system(span).is_some()
        && let Some(text) =
            str_attr(span, "db.query.text").or_else(|| str_attr(span, "db.statement"))
    {
        return Some((RepeatKind::Database, normalize_query(text)));
    }
    if span.kind == SpanKind::Client
        && let Some(method) =
            str_attr(span, "http.request.method").or_else(|| str_attr(span, "http.method"))
    {
        let statement = format!("{} {}", method.to_ascii_uppercase(), http_target(span));
        return Some((RepeatKind::Http, statement));
    }
    None
}

/// `url.template`, else `server.address[:server.port]` and the path (`url.path`, else `url.full`'s) with its
/// id-like segments replaced by `{id}`. Without `server.address`, the host of `url.full` stands in.
fn http_target(span: &Span) -> String {
    if let Some(template) = str_attr(span, "url.template") {
        return template.to_string();
    }
    let (full_host, full_path) = str_attr(span, "url.full").map_or(("", ""), |url| split_url(url));
    let mut target = String::new();
    match str_attr(span, "server.address") {
        Some(address) => {
            target.push_str(address);
            if let Some(port) = span.attribute("server.port").and_then(Value::as_i64) {
                let _ = write!(target, ":{port}");
            }
        }
        None => target.push_str(full_host),
    }
    let path = str_attr(span, "url.path").map_or(full_path, |p| &**p);
    for (i, segment) in path.split('/').enumerate() {
        if i > 0 {
            target.push('/');
        }
        target.push_str(if looks_like_id(segment) {
            "{id}"
        } else {
            segment
        });
    }
    target
}

/// The host (with port, without user info) and the path of a URL.
fn split_url(url: &str) -> (&str, &str) {
    let (host, rest) = match url.find("://") {
        Some(at) => {
            let after = &url[at + 3..];
            let end = after.find(['/', '?', '#']).unwrap_or(after.len());
            let authority = &after[..end];
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            (host, &after[end..])
        }
        None => ("", url),
    };
    let path_end = rest.find(['?', '#']).unwrap_or(rest.len());
    (host, &rest[..path_end])
}

/// Only digits, a UUID, or 8+ hex digits.
fn looks_like_id(segment: &str) -> bool {
    let bytes = segment.as_bytes();
    let digits = !bytes.is_empty() && bytes.iter().all(u8::is_ascii_digit);
    let hex = bytes.len() >= 8 && bytes.iter().all(u8::is_ascii_hexdigit);
    let uuid = bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        });
    digits || hex || uuid
}

#[cfg(test)]
mod tests {
    use super::super::test_spans::{MS, get, span};
    use super::*;
    use crate::testing::Build as _;

    #[test]
    fn http_targets() {
        let client = |id| {
            span(id, Some(1), 0, MS)
                .kind(SpanKind::Client)
                .text("http.request.method", "get")
        };
        for (span, expected) in [
            (
                get(2, 1, 0, MS, "/products/17/reviews"),
                Some("GET catalog:8080/products/{id}/reviews"),
            ),
            (
                get(
                    2,
                    1,
                    0,
                    MS,
                    "/carts/123e4567-e89b-12d3-a456-426614174000/items/0badcafe",
                ),
                Some("GET catalog:8080/carts/{id}/items/{id}"),
            ),
            (
                get(2, 1, 0, MS, "/t/cafe/v2/abc1234"),
                Some("GET catalog:8080/t/cafe/v2/abc1234"),
            ),
            (
                client(3).text("url.template", "/products/{slug}"),
                Some("GET /products/{slug}"),
            ),
            (
                client(4).text(
                    "url.full",
                    "https://user:secret@ads.example:8443/ads/42?page=2#top",
                ),
                Some("GET ads.example:8443/ads/{id}"),
            ),
            (
                client(5)
                    .text("server.address", "ads")
                    .text("url.full", "http://10.0.0.1/ads/42"),
                Some("GET ads/ads/{id}"),
            ),
            (client(6).kind(SpanKind::Internal), None),
            (span(7, None, 0, MS).text("db.system.name", "redis"), None),
        ] {
            let got = classify(&span).map(|(_, statement)| statement);
            assert_eq!(got.as_deref(), expected);
        }
    }
}
