//! Stack traces: the first frame of the application's own code, in Rust, Python, Java and Node traces.

use std::borrow::Cow;

/// A source location: a path as written in the stack trace and a 1-based line.
///
/// The path is kept as the trace wrote it, except that a leading `./` and a
/// `file://` scheme are removed. Absolute paths stay absolute: nothing here
/// knows where the repository lives. Java frames only name the file, as in
/// `Cart.java`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Location {
    /// Path of the source file.
    pub file: String,
    /// 1-based line number.
    pub line: u32,
}

/// The top-most frame of `stack` that belongs to the application rather than to a library or the runtime.
///
/// Understands Rust backtraces (`at path:line:col` lines and bare
/// `path:line` lines), Python tracebacks (`File "path", line N`), Java
/// (`at pkg.Class.method(File.java:N)`) and Node (`at fn (path:line:col)`).
/// Python lists the innermost call last, the others first, so for a Python
/// traceback this is the last application frame in the text and otherwise
/// the first. Frames under `.cargo`, the Rust toolchain, `site-packages`,
/// `node_modules`, `/usr/lib` and the like, Java frames in `java.*`,
/// `javax.*`, `jdk.*`, `sun.*` and `org.springframework.*`, and
/// pseudo-files such as `<frozen ..>` or `<stdin>` are skipped.
///
/// Returns `None` when no application frame is found.
pub fn top_project_frame(stack: &str) -> Option<Location> {
    let mut first = None;
    let mut last_python = None;
    let mut python = false;
    for line in stack.lines() {
        let Some(frame) = parse_frame(line.trim()) else {
            continue;
        };
        python |= frame.python;
        if frame.library {
            continue;
        }
        if frame.python {
            last_python = Some(frame.location);
        } else if first.is_none() {
            first = Some(frame.location);
        }
    }
    if python { last_python } else { first }
}

/// One parsed stack frame.
struct Frame {
    location: Location,
    library: bool,
    python: bool,
}

fn parse_frame(line: &str) -> Option<Frame> {
    if let Some(rest) = line.strip_prefix("File \"") {
        let (path, after) = rest.split_once('"')?;
        let after = after.strip_prefix(", line ")?;
        let digits = after
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(after.len());
        let location = location(path, after.get(..digits)?)?;
        return Some(Frame {
            library: is_library_path(&location.file),
            location,
            python: true,
        });
    }
    if let Some(rest) = line.strip_prefix("at ") {
        return parse_at_frame(rest.trim());
    }
    // A bare `path:line[:col]`, as printed by simple Rust formatters. Be
    // strict so that ordinary message lines are not taken for frames.
    if line.contains(char::is_whitespace) {
        return None;
    }
    let location = split_location(line)?;
    let name = location.file.rsplit(['/', '\\']).next().unwrap_or_default();
    let has_extension = name.rsplit_once('.').is_some_and(|(stem, ext)| {
        !stem.is_empty() && !ext.is_empty() && ext.bytes().all(|c| c.is_ascii_alphanumeric())
    });
    if !has_extension {
        return None;
    }
    Some(Frame {
        library: is_library_path(&location.file),
        location,
        python: false,
    })
}

/// Parses what follows `at ` in Rust, Java and Node frames.
fn parse_at_frame(rest: &str) -> Option<Frame> {
    let Some(open) = rest.rfind('(') else {
        // Rust `at ./src/x.rs:1:2` or Node `at /srv/app/x.js:1:2`.
        let location = split_location(rest)?;
        return Some(Frame {
            library: is_library_path(&location.file),
            location,
            python: false,
        });
    };
    let name = rest.get(..open)?;
    let inner = rest.get(open + 1..)?;
    let inner = &inner[..inner.find(')')?];
    let location = split_location(inner)?;
    let mut library = is_library_path(&location.file);
    // Java writes `pkg.Class.method(File.java:42)` with no space before the
    // parenthesis; Node writes `name (path:line:col)`.
    if !name.is_empty() && !name.contains(char::is_whitespace) {
        library |= is_java_library(name);
    }
    Some(Frame {
        location,
        library,
        python: false,
    })
}

/// Splits `path:line` or `path:line:col`.
fn split_location(text: &str) -> Option<Location> {
    let (head, last) = split_number(text)?;
    match split_number(head) {
        Some((path, line)) => location(path, line),
        None => location(head, last),
    }
}

fn split_number(text: &str) -> Option<(&str, &str)> {
    let (head, number) = text.rsplit_once(':')?;
    let digits = !number.is_empty() && number.bytes().all(|c| c.is_ascii_digit());
    digits.then_some((head, number))
}

fn location(path: &str, line: &str) -> Option<Location> {
    let line: u32 = line.parse().ok().filter(|&n| n > 0)?;
    let mut path = path.trim();
    path = path.strip_prefix("file://").unwrap_or(path);
    while let Some(rest) = path.strip_prefix("./") {
        path = rest;
    }
    let plausible = !path.is_empty() && !path.contains("://") && path.contains(['.', '/', '\\']);
    plausible.then(|| Location {
        file: path.to_owned(),
        line,
    })
}

/// Path fragments that mark library, toolchain or runtime code.
const LIBRARY_MARKERS: &[&str] = &[
    "/.cargo/registry/",
    "/.cargo/git/",
    "/rustc/",
    "/library/std/",
    "/library/core/",
    "/library/alloc/",
    "site-packages",
    "dist-packages",
    "node_modules",
    "node:internal",
    "<frozen",
    "/usr/lib/",
    "/usr/local/lib/",
    "/lib/python3",
];

fn is_library_path(path: &str) -> bool {
    let path: Cow<'_, str> = if path.contains('\\') {
        Cow::Owned(path.replace('\\', "/"))
    } else {
        Cow::Borrowed(path)
    };
    // `<frozen ..>`, `<stdin>`, `<anonymous>`: not files in the project.
    path.starts_with('<') || LIBRARY_MARKERS.iter().any(|m| path.contains(m))
}

/// Java packages that belong to the platform or a framework.
const JAVA_LIBRARY_PACKAGES: &[&str] = &["java.", "javax.", "jdk.", "sun.", "org.springframework."];

fn is_java_library(method: &str) -> bool {
    // Drop a class loader or module prefix, as in `java.base/java.lang.Thread.run`.
    let method = method.rsplit('/').next().unwrap_or(method);
    JAVA_LIBRARY_PACKAGES.iter().any(|p| method.starts_with(p))
}
