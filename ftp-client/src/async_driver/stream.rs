//! Transfer streams of the async driver, written once against `futures-io` and polled by the
//! per-runtime wrappers (tokio's `AsyncRead`/`AsyncWrite`, or `futures-io`'s).

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use ftp_proto::client::{ClientDataEvent, DataConnId, Direction, OpId, TransferOutcome};

use super::{DataConn, Driver, DRAIN_LIMIT};
use crate::core::Started;
use crate::error::{data_failure, Error, Result};
use crate::runtime::{Conn, Runtime, Timer};
use crate::transcode::{Decoder, Encoder};

/// Buffer for wire bytes when transcoding.
const WIRE_LEN: usize = 64 * 1024;

fn failed_stream() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "the transfer failed; finish() reports why",
    )
}

/// What both directions share: the borrowed driver, the operation, the data connection, the
/// idle timer, and how it ended.
struct Transfer<'a, R: Runtime> {
    driver: &'a mut Driver<R>,
    direction: Direction,
    op: OpId,
    id: DataConnId,
    conn: Option<DataConn>,
    tls: bool,
    bytes: u64,
    /// `Finished` or `Failed` was reported.
    ended: bool,
    /// The operation's result was collected (or deliberately dropped).
    settled: bool,
    idle: Option<Box<dyn Timer>>,
    idle_armed: Option<Instant>,
    last_progress: Instant,
    /// A deadline in place of the idle timeout (the end of an upload's wait for the server's
    /// close): [`pending`](Self::pending) reports `TimedOut` at it without failing anything.
    deadline: Option<Instant>,
    /// The data connection of a download failed before a byte came (its TLS handshake): the
    /// transfer's result decides what a read gives ([`poll_verdict`](Self::poll_verdict)).
    verdict_decides: bool,
}

impl<'a, R: Runtime> Transfer<'a, R> {
    fn new(driver: &'a mut Driver<R>, op: OpId, started: Started, conn: DataConn) -> Self {
        let tls = driver.core.session.is_data_protected();
        let gone = matches!(conn, DataConn::Gone);
        Self {
            driver,
            direction: started.direction,
            op,
            id: started.id,
            conn: (!gone).then_some(conn),
            tls,
            bytes: 0,
            ended: gone,
            settled: false,
            idle: None,
            idle_armed: None,
            last_progress: Instant::now(),
            deadline: None,
            verdict_decides: gone,
        }
    }

    /// After a read failed with `error`: true when the transfer's result is to decide what
    /// the read gives, because not a byte came and the connection broke (a reset overtaking
    /// the end of an empty file's stream, say).
    fn verdict_after(&mut self, error: &io::Error) -> bool {
        use io::ErrorKind::*;
        let broke = matches!(
            error.kind(),
            ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof | InvalidData
        );
        if broke && self.bytes == 0 && self.direction == Direction::Download {
            self.verdict_decides = true;
        }
        self.verdict_decides
    }

    /// A download whose data connection is gone before a byte came: the end of the data
    /// once the session accepted the transfer (an empty file), an error once it failed it.
    /// Waiting drives the control connection (the reply timeout bounds it).
    fn poll_verdict(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        self.driver.poll_drive(cx);
        match self.driver.core.peek_ok(self.op) {
            Some(true) => Poll::Ready(Ok(0)),
            Some(false) => Poll::Ready(Err(failed_stream())),
            None if self.driver.core.session.is_closed() => Poll::Ready(Err(failed_stream())),
            None => Poll::Pending,
        }
    }

    /// The ready connection, finishing its TLS handshake first.
    fn poll_conn(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<&mut Box<dyn Conn>>> {
        #[cfg(feature = "tls")]
        ready!(self.poll_handshake(cx))?;
        #[cfg(not(feature = "tls"))]
        let _ = cx;
        match &mut self.conn {
            Some(DataConn::Ready(conn)) => Poll::Ready(Ok(conn)),
            _ => Poll::Ready(Err(failed_stream())),
        }
    }

    /// Finishes the data connection's TLS handshake, if one is under way.
    #[cfg(feature = "tls")]
    fn poll_handshake(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(DataConn::Handshaking(handshake)) = &mut self.conn {
            match handshake.as_mut().poll(cx) {
                Poll::Ready(Ok(conn)) => {
                    self.conn = Some(DataConn::Ready(conn));
                    self.last_progress = Instant::now();
                }
                Poll::Ready(Err(e)) => {
                    // The finished handshake is gone: nothing is left to tear down.
                    self.conn = None;
                    self.verdict_decides = self.direction == Direction::Download;
                    return Poll::Ready(Err(self.fail(&e)));
                }
                Poll::Pending => return self.pending(cx).map(Err),
            }
        }
        Poll::Ready(Ok(()))
    }

    /// [`poll_conn`](Self::poll_conn) without the connection: get it with
    /// [`ready_conn`](Self::ready_conn).
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_conn(cx).map(|r| r.map(drop))
    }

