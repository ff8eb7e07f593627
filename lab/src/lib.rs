//! The `lab` command's library: runs the shop in one process, replays GoReplay traffic against it and records
//! new traffic. `main.rs` only parses the command line and calls into here.

pub mod bench;
pub mod browse;
pub mod control;
pub mod dashboard;
pub mod gor;
pub mod guide;
pub mod memory;
pub mod record;
pub mod replay;
pub mod shop;
pub mod up;
