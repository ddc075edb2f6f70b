//! The runtime shim for the async-io reactor that async-std and smol share, written against
//! `futures-io`: it serves async-std and smol applications alike without depending on either
//! (async-std is discontinued, RUSTSEC-2025-0052). Blocking work goes to this crate's
//! [`BlockingPool::threads`], tasks to a small built-in `async-executor` (or to the
//! application's executor through `Server::start_async_io_with`).

use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream as StdStream};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Once, OnceLock};
use std::task::{ready, Context, Poll};
use std::time::Instant;

use async_executor::Executor;
use async_io::{Async, Timer as IoTimer};

use super::{acknowledge_now, peek_unread, send_before_shutdown};
use super::{Conn, Listener, Runtime, Timer, Unread};
use crate::pool::{BlockingPool, ThreadPool};
use crate::storage::BoxFuture;

type Spawn = Arc<dyn Fn(BoxFuture<'static, ()>) + Send + Sync>;

/// async-io with an executor for tasks.
pub(crate) struct AsyncIoRuntime {
    spawn: Spawn,
}

/// The built-in executors: one per CPU, each run by a thread of its own (started on first
/// use), and tasks handed to them in turn. With one executor shared by every thread, a
/// session's task moved between threads, and async-executor wakes a sleeping thread each time
/// one finds a task: a 1 KiB download cost the server 260 µs of CPU instead of 160 to 180
/// (`benches/benches/server_load.rs`, small-file row).
fn spawn_on_global_executors(task: BoxFuture<'static, ()>) {
    static EXECUTORS: OnceLock<Vec<Executor<'static>>> = OnceLock::new();
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let executors = EXECUTORS.get_or_init(|| {
        let threads = std::thread::available_parallelism().map_or(2, usize::from);
        (0..threads).map(|_| Executor::new()).collect()
    });
    static START: Once = Once::new();
    START.call_once(|| {
        for (n, executor) in executors.iter().enumerate() {
            let _ = std::thread::Builder::new()
                .name(format!("ftp-server-{n}"))
                .spawn(move || {
                    async_io::block_on(executor.run(std::future::pending::<()>()));
                });
        }
    });
    let next = NEXT.fetch_add(1, Ordering::Relaxed) % executors.len();
    executors[next].spawn(task).detach();
}

/// The blocking pool of every server on this runtime in the process.
fn global_blocking_pool() -> BlockingPool {
    static POOL: OnceLock<BlockingPool> = OnceLock::new();
    POOL.get_or_init(|| BlockingPool::threads(ThreadPool::MAX_THREADS, ThreadPool::KEEP_ALIVE))
        .clone()
}

impl AsyncIoRuntime {
    pub(crate) fn global() -> Self {
        Self::with_spawner(spawn_on_global_executors)
    }

    pub(crate) fn with_spawner(
        spawn: impl Fn(BoxFuture<'static, ()>) + Send + Sync + 'static,
    ) -> Self {
        Self {
            spawn: Arc::new(spawn),
        }
    }
}

/// A connection that, once a read found nothing, reads again only after the reactor reported
/// it readable: the driver polls the control connection more than once per wake, and
/// async-io's own `poll_read` tries the system call each time.
struct IoConn {
    socket: Async<StdStream>,
    /// The last read found nothing to read.
    drained: bool,
}

impl IoConn {
    fn new(socket: Async<StdStream>) -> Self {
        Self {
            socket,
            drained: false,
        }
    }
}

impl futures_io::AsyncRead for IoConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        poll_when_readable(&this.socket, &mut this.drained, cx, |mut socket| {
            io::Read::read(&mut socket, buf)
        })
    }
}

impl futures_io::AsyncWrite for IoConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.socket).poll_write(cx, buf)
    }

    /// Every slice in one `sendmsg`: TLS writes each record as a slice of its own, and a
    /// handshake's server flight (three records) then leaves in one segment, not three.
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.socket).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.socket).poll_flush(cx)
    }

    /// Flush, then FIN: async-io's own `poll_close` only flushes, which would leave a
    /// download's client waiting for the end of the stream.
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(Pin::new(&mut self.socket).poll_flush(cx))?;
        Poll::Ready(
            match self.socket.get_ref().shutdown(std::net::Shutdown::Write) {
                Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
                other => other,
            },
        )
    }
}