    /// The connection, once [`poll_ready`](Self::poll_ready) said it is ready.
    fn ready_conn(&mut self) -> Option<&mut Box<dyn Conn>> {
        match &mut self.conn {
            Some(DataConn::Ready(conn)) => Some(conn),
            _ => None,
        }
    }

    /// The data connection is waiting: keep the control connection going (so a 426 or 421
    /// ends the transfer at once), and watch the idle timer. Ready with an error when the
    /// transfer must stop.
    fn pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        self.driver.poll_drive(cx);
        if self.driver.core.aborted.contains(&self.id) || self.driver.core.is_complete(self.op) {
            // The session ended the transfer (a refusal, the connection closing, a timeout).
            self.ended = true;
            if let Some(conn) = self.conn.take() {
                self.driver.abort_conn(conn);
            }
            return Poll::Ready(failed_stream());
        }
        let now = Instant::now();
        let at = match self.deadline {
            // Waiting for the server's close: that deadline, not the idle timeout, bounds it.
            Some(deadline) if now >= deadline => {
                return Poll::Ready(io::Error::from(io::ErrorKind::TimedOut))
            }
            Some(deadline) => deadline,
            None => {
                let idle_at = self.last_progress + self.driver.net.data_idle_timeout;
                if now >= idle_at {
                    return Poll::Ready(self.fail(&io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the data connection was idle too long",
                    )));
                }
                idle_at
            }
        };
        let timer = self.idle.get_or_insert_with(|| R::timer(at));
        if self.idle_armed != Some(at) {
            timer.reset(at);
            self.idle_armed = Some(at);
        }
        if timer.poll_expired(cx).is_ready() {
            // Woken at the deadline: check again on the next poll.
            self.idle_armed = None;
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }

    fn progressed(&mut self) {
        self.last_progress = Instant::now();
    }

    /// The bytes went through and the connection is closed: report it; the session's
    /// `Close` is answered at once.
    fn end(&mut self) {
        if self.ended {
            return;
        }
        self.ended = true;
        self.conn = None;
        self.driver.core.closed_by_stream.insert(self.id);
        self.driver
            .core
            .data_event(self.id, ClientDataEvent::Finished { bytes: self.bytes });
    }

    /// The data connection failed: tear it down and report the failure.
    fn fail(&mut self, error: &io::Error) -> io::Error {
        if !self.ended {
            self.ended = true;
            if let Some(conn) = self.conn.take() {
                self.driver.abort_conn(conn);
            }
            self.driver
                .core
                .data_event(self.id, ClientDataEvent::Failed(data_failure(error)));
        }
        io::Error::new(error.kind(), error.to_string())
    }

    /// Queues ABOR and ends the data connection in the background: a reset, except for an
    /// upload under TLS, which ends with close_notify so the server keeps the TLS session
    /// (see the blocking client's notes; the server may take the partial upload as
    /// complete).
    fn abort(&mut self) {
        self.ended = true;
        match self.conn.take() {
            Some(DataConn::Ready(conn)) if self.tls && self.direction == Direction::Upload => {
                self.driver.close_in_background(conn);
            }
            Some(conn) => self.driver.abort_conn(conn),
            None => {}
        }
        let _ = self.driver.core.session.abort(self.op);
    }

    async fn result(&mut self) -> Result<TransferOutcome> {
        self.settled = true;
        crate::ops::transfer(self.driver.wait(self.op).await?)
    }
}

impl<R: Runtime> Drop for Transfer<'_, R> {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        if !self.ended {
            tracing::debug!(op = %self.op, "transfer stream dropped early: aborting");
            self.abort();
        }
        self.driver.core.discard(self.op);
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Reading,
    /// The connection ended; the decoders still hold bytes.
    Flushing,
    /// Every byte is handed over: close_notify and FIN go out.
    Closing,
    Done,
}

