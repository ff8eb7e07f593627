//! The Traces tab's filter line: reading what is typed into a trace search or a trace id, and writing a
//! search back as the words that show it.

use protocol::TraceSearch;

use crate::source::default_filter;

/// The filter line that shows `filter`: the words `/` starts from.
pub fn filter_text(filter: &TraceSearch) -> String {
    let mut words = Vec::new();
    if let Some(service) = &filter.service {
        words.push(format!("service:{service}"));
    }
    if let Some(endpoint) = &filter.endpoint {
        words.push(format!("endpoint:{}", quote(endpoint)));
    }
    if filter.error == Some(true) {
        words.push("error".to_owned());
    }
    if filter.min_duration_ms > 0.0 {
        words.push(format!(">{}ms", filter.min_duration_ms));
    }
    if let Some(max) = filter.max_duration_ms {
        words.push(format!("<{max}ms"));
    }
    if let Some(text) = &filter.text {
        words.push(format!("text:{}", quote(text)));
    }
    words.join(" ")
}

/// What a search looks for, in words: the filter line says how it understood what was typed.
pub fn describe(filter: &TraceSearch) -> String {
    let mut parts = Vec::new();
    if let Some(service) = &filter.service {
        parts.push(format!("with a span of {service}"));
    }
    if let Some(endpoint) = &filter.endpoint {
        parts.push(format!("serving {endpoint}"));
    }
    if filter.error == Some(true) {
        parts.push("failed".to_owned());
    }
    if filter.min_duration_ms > 0.0 {
        parts.push(format!("{} ms or longer", filter.min_duration_ms));
    }
    if let Some(max) = filter.max_duration_ms {
        parts.push(format!("{max} ms or shorter"));
    }
    if let Some(text) = &filter.text {
        parts.push(format!(
            "with a span mentioning \"{text}\" (name, statement, any attribute)"
        ));
    }
    match parts.is_empty() {
        true => "every trace".to_owned(),
        false => format!("traces {}", parts.join(", ")),
    }
}

fn quote(text: &str) -> String {
    if text.contains(' ') {
        format!("\"{text}\"")
    } else {
        text.to_owned()
    }
}

/// The trace id `text` is, if it is one ([`protocol::parse_trace_id`]: 32 hexadecimal digits, 16, or a
/// decimal number as Datadog shows ids), alone or after `trace:`; as the collector writes ids (a 64-bit one
/// with zeros in front, which the collector matches against the ids ending in it).
pub fn trace_id(text: &str) -> Option<String> {
    let text = text.trim();
    let id = text.strip_prefix("trace:").unwrap_or(text).trim();
    protocol::parse_trace_id(id).map(|id| format!("{id:032x}"))
}

/// Whether the trace `id` is the one `wanted` asked for: the same, or `wanted` is a 64-bit id (zeros in front)
/// and `id` ends in it, which is how the collector answers a Datadog id given by its low half.
pub fn names_trace(wanted: &str, id: &str) -> bool {
    wanted == id
        || (wanted.len() == 32
            && id.len() == 32
            && wanted.starts_with("0000000000000000")
            && wanted[16..] == id[16..])
}

/// Reads the Traces tab's filter line: `service:NAME`, `endpoint:"GET /discount"` (quotes for spaces, or a
/// method and a path), `error`, `>500ms` / `>2.5s` (min duration), `<1ms` (max duration), `text:WORDS`, in any
/// order; bare words are text looked for in the spans (names, statements, attribute values).
pub fn parse_filter(text: &str) -> Result<TraceSearch, String> {
    let mut filter = default_filter();
    let mut text_words = Vec::new();
    let mut words = words(text)?.into_iter().peekable();
    while let Some(word) = words.next() {
        if let Some(service) = word.strip_prefix("service:") {
            filter.service = Some(service.to_owned());
        } else if let Some(endpoint) = word.strip_prefix("endpoint:") {
            // `endpoint:GET /cart` unquoted is still one endpoint: a method and the path after it.
            let mut endpoint = endpoint.to_owned();
            if is_method(&endpoint) && words.peek().is_some_and(|next| next.starts_with('/')) {
                endpoint = format!("{endpoint} {}", words.next().unwrap_or_default());
            }
            filter.endpoint = Some(endpoint);
        } else if word == "error" || word == "errors" {
            filter.error = Some(true);
        } else if let Some(duration) = word.strip_prefix('>') {
            filter.min_duration_ms = parse_ms(duration)
                .ok_or_else(|| format!("{word:?}: a duration is like >500ms or >2.5s"))?;
        } else if let Some(duration) = word.strip_prefix('<') {
            filter.max_duration_ms = Some(
                parse_ms(duration)
                    .ok_or_else(|| format!("{word:?}: a duration is like <1ms or <2.5s"))?,
            );
        } else if let Some(words) = word.strip_prefix("text:") {
            text_words.push(words.to_owned());
        } else if word.contains(':') && !word.starts_with('/') && !word.contains("://") {
            return Err(format!(
                "{word:?}: filters are service:NAME, endpoint:\"GET /path\", error, >500ms, <1ms, \
                 text:WORDS (or bare words), or a trace id"
            ));
        } else {
            // A bare word is looked for in the spans: a statement's words, a path, a message.
            text_words.push(word);
        }
    }
    if !text_words.is_empty() {
        filter.text = Some(text_words.join(" "));
    }
    Ok(filter)
}

/// A filter line's words: split at spaces, except inside quotes (which go).
pub(super) fn words(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if quoted {
        return Err("a quote is not closed".to_owned());
    }
    if !word.is_empty() {
        words.push(word);
    }
    Ok(words)
}

fn is_method(word: &str) -> bool {
    matches!(
        word,
        "GET" | "HEAD" | "POST" | "PUT" | "DELETE" | "CONNECT" | "OPTIONS" | "TRACE" | "PATCH"
    )
}

fn parse_ms(text: &str) -> Option<f64> {
    let (number, scale) = if let Some(n) = text.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1000.0)
    } else {
        (text, 1.0)
    };
    let value = number.trim().parse::<f64>().ok()? * scale;
    (value.is_finite() && value >= 0.0).then_some(value)
}
