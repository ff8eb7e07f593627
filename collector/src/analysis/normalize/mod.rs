//! Normalisation of SQL statements, error messages and stack traces.
//!
//! Spans and errors that differ only in the values they carry should fall
//! into the same group. The functions here strip those values while keeping
//! the shape of the text. They are total: any input, however malformed,
//! produces a result and never panics.

mod message;
mod sql;
mod stack;
#[cfg(test)]
mod tests;

pub use message::normalize_message;
pub use sql::normalize_query;
pub use stack::{Location, top_project_frame};

/// The byte at `i`, if any.
fn peek(b: &[u8], i: usize) -> Option<u8> {
    b.get(i).copied()
}

/// `b[start..end]`, cut to what `b` holds.
fn slice(b: &[u8], start: usize, end: usize) -> &[u8] {
    b.get(start..end.min(b.len())).unwrap_or_default()
}
