//! # ftp-server
//!
//! Work in progress: storage and authentication back ends.

#![forbid(unsafe_code)]

pub use ftp_proto as proto;

pub mod auth;
pub mod blocking;
pub mod storage;
