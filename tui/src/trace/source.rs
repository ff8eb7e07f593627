//! The trace screen's source lines: the lines around where an error was raised or a loop runs, read with the
//! sandboxed reader (`source_lines`) from the workspace beside the dashboard, or, when it has none, asked of
//! the collector, which serves them from its own tree under the same rules (`lab tui --connect`). Either way
//! every line and name is escaped before it is drawn.

use std::collections::HashMap;
use std::path::Path;

use super::safe;

/// Source lookups one screen makes at most (a trace of a thousand errors reads no thousand files).
const MAX_SOURCE_READS: usize = 32;

/// The source lines around where an error was raised, or why they are not shown.
#[derive(Debug)]
pub(super) struct Source {
    pub(super) path: String,
    pub(super) line: u32,
    pub(super) lines: SourceLines,
}

/// Numbered source lines, or why there are none.
type SourceLines = source_lines::Lines;

/// Where source lines come from besides the workspace: the collector's own tree (`None` when the data
/// source serves none, else its lines or why not).
pub type Fallback<'f> = &'f dyn Fn(&str, u32) -> Option<SourceLines>;

/// Reads the source lines of one screen's errors: each file and line once, at most [`MAX_SOURCE_READS`]
/// reads in all.
pub(super) struct Reader<'w> {
    workspace: Option<&'w Path>,
    fallback: Option<Fallback<'w>>,
    reads: usize,
    cache: HashMap<(String, u32), SourceLines>,
}

impl<'w> Reader<'w> {
    pub(super) fn new(workspace: Option<&'w Path>, fallback: Option<Fallback<'w>>) -> Reader<'w> {
        Reader {
            workspace,
            fallback,
            reads: 0,
            cache: HashMap::new(),
        }
    }

    /// The source around line `line` of `file` (as a span named it), or why it is not shown.
    pub(super) fn read(&mut self, file: &str, line: u32) -> Source {
        let key = (file.to_owned(), line);
        let lines = match self.cache.get(&key) {
            Some(known) => known.clone(),
            None if line == 0 => Err(format!(
                "source not read: {} (no line number given)",
                safe(file)
            )),
            None if self.reads >= MAX_SOURCE_READS => Err(format!(
                "source not read: {} (too many errors in this trace)",
                safe(file)
            )),
            None => {
                self.reads += 1;
                let lines = self.lookup(file, line);
                self.cache.insert(key, lines.clone());
                lines
            }
        };
        Source {
            path: safe(file),
            line,
            lines,
        }
    }

    /// The workspace's lines; failing those, the collector's; escaped.
    fn lookup(&self, file: &str, line: u32) -> SourceLines {
        let local = source_lines::read(self.workspace, file, line);
        let read = match (local, self.fallback) {
            (Ok(lines), _) => Ok(lines),
            (Err(why), Some(fallback)) => match fallback(file, line) {
                Some(Ok(lines)) => Ok(lines),
                Some(Err(served)) => Err(format!("{why}; asked the collector: {served}")),
                None => Err(why),
            },
            (Err(why), None) => Err(why),
        };
        read.map(|lines| {
            lines
                .into_iter()
                .map(|(number, text)| (number, safe(&text)))
                .collect()
        })
        .map_err(|why| safe(&why))
    }
}
