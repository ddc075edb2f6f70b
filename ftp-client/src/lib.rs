//! # ftp-client
//!
//! FTP and FTPS clients for three styles of Rust, all driving the same sans-IO
//! [`ClientSession`](ftp_proto::client::ClientSession) of `ftp-proto`:
//!
//! | style | module | streams |
//! |---|---|---|
//! | blocking `std::net` | [`blocking`] | `std::io::Read` / `Write` |
//! | tokio (feature `tokio`) | `tokio` | `tokio::io::AsyncRead` / `AsyncWrite` |
//! | async-std and smol (feature `async-std`) | `async_std` (alias `smol`) | `futures_io::AsyncRead` / `AsyncWrite` |
//!
//! Each style has a `Client` with the same methods (connect, login, cwd, pwd, list, nlst,
//! mlst, size, mdtm, set_modified, mkdir, rmdir, delete, rename, retrieve, retrieve_to,
//! retrieve_to_vec, store, store_unique, append, site, raw, ccc, noop, quit, ...) and the
//! same [`Error`]. Transfers are streams: `retrieve` returns a `Download` the caller reads,
//! `store` an `Upload` the caller fills and `finish`es; either dropped early aborts the
//! transfer cleanly. The async styles share one client, `AsyncClient`, generic over the
//! runtime (its methods are documented there): `tokio::Client` is
//! `AsyncClient<tokio::TokioRuntime>`, `async_std::Client` is
//! `AsyncClient<async_std::AsyncIoRuntime>`, and likewise `AsyncDownload` and `AsyncUpload`.
//!
//! What every style does:
//!
//! * **FTPS** with rustls (aws-lc-rs provider; feature `tls`, on by default): explicit (`AUTH TLS`)
//!   and implicit, `PROT P` data connections that resume the control connection's TLS session
//!   (vsftpd's `require_ssl_reuse=YES` accepts them), close_notify on every data connection
//!   close, your own trust anchors (`TlsConfig`), and `TlsConfig::danger_accept_invalid_certs`
//!   for test servers.
//! * **Data connections**: passive (EPSV, then PASV, connecting to the control connection's
//!   peer whatever address a 227 names) or active (EPRT/PORT, advertised address and port
//!   range configurable, only the server may connect).
//! * **Timeouts** for connecting, for each reply and for an idle data connection
//!   ([`ConnectOptions`]); nothing waits forever.
//! * **Typed errors** that carry the server's reply ([`Error::reply`]), and say what a
//!   refused certificate means and how to get past it.
//! * **Local files that survive**: [`retrieve_to`](blocking::Client::retrieve_to) writes a
//!   temporary file beside the target and renames it only once the server confirmed.
//! * **Your own connector** ([`Connector`]) for the control and passive data connections
//!   (a SOCKS5 or HTTP CONNECT proxy).
//! * **TYPE A and MODE B/C** decoded and encoded on the data path.
//!
//! ## Features
//!
//! | feature | default | adds | pulls in |
//! |---|---|---|---|
//! | `tokio` | yes | the `tokio` module | `tokio` (its `net` and `time` features), `futures-io` |
//! | `async-std` | no | the `async_std` module (alias `smol`) | `async-io`, `blocking`, `futures-io` |
//! | `tls` | yes | FTPS: `TlsConfig`, `ConnectOptions::tls_config`, `Error::Tls`, the `rustls` re-export | `rustls` (aws-lc-rs provider), `futures-rustls` |
//! | `webpki-roots` | yes | the Mozilla root certificates as `TlsConfig::default`'s trust store; implies `tls` | `webpki-roots` |
//!
//! The blocking client needs no feature. Neither runtime feature pulls in the other's crates,
//! nor any TLS crate: without `tls` neither rustls nor aws-lc-rs is compiled, and a connection
//! that asks for FTPS ([`TlsMode::Explicit`] or [`TlsMode::Implicit`], an `ftps://` or `ftpes://`
//! URL) fails with [`Error::TlsNotBuiltIn`] before anything is sent, never falling back to
//! plain FTP.
//!
//! ## Blocking
//!
//! ```no_run
//! use std::io::Read;
//! use ftp_client::blocking::Client;
//!
//! # fn main() -> ftp_client::Result<()> {
//! let mut client = Client::connect_url("ftp://user:secret@ftp.example.com")?;
//! let mut download = client.retrieve("report.csv", 0)?;
//! let mut text = String::new();
//! download.read_to_string(&mut text)?;
//! download.finish()?;
//! client.quit()?;
//! # Ok(())
//! # }
//! ```
//!
//! ## tokio
//!
//! ```no_run
//! # #[cfg(feature = "tokio")]
//! # async fn demo() -> ftp_client::Result<()> {
//! use ftp_client::tokio::Client;
//! use tokio::io::AsyncReadExt;
//!
//! let mut client = Client::connect_url("ftpes://user:secret@ftp.example.com").await?;
//! let mut download = client.retrieve("report.csv", 0).await?;
//! let mut text = String::new();
//! download.read_to_string(&mut text).await?;
//! download.finish().await?;
//! client.quit().await?;
//! # Ok(())
//! # }
//! ```
//!
//! ## async-std and smol
//!
//! ```no_run
//! # #[cfg(feature = "async-std")]
//! # fn demo() -> ftp_client::Result<()> {
//! use ftp_client::async_std::Client;
//!
//! async_io::block_on(async {
//!     let mut client = Client::connect_url("ftp://anonymous@ftp.example.com").await?;
//!     let mut reader = &b"hello"[..];
//!     client.store_from("incoming/hello.txt", &mut reader).await?;
//!     client.quit().await?;
//!     Ok(())
//! })
//! # }
//! ```
//!
//! ## Notes
//!
//! * Transfer streams borrow their client mutably: nothing else can be sent while a transfer
//!   is open, which is what FTP allows anyway, and a queued command can never wait behind a
//!   transfer nobody reads.
//! * Dropping a `Download` early resets its data connection and queues ABOR; dropping an
//!   `Upload` without `finish` does the same (under TLS it ends with close_notify instead of
//!   a reset, so servers that require TLS session reuse keep accepting data connections; such
//!   a server may then keep the partial file as if complete). The client's next call reads
//!   the replies first, so the session is never left waiting.
//! * The async clients do their work while one of their futures or streams is polled; they
//!   spawn no task. An idle async client therefore sends no keep-alive and notices a closed
//!   connection only at its next call.
//! * With TLS 1.3, each data connection uses up one session ticket and receives a fresh one;
//!   the client keeps that supply from running dry (it asks for tickets on every connection
//!   with the RFC 9149 `ticket_request` extension, so servers that send none on uploads
//!   unasked, like ftp-server, send them too; refused transfers do not start a handshake;
//!   aborted ones wait briefly for their ticket), which servers requiring session reuse
//!   (vsftpd's default) depend on. A server that sends no fresh ticket on some connections
//!   (ProFTPD, after uploads) still runs the supply dry, since rustls presents each ticket
//!   once: the client then moves the session to a new control connection over TLS 1.2
//!   (whose session resumes any number of times) before the next transfer, logging in again
//!   and restoring the working directory and transfer parameters (see `TlsConfig`). Only
//!   when that new connection cannot be had is the refusal `Error::TlsSessionsExhausted`.
//!
//! ## How it is built
//!
//! The protocol (what to send, how to read replies, when a transfer is complete, timers) lives
//! in `ftp-proto`. This crate executes what the session asks for: one driver for the
//! blocking style, and one async driver shared by tokio and async-io (async-std, smol) behind
//! a small runtime shim. The async driver runs inside the futures the caller awaits (no task is
//! spawned, no thread started): control reads and writes, data connects and accepts, TLS
//! handshakes and the timer are polled together by whichever call is in progress, and their
//! results are fed to the session in one place.

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(any(feature = "tokio", feature = "async-std"))]
mod async_client;
#[cfg(any(feature = "tokio", feature = "async-std"))]
mod async_driver;
#[cfg(feature = "async-std")]
#[cfg_attr(docsrs, doc(cfg(feature = "async-std")))]
pub mod async_std;
pub mod blocking;
mod connector;
mod core;
mod error;
mod local;
mod net;
mod ops;
mod options;
#[cfg(any(feature = "tokio", feature = "async-std"))]
mod runtime;
#[cfg(feature = "tls")]
mod tls;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub mod tokio;
mod transcode;
mod url;

