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
    words.join(" ")
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

/// Reads the Traces tab's filter line: `service:NAME`, `endpoint:"GET /discount"` (quotes for spaces),
/// `error`, `>500ms` / `>2.5s` (min duration), in any order; a bare word is a service name.
pub fn parse_filter(text: &str) -> Result<TraceSearch, String> {
    let mut filter = default_filter();
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
    for word in words {
        if let Some(service) = word.strip_prefix("service:") {
            filter.service = Some(service.to_owned());
        } else if let Some(endpoint) = word.strip_prefix("endpoint:") {
            filter.endpoint = Some(endpoint.to_owned());
        } else if word == "error" || word == "errors" {
            filter.error = Some(true);
        } else if let Some(duration) = word.strip_prefix('>') {
            filter.min_duration_ms = parse_ms(duration)
                .ok_or_else(|| format!("{word:?}: a duration is like >500ms or >2.5s"))?;
        } else if word.contains(':') {
            return Err(format!(
                "{word:?}: filters are service:NAME, endpoint:\"GET /path\", error, >500ms, or a trace id"
            ));
        } else {
            filter.service = Some(word);
        }
    }
    Ok(filter)
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
