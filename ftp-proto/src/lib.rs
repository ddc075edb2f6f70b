//! # ftp-proto: the sans-IO core of the FTP family
//!
//! Everything FTP says, byte by byte, with no sockets, no async runtime, no clock and no files.
//! Bytes and events go in; typed values, reply bytes and I/O intents come out. The adapter
//! crates (`ftp-client`, `ftp-server`) execute those intents on tokio, async-std/smol or
//! blocking `std::net`.
//!
//! | module | holds |
//! |---|---|
//! | [`line`](mod@line) | control-stream framing: incremental CRLF search, line-length caps, the Telnet layer |
//! | [`command`] | [`Command`]: every verb FTP defines, parsed from and encoded to bytes |
//! | [`reply`] | [`Reply`], [`ReplyCode`]: single- and multi-line replies, parsed and encoded |
//! | [`addr`] | PORT/227, EPRT/229, LPRT/228 host-port formats, IPv4 and IPv6 |
//! | [`feat`] | FEAT replies and OPTS arguments |
//! | [`timestamp`] | the RFC 3659 `time-val` |
//! | [`path`] | virtual paths: normalisation that never climbs above the root |
//! | [`proxy`] | the PROXY protocol (v1 and v2) header a TCP load balancer sends first |
//! | [`listing`] | MLSx fact lines, LIST parsers and formatters |
//! | [`transfer`] | TYPE A, MODE B/C and STRU R transcoders for the data connection |
//! | [`client`] | [`client::ClientSession`]: the client's protocol state machine |
//! | [`server`] | [`server::ServerSession`]: the server's protocol state machine |
//! | [`session`] | what both roles share: data-connection ids, transfer parameters, secrets |
//! | [`rfc_coverage`] | which RFC commands and features the server and the client implement, with their tests |
//!
//! ## Guarantees
//!
//! * Nothing in this crate performs I/O or reads a clock (enforced by `clippy.toml`).
//! * No input from a peer makes it panic; every parser returns a typed error instead.
//! * Names and paths are bytes: nothing assumes UTF-8.
//! * Every buffer that peer input can fill has a configured upper bound.

#![forbid(unsafe_code)]

pub mod addr;
pub mod client;
pub mod command;
pub mod feat;
pub mod line;
pub mod listing;
pub mod path;
pub mod proxy;
pub mod reply;
pub mod server;
pub mod session;
pub mod timestamp;
pub mod transfer;

pub use timestamp::Timestamp;

pub use command::Command;
pub use reply::{Reply, ReplyCode};

/// What this workspace implements of each FTP RFC, per role, and where it is tested.
#[doc = ""]
#[doc = include_str!("../RFC-COVERAGE.md")]
pub mod rfc_coverage {}
