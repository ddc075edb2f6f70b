//! The async clients, their futures and their streams are `Send`, so they work inside
//! `tokio::spawn` on a multi-threaded runtime (and any executor that needs `Send`).

#![allow(dead_code)]

fn assert_send<T: Send>(_: &T) {}

async fn tokio_futures(client: &mut ftp_client::tokio::Client) {
    assert_send(&client.noop());
    assert_send(&client.list(""));
    if let Ok(download) = client.retrieve("x", 0).await {
        assert_send(&download);
        let f = download.finish();
        assert_send(&f);
    }
    if let Ok(upload) = client.store("x").await {
        assert_send(&upload);
    }
    let mut reader = &b""[..];
    assert_send(&client.store_from("x", &mut reader));
}

async fn async_std_futures(client: &mut ftp_client::async_std::Client) {
    assert_send(&client.noop());
    if let Ok(download) = client.retrieve("x", 0).await {
        assert_send(&download);
    }
}

#[test]
fn clients_and_their_futures_are_send() {
    assert_send(&ftp_client::tokio::Client::connect("127.0.0.1:1"));
    assert_send(&ftp_client::async_std::Client::connect("127.0.0.1:1"));
    let mut rt = None::<ftp_client::tokio::Client>;
    if let Some(client) = rt.as_mut() {
        assert_send(&tokio_futures(client));
    }
    let mut rt = None::<ftp_client::async_std::Client>;
    if let Some(client) = rt.as_mut() {
        assert_send(&async_std_futures(client));
    }
    fn client_is_send<T: Send>() {}
    client_is_send::<ftp_client::tokio::Client>();
    client_is_send::<ftp_client::async_std::Client>();
    client_is_send::<ftp_client::blocking::Client>();
}
