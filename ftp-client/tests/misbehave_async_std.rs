//! The async-std/smol client against a misbehaving scripted server (malformed replies,
//! stalls, closes in mid-transfer): typed errors within the timeouts, no hang, no panic.

#![allow(unreachable_pub)]

#[macro_use]
#[path = "scripted/cases.rs"]
mod cases;
mod scripted;

mod io {
    use futures_lite::{AsyncReadExt, AsyncWriteExt};

    pub async fn read_all_result(
        down: &mut ftp_client::async_std::Download<'_>,
    ) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        down.read_to_end(&mut out).await.map(|_| out)
    }

    pub async fn write_all_result(
        up: &mut ftp_client::async_std::Upload<'_>,
        data: &[u8],
    ) -> std::io::Result<()> {
        up.write_all(data).await
    }

    pub async fn write_until_error(up: &mut ftp_client::async_std::Upload<'_>) -> std::io::Error {
        let chunk = vec![0u8; 64 * 1024];
        loop {
            if let Err(e) = up.write_all(&chunk).await {
                return e;
            }
        }
    }
}

macro_rules! run {
    ($($body:tt)*) => {
        async_io::block_on(async { $($body)* })
    };
}

misbehave_tests!(ftp_client::async_std::Client, [.await], run);
