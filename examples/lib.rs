//! Runnable programs of the FTP family live in this package as Cargo examples, so that
//! `cargo run --example NAME` works from the workspace root.
