//! Recording: the ingest writer appends every accepted batch to an OTLP JSON-lines file (one
//! `ExportTraceServiceRequest` per line, the OpenTelemetry Collector's file exporter format). Reading one back
//! is [`crate::playback`], above the ingest path as this is below it. Log records (OTLP logs requests) and
//! browser events (`{"rumEvents":[…]}`, each event as the browser sent it) have lines of their own beside.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::model::Span;
use crate::otlp;

/// The size a recording grows to before it is rotated, by default: under load the shop and a busy sender write
/// about 200 MB a second, so without a cap a recording fills a disk.
pub const DEFAULT_MAX_BYTES: u64 = 1 << 30;

/// How a recording's line of browser events opens.
pub const RUM_HEAD: &[u8] = br#"{"rumEvents":["#;

/// A recorder shared by its writers: the ingest writer (spans), the log store (log records) and the browser
/// store (browser events).
pub type SharedRecorder = std::sync::Arc<parking_lot::Mutex<Recorder>>;

/// Appends batches to a recording, flushing after each. When the next line would take the file past its cap,
/// the file is rotated: it becomes `FILE.1` (replacing an older one) and a new `FILE` starts, so a recording
/// takes at most twice its cap on disk and the newest spans are always kept.
#[derive(Debug)]
pub struct Recorder {
    out: BufWriter<File>,
    path: PathBuf,
    max_bytes: u64,
    written: u64,
    rotations: u64,
    /// The line being written, kept between batches so each one does not allocate anew.
    line: Vec<u8>,
    /// A write failed: nothing more is written.
    failed: bool,
}

impl Recorder {
    /// Opens `path` for appending, creating it when missing, with the default cap.
    pub fn create(path: &Path) -> std::io::Result<Recorder> {
        Recorder::capped(path, DEFAULT_MAX_BYTES)
    }

    /// Opens `path` for appending, rotating it whenever it would grow past `max_bytes`.
    pub fn capped(path: &Path, max_bytes: u64) -> std::io::Result<Recorder> {
        let file = File::options().create(true).append(true).open(path)?;
        let written = file.metadata()?.len();
        Ok(Recorder {
            out: BufWriter::new(file),
            path: path.to_owned(),
            max_bytes: max_bytes.max(1),
            written,
            rotations: 0,
            line: Vec::new(),
            failed: false,
        })
    }

    pub fn append(&mut self, spans: &[Span]) -> std::io::Result<()> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, &otlp::to_request(spans))?;
        self.write_line()
    }

    /// Appends one batch of log records, as an OTLP logs request on a line of its own (the OpenTelemetry
    /// Collector's file exporter writes logs so too).
    pub fn append_logs(&mut self, records: &[crate::logs::LogRecord]) -> std::io::Result<()> {
        // Lines of a thousand records at most: a large batch of small records must not make one line longer
        // than playback reads.
        for chunk in records.chunks(1_000) {
            self.line.clear();
            serde_json::to_writer(&mut self.line, &crate::logs::to_request(chunk))?;
            self.write_line()?;
        }
        Ok(())
    }

    /// Appends browser events, each the JSON object the browser sent, as `{"rumEvents":[…]}` lines of a
    /// thousand events at most.
    pub fn append_rum(&mut self, events: &[&[u8]]) -> std::io::Result<()> {
        for chunk in events.chunks(1_000) {
            self.line.clear();
            self.line.extend_from_slice(RUM_HEAD);
            for (n, event) in chunk.iter().enumerate() {
                if n > 0 {
                    self.line.push(b',');
                }
                self.line.extend_from_slice(event);
            }
            self.line.extend_from_slice(b"]}");
            self.write_line()?;
        }
        Ok(())
    }

    fn write_line(&mut self) -> std::io::Result<()> {
        // Once a write failed, every writer sharing the recorder stops (see `SharedRecorder`).
        if self.failed {
            return Err(std::io::Error::other("the recording failed earlier"));
        }
        let written = self.write_line_now();
        self.failed = written.is_err();
        written
    }

    fn write_line_now(&mut self) -> std::io::Result<()> {
        self.line.push(b'\n');
        let len = self.line.len() as u64;
        if self.written > 0 && self.written + len > self.max_bytes {
            self.rotate()?;
        }
        self.out.write_all(&self.line)?;
        self.written += len;
        self.out.flush()
    }

    /// How often the recording was rotated.
    pub fn rotations(&self) -> u64 {
        self.rotations
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        self.out.flush()?;
        let mut older = self.path.clone().into_os_string();
        older.push(".1");
        std::fs::rename(&self.path, &older)?;
        let file = File::options().create(true).append(true).open(&self.path)?;
        self.out = BufWriter::new(file);
        self.written = 0;
        self.rotations += 1;
        Ok(())
    }

    /// Flushes and syncs the file.
    pub fn close(mut self) -> std::io::Result<()> {
        self.sync()
    }

    /// Writes out what is buffered and waits for the disk.
    pub fn sync(&mut self) -> std::io::Result<()> {
        self.out.flush()?;
        self.out.get_ref().sync_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Build as _, span};

    #[test]
    fn a_recording_rotates_at_its_cap_and_keeps_the_newest_spans() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        let path = dir.join("spans.jsonl");
        let batch = |n: u64| vec![span(1, n).service("svc").name(&format!("op {n}"))];
        let one_line = serde_json::to_vec(&otlp::to_request(&batch(1)))
            .unwrap()
            .len() as u64
            + 1;
        // Room for three lines a file.
        let mut recorder = Recorder::capped(&path, one_line * 3 + 1).unwrap();
        for n in 1..=10 {
            recorder.append(&batch(n)).unwrap();
        }
        assert_eq!(recorder.rotations(), 3);
        recorder.close().unwrap();
        let lines = |p: &Path| std::fs::read_to_string(p).unwrap().lines().count();
        let older = dir.join("spans.jsonl.1");
        assert_eq!((lines(&older), lines(&path)), (3, 1));
        assert!(std::fs::metadata(&path).unwrap().len() <= one_line * 3 + 1);
        let newest = std::fs::read_to_string(&path).unwrap();
        assert!(newest.contains("op 10"), "{newest}");
    }
}
