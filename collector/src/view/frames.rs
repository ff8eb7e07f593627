//! Stack traces as frames: Rust backtraces, Python tracebacks, Java and Node `at` lines, the project's own
//! frames (as [`top_project_frame`] knows them) first.

use protocol::Frame;

use crate::analysis::normalize::top_project_frame;

/// Characters of a stack trace parsed; the rest is never looked at.
const MAX_STACK: usize = 64 * 1024;
/// Frames of one stack trace kept.
const MAX_FRAMES: usize = 64;

/// The first [`MAX_STACK`] characters of `stack`.
fn capped(stack: &str) -> &str {
    match stack.char_indices().nth(MAX_STACK) {
        Some((at, _)) => &stack[..at],
        None => stack,
    }
}

/// The frames of a stack trace, the project's own first, innermost call first within each part, at most
/// [`MAX_FRAMES`] of them.
pub fn parse_stack(stack: &str) -> Vec<Frame> {
    struct Raw<'a> {
        function: &'a str,
        location: Option<String>,
        lines: Vec<&'a str>,
        rust: bool,
    }
    let mut raw: Vec<Raw> = Vec::new();
    let mut python = false;
    for line in capped(stack).lines() {
        let line = line.trim();
        if raw.len() > MAX_FRAMES * 2 {
            break;
        }
        if let Some((number, function)) = line.split_once(": ")
            && !number.is_empty()
            && number.bytes().all(|b| b.is_ascii_digit())
        {
            raw.push(Raw {
                function,
                location: None,
                lines: vec![line],
                rust: true,
            });
        } else if let Some(rest) = line.strip_prefix("at ") {
            match raw.last_mut() {
                Some(frame) if frame.rust && frame.location.is_none() => {
                    frame.location = Some(rest.trim().to_owned());
                    frame.lines.push(line);
                }
                _ => {
                    let rest = rest.trim();
                    let (function, location) = match rest.rfind('(') {
                        Some(open) if rest.ends_with(')') => (
                            rest[..open].trim(),
                            rest[open + 1..rest.len() - 1].to_owned(),
                        ),
                        _ => ("", rest.to_owned()),
                    };
                    raw.push(Raw {
                        function,
                        location: Some(location),
                        lines: vec![line],
                        rust: false,
                    });
                }
            }
        } else if let Some(rest) = line.strip_prefix("File \"") {
            python = true;
            let (path, after) = rest.split_once('"').unwrap_or((rest, ""));
            let number: String = after
                .trim_start_matches(", line ")
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            let function = after.split_once(", in ").map_or("", |(_, f)| f.trim());
            raw.push(Raw {
                function,
                location: Some(format!("{path}:{number}")),
                lines: vec![line],
                rust: false,
            });
        }
    }
    if python {
        raw.reverse();
    }
    let mut project = Vec::new();
    let mut library = Vec::new();
    for frame in raw {
        let found = top_project_frame(&frame.lines.join("\n"));
        let location = match (&found, frame.location) {
            (Some(at), _) => format!("{}:{}", at.file, at.line),
            (None, Some(location)) => location,
            (None, None) => String::new(),
        };
        let out = Frame {
            function: frame.function.to_owned(),
            location,
            project: found.is_some(),
        };
        if out.project {
            project.push(out);
        } else {
            library.push(out);
        }
    }
    project.extend(library);
    project.truncate(MAX_FRAMES);
    project
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stacks_put_the_project_first() {
        let rust = "   0: std::panicking::begin_panic\n             at /rustc/abc/library/std/src/panicking.rs:10:5\n   \
                    1: storefront::layout::banner\n             at ./services/storefront/src/layout.rs:65:13\n   \
                    2: tokio::runtime::run\n             at /home/u/.cargo/registry/src/tokio/src/rt.rs:1:1\n";
        let frames = parse_stack(rust);
        assert_eq!(frames.len(), 3);
        assert!(frames[0].project);
        assert_eq!(frames[0].location, "services/storefront/src/layout.rs:65");
        assert_eq!(frames[0].function, "storefront::layout::banner");
        assert!(!frames[1].project && !frames[2].project);

        let python = "Traceback (most recent call last):\n  \
                      File \"/usr/lib/python3.11/site-packages/flask/app.py\", line 12, in wsgi\n    x()\n  \
                      File \"services/ads/app.py\", line 40, in ads\n    raise E\n\
                      ValueError: nope\n";
        let frames = parse_stack(python);
        assert_eq!(frames.len(), 2);
        assert!(frames[0].project);
        assert_eq!(frames[0].location, "services/ads/app.py:40");
        assert_eq!(frames[0].function, "ads");
    }
}
