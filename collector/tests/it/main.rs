//! The collector's integration tests, in one binary so the crate links once.

mod analysis_api;
mod contract;
mod export;
mod limits;
mod listeners;
mod logs;
mod rum;
mod rum_export;
mod spans;
mod store_api;
mod store_concurrency;
mod store_model;
