//! The client for async-std and smol (feature `async-std`).
//!
//! Built on the `futures-io` traits and the async-io reactor that async-std and smol share,
//! not on the async-std crate, which is discontinued (RUSTSEC-2025-0052): the same types
//! serve smol applications (also reachable as `ftp_client::smol`). [`Download`] is a
//! [`futures_io::AsyncRead`] and [`Upload`] a [`futures_io::AsyncWrite`]; both borrow the
//! client, so nothing else can be sent while a transfer is open. Any executor works; the
//! example uses `async_io::block_on`.
//!
//! ```no_run
//! use ftp_client::async_std::Client;
//!
//! # fn main() -> ftp_client::Result<()> {
//! async_io::block_on(async {
//!     let mut client = Client::connect_url("ftp://anonymous@ftp.example.com/").await?;
//!     for entry in client.list("pub").await? {
//!         println!("{}", String::from_utf8_lossy(&entry.name));
//!     }
//!     let mut reader = &b"hello"[..];
//!     client.store_from("incoming/hello.txt", &mut reader).await?;
//!     client.quit().await?;
//!     Ok(())
//! })
//! # }
//! ```

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};

use crate::async_client::{upload_from, AsyncClient, AsyncDownload, AsyncRuntime, AsyncUpload};
use crate::error::Result;
pub use crate::runtime::async_io::AsyncIoRuntime;

/// An FTP or FTPS client for async-std and smol: [`AsyncClient`] on [`AsyncIoRuntime`],
/// where its methods are documented.
pub type Client = AsyncClient<AsyncIoRuntime>;
/// A download in progress, a [`futures_io::AsyncRead`] ([`AsyncDownload`]).
pub type Download<'a> = AsyncDownload<'a, AsyncIoRuntime>;
/// An upload in progress, a [`futures_io::AsyncWrite`] ([`AsyncUpload`]).
pub type Upload<'a> = AsyncUpload<'a, AsyncIoRuntime>;

impl AsyncRuntime for AsyncIoRuntime {}

/// What differs on async-std and smol: the reader is a [`futures_io::AsyncRead`].
impl AsyncClient<AsyncIoRuntime> {
    /// Uploads everything `reader` yields to `path` (STOR); returns the bytes sent.
    pub async fn store_from(
        &mut self,
        path: impl AsRef<[u8]>,
        reader: &mut (impl AsyncRead + Unpin),
    ) -> Result<u64> {
        let upload = self.store(path).await?;
        upload_from(upload, |cx, buf| Pin::new(&mut *reader).poll_read(cx, buf)).await
    }

    /// Appends everything `reader` yields to `path` (APPE); returns the bytes sent.
    pub async fn append_from(
        &mut self,
        path: impl AsRef<[u8]>,
        reader: &mut (impl AsyncRead + Unpin),
    ) -> Result<u64> {
        let upload = self.append(path).await?;
        upload_from(upload, |cx, buf| Pin::new(&mut *reader).poll_read(cx, buf)).await
    }
}

impl AsyncRead for AsyncDownload<'_, AsyncIoRuntime> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().0.poll_read(cx, buf)
    }
}

impl AsyncWrite for AsyncUpload<'_, AsyncIoRuntime> {
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
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().0.poll_close(cx)
    }
}
