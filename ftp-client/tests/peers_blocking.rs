//! The blocking client against real servers over loopback: vsftpd (plain, explicit FTPS with
//! `require_ssl_reuse=YES`, implicit FTPS), pure-ftpd and pyftpdlib, passive and active.

#![allow(unreachable_pub)]

#[macro_use]
mod scenario;
mod support;

use ftp_client::blocking::Client;
use ftp_client::rustls::RootCertStore;
use ftp_client::{ConnectOptions, TlsConfig, TlsMode};
use support::{Peer, Server, PASS, USER};

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
}

fn options(peer: &Peer, active: bool, tls: TlsMode) -> ConnectOptions {
    let options = ConnectOptions::new("127.0.0.1", peer.port)
        .login(USER, PASS)
        .tls(tls)
        .tls_config(TlsConfig::default().add_root_pem(&Peer::ca_pem()).unwrap());
    if active {
        options.active()
    } else {
        options
    }
}

fn run(server: Server, active: bool, tls: TlsMode) {
    if support::skip_peers() {
        return;
    }
    let peer = Peer::start(server);
    let mut client = Client::connect_with(&options(&peer, active, tls)).unwrap();
    assert!(client.is_logged_in());
    assert_eq!(client.is_secure(), tls != TlsMode::None);
    assert_eq!(client.is_data_protected(), tls != TlsMode::None);
    full_scenario!(client, peer, []);
}

#[test]
fn vsftpd_passive() {
    run(
        Server::Vsftpd {
            ssl_reuse: false,
            implicit: false,
        },
        false,
        TlsMode::None,
    );
}

#[test]
fn vsftpd_active() {
    run(
        Server::Vsftpd {
            ssl_reuse: false,
            implicit: false,
        },
        true,
        TlsMode::None,
    );
}

#[test]
fn vsftpd_explicit_tls_session_reuse_passive() {
    run(
        Server::Vsftpd {
            ssl_reuse: true,
            implicit: false,
        },
        false,
        TlsMode::Explicit,
    );
}

#[test]
fn vsftpd_explicit_tls_session_reuse_active() {
    run(
        Server::Vsftpd {
            ssl_reuse: true,
            implicit: false,
        },
        true,
        TlsMode::Explicit,
    );
}

#[test]
fn vsftpd_implicit_tls_session_reuse() {
    run(
        Server::Vsftpd {
            ssl_reuse: true,
            implicit: true,
        },
        false,
        TlsMode::Implicit,
    );
}

#[test]
fn pure_ftpd_passive() {
    run(Server::PureFtpd, false, TlsMode::None);
}

#[test]
fn pure_ftpd_active() {
    run(Server::PureFtpd, true, TlsMode::None);
}

#[test]
fn pyftpdlib_passive() {
    run(Server::Pyftpdlib, false, TlsMode::None);
}

#[test]
fn pyftpdlib_active() {
    run(Server::Pyftpdlib, true, TlsMode::None);
}

#[test]
fn pyftpdlib_explicit_tls() {
    run(Server::Pyftpdlib, false, TlsMode::Explicit);
}

#[test]
fn ascii_mlst_and_url_login() {
    if support::skip_peers() {
        return;
    }
    let peer = Peer::start(Server::Pyftpdlib);
    let mut client = Client::connect_url(&peer.url()).unwrap();
    ascii_scenario!(client, peer, false, []);
    mlst_scenario!(client, peer, []);
    let peer = Peer::start(Server::Vsftpd {
        ssl_reuse: false,
        implicit: false,
    });
    let mut client = Client::connect(&format!("127.0.0.1:{}", peer.port)).unwrap();
    let err = client.login(USER, "wrong").unwrap_err();
    assert_eq!(err.reply().map(|r| r.code().get()), Some(530), "{err:?}");
    client.login(USER, PASS).unwrap();
    ascii_scenario!(client, peer, true, []);
    let peer = Peer::start(Server::PureFtpd);
    let mut client = Client::connect_url(&peer.url()).unwrap();
    mlst_scenario!(client, peer, []);
}

#[test]
fn untrusted_certificate_is_refused_unless_dangerously_accepted() {
    if support::skip_peers() {
        return;
    }
    let peer = Peer::start(Server::Vsftpd {
        ssl_reuse: true,
        implicit: false,
    });
    let options = ConnectOptions::new("127.0.0.1", peer.port)
        .login(USER, PASS)
        .tls(TlsMode::Explicit)
        .tls_config(TlsConfig::with_root_store(RootCertStore::empty()));
    let err = Client::connect_with(&options).unwrap_err();
    assert!(matches!(err, ftp_client::Error::Tls(_)), "{err:?}");
    let options = options.tls_config(TlsConfig::danger_accept_invalid_certs());
    let mut client = Client::connect_with(&options).unwrap();
    let mut reader = &b"hello"[..];
    client.store_from("x", &mut reader).unwrap();
    assert_eq!(std::fs::read(peer.path("x")).unwrap(), b"hello");
    client.quit().unwrap();
}

/// Aborted transfers must not use up the TLS sessions a server that requires reuse accepts:
/// many aborts in a row, then a transfer that must still resume.
#[test]
fn vsftpd_session_reuse_survives_many_aborts() {
    if support::skip_peers() {
        return;
    }
    let peer = Peer::start(Server::Vsftpd {
        ssl_reuse: true,
        implicit: false,
    });
    let mut client = Client::connect_with(&options(&peer, false, TlsMode::Explicit)).unwrap();
    let data = support::data(3_000_000, 7);
    let mut reader = &data[..];
    client.store_from("big", &mut reader).unwrap();
    for round in 0..6 {
        let mut down = client.retrieve("big", 0).unwrap();
        if round % 2 == 0 {
            io::read_some(&mut down, 50_000);
        }
        if round % 3 == 0 {
            drop(down);
        } else {
            down.abort().unwrap();
        }
        let mut up = client.store("up").unwrap();
        io::write_all(&mut up, &data[..300_000]);
        if round % 2 == 0 {
            drop(up);
        } else {
            up.abort().unwrap();
        }
    }
    let mut down = client.retrieve("big", 0).unwrap();
    let got = io::read_all(&mut down);
    down.finish().unwrap();
    support::assert_same(&got, &data, "after aborts");
    client.quit().unwrap();
}
