//! The tokio client against real servers over loopback: the same scenarios as the blocking
//! client (`scenario/mod.rs`), on a current-thread tokio runtime.

#![cfg(feature = "tokio")]
#![allow(unreachable_pub)]

#[macro_use]
mod scenario;
mod support;

mod io {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    pub async fn read_all(down: &mut ftp_client::tokio::Download<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        down.read_to_end(&mut out)
            .await
            .expect("download reads to the end");
        out
    }

    pub async fn read_some(down: &mut ftp_client::tokio::Download<'_>, n: usize) {
        let mut buf = vec![0u8; n];
        down.read_exact(&mut buf).await.expect("download starts");
    }

    pub async fn write_all(up: &mut ftp_client::tokio::Upload<'_>, data: &[u8]) {
        up.write_all(data).await.expect("upload writes");
    }

    pub async fn try_write_all(
        up: &mut ftp_client::tokio::Upload<'_>,
        data: &[u8],
    ) -> std::io::Result<()> {
        up.write_all(data).await
    }
}

macro_rules! run {
    ($($body:tt)*) => {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async { $($body)* })
    };
}

peer_tests!(ftp_client::tokio::Client, [.await], run);
