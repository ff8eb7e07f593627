//! The receivers: each turns one wire protocol into model spans and hands them to [`crate::ingest::Ingest`].
//! Transport is kept apart from decoding, which lives in [`crate::otlp`].

pub mod datadog;
pub mod in_process;
pub mod otlp_grpc;
mod otlp_grpc_logs;
pub mod otlp_http;
pub mod otlp_logs;
#[cfg(test)]
pub(crate) mod raw_codec;

use std::sync::Arc;

use tokio::sync::Semaphore;

/// Bodies at least this large (compressed or not) are decoded off the async workers. Smaller ones, which is
/// every batch an SDK sends by default (512 spans are about 250 KB), decode inline in a few milliseconds: handing
/// each of them to a blocking thread cost a quarter of the end-to-end ingest rate (BENCHMARKS.md).
pub(crate) const DECODE_ASIDE: usize = 1024 * 1024;

/// Decoders running on blocking threads at once, shared by a receiver's requests: one a core.
pub(crate) fn decoders() -> Arc<Semaphore> {
    Arc::new(Semaphore::new(
        std::thread::available_parallelism().map_or(2, |n| n.get()),
    ))
}

/// Runs `decode` (a body's decoding and everything after it) on a blocking thread once one of `decoders` is
/// free, so a large body never holds the async workers that answer the query API and, in `lab up`, the shop.
pub(crate) async fn decode_aside<T: Send + 'static>(
    decoders: &Arc<Semaphore>,
    decode: impl FnOnce() -> T + Send + 'static,
) -> T {
    let permit =
        (decoders.clone().acquire_owned().await).expect("the decoders' semaphore is never closed");
    let decoded = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        decode()
    });
    match decoded.await {
        Ok(decoded) => decoded,
        Err(panicked) => std::panic::resume_unwind(panicked.into_panic()),
    }
}

#[cfg(test)]
pub(crate) mod probe {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    /// Asks `url` every 20 ms, from a thread and runtime of its own (so it measures the server, not itself),
    /// until `done`; answers the slowest answer's time and how many were asked.
    pub(crate) fn every_20ms(
        url: String,
        done: Arc<AtomicBool>,
    ) -> std::thread::JoinHandle<(Duration, usize)> {
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let (mut slowest, mut asked) = (Duration::ZERO, 0);
                while !done.load(Ordering::Acquire) {
                    let at = Instant::now();
                    assert_eq!(reqwest::get(&url).await.unwrap().status(), 200);
                    slowest = slowest.max(at.elapsed());
                    asked += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                (slowest, asked)
            })
        })
    }
}
