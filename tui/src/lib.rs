//! The lab's terminal dashboard: a service map, services, trace search, a flame view with the source line of
//! an error, error groups, N+1 insights and deployments, over a collector in this process, a remote one, or a
//! recording. See ARCHITECTURE.md for how state, input, drawing and fetching are kept apart.

pub mod app;
pub mod fmt;
pub mod remote_guide;
pub mod run;
pub mod source;
pub mod theme;
pub mod trace;
pub mod view;
