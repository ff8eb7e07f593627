//! Playing a recording (`crate::record`'s OTLP JSON lines) back: into a store directly ([`load`]), or through
//! an [`Ingest`] and so through the analyses ([`feed`], [`analyse`]).

use std::fs::File;
use std::io::{BufRead, BufReader, Read as _};
use std::path::Path;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;

use crate::ingest::Ingest;
use crate::logs::LogStore;
use crate::model::{Interner, Span};
use crate::otlp;
use crate::rum::RumStore;
use crate::store::Store;

/// What loading a recording found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Loaded {
    pub batches: u64,
    pub spans: u64,
    /// Log records read (recorded beside the spans, in lines of their own), stored as they are read.
    pub log_records: u64,
    /// Browser events read (in lines of their own too), stored as they are read.
    pub rum_events: u64,
    /// Lines that were not a request, with their 1-based number and what was wrong. A truncated last line (a
    /// crash mid-write) is one of them. Only the first [`MAX_LISTED`] are listed; `damaged` counts them all.
    pub problems: Vec<(u64, String)>,
    /// Every line that was not read whole: a request that could not be read, or some of whose spans were not.
    pub damaged: u64,
}

/// Damaged lines listed in [`Loaded::problems`]: a recording of nothing but damaged lines must not cost
/// memory in proportion to its size (each listed problem is a message of its own).
pub const MAX_LISTED: usize = 100;

impl Loaded {
    fn damaged_line(&mut self, number: u64, problem: String) {
        self.damaged += 1;
        if self.problems.len() < MAX_LISTED {
            self.problems.push((number, problem));
        }
    }
}

/// Reads a recording into `store`, batch by batch; bad lines are reported and skipped.
pub fn load(path: &Path, store: &Store, interner: &Interner) -> std::io::Result<Loaded> {
    let limits = crate::limits::SpanLimits::default();
    read(path, interner, (store.logs(), store.rum()), |mut spans| {
        store.count_limited(limits.apply_all(&mut spans));
        store.insert(spans);
        true
    })
}

/// Batches read ahead of `ingest` at most, while it is busy.
const FEED_AHEAD: usize = 16;

/// Sends a recording through `ingest` (and so through the analyses), batch by batch, waiting when its queue
/// is full; bad lines are reported and skipped. The file is read on a blocking thread a few batches ahead, so
/// a recording of any size takes little memory beyond what the store keeps.
pub async fn feed(path: &Path, ingest: &Ingest) -> std::io::Result<Loaded> {
    let (batches, mut received) = tokio::sync::mpsc::channel::<Vec<Span>>(FEED_AHEAD);
    let reader = {
        let path = path.to_owned();
        let interner = ingest.interner().clone();
        let logs = ingest.store().logs().clone();
        let rum = ingest.store().rum().clone();
        tokio::task::spawn_blocking(move || {
            read(&path, &interner, (&logs, &rum), |spans| {
                batches.blocking_send(spans).is_ok()
            })
        })
    };
    let mut stopped = false;
    // What was handed to the collector: the reader counts what it read, which runs a few batches ahead.
    let (mut fed_batches, mut fed_spans) = (0, 0);
    while let Some(spans) = received.recv().await {
        let count = spans.len() as u64;
        if ingest.submit_waiting(spans).await.is_err() {
            stopped = true;
            break;
        }
        fed_batches += 1;
        fed_spans += count;
    }
    // The reader's next batch finds nobody to take it, and it stops.
    drop(received);
    let mut loaded = reader.await.map_err(std::io::Error::other)??;
    if stopped {
        loaded.problems.push((
            0,
            format!(
                "the collector stopped: {} of {} batches read were fed to it",
                fed_batches, loaded.batches
            ),
        ));
    }
    (loaded.batches, loaded.spans) = (fed_batches, fed_spans);
    Ok(loaded)
}

/// A recording loaded and analysed as if its spans arrived now: the store and analyses `lab report` and
/// `lab tui FILE` read, with what could not be read. Needs a tokio runtime (the ingest writer runs on it).
pub async fn analyse(
    path: &Path,
    capacity: usize,
    settings: crate::analysis::Settings,
) -> anyhow::Result<(Store, crate::analysis::Analysis, Loaded)> {
    use anyhow::Context as _;

    let store = Store::new(capacity);
    let analysis = crate::analysis::Analysis::new(settings);
    let (ingest, writer) = Ingest::new(store.clone(), crate::ingest::DEFAULT_QUEUE_BATCHES, None)?;
    let writer = tokio::spawn(writer.analyse(analysis.clone()).run());
    let loaded = feed(path, &ingest)
        .await
        .with_context(|| format!("reading {}", path.display()))?;
    drop(ingest);
    writer.await.context("the ingest writer panicked")??;
    Ok((store, analysis, loaded))
}

