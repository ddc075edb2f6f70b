//! # ftp-client
//!
//! The FTP client adapters of the family: they will drive `ftp_proto`'s `ClientSession` on tokio
//! (feature `tokio`), async-std/smol (feature `async-std`) and blocking `std::net`.
//!
//! **Status:** the adapters are not written yet; today this crate re-exports the sans-IO core as
//! [`proto`], whose codecs (commands, replies, addresses, FEAT, MLSx) are complete and usable on
//! their own.

#![forbid(unsafe_code)]

pub use ftp_proto as proto;
