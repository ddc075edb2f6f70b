//! The runtime shim: what the one async driver needs from a runtime, implemented once for
//! tokio (`runtime/tokio.rs`) and once for the async-io reactor that async-std and smol share
//! (`runtime/async_io.rs`). The driver is written against `futures-io` streams,
//! futures-rustls and this trait only, so a bug is fixed once for both runtimes.
//!
//! No task is spawned and no thread started: every future here is polled by the driver,
//! inside the futures the application awaits.
//!
//! The traits are `pub` in this private module: [`Runtime`] bounds the public client types
//! (as the supertrait of [`AsyncRuntime`](crate::AsyncRuntime)), so it and what its methods
//! name must be as visible as they are, yet nobody outside the crate can name them (the
//! trait is sealed).

use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use futures_io::{AsyncRead, AsyncWrite};

#[cfg(feature = "async-std")]
pub(crate) mod async_io;
#[cfg(feature = "tokio")]
pub(crate) mod tokio;

pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A connected stream: TCP of the runtime, or TLS over it.
pub trait Conn: AsyncRead + AsyncWrite + Send + Unpin + 'static {
    /// `(local, peer)` addresses.
    fn addrs(&self) -> io::Result<(SocketAddr, SocketAddr)>;
    /// Makes the next close a reset (SO_LINGER 0).
    fn reset_on_close(&self);
    /// TLS 1.3 only: true while the ticket this data connection should bring has not come
    /// (see `tls::TicketMark`).
    fn ticket_due(&self) -> bool {
        false
    }
    /// CCC: ends TLS (close_notify both ways) and gives back the plain stream underneath;
    /// `Err(self)` for a stream without TLS.
    #[allow(clippy::type_complexity)]
    fn clear_tls(
        self: Box<Self>,
    ) -> Result<BoxFuture<'static, io::Result<Box<dyn Conn>>>, Box<dyn Conn>>;
}

/// A listening socket of the runtime.
pub trait Listener: Send + 'static {
    /// Polls for the next connection.
    fn poll_accept(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(Box<dyn Conn>, SocketAddr)>>;
}

/// A resettable timer of the runtime.
pub trait Timer: Send {
    /// Fire at `at` instead.
    fn reset(&mut self, at: Instant);
    /// Ready once the deadline has passed.
    fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()>;
}

/// What the driver needs from a runtime. Implemented by zero-sized types; the driver is
/// generic over it.
pub trait Runtime: Send + Sync + 'static {
    /// Resolves `host` (a name or an IP address) to addresses for `port`.
    fn resolve(host: String, port: u16) -> BoxFuture<'static, io::Result<Vec<SocketAddr>>>;
    /// Connects to `addr`.
    fn connect(addr: SocketAddr) -> BoxFuture<'static, io::Result<Box<dyn Conn>>>;
    /// Registers a connected `std` stream (from a [`Connector`](crate::Connector)) with
    /// the runtime.
    fn adopt(stream: std::net::TcpStream) -> io::Result<Box<dyn Conn>>;
    /// Registers a bound, listening `std` socket with the runtime.
    fn listener(listener: StdListener) -> io::Result<Box<dyn Listener>>;
    /// A timer that fires at `at`.
    fn timer(at: Instant) -> Box<dyn Timer>;
}

/// Runs `future`, giving up at `at`: `None` on timeout.
pub(crate) async fn timeout_at<R: Runtime, T>(
    at: Instant,
    future: impl Future<Output = T>,
) -> Option<T> {
    let mut future = std::pin::pin!(future);
    let mut timer = R::timer(at);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(value) = future.as_mut().poll(cx) {
            return Poll::Ready(Some(value));
        }
        if Instant::now() >= at {
            return Poll::Ready(None);
        }
        timer.poll_expired(cx).map(|()| None)
    })
    .await
}

/// Runs the blocking `f` on a thread of its own; the future gives its result. Dropped early,
/// the thread still finishes and its result is dropped. Only a
/// [`Connector`](crate::Connector) is run this way.
pub(crate) fn on_thread<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> BoxFuture<'static, io::Result<T>> {
    use std::sync::{Arc, Mutex, PoisonError};
    type Slot<T> = (Option<io::Result<T>>, Option<std::task::Waker>);
    let slot: Arc<Mutex<Slot<T>>> = Arc::new(Mutex::new((None, None)));
    let theirs = Arc::clone(&slot);
    let spawned = std::thread::Builder::new()
        .name("ftp-client connector".into())
        .spawn(move || {
            let value = f();
            let mut slot = theirs.lock().unwrap_or_else(PoisonError::into_inner);
            slot.0 = Some(value);
            if let Some(waker) = slot.1.take() {
                waker.wake();
            }
        });
    Box::pin(async move {
        spawned?;
        std::future::poll_fn(|cx| {
            let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
            match slot.0.take() {
                Some(value) => Poll::Ready(value),
                None => {
                    slot.1 = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await
    })
}

/// Connects to `host:port` with `connector` (on a thread of its own) and registers the
/// stream with runtime `R`.
pub(crate) fn connect_with<R: Runtime>(
    connector: &crate::connector::SharedConnector,
    host: String,
    port: u16,
    timeout: std::time::Duration,
) -> BoxFuture<'static, io::Result<Box<dyn Conn>>> {
    let connector = connector.clone();
    let connecting = on_thread(move || connector.0.connect(&host, port, timeout));
    Box::pin(async move { R::adopt(connecting.await?) })
}