pub use ftp_proto as proto;

#[cfg(any(feature = "tokio", feature = "async-std"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "tokio", feature = "async-std"))))]
pub use crate::async_client::{AsyncClient, AsyncDownload, AsyncRuntime, AsyncUpload};
pub use crate::connector::Connector;
pub use crate::error::{Error, Result};
pub use crate::local::PartFile;
pub use crate::ops::LISTING_LIMIT;
pub use crate::options::{ConnectOptions, TlsMode};
#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub use crate::tls::TlsConfig;
pub use crate::url::{FtpUrl, UrlError};

pub use ftp_proto::client::{
    Credentials, DataFailure, DataMode, ListKind, PasvAddressPolicy, TransferKind, TransferOutcome,
};
pub use ftp_proto::feat::Features;
pub use ftp_proto::listing::{Entry, EntryKind};
pub use ftp_proto::transfer::{DataType, FormatControl, TransferMode};
pub use ftp_proto::{Reply, ReplyCode, Timestamp};
/// The rustls this crate is built with, for [`TlsConfig::from_rustls`] and
/// [`TlsConfig::with_root_store`] callers.
#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub use rustls;

/// The async-std client serves smol unchanged: both run on the async-io reactor.
#[cfg(feature = "async-std")]
#[cfg_attr(docsrs, doc(cfg(feature = "async-std")))]
pub use crate::async_std as smol;