/// A download in progress, polled by the runtime wrappers.
pub(crate) struct Download<'a, R: Runtime> {
    transfer: Transfer<'a, R>,
    decoder: Decoder,
    wire: Vec<u8>,
    wire_start: usize,
    wire_end: usize,
    phase: Phase,
}

impl<'a, R: Runtime> Download<'a, R> {
    /// Waits for the transfer `op` to start and returns its stream.
    pub(crate) async fn start(driver: &'a mut Driver<R>, op: OpId) -> Result<Self> {
        let (started, conn) = driver.wait_started(op).await?;
        if started.direction != Direction::Download {
            driver.core.discard(op);
            driver.abort_conn(conn);
            return Err(Error::DataConnection(ftp_proto::client::DataFailure::Other));
        }
        let decoder = Decoder::new(started.params);
        let wire = if decoder.is_plain() {
            Vec::new()
        } else {
            vec![0; WIRE_LEN]
        };
        Ok(Self {
            transfer: Transfer::new(driver, op, started, conn),
            decoder,
            wire,
            wire_start: 0,
            wire_end: 0,
            phase: Phase::Reading,
        })
    }

    pub(crate) fn bytes(&self) -> u64 {
        self.transfer.bytes
    }

    pub(crate) async fn finish(mut self) -> Result<TransferOutcome> {
        if !self.transfer.ended {
            self.transfer.abort();
            return match self.transfer.result().await {
                Err(e) => Err(e),
                Ok(_) => Err(Error::Aborted { reply: None }),
            };
        }
        self.transfer.result().await
    }

