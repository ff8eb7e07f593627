//! The lab's terminal dashboard: service map, services, traces, flame view, errors, insights and deployments.
//!
//! Nothing is here yet. The dashboard issue builds it; until then no crate depends on this one, so nothing can
//! mistake it for a working dashboard.
