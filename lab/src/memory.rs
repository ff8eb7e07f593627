//! How `lab` keeps its resident memory near what it holds.

/// Turns transparent huge pages off for this process (Linux; elsewhere it does nothing). mimalloc asks the
/// kernel for huge pages on its arenas, and a 2 MiB page is resident whole however little of it is in use: with
/// a million spans stored that is about 28 MB of 175, for a few percent of the ingest rate (BENCHMARKS.md).
/// Called first thing in `main`, before anything is logged: a kernel that refuses is not fatal, and says so
/// on standard error.
pub fn without_huge_pages() {
    #[cfg(target_os = "linux")]
    if let Err(error) = rustix::thread::disable_transparent_huge_pages(true) {
        eprintln!("lab: transparent huge pages stay on ({error})");
    }
}