impl Conn for IoConn {
    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.get_ref().local_addr()
    }

    fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.socket.get_ref().set_nodelay(on)
    }

    fn set_oob_inline(&self) -> io::Result<()> {
        Ok(rustix::net::sockopt::set_socket_oobinline(
            self.socket.get_ref(),
            true,
        )?)
    }

    fn unread(&self) -> Unread {
        peek_unread(self.socket.get_ref())
    }

    fn acknowledge_now(&self) {
        acknowledge_now(self.socket.get_ref())
    }

    fn send_before_shutdown(&self, buf: &[u8]) -> Option<io::Result<usize>> {
        send_before_shutdown(self.socket.get_ref(), buf)
    }

    #[cfg(target_os = "linux")]
    fn poll_send_file(
        &mut self,
        cx: &mut Context<'_>,
        file: &std::fs::File,
        offset: &mut u64,
        len: usize,
    ) -> Poll<io::Result<usize>> {
        loop {
            match super::send_file_now(self.socket.get_ref(), file, offset, len) {
                Some(sent) => return Poll::Ready(sent),
                None => ready!(self.socket.poll_writable(cx))?,
            }
        }
    }

    fn into_std(self: Box<Self>) -> io::Result<StdStream> {
        let stream = self.socket.into_inner()?;
        stream.set_nonblocking(false)?;
        Ok(stream)
    }
}

/// A listener that tries `accept` only when it may succeed: first once the reactor has
/// reported it readable (a passive listener is polled before its `227` is sent, when no
/// client can have connected yet), and after an empty queue, not again until the reactor
/// reports it readable. async-io's own loop tries the call on every poll.
struct IoListener {
    socket: Async<StdListener>,
    /// The last `accept` found the queue empty, or none was tried yet.
    drained: bool,
}

impl Listener for IoListener {
    fn poll_accept(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(Box<dyn Conn>, SocketAddr)>> {
        let (stream, peer) = ready!(poll_when_readable(
            &self.socket,
            &mut self.drained,
            cx,
            accept_nonblocking
        ))?;
        let conn = IoConn::new(Async::new_nonblocking(stream)?);
        Poll::Ready(Ok((Box::new(conn), peer)))
    }
}

/// `op` on `socket`, except after a `WouldBlock` (remembered in `drained`): then not before
/// the reactor reports the socket readable. async-io's own loops try the call on every poll.
fn poll_when_readable<T, R>(
    socket: &Async<T>,
    drained: &mut bool,
    cx: &mut Context<'_>,
    mut op: impl FnMut(&T) -> io::Result<R>,
) -> Poll<io::Result<R>> {
    loop {
        if *drained {
            ready!(socket.poll_readable(cx))?;
            *drained = false;
        }
        match op(socket.get_ref()) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => *drained = true,
            result => return Poll::Ready(result),
        }
    }
}

/// The next connection, non-blocking and close-on-exec from the start: the standard
/// library's `accept` gives a blocking socket, which `Async::new` then switches, one system
/// call more per connection.
fn accept_nonblocking(listener: &StdListener) -> io::Result<(StdStream, SocketAddr)> {
    use rustix::net::SocketFlags;
    let flags = SocketFlags::NONBLOCK | SocketFlags::CLOEXEC;
    let (socket, peer) = rustix::net::acceptfrom_with(listener, flags)?;
    let peer = peer
        .and_then(|peer| SocketAddr::try_from(peer).ok())
        .ok_or_else(|| io::Error::other("a TCP connection without a peer address"))?;
    Ok((StdStream::from(socket), peer))
}

struct IoTimerShim(IoTimer);

impl Timer for IoTimerShim {
    fn reset(&mut self, at: Instant) {
        self.0.set_at(at);
    }

    fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx).map(|_| ())
    }
}

impl Runtime for AsyncIoRuntime {
    fn spawn(&self, future: BoxFuture<'static, ()>) {
        (self.spawn)(future);
    }

    fn blocking(&self) -> BlockingPool {
        global_blocking_pool()
    }

    fn timer(&self, at: Instant) -> Box<dyn Timer> {
        Box::new(IoTimerShim(IoTimer::at(at)))
    }

    fn listener(&self, listener: StdListener) -> io::Result<Box<dyn Listener>> {
        Ok(Box::new(IoListener {
            socket: Async::new_nonblocking(listener)?,
            drained: true,
        }))
    }

    fn connect(&self, addr: SocketAddr) -> BoxFuture<'static, io::Result<Box<dyn Conn>>> {
        Box::pin(async move {
            let stream = Async::<StdStream>::connect(addr).await?;
            Ok(Box::new(IoConn::new(stream)) as Box<dyn Conn>)
        })
    }

    fn conn_from_std(&self, stream: StdStream) -> io::Result<Box<dyn Conn>> {
        Ok(Box::new(IoConn::new(Async::new(stream)?)))
    }
}