    pub(crate) async fn abort(mut self) -> Result<()> {
        self.transfer.abort();
        match self.transfer.result().await {
            Ok(_) | Err(Error::Aborted { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Reads everything into `out`, failing past `limit` bytes with [`Error::TooLarge`] once
    /// the transfer is aborted (or with what ended the session, if the abort did).
    pub(crate) async fn read_all(&mut self, out: &mut Vec<u8>, limit: usize) -> Result<()> {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match poll_fn(|cx| self.poll_read(cx, &mut buf)).await {
                Ok(0) => return Ok(()),
                Ok(n) if out.len() + n > limit => {
                    self.transfer.abort();
                    let aborted = self.transfer.result().await.err();
                    return Err(crate::ops::past_the_limit(aborted, limit));
                }
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) => {
                    let verdict = self.transfer.result().await;
                    return Err(crate::ops::stream_failed(Error::Io(e), verdict));
                }
            }
        }
    }

    pub(crate) fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        loop {
            let step = match self.phase {
                Phase::Done => return Poll::Ready(Ok(0)),
                _ if self.transfer.ended => return self.poll_ended(cx),
                Phase::Closing => self.poll_closing(cx),
                Phase::Flushing => self.flush(buf),
                Phase::Reading if self.decoder.is_plain() => self.poll_plain(cx, buf),
                Phase::Reading => self.poll_decoded(cx, buf),
            };
            if let ReadStep::Return(poll) = step {
                return poll;
            }
        }
    }

    /// The transfer ended before the stream did: the server's verdict decides, or it failed.
    fn poll_ended(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if !self.transfer.verdict_decides {
            return Poll::Ready(Err(failed_stream()));
        }
        let verdict = ready!(self.transfer.poll_verdict(cx));
        if verdict.is_ok() {
            self.phase = Phase::Done;
        }
        Poll::Ready(verdict)
    }

    /// `None` once the data connection is ready to read; otherwise what `poll_read` does.
    fn poll_connection(&mut self, cx: &mut Context<'_>) -> Option<ReadStep> {
        match self.transfer.poll_ready(cx) {
            Poll::Ready(Ok(())) => None,
            Poll::Ready(Err(_)) if self.transfer.verdict_decides => Some(ReadStep::Again),
            Poll::Ready(Err(e)) => Some(ReadStep::Return(Poll::Ready(Err(e)))),
            Poll::Pending => Some(ReadStep::Return(Poll::Pending)),
        }
    }

    /// A read of the data connection failed, or has nothing yet.
    fn after_read(&mut self, cx: &mut Context<'_>, read: Poll<io::Error>) -> ReadStep {
        match read {
            Poll::Ready(e) if e.kind() == io::ErrorKind::Interrupted => ReadStep::Again,
            Poll::Ready(e) => {
                let error = self.transfer.fail(&e);
                match self.transfer.verdict_after(&error) {
                    true => ReadStep::Again,
                    false => ReadStep::Return(Poll::Ready(Err(error))),
                }
            }
            Poll::Pending => match self.transfer.pending(cx) {
                Poll::Ready(e) => ReadStep::Return(Poll::Ready(Err(e))),
                Poll::Pending => ReadStep::Return(Poll::Pending),
            },
        }
    }

    /// The file's bytes are all read: close the data connection, then report the end.
    fn poll_closing(&mut self, cx: &mut Context<'_>) -> ReadStep {
        if let Some(step) = self.poll_connection(cx) {
            return step;
        }
        let Some(conn) = self.transfer.ready_conn() else {
            return ReadStep::Return(Poll::Ready(Err(failed_stream())));
        };
        if Pin::new(&mut **conn).poll_close(cx).is_pending() {
            return self.after_read(cx, Poll::Pending);
        }
        self.transfer.end();
        self.phase = Phase::Done;
        // Let the session see the end at once (the final reply may be in).
        self.transfer.driver.poll_drive(cx);
        ReadStep::Return(Poll::Ready(Ok(0)))
    }

    /// The wire ended: what the decoder still holds.
    fn flush(&mut self, buf: &mut [u8]) -> ReadStep {
        let (written, done) = match self.decoder.finish(buf) {
            Ok(step) => step,
            Err(e) => {
                let e = io::Error::new(io::ErrorKind::InvalidData, e);
                return ReadStep::Return(Poll::Ready(Err(self.transfer.fail(&e))));
            }
        };
        self.transfer.bytes += written as u64;
        if done {
            self.phase = Phase::Closing;
        }
        match written {
            0 => ReadStep::Again,
            n => ReadStep::Return(Poll::Ready(Ok(n))),
        }
    }

    /// TYPE I, MODE S: the data connection's bytes, straight into `buf`.
    fn poll_plain(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> ReadStep {
        if let Some(step) = self.poll_connection(cx) {
            return step;
        }
        let Some(conn) = self.transfer.ready_conn() else {
            return ReadStep::Return(Poll::Ready(Err(failed_stream())));
        };
        match Pin::new(&mut **conn).poll_read(cx, buf) {
            Poll::Ready(Ok(0)) => {
                self.phase = Phase::Closing;
                ReadStep::Again
            }
            Poll::Ready(Ok(n)) => {
                self.transfer.bytes += n as u64;
                self.transfer.progressed();
                ReadStep::Return(Poll::Ready(Ok(n)))
            }
            Poll::Ready(Err(e)) => self.after_read(cx, Poll::Ready(e)),
            Poll::Pending => self.after_read(cx, Poll::Pending),
        }
    }

    /// TYPE A or MODE B/C: decode what the wire buffer holds into `buf`, reading the data
    /// connection when it is empty.
    fn poll_decoded(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> ReadStep {
        if self.wire_start < self.wire_end {
            if let Some(step) = self.decode(buf) {
                return step;
            }
        }
        if let Some(step) = self.poll_connection(cx) {
            return step;
        }
        let Some(conn) = self.transfer.ready_conn() else {
            return ReadStep::Return(Poll::Ready(Err(failed_stream())));
        };
        match Pin::new(&mut **conn).poll_read(cx, &mut self.wire) {
            Poll::Ready(Ok(0)) => self.phase = Phase::Flushing,
            Poll::Ready(Ok(n)) => {
                self.wire_start = 0;
                self.wire_end = n;
                self.transfer.progressed();
            }
            Poll::Ready(Err(e)) => return self.after_read(cx, Poll::Ready(e)),
            Poll::Pending => return self.after_read(cx, Poll::Pending),
        }
        ReadStep::Again
    }

    /// Decodes the front of the wire buffer into `buf`; `None` when it took nothing and the
    /// data connection must be read.
    fn decode(&mut self, buf: &mut [u8]) -> Option<ReadStep> {
        let step = self
            .decoder
            .decode(&self.wire[self.wire_start..self.wire_end], buf);
        let (consumed, written) = match step {
            Ok(step) => step,
            Err(e) => {
                let e = io::Error::new(io::ErrorKind::InvalidData, e);
                return Some(ReadStep::Return(Poll::Ready(Err(self.transfer.fail(&e)))));
            }
        };
        self.wire_start += consumed;
        if self.decoder.at_end_of_file() {
            // MODE B/C: the end-of-file mark ends the file, whether or not the server closes
            // the connection.
            self.wire_start = self.wire_end;
            self.phase = Phase::Flushing;
        }
        if written > 0 {
            self.transfer.bytes += written as u64;
            return Some(ReadStep::Return(Poll::Ready(Ok(written))));
        }
        (consumed > 0 || self.phase == Phase::Flushing).then_some(ReadStep::Again)
    }
}

/// What one step of [`Download::poll_read`] came to.
enum ReadStep {
    /// Go round again (the phase may have changed).
    Again,
    /// Return this.
    Return(Poll<io::Result<usize>>),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Closing {
    No,
    /// Writing the encoders' tails.
    Tail,
    /// close_notify and FIN.
    Close,
    /// Reading until the server's end.
    Drain {
        drained: usize,
    },
    Done,
}

/// An upload in progress, polled by the runtime wrappers.
pub(crate) struct Upload<'a, R: Runtime> {
    transfer: Transfer<'a, R>,
    encoder: Encoder,
    wire: Vec<u8>,
    wire_start: usize,
    wire_end: usize,
    closing: Closing,
}

impl<'a, R: Runtime> Upload<'a, R> {
    /// Waits for the transfer `op` to start and returns its stream.
    pub(crate) async fn start(driver: &'a mut Driver<R>, op: OpId) -> Result<Self> {
        let (started, conn) = driver.wait_started(op).await?;
        if matches!(conn, DataConn::Gone) {
            // Failed before a byte went: the transfer's result says why.
            let verdict = crate::ops::transfer(driver.wait(op).await?);
            return Err(verdict
                .err()
                .unwrap_or(Error::DataConnection(ftp_proto::client::DataFailure::Other)));
        }
        if started.direction != Direction::Upload {
            driver.core.discard(op);
            driver.abort_conn(conn);
            return Err(Error::DataConnection(ftp_proto::client::DataFailure::Other));
        }
        let encoder = Encoder::new(started.params);
        let wire = if encoder.is_plain() {
            Vec::new()
        } else {
            vec![0; WIRE_LEN]
        };
        Ok(Self {
            transfer: Transfer::new(driver, op, started, conn),
            encoder,
            wire,
            wire_start: 0,
            wire_end: 0,
            closing: Closing::No,
        })
    }

    pub(crate) fn bytes(&self) -> u64 {
        self.transfer.bytes
    }

    pub(crate) async fn finish(mut self) -> Result<TransferOutcome> {
        if !self.transfer.ended {
            let _ = poll_fn(|cx| self.poll_close(cx)).await;
        }
        self.transfer.result().await
    }

    pub(crate) async fn abort(mut self) -> Result<()> {
        self.transfer.abort();
        match self.transfer.result().await {
            Ok(_) | Err(Error::Aborted { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Writes the held wire bytes out.
    fn poll_wire(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.wire_start < self.wire_end {
            let conn = match self.transfer.poll_conn(cx) {
                Poll::Ready(Ok(conn)) => conn,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            };
            match Pin::new(&mut **conn).poll_write(cx, &self.wire[self.wire_start..self.wire_end]) {
                Poll::Ready(Ok(0)) => {
                    let e = io::Error::new(io::ErrorKind::WriteZero, "data connection closed");
                    return Poll::Ready(Err(self.transfer.fail(&e)));
                }
                Poll::Ready(Ok(n)) => {
                    self.wire_start += n;
                    self.transfer.progressed();
                }
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(self.transfer.fail(&e))),
                Poll::Pending => {
                    return match self.transfer.pending(cx) {
                        Poll::Ready(e) => Poll::Ready(Err(e)),
                        Poll::Pending => Poll::Pending,
                    }
                }
            }
        }
        self.wire_start = 0;
        self.wire_end = 0;
        Poll::Ready(Ok(()))
    }

    pub(crate) fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.transfer.ended || self.closing != Closing::No {
            return Poll::Ready(Err(failed_stream()));
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if self.encoder.is_plain() {
            self.poll_write_plain(cx, buf)
        } else {
            self.poll_write_encoded(cx, buf)
        }
    }

    /// TYPE I, MODE S: `buf` straight to the data connection.
    fn poll_write_plain(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let conn = ready!(self.transfer.poll_conn(cx))?;
        match Pin::new(&mut **conn).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => {
                self.transfer.bytes += n as u64;
                self.transfer.progressed();
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => Poll::Ready(Err(e)),
            Poll::Ready(Err(e)) => Poll::Ready(Err(self.transfer.fail(&e))),
            Poll::Pending => self.transfer.pending(cx).map(Err),
        }
    }

    /// TYPE A or MODE B/C: once what was encoded before is out, encode `buf` into the wire
    /// buffer and start writing it; what does not go now goes with the next call.
    fn poll_write_encoded(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        ready!(self.poll_wire(cx))?;
        let (consumed, written) = self.encoder.encode(buf, &mut self.wire);
        self.wire_start = 0;
        self.wire_end = written;
        self.transfer.bytes += consumed as u64;
        if let Poll::Ready(Err(e)) = self.poll_wire(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(consumed))
    }

    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.transfer.ended {
            return Poll::Ready(if self.closing == Closing::Done {
                Ok(())
            } else {
                Err(failed_stream())
            });
        }
        match self.poll_wire(cx) {
            Poll::Ready(Ok(())) => {}
            other => return other,
        }
        let conn = match self.transfer.poll_conn(cx) {
            Poll::Ready(Ok(conn)) => conn,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        };
        match Pin::new(&mut **conn).poll_flush(cx) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(self.transfer.fail(&e))),
            Poll::Pending => match self.transfer.pending(cx) {
                Poll::Ready(e) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    /// Ends the data: the encoders' tails, close_notify and FIN, then the server's end of
    /// the connection (within the data timeout); then the end of the bytes is reported.
    pub(crate) fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            // Each phase is `Ready(Ok(()))` when it moved on (maybe to the next phase).
            match self.closing {
                Closing::Done => return Poll::Ready(Ok(())),
                _ if self.transfer.ended => return Poll::Ready(Err(failed_stream())),
                Closing::No => self.closing = Closing::Tail,
                Closing::Tail => ready!(self.poll_tail(cx))?,
                Closing::Close => ready!(self.poll_shutdown(cx))?,
                Closing::Drain { drained } => ready!(self.poll_drain(cx, drained))?,
            }
        }
    }

    /// Writes what is held, then the encoders' tails (a MODE B end-of-file block); plain
    /// transfers have none.
    fn poll_tail(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_wire(cx))?;
        if self.encoder.is_plain() {
            self.closing = Closing::Close;
            return Poll::Ready(Ok(()));
        }
        let (written, done) = self.encoder.finish(&mut self.wire);
        self.wire_start = 0;
        self.wire_end = written;
        if done {
            self.closing = Closing::Close;
            ready!(self.poll_wire(cx))?;
        }
        Poll::Ready(Ok(()))
    }

    /// close_notify and FIN; then the server's end is awaited within the data timeout.
    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_wire(cx))?;
        let conn = ready!(self.transfer.poll_conn(cx))?;
        match Pin::new(&mut **conn).poll_close(cx) {
            Poll::Ready(Ok(())) => {
                self.closing = Closing::Drain { drained: 0 };
                self.transfer.deadline =
                    Some(Instant::now() + self.transfer.driver.net.data_timeout);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(self.transfer.fail(&e))),
            Poll::Pending => self.transfer.pending(cx).map(Err),
        }
    }

    /// Reads (and drops) what the server still sends until it closes, at most
    /// [`DRAIN_LIMIT`] bytes and until the deadline; then the end is reported.
    fn poll_drain(&mut self, cx: &mut Context<'_>, drained: usize) -> Poll<io::Result<()>> {
        if drained >= DRAIN_LIMIT {
            self.finish_close(cx);
            return Poll::Ready(Ok(()));
        }
        let conn = ready!(self.transfer.poll_conn(cx))?;
        let mut scratch = [0u8; 4096];
        match Pin::new(&mut **conn).poll_read(cx, &mut scratch) {
            Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => self.finish_close(cx),
            Poll::Ready(Ok(n)) => {
                self.closing = Closing::Drain {
                    drained: drained + n,
                }
            }
            Poll::Pending => match self.transfer.pending(cx) {
                // The server did not close within the data timeout: the bytes are out; its
                // final reply decides.
                Poll::Ready(_) if !self.transfer.ended => self.finish_close(cx),
                Poll::Ready(e) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            },
        }
        Poll::Ready(Ok(()))
    }

    fn finish_close(&mut self, cx: &mut Context<'_>) {
        self.closing = Closing::Done;
        self.transfer.end();
        self.transfer.driver.poll_drive(cx);
    }
}
