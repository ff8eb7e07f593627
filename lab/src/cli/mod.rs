//! The bodies of `lab`'s subcommands, one module each with the arguments it takes; `main.rs` parses the
//! command line and calls them. They belong to the binary: the library (`lab::…`) knows nothing of the CLI.

pub(crate) mod bench;
pub(crate) mod browse;
pub(crate) mod class;
pub(crate) mod collect;
pub(crate) mod dashboard;
pub(crate) mod export;
pub(crate) mod fault;
pub(crate) mod report;
pub(crate) mod traffic;
pub(crate) mod up;
pub(crate) mod workshop;
