//! Which subscriber a future runs under: a request under its service's deployment, a dependency under the log's
//! ([`outside`]).

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use tracing::Dispatch;

/// A future run under a given subscriber while it is polled *and* while it is dropped (a client that hangs up
/// drops a request future half-way). tracing's `WithDispatch` covers only the polls, and a span whose last
/// reference goes while another subscriber is the default panics the registry.
pub(super) struct Scoped<'a, T> {
    pub(super) dispatch: Dispatch,
    pub(super) future: Option<Pin<Box<dyn Future<Output = T> + Send + 'a>>>,
}

impl<T> Future for Scoped<'_, T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<T> {
        let this = &mut *self;
        let (dispatch, slot) = (&this.dispatch, &mut this.future);
        tracing::dispatcher::with_default(dispatch, || {
            let Some(future) = slot.as_mut() else {
                panic!("a scoped future polled after it completed");
            };
            let poll = future.as_mut().poll(cx);
            if poll.is_ready() {
                *slot = None;
            }
            poll
        })
    }
}

impl<T> Drop for Scoped<'_, T> {
    fn drop(&mut self) {
        if let Some(future) = self.future.take() {
            tracing::dispatcher::with_default(&self.dispatch, || drop(future));
        }
    }
}

/// Runs a dependency's future (a query, an HTTP call) under the log's subscriber, polled and dropped, so that
/// the dependency never sees one of a service's spans as the current one. See [`outside_requests`].
pub fn outside<'a, T: 'a>(
    future: impl Future<Output = T> + Send + 'a,
) -> impl Future<Output = T> + Send + 'a {
    Scoped {
        dispatch: outside_requests(),
        future: Some(Box::pin(future)),
    }
}

/// The subscriber that is the default outside any request: the log. Dependencies run under it inside
/// requests too (see [`Db`](crate::Db)), so that a library that hands `Span::current()` to a thread of its
/// own (sqlx's SQLite workers do) never gets one of a service's spans.
pub fn outside_requests() -> Dispatch {
    static LOG: std::sync::OnceLock<Dispatch> = std::sync::OnceLock::new();
    LOG.get_or_init(|| tracing::dispatcher::get_default(Dispatch::clone))
        .clone()
}
