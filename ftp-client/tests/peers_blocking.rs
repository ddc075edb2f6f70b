//! The blocking client against real servers over loopback: this workspace's ftp-server,
//! vsftpd (plain, explicit FTPS with `require_ssl_reuse=YES`, implicit FTPS), pure-ftpd,
//! ProFTPD (plain, explicit FTPS requiring TLS session reuse) and pyftpdlib, passive and
//! active. The scenarios are shared with the tokio and async-std tests (`scenario/mod.rs`).

#![allow(unreachable_pub)]

#[macro_use]
mod scenario;
mod support;

mod io {
    use std::io::{Read, Write};

    pub fn read_all(down: &mut ftp_client::blocking::Download<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        down.read_to_end(&mut out)
            .expect("download reads to the end");
        out
    }

    pub fn read_some(down: &mut ftp_client::blocking::Download<'_>, n: usize) {
        let mut buf = vec![0u8; n];
        down.read_exact(&mut buf).expect("download starts");
    }

    pub fn write_all(up: &mut ftp_client::blocking::Upload<'_>, data: &[u8]) {
        up.write_all(data).expect("upload writes");
    }

    pub fn try_write_all(
        up: &mut ftp_client::blocking::Upload<'_>,
        data: &[u8],
    ) -> std::io::Result<()> {
        up.write_all(data)
    }
}

macro_rules! run {
    ($($body:tt)*) => {{ $($body)* }};
}

peer_tests!(ftp_client::blocking::Client, [], run);