/// The longest line read: far above any batch a receiver accepts (16 MiB of protobuf is well under this as
/// JSON), far below what would exhaust memory. A longer line is no recording's: reading stops there.
pub const MAX_LINE: usize = 64 << 20;

/// Reads `path` line by line, handing each request's spans to `batch` until it returns `false`.
fn read(
    path: &Path,
    interner: &Interner,
    (logs, rum): (&LogStore, &RumStore),
    batch: impl FnMut(Vec<Span>) -> bool,
) -> std::io::Result<Loaded> {
    read_lines(
        BufReader::new(File::open(path)?),
        MAX_LINE,
        Beside {
            interner,
            logs,
            rum,
        },
        batch,
    )
}

/// Where a recording's lines go beside the spans: the interner spans are made with, the log store, the
/// browser store.
#[derive(Clone, Copy)]
struct Beside<'a> {
    interner: &'a Interner,
    logs: &'a LogStore,
    rum: &'a RumStore,
}

/// [`load`]'s reading of lines, over bytes in memory and with a line limit of `max_line`: the entry point of the
/// recording fuzz target (`fuzz/`). Not for use outside tests.
#[cfg(any(test, feature = "fixtures"))]
#[doc(hidden)]
pub fn read_slice(
    data: &[u8],
    max_line: usize,
    interner: &Interner,
    batch: impl FnMut(Vec<Span>) -> bool,
) -> std::io::Result<Loaded> {
    let (logs, rum) = (LogStore::default(), RumStore::default());
    read_lines(
        data,
        max_line,
        Beside {
            interner,
            logs: &logs,
            rum: &rum,
        },
        batch,
    )
}

/// Whether a recording's line holds log records rather than spans (it opens with `resourceLogs`).
fn is_logs(line: &[u8]) -> bool {
    let head = &line[..line.len().min(64)];
    memchr::memmem::find(head, b"\"resourceLogs\"").is_some()
}

/// Whether a recording's line holds browser events.
fn is_rum(line: &[u8]) -> bool {
    line.starts_with(crate::record::RUM_HEAD)
}

/// A line of browser events: each event back on a line of its own, taken by the browser store as a batch.
fn read_rum(line: &[u8], rum: &RumStore) -> Result<crate::rum::Taken, String> {
    #[derive(serde::Deserialize)]
    struct Events {
        #[serde(rename = "rumEvents")]
        rum_events: Vec<serde_json::Value>,
    }
    otlp::check_json_budget(line).map_err(|e| e.to_string())?;
    let events: Events = serde_json::from_slice(line).map_err(|e| e.to_string())?;
    let mut body = Vec::with_capacity(line.len());
    for event in &events.rum_events {
        serde_json::to_writer(&mut body, event).map_err(|e| e.to_string())?;
        body.push(b'\n');
    }
    Ok(rum.take(&body))
}

