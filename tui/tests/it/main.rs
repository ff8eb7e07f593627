//! The dashboard's tests: every view drawn from a deterministic store (snapshots), the keys and the mouse as
//! plain functions on the state, and the three data sources.

mod fixture;
mod keys;
mod snapshots;
mod sources;
