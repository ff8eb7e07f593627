//! Recording: the ingest writer appends every accepted batch to an OTLP JSON-lines file (one
//! `ExportTraceServiceRequest` per line, the OpenTelemetry Collector's file exporter format). Reading one back
//! is [`crate::playback`], above the ingest path as this is below it.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use crate::model::Span;
use crate::otlp;

/// Appends batches to a recording, flushing after each.
#[derive(Debug)]
pub struct Recorder {
    out: BufWriter<File>,
}

impl Recorder {
    /// Opens `path` for appending, creating it when missing.
    pub fn create(path: &Path) -> std::io::Result<Recorder> {
        let file = File::options().create(true).append(true).open(path)?;
        Ok(Recorder {
            out: BufWriter::new(file),
        })
    }

    pub fn append(&mut self, spans: &[Span]) -> std::io::Result<()> {
        serde_json::to_writer(&mut self.out, &otlp::to_request(spans))?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }

    /// Flushes and syncs the file.
    pub fn close(mut self) -> std::io::Result<()> {
        self.out.flush()?;
        self.out.get_ref().sync_all()
    }
}
