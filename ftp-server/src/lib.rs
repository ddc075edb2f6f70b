//! # ftp-server
//!
//! The FTP server adapters of the family: they will drive `ftp_proto`'s `ServerSession` on tokio
//! (feature `tokio`) and async-std/smol (feature `async-std`), with storage and authentication
//! back ends as traits.
//!
//! **Status:** the adapters are not written yet; today this crate re-exports the sans-IO core as
//! [`proto`], whose codecs (commands, replies, addresses, FEAT, MLSx) are complete and usable on
//! their own.

#![forbid(unsafe_code)]

pub use ftp_proto as proto;