/// The README's Rust examples (the core's and the client's), compiled and run as doc tests:
/// here, where ftp-proto, ftp-client and, as a dev-dependency, ftp-server are all at hand.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeExamples;

/// Without the `tls` feature, every way of asking for FTPS fails with
/// [`Error::TlsNotBuiltIn`] before a connection is made: no panic, no plaintext session.
/// (`cargo test -p ftp-client --no-default-features --lib` runs these.)
#[cfg(all(test, not(feature = "tls")))]
mod no_tls_tests {
    use std::io;
    use std::net::TcpListener;

    use crate::{ConnectOptions, Error, TlsMode};

    /// A listener the client would reach, and the ways of asking it for FTPS.
    fn target() -> (TcpListener, Vec<ConnectOptions>, Vec<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let options = vec![
            ConnectOptions::new("127.0.0.1", port).tls(TlsMode::Explicit),
            ConnectOptions::new("127.0.0.1", port).tls(TlsMode::Implicit),
        ];
        let urls = vec![
            format!("ftpes://127.0.0.1:{port}"),
            format!("ftps://user:pw@127.0.0.1:{port}/dir"),
        ];
        (listener, options, urls)
    }

    fn check(result: Result<(), Error>) {
        let error = result.expect_err("FTPS without the `tls` feature must fail");
        assert!(matches!(error, Error::TlsNotBuiltIn), "{error:?}");
        assert!(error.is_fatal());
        assert!(error.to_string().contains("`tls` feature"), "{error}");
        assert_eq!(io::Error::from(error).kind(), io::ErrorKind::Unsupported);
    }

    /// Nothing connected to the listener: the error came before any TCP connect.
    fn untouched(listener: &TcpListener) {
        let accepted = listener.accept().map(drop);
        assert_eq!(
            accepted.unwrap_err().kind(),
            io::ErrorKind::WouldBlock,
            "no connection may be made"
        );
    }

    #[test]
    fn blocking_ftps_is_refused() {
        use crate::blocking::Client;
        let (listener, options, urls) = target();
        for options in &options {
            check(Client::connect_with(options).map(drop));
        }
        for url in &urls {
            check(Client::connect_url(url).map(drop));
        }
        untouched(&listener);
        // Plain FTP still gets as far as the TCP connection.
        let port = listener.local_addr().unwrap().port();
        let plain = ConnectOptions::new("127.0.0.1", port)
            .connect_timeout(std::time::Duration::from_millis(1))
            .reply_timeout(std::time::Duration::from_millis(1));
        assert!(!matches!(
            Client::connect_with(&plain),
            Err(Error::TlsNotBuiltIn)
        ));
    }

    #[cfg(feature = "tokio")]
    #[test]
    fn tokio_ftps_is_refused() {
        use crate::tokio::Client;
        let (listener, options, urls) = target();
        let rt = ::tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            for options in &options {
                check(Client::connect_with(options).await.map(drop));
            }
            for url in &urls {
                check(Client::connect_url(url).await.map(drop));
            }
        });
        untouched(&listener);
    }

    #[cfg(feature = "async-std")]
    #[test]
    fn async_io_ftps_is_refused() {
        use crate::async_std::Client;
        let (listener, options, urls) = target();
        async_io::block_on(async {
            for options in &options {
                check(Client::connect_with(options).await.map(drop));
            }
            for url in &urls {
                check(Client::connect_url(url).await.map(drop));
            }
        });
        untouched(&listener);
    }
}
