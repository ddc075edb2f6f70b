//! The client on tokio (feature `tokio`).
//!
//! [`Download`] is a [`tokio::io::AsyncRead`] and [`Upload`] a [`tokio::io::AsyncWrite`];
//! both borrow the client, so nothing else can be sent while a transfer is open. Call the
//! client from inside a tokio runtime with the `net` and `time` drivers enabled.
//!
//! ```no_run
//! use ftp_client::tokio::Client;
//! use tokio::io::AsyncReadExt;
//!
//! # async fn demo() -> ftp_client::Result<()> {
//! let mut client = Client::connect_url("ftpes://user:secret@ftp.example.com/").await?;
//! let mut download = client.retrieve("report.csv", 0).await?;
//! let mut text = String::new();
//! download.read_to_string(&mut text).await?;
//! download.finish().await?;
//! let mut reader = &b"hello"[..];
//! client.store_from("hello.txt", &mut reader).await?;
//! client.quit().await?;
//! # Ok(())
//! # }
//! ```

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::async_client::{upload_from, AsyncClient, AsyncDownload, AsyncRuntime, AsyncUpload};
use crate::error::Result;
pub use crate::runtime::tokio::TokioRuntime;

/// An FTP or FTPS client on tokio: [`AsyncClient`] on [`TokioRuntime`], where its methods
/// are documented.
pub type Client = AsyncClient<TokioRuntime>;
/// A download in progress on tokio, a [`tokio::io::AsyncRead`] ([`AsyncDownload`]).
pub type Download<'a> = AsyncDownload<'a, TokioRuntime>;
/// An upload in progress on tokio, a [`tokio::io::AsyncWrite`] ([`AsyncUpload`]).
pub type Upload<'a> = AsyncUpload<'a, TokioRuntime>;

impl AsyncRuntime for TokioRuntime {}

/// What differs on tokio: the reader is a [`tokio::io::AsyncRead`].
impl AsyncClient<TokioRuntime> {
    /// Uploads everything `reader` yields to `path` (STOR); returns the bytes sent.
    pub async fn store_from(
        &mut self,
        path: impl AsRef<[u8]>,
        reader: &mut (impl AsyncRead + Unpin),
    ) -> Result<u64> {
        let upload = self.store(path).await?;
        upload_from(upload, |cx, buf| poll_tokio_read(reader, cx, buf)).await
    }

    /// Appends everything `reader` yields to `path` (APPE); returns the bytes sent.
    pub async fn append_from(
        &mut self,
        path: impl AsRef<[u8]>,
        reader: &mut (impl AsyncRead + Unpin),
    ) -> Result<u64> {
        let upload = self.append(path).await?;
        upload_from(upload, |cx, buf| poll_tokio_read(reader, cx, buf)).await
    }
}

fn poll_tokio_read(
    reader: &mut (impl AsyncRead + Unpin),
    cx: &mut Context<'_>,
    buf: &mut [u8],
) -> Poll<io::Result<usize>> {
    let mut buf = ReadBuf::new(buf);
    ready!(Pin::new(reader).poll_read(cx, &mut buf))?;
    Poll::Ready(Ok(buf.filled().len()))
}

impl AsyncRead for AsyncDownload<'_, TokioRuntime> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = ready!(self.get_mut().0.poll_read(cx, buf.initialize_unfilled()))?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for AsyncUpload<'_, TokioRuntime> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().0.poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().0.poll_flush(cx)
    }

    /// Ends the data (see [`AsyncUpload::finish`], which also waits for the server's verdict).
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().0.poll_close(cx)
    }
}
