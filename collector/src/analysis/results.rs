//! What the analyses answer, as plain data: the contract's types (`protocol::results`), which the query API,
//! the headless report and the dashboard share.

pub use protocol::results::*;
