//! The process's open-files limit (`RLIMIT_NOFILE`): read, and raised to what the system allows.

/// What [`raise`] found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFiles {
    /// The soft limit before.
    pub before: u64,
    /// The soft limit now.
    pub now: u64,
    /// The hard limit (`None`: unlimited).
    pub hard: Option<u64>,
}

/// Assumed when the limit cannot be read (or is unlimited), as on most desktops.
const FALLBACK: u64 = 1024;

/// The soft limit on open files in force now.
pub fn soft_limit() -> u64 {
    #[cfg(unix)]
    {
        use rustix::process::{Resource, getrlimit};
        getrlimit(Resource::Nofile).current.unwrap_or(FALLBACK)
    }
    #[cfg(not(unix))]
    {
        FALLBACK
    }
}

/// Raises the soft limit on open files to the hard limit, so a listener's share of descriptors is as large
/// as the system lets this process have. Call it once at start-up, before any listener is served (their
/// caps are sized from the limit then in force).
#[cfg(unix)]
pub fn raise() -> std::io::Result<OpenFiles> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let before = limit.current.unwrap_or(u64::MAX);
    // An unlimited hard limit is refused for RLIMIT_NOFILE; the kernel's ceiling (nr_open) is 1 << 20 by
    // default.
    let target = limit.maximum.unwrap_or(1 << 20);
    if target > before {
        setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(target),
                maximum: limit.maximum,
            },
        )?;
    }
    Ok(OpenFiles {
        before,
        now: soft_limit(),
        hard: limit.maximum,
    })
}

/// Raises the limit (see the Unix version) and says what it got in the log.
pub fn raise_and_log() {
    #[cfg(unix)]
    match raise() {
        Ok(files) if files.now > files.before => {
            tracing::info!(
                before = files.before,
                now = files.now,
                "open-files limit raised to the hard limit"
            );
        }
        Ok(files) => tracing::info!(limit = files.now, "open-files limit"),
        Err(e) => tracing::warn!("could not raise the open-files limit: {e}"),
    }
}
