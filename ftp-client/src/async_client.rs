//! The async `Client`, `Download` and `Upload` types, written once and expanded per runtime
//! (the `tokio` and `async_std` modules add their runtime's stream traits).

/// Expands the client types over runtime `$rt`.
macro_rules! async_client {
    ($rt:ty) => {
        use std::future::poll_fn;

        use ftp_proto::client::{OpId, StoreKind, TransferOutcome};

        use crate::async_driver::Driver;
        use crate::error::{Error, Result};
        use crate::ops::client_methods;
        use crate::options::{parse_host_port, ConnectOptions};
        use crate::url::FtpUrl;

        /// An FTP or FTPS client. Every method sends its commands and awaits the replies
        /// (each within the reply timeout); [`Error`] carries the server's reply when it
        /// refused. The session stays usable after a refusal; [`Error::is_fatal`] says when
        /// it is not.
        ///
        /// The client does its work while one of its futures (or a transfer stream) is
        /// polled; it spawns no task. Dropping a call's future before it completes is safe:
        /// the operation's result is dropped when it arrives, and a transfer not yet started
        /// is aborted.
        pub struct Client {
            driver: Driver<$rt>,
        }

        impl std::fmt::Debug for Client {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct("Client")
                    .field("session", &self.driver.core.session)
                    .finish_non_exhaustive()
            }
        }

        impl Client {
            /// Connects to `host:port` (or a bare host, port 21) in plain FTP and reads the
            /// greeting; [`login`](Self::login) comes next.
            pub async fn connect(target: &str) -> Result<Self> {
                let (host, port) = parse_host_port(target)?;
                Self::connect_with(&ConnectOptions::new(host, port)).await
            }

            /// Connects to what an `ftp://`, `ftps://` (implicit) or `ftpes://` (explicit
            /// FTPS) URL names and logs in with its user and password (`anonymous` without
            /// one). The URL's path is not visited: use [`FtpUrl`] to read it.
            pub async fn connect_url(url: &str) -> Result<Self> {
                Self::connect_with(&ConnectOptions::from_url(&FtpUrl::parse(url)?)).await
            }

            /// Connects as `options` say: TCP within the connect timeout, TLS (implicit, or
            /// AUTH TLS with PBSZ/PROT for explicit), the greeting, and the login when the
            /// options carry credentials.
            pub async fn connect_with(options: &ConnectOptions) -> Result<Self> {
                Ok(Self {
                    driver: Driver::connect(options).await?,
                })
            }

            client_methods!(async, [.await]);

            /// Downloads `path` from byte `offset` (REST when not 0): the returned
            /// [`Download`] reads the file's bytes. Read it to the end, then call
            /// [`Download::finish`] for the server's verdict.
            pub async fn retrieve(
                &mut self,
                path: impl AsRef<[u8]>,
                offset: u64,
            ) -> Result<Download<'_>> {
                let op = self
                    .driver
                    .queue_data(|s| s.retrieve(crate::ops::bytes(path), offset))
                    .await?;
                self.transfer_stream(op).await
            }

            /// Uploads to `path`, replacing it (STOR): write the bytes into the returned
            /// [`Upload`], then call [`Upload::finish`].
            pub async fn store(&mut self, path: impl AsRef<[u8]>) -> Result<Upload<'_>> {
                self.upload(path, StoreKind::Replace, 0).await
            }

            /// Resumes an upload: the bytes written go to `path` from byte `offset` on
            /// (REST, STOR).
            pub async fn store_at(
                &mut self,
                path: impl AsRef<[u8]>,
                offset: u64,
            ) -> Result<Upload<'_>> {
                self.upload(path, StoreKind::Replace, offset).await
            }

            /// Appends to `path` (APPE): write the bytes into the returned [`Upload`], then
            /// call [`Upload::finish`].
            pub async fn append(&mut self, path: impl AsRef<[u8]>) -> Result<Upload<'_>> {
                self.upload(path, StoreKind::Append, 0).await
            }

            async fn upload(
                &mut self,
                path: impl AsRef<[u8]>,
                kind: StoreKind,
                offset: u64,
            ) -> Result<Upload<'_>> {
                let op = self
                    .driver
                    .queue_data(|s| s.store(crate::ops::bytes(path), kind, offset))
                    .await?;
                Ok(Upload(
                    crate::async_driver::Upload::start(&mut self.driver, op).await?,
                ))
            }

            async fn transfer_stream(&mut self, op: OpId) -> Result<Download<'_>> {
                Ok(Download(
                    crate::async_driver::Download::start(&mut self.driver, op).await?,
                ))
            }
        }

        /// A download in progress: the file's bytes (decoded from TYPE A or MODE B/C when
        /// those are in effect), read through the runtime's `AsyncRead`.
        ///
        /// Read to the end, then call [`finish`](Self::finish): the end of the data alone
        /// does not prove the transfer complete, the server's final reply does. A read that
        /// stays without data longer than the data idle timeout fails with `TimedOut`; a
        /// refusal or close from the server while reading fails it at once. Dropping the
        /// download before the end aborts the transfer (the data connection is reset, ABOR
        /// goes out with the client's next call); [`abort`](Self::abort) does it at once.
        pub struct Download<'a>(crate::async_driver::Download<'a, $rt>);

        impl Download<'_> {
            /// Waits for the server's verdict once every byte was read: the outcome (final
            /// reply, byte count) or the error that ended the transfer. Called before the
            /// end, it aborts the transfer and returns [`Error::Aborted`].
            pub async fn finish(self) -> Result<TransferOutcome> {
                self.0.finish().await
            }

            /// Aborts the transfer (ABOR, and a reset of the data connection) and waits for
            /// the server to confirm. Succeeds when the transfer ended either way.
            pub async fn abort(self) -> Result<()> {
                self.0.abort().await
            }

            /// Bytes handed to the application so far.
            pub fn byte_count(&self) -> u64 {
                self.0.bytes()
            }

            pub(crate) async fn read_all(&mut self, out: &mut Vec<u8>, limit: usize) -> Result<()> {
                self.0.read_all(out, limit).await
            }

            /// Reads the next bytes into `buf` (`Ok(0)` at the end).
            pub(crate) async fn read_chunk(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                poll_fn(|cx| self.0.poll_read(cx, buf)).await
            }
        }

        /// An upload in progress: bytes written through the runtime's `AsyncWrite` go to
        /// the server (encoded to TYPE A or MODE B/C when those are in effect).
        ///
        /// Call [`finish`](Self::finish) when everything is written: it ends the data
        /// (close_notify under TLS, then the end of the connection) and waits for the
        /// server's verdict. Closing the writer (`shutdown`/`close`) ends the data too.
        /// Dropping the upload without either aborts the transfer (the data connection is
        /// reset so the server does not take a partial file for a complete one; under TLS it
        /// ends with close_notify to keep the TLS session, see the crate docs).
        ///
        /// When the server breaks the data connection off (it refuses the upload, runs out
        /// of space, refuses the data connection's TLS), a write fails with an I/O error;
        /// `finish` then returns the server's reason, its final reply ([`Error::Reply`] with
        /// `426`, `552`, `522`, ...).
        pub struct Upload<'a>(crate::async_driver::Upload<'a, $rt>);

        impl Upload<'_> {
            /// Ends the upload and waits for the server's verdict: the outcome (final reply,
            /// bytes sent, the name chosen for STOU) or the error that ended the transfer.
            pub async fn finish(self) -> Result<TransferOutcome> {
                self.0.finish().await
            }

            /// Aborts the transfer (ABOR, and the end of the data connection) and waits for
            /// the server to confirm.
            pub async fn abort(self) -> Result<()> {
                self.0.abort().await
            }

            /// Bytes taken from the application so far.
            pub fn byte_count(&self) -> u64 {
                self.0.bytes()
            }

            /// Writes all of `data`.
            pub(crate) async fn write_all_bytes(&mut self, mut data: &[u8]) -> Result<()> {
                while !data.is_empty() {
                    match poll_fn(|cx| self.0.poll_write(cx, data)).await {
                        Ok(0) => {
                            return Err(Error::Io(std::io::Error::new(
                                std::io::ErrorKind::WriteZero,
                                "upload closed",
                            )))
                        }
                        Ok(n) => data = &data[n..],
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(Error::Io(e)),
                    }
                }
                Ok(())
            }
        }

        /// Uploads what `read` yields (a poll of the application's reader into a buffer).
        async fn upload_from(
            mut upload: Upload<'_>,
            mut read: impl FnMut(&mut std::task::Context<'_>, &mut [u8]) -> std::task::Poll<std::io::Result<usize>>,
        ) -> Result<u64> {
            let mut buf = vec![0u8; 64 * 1024];
            let mut total = 0u64;
            loop {
                let n = match poll_fn(|cx| read(cx, &mut buf)).await {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        drop(upload);
                        return Err(Error::Io(e));
                    }
                };
                if let Err(e) = upload.write_all_bytes(&buf[..n]).await {
                    return Err(crate::ops::stream_failed(e, upload.finish().await));
                }
                total += n as u64;
            }
            upload.finish().await?;
            Ok(total)
        }
    };
}

pub(crate) use async_client;
