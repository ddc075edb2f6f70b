//! The blocking client against a misbehaving scripted server (malformed replies, stalls,
//! closes in mid-transfer): typed errors within the timeouts, no hang, no panic.

#![allow(unreachable_pub)]

#[macro_use]
#[path = "scripted/cases.rs"]
mod cases;
mod scripted;

mod io {
    use std::io::{Read, Write};

    pub fn read_all_result(
        down: &mut ftp_client::blocking::Download<'_>,
    ) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        down.read_to_end(&mut out).map(|_| out)
    }

    pub fn write_all_result(
        up: &mut ftp_client::blocking::Upload<'_>,
        data: &[u8],
    ) -> std::io::Result<()> {
        up.write_all(data)
    }

    pub fn write_until_error(up: &mut ftp_client::blocking::Upload<'_>) -> std::io::Error {
        let chunk = vec![0u8; 64 * 1024];
        loop {
            if let Err(e) = up.write_all(&chunk) {
                return e;
            }
        }
    }
}

macro_rules! run {
    ($($body:tt)*) => {{ $($body)* }};
}

misbehave_tests!(ftp_client::blocking::Client, [], run);
