//! The whole shop in one process, driven by real recorded traffic.

mod replay_shop;
