//! Fuzzing for every decoder of the lab, on stable Rust: structure-aware inputs (`arbitrary` structures
//! encoded as real payloads, then changed as trees and as bytes), each decode checked for panics, hangs, and
//! time and peak allocation linear in the input's length. `cargo run --release -p fuzz -- --help` runs it;
//! `tests/it/main.rs` runs every target briefly under `cargo test`.

pub mod alloc;
pub mod engine;
pub mod json;
pub mod msgpack;
pub mod mutate;
pub mod proto;
pub mod rng;
pub mod targets;

/// Every allocation of a program linking this crate is counted, per thread (see [`alloc`]).
#[global_allocator]
static ALLOCATOR: alloc::Counting = alloc::Counting;
