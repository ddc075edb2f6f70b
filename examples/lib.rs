//! The runnable programs of the FTP family, each a module with a `main`:
//!
//! * [`ftpd`]: serve a folder over FTP and FTPS with one command;
//! * [`ftp`]: a command-line FTP/FTPS client with progress bars;
//! * [`embedded`]: ftp-server inside an application, with a quota-and-audit storage layer and
//!   an authenticator over the application's own users (`cargo run --example embedded`).
//!
//! Both run as Cargo examples from the workspace (`cargo run --release --example ftpd`) and
//! install as binaries (`cargo install --path examples`).

pub mod embedded;
pub mod ftp;
pub mod ftpd;
