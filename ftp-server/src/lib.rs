//! # ftp-server: an embeddable FTP and FTPS server
//!
//! The server adapters of the `ftp-rs` family: they drive `ftp_proto`'s sans-IO
//! [`ServerSession`](proto::server::ServerSession) over real sockets on **tokio** (feature
//! `tokio`) or on the **async-io** reactor that **async-std and smol** share (feature
//! `async-std`), with storage and authentication as traits you can implement.
//!
//! ```no_run
//! # #[cfg(feature = "tokio")]
//! # async fn serve() -> std::io::Result<()> {
//! use ftp_server::auth::{Anonymous, Permissions, UserTable};
//! use ftp_server::storage::{FsStorage, VirtualPath};
//! use ftp_server::Server;
//!
//! let mut users = UserTable::new();
//! users.add("alice", "secret", VirtualPath::root(), Permissions::ALL).unwrap();
//! let server = Server::new(FsStorage::new("/srv/ftp")?)
//!     .listen("127.0.0.1:2121".parse().unwrap())
//!     .authenticator(users)
//!     .anonymous(Anonymous::read_only())
//!     .start_tokio()
//!     .await?;
//! server.wait().await; // until a ShutdownHandle stops it
//! # Ok(())
//! # }
//! ```
//!
//! On async-std or smol, call [`Server::start_async_io`][start_async_io] instead (tasks go to
//! a small built-in executor) or [`Server::start_async_io_with`][start_async_io_with] with
//! your executor's spawn function (feature `async-std`, see [Features](#features)). The
//! `examples/ftpd.rs` program of the repository is a complete server built on this crate
//! (`cargo run --release --example ftpd`).
//!
//! # Features
//!
//! | feature | runtime | pulls in |
//! |---|---|---|
//! | `tokio` | tokio (its `net`, `rt` and `time` features) | `tokio` |
//! | `async-std` | async-std **and smol**, or any executor | `async-io`, `async-executor` |
//! | `tls` (default) | either: FTPS, [`Server::tls`] and the `tls` module | `rustls` (aws-lc-rs provider), `futures-rustls` |
//! | `opendal` | either (storage calls run on a tokio runtime of their own) | `opendal` (S3 service, rustls), `tokio` |
//!
//! Neither runtime feature pulls in the other's crates. The `async-std` feature does not depend on the
//! `async-std` crate, which is discontinued (RUSTSEC-2025-0052): it is written against the
//! `futures-io` traits and the `async-io` reactor that async-std and smol are built on, so
//! the same code serves both.
//!
//! # Architecture
//!
//! One driver, shared by both runtimes. What differs per runtime (spawning, the blocking pool,
//! timers, TCP sockets) sits behind a small internal trait implemented twice; the control loop,
//! data connections, TLS and transfers are written once.
//!
//! * **One task owns each session.** The control task alone holds the `ServerSession`, and
//!   polls the session's data connections, storage requests and authentication as futures
//!   of its own: a transfer's steps pass between no tasks but the blocking pool's jobs, and
//!   nothing is shared behind a lock.
//! * **Drain, then wait.** After every input the task executes every output, re-reads the
//!   session's deadline, then waits for exactly one event (bytes read or written, a request's
//!   answer, a data connection's report, the deadline, shutdown) with a hand-written poll over
//!   the raw socket methods, the futures and the inbox, so no event is ever lost to a
//!   cancelled future.
//! * **Bounded.** A client that does not read its replies stops being read (TCP flow control);
//!   command lines, pipelined input, listings and the report channel are bounded; every limit
//!   answers with a reply code (`500`, `421`) rather than growing a buffer.
//!
//! # Storage and authentication
//!
//! [`storage::Storage`] is runtime-neutral and streaming (boxed `Send` futures, chunks through
//! buffers the server reuses), so it can sit over a disk, memory or an object store. Two back
//! ends come with the crate:
//!
//! * [`storage::FsStorage`]: a directory, every path jailed below it (symbolic links leading
//!   outside are refused, as are devices, FIFOs and sockets). **Uploads** are written to a
//!   hidden temporary file, `fsync`ed and renamed into place only when every byte has arrived;
//!   `226` is sent only after that, and a failed or aborted upload leaves nothing. Resuming an
//!   upload (`REST` + `STOR`, or `APPE`) therefore starts from the complete file on the server.
//! * [`storage::MemStorage`]: a tree in memory.
//!
//! With the `opendal` feature, `storage::OpenDalStorage` serves an object store (S3, or any
//! Apache OpenDAL service): folders are key prefixes, uploads are multipart uploads completed
//! only when every byte has arrived, and what a flat store cannot do (APPE, REST + STOR, MFMT,
//! SITE CHMOD) is refused with `502`; its documentation lists every difference from a disk.
//! Listings of every back end are streamed in bounded batches ([`storage::DirLister`]).
//!
//! [`auth::Authenticator`] checks logins; [`auth::UserTable`] keeps Argon2id password hashes with
//! a home directory and read-only or read-write access per user; [`auth::Anonymous`] is the
//! anonymous policy.
//!
//! # TLS
//!
//! With the `tls` feature (on by default) and [`Server::tls`] (rustls, aws-lc-rs provider):
//! explicit FTPS (`AUTH TLS`) on every listen address, implicit FTPS on
//! [`Server::implicit_tls_listen`] addresses, `PROT P` data connections that close with
//! `close_notify`, TLS required for logins and/or data on request, and
//! [`Server::require_tls_session_reuse`] (vsftpd's `require_ssl_reuse`): a protected data
//! connection must resume its own control connection's TLS session (see [`TlsConfig`] for the
//! TLS 1.3 ticket policy that keeps resumption working). An upload that ends without
//! `close_notify` is treated as cut short (`426`, nothing stored). CCC is not offered. Without
//! the `tls` feature neither rustls nor aws-lc-rs is compiled, and `AUTH TLS` is answered as by
//! a server with no TLS configured.
//!
//! # Transfers
//!
//! Bulk bytes never pass through the session. TYPE A (CRLF on the wire, LF on disk) and MODE B
//! and C are transcoded with `ftp_proto::transfer`; `REST` works in every mode (in TYPE A it
//! counts bytes of the CRLF form). Plain binary downloads of local files (TYPE I, MODE S, no
//! TLS) whose pages are in the page cache are sent with `sendfile(2)` from the session's task
//! ([`Server::sendfile_cached`], Linux 6.5 and later): no buffer, no pool thread, and under
//! half the server CPU per GB of the copy, with each 1 MiB window checked with `cachestat(2)`
//! first so that a read from disk never stalls the runtime. Other plain binary transfers of
//! local files run on the blocking pool in both directions, one thread copying between file
//! and socket with no task switch per chunk, up to [`Server::pool_transfers`] at once.
//! Zero copy on the pool is available and measured, but off by default: `sendfile(2)` for
//! downloads ([`Server::sendfile`]) and `splice(2)` for uploads ([`Server::splice`]: less
//! CPU, but erratic). The repository's `server_loopback` benchmark compares 1 GiB RETR and
//! STOR with raw loopback TCP and vsftpd (see its README).
//!
//! An aborted transfer (ABOR, a data timeout, the session ending) is settled before the
//! session's next storage request runs: an upload is either complete and visible or gone.
//! In stream mode the end of an upload is the end of its data connection, which a client that
//! dies mid-upload also produces; so an upload commits only once the session has read what had
//! arrived on the control connection. A killed client's control connection closes first (its
//! descriptor is the older one), the session ends, and its partial upload is discarded instead
//! of replacing the file. A client that closes the control connection before its data
//! connection ends without waiting for `226` therefore stores nothing.
//! STRU R, HASH and MODE Z are not offered.
//!
//! # Limits
//!
//! Every resource a client can take is bounded, with a reply code when a bound is met:
//!
//! * **Sessions**: [`Server::max_sessions`] and [`Server::max_sessions_per_ip`] (512 and 32);
//!   more get `421`, inside TLS on an implicit-FTPS listener.
//! * **Time**: [`Server::idle_timeout`] (no command, 300 s), [`Server::login_timeout`] (no
//!   login, 120 s, however busy the client), [`Server::data_timeout`] (a data connection
//!   that does not open or close, 60 s), [`Server::stall_timeout`] (a transfer that moves no
//!   byte, 300 s: `426`) and [`Server::tls_handshake_timeout`] (30 s).
//! * **Logins**: [`Server::failed_login_delay`] before each `530`,
//!   [`Server::max_login_attempts`] per session, and [`Server::ban`] across sessions: an
//!   address whose failed logins reach a count within a window gets `421` on every new
//!   connection for a while.
//! * **Memory**: [`Server::transfer_buffer`] per running transfer (256 KiB), password checks
//!   one per CPU ([`auth::UserTable::max_concurrent_verifications`]), command lines by
//!   [`Server::max_line_len`] (8 KiB: `500`) and pipelined input by a fixed bound (`421`),
//!   and [`Server::release_memory`] gives freed memory back when load falls.
//!
//! # Observability
//!
//! Every session runs in a `tracing` span `ftp_session` (fields `id`, `peer`); connections,
//! logins, transfers (with byte counts), rejections (4xx/5xx) and the end are `tracing`
//! events. [`Server::on_event`] hands the same audit events to a callback, ready for metrics.
//!
//! # Platforms
//!
//! Unix (the file-system back end uses Unix file APIs); zero-copy transfers on Linux and
//! Android, plain copies elsewhere.
//!
//! # Unsafe code
//!
//! Two calls into glibc's allocator, both for [`Server::release_memory`] (the module `memory`
//! says why): `malloc_trim(0)`, which gives freed memory back to the system when load falls,
//! and `mallopt` of its mmap and trim thresholds, which keeps large blocks out of its heaps.
//! One system call with no memory argument, `sync_file_range(2)` on Linux, which starts
//! writing an upload to disk while it arrives (`storage/writeback.rs`). Everything else
//! is safe code (`unsafe_code` is denied crate-wide; ftp-proto and ftp-client forbid it).
//!
// The async-io entry points exist with their feature only; without it their links lead to
// the list of features.
#![cfg_attr(
    feature = "async-std",
    doc = "[start_async_io]: Server::start_async_io\n\n[start_async_io_with]: Server::start_async_io_with"
)]
#![cfg_attr(
    not(feature = "async-std"),
    doc = "[start_async_io]: #features\n\n[start_async_io_with]: #features"
)]
#![deny(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use ftp_proto as proto;

pub mod auth;
pub mod bans;
mod driver;
mod memory;
pub mod metrics;
pub mod pool;
pub mod proxy;
mod runtime;
mod server;
pub mod storage;
mod throttle;
#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub mod tls;

pub use bans::{BanPolicy, ConnectionRate};
pub use memory::release_memory_now;
pub use metrics::{Metrics, MetricsSnapshot};
pub use proxy::{IpNet, ProxyProtocol};
pub use server::{RunningServer, Server, SessionEvent, ShutdownHandle};
#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub use tls::TlsConfig;

#[cfg_attr(
    feature = "async-std",
    doc = "Re-exported for [`Server::start_async_io_with`] callers and storage implementors."
)]
#[cfg_attr(
    not(feature = "async-std"),
    doc = "Re-exported for `Server::start_async_io_with` callers (feature `async-std`) and storage implementors."
)]
pub use storage::BoxFuture;