fn read_lines(
    mut reader: impl BufRead,
    max_line: usize,
    beside: Beside<'_>,
    mut batch: impl FnMut(Vec<Span>) -> bool,
) -> std::io::Result<Loaded> {
    let Beside {
        interner,
        logs,
        rum,
    } = beside;
    let mut loaded = Loaded::default();
    let mut line = Vec::new();
    for number in 1.. {
        line.clear();
        // At most one byte past the limit is buffered: enough to know the line is too long.
        let read = (&mut reader)
            .take(max_line as u64 + 1)
            .read_until(b'\n', &mut line)?;
        if read == 0 {
            break;
        }
        if line.len() > max_line && line.last() != Some(&b'\n') {
            loaded.damaged_line(
                number,
                format!(
                    "longer than {} MiB without a line break: not a recording's line; reading stopped",
                    max_line >> 20
                ),
            );
            break;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if is_rum(&line) {
            match read_rum(&line, rum) {
                Ok(taken) => {
                    if let Some((_, error)) = taken.first_error {
                        loaded.damaged_line(
                            number,
                            format!("{} browser events skipped: {error}", taken.rejected),
                        );
                    }
                    loaded.rum_events += taken.accepted;
                }
                Err(err) => loaded.damaged_line(number, err),
            }
            continue;
        }
        if is_logs(&line) {
            let decoded = otlp::check_json_budget(&line)
                .map_err(|e| e.to_string())
                .and_then(|()| {
                    serde_json::from_slice::<ExportLogsServiceRequest>(&line)
                        .map_err(|e| e.to_string())
                });
            match decoded {
                Ok(request) => {
                    let converted = crate::logs::from_request(&request, logs.interner(), 0);
                    if let Some(error) = converted.error {
                        loaded.damaged_line(
                            number,
                            format!("{} log records skipped: {error}", converted.rejected),
                        );
                    }
                    loaded.log_records += converted.records.len() as u64;
                    logs.insert(converted.records);
                }
                Err(err) => loaded.damaged_line(number, err),
            }
            continue;
        }
        match otlp::decode_json(&line) {
            Ok(request) => {
                let converted = otlp::from_request(&request, interner);
                if let Some(error) = converted.error {
                    loaded.damaged_line(
                        number,
                        format!("{} spans skipped: {error}", converted.rejected),
                    );
                }
                let spans = converted.spans.len() as u64;
                if !batch(converted.spans) {
                    break;
                }
                loaded.batches += 1;
                loaded.spans += spans;
            }
            Err(err) => loaded.damaged_line(number, err.to_string()),
        }
    }
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_text(text: &[u8], max_line: usize) -> Loaded {
        read_lines(
            text,
            max_line,
            Beside {
                interner: &Interner::new(),
                logs: &LogStore::default(),
                rum: &RumStore::default(),
            },
            |_| true,
        )
        .unwrap()
    }

    /// Fed into a collector that stops, a recording says how many batches the collector took, not how many
    /// were read ahead of it.
    #[tokio::test]
    async fn a_feed_cut_off_counts_only_what_the_collector_took() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spans.jsonl");
        let request = crate::synth::shop_batch(2, 1);
        let line = serde_json::to_string(&request).unwrap();
        std::fs::write(&path, format!("{line}\n").repeat(50)).unwrap();
        let store = Store::new(1000);
        let (ingest, writer) = crate::ingest::Ingest::new(store.clone(), 1, None).unwrap();
        drop(writer);
        let loaded = feed(&path, &ingest).await.unwrap();
        assert_eq!((loaded.batches, loaded.spans), (0, 0), "{loaded:?}");
        let (_, problem) = loaded.problems.last().unwrap();
        assert!(
            problem.starts_with("the collector stopped: 0 of "),
            "{problem}"
        );
    }

    #[test]
    fn a_line_longer_than_the_limit_stops_the_reading_without_buffering_it() {
        let good = br#"{"resourceSpans":[]}"#;
        let mut text = good.to_vec();
        text.push(b'\n');
        text.extend(b"not json\n");
        text.extend(vec![b'x'; 5000]);
        text.extend(b"\n");
        text.extend(good);
        let loaded = read_text(&text, 1024);
        assert_eq!(loaded.batches, 1);
        assert_eq!(loaded.problems.len(), 2, "{:?}", loaded.problems);
        assert_eq!(loaded.problems[0].0, 2);
        assert_eq!(loaded.problems[1].0, 3);
        assert!(loaded.problems[1].1.contains("reading stopped"));

        // An endless line (`lab report /dev/zero`) is cut at the limit, not read whole.
        let endless = std::io::repeat(0).take(1 << 30);
        let started = std::time::Instant::now();
        let loaded = read_lines(
            BufReader::new(endless),
            1 << 20,
            Beside {
                interner: &Interner::new(),
                logs: &LogStore::default(),
                rum: &RumStore::default(),
            },
            |_| true,
        )
        .unwrap();
        assert_eq!(loaded.problems.len(), 1, "{:?}", loaded.problems);
        assert!(started.elapsed().as_secs() < 5);
    }

    /// Found by the fuzz harness (`fuzz/`, target `recording`): every damaged line was kept with its message,
    /// about 58 bytes of memory per 2-byte line, so `lab report` on a large damaged file grew without bound.
    #[test]
    fn damaged_lines_are_all_counted_and_the_first_listed() {
        let loaded = read_text(&b"x\n".repeat(10_000), 1024);
        assert_eq!(loaded.damaged, 10_000);
        assert_eq!(loaded.problems.len(), MAX_LISTED);
        assert_eq!(loaded.problems[0].0, 1);
    }
}
