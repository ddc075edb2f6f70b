//! # ftp-server
//!
//! Work in progress.

#![forbid(unsafe_code)]

pub use ftp_proto as proto;

pub mod auth;
pub mod blocking;
mod driver;
mod runtime;
mod server;
pub mod storage;
pub mod tls;

pub use server::{RunningServer, Server, SessionEvent, ShutdownHandle};
pub use tls::TlsConfig;
