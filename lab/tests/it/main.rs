//! The whole shop in one process, driven by real recorded traffic.

mod browser;
mod class;
mod cli;
mod dashboard;
mod export;
mod guide;
mod limits;
mod real_clients;
mod real_logs;
mod replay_shop;
mod rum_export;
mod sources;
mod workshop;
mod workshop_tmux;
