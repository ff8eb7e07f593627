//! The dashboard's tests: every view drawn from a deterministic store (snapshots), the keys and the mouse as
//! plain functions on the state, read through the dashboard's remote source from a real query API.

mod fixture;
mod guide;
mod keys;
mod snapshots;
