//! The shop's runtime kit: what its three services run on — their configuration, the database handle, the fault
//! switches and the admin API that flips them, their telemetry, and serving.
//!
//! Each service is a library with `router(state) -> Router` plus a small binary; this crate keeps those three alike.

pub mod admin;
pub mod cli;
pub mod db;
pub mod faults;
pub mod serve;
pub mod service;
pub mod telemetry;
pub mod testing;

pub use db::{Backend, Db, DbOptions};
pub use faults::{FaultSpec, Faults, ShopState, UnknownFault, Variant};
pub use service::{Service, ServiceState};
pub use telemetry::{Export, Telemetry};
