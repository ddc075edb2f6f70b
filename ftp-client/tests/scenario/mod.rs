//! The scenarios every client style runs against every real server, written once.
//!
//! `$($await)*` is `.await` for the async styles and nothing for the blocking one. The
//! calling test file provides a module `io` with `read_all(&mut Download) -> Vec<u8>` and
//! `write_all(&mut Upload, &[u8])` (async or not, matching `$await`).

#![allow(unused_macros)]

/// Everything but TLS setup and connecting: directories, uploads (whole, resumed, appended,
/// from a reader, empty), downloads (whole, resumed), parsed listings, NLST, SIZE, MDTM,
/// rename, abort (explicit and by drop, for downloads and uploads), delete, raw commands.
/// Every file is compared byte for byte with what was sent and with what the server stored.
macro_rules! full_scenario {
    ($client:ident, $peer:expr, [$($await:tt)*]) => {{
        use ftp_client::{EntryKind, Error};
        let peer = &$peer;
        let data = support::data(1_500_000, peer.port as u64);
        let extra = support::data(77_777, 99);

        // Directories.
        assert_eq!($client.pwd() $($await)* .unwrap(), "/");
        let made = $client.mkdir("dir") $($await)* .unwrap();
        assert!(made.ends_with("dir"), "MKD said {made:?}");
        $client.cwd("dir") $($await)* .unwrap();
        assert_eq!($client.pwd() $($await)* .unwrap(), "/dir");

        // A whole upload.
        let mut up = $client.store("a.bin") $($await)* .unwrap();
        io::write_all(&mut up, &data) $($await)*;
        let outcome = up.finish() $($await)* .unwrap();
        assert_eq!(outcome.bytes, data.len() as u64);
        assert_eq!(outcome.reply.code().get() / 100, 2);
        support::assert_same(&std::fs::read(peer.path("dir/a.bin")).unwrap(), &data, "stored a.bin");
        assert_eq!($client.size("a.bin") $($await)* .unwrap(), data.len() as u64);

        // A whole download and a resumed one.
        let mut down = $client.retrieve("a.bin", 0) $($await)* .unwrap();
        let got = io::read_all(&mut down) $($await)*;
        let outcome = down.finish() $($await)* .unwrap();
        support::assert_same(&got, &data, "retrieved a.bin");
        assert_eq!(outcome.bytes, data.len() as u64);
        let mut down = $client.retrieve("a.bin", 1000) $($await)* .unwrap();
        let got = io::read_all(&mut down) $($await)*;
        down.finish() $($await)* .unwrap();
        support::assert_same(&got, &data[1000..], "retrieved a.bin from 1000");

        // A resumed upload, then an append.
        let mut up = $client.store("b.bin") $($await)* .unwrap();
        io::write_all(&mut up, &data[..500_000]) $($await)*;
        up.finish() $($await)* .unwrap();
        let mut up = $client.store_at("b.bin", 500_000) $($await)* .unwrap();
        io::write_all(&mut up, &data[500_000..]) $($await)*;
        up.finish() $($await)* .unwrap();
        support::assert_same(&std::fs::read(peer.path("dir/b.bin")).unwrap(), &data, "resumed b.bin");
        let mut up = $client.append("b.bin") $($await)* .unwrap();
        io::write_all(&mut up, &extra) $($await)*;
        up.finish() $($await)* .unwrap();
        let mut both = data.clone();
        both.extend_from_slice(&extra);
        support::assert_same(&std::fs::read(peer.path("dir/b.bin")).unwrap(), &both, "appended b.bin");
        let mut down = $client.retrieve("b.bin", 0) $($await)* .unwrap();
        let got = io::read_all(&mut down) $($await)*;
        down.finish() $($await)* .unwrap();
        support::assert_same(&got, &both, "retrieved b.bin");

        // An empty file both ways.
        let up = $client.store("empty") $($await)* .unwrap();
        assert_eq!(up.finish() $($await)* .unwrap().bytes, 0);
        assert_eq!(std::fs::metadata(peer.path("dir/empty")).unwrap().len(), 0);
        let mut down = $client.retrieve("empty", 0) $($await)* .unwrap();
        assert!(io::read_all(&mut down) $($await)* .is_empty());
        down.finish() $($await)* .unwrap();

        // Parsed listing, names, times.
        let entries = $client.list("") $($await)* .unwrap();
        let a = entries.iter().find(|e| e.name == "a.bin").expect("a.bin listed");
        assert_eq!(a.kind, EntryKind::File);
        assert_eq!(a.size, Some(data.len() as u64));
        let b = entries.iter().find(|e| e.name == "b.bin").expect("b.bin listed");
        assert_eq!(b.size, Some(both.len() as u64));
        assert_eq!(entries.len(), 3, "{entries:?}");
        let listed = $client.list("/") $($await)* .unwrap();
        let dir = listed.iter().find(|e| e.name == "dir").expect("dir listed in /");
        assert_eq!(dir.kind, EntryKind::Dir);
        let mut names = $client.nlst("") $($await)* .unwrap();
        names.sort();
        let names: Vec<&str> = names.iter().map(|n| n.rsplit('/').next().unwrap()).collect();
        assert_eq!(names, ["a.bin", "b.bin", "empty"]);
        let modified = $client.mdtm("a.bin") $($await)* .unwrap();
        assert!(modified.year() >= 2024, "{modified:?}");

        // Rename.
        $client.rename("a.bin", "c.bin") $($await)* .unwrap();
        assert!(!peer.path("dir/a.bin").exists());
        support::assert_same(&std::fs::read(peer.path("dir/c.bin")).unwrap(), &data, "renamed");
        let err = $client.size("a.bin") $($await)* .unwrap_err();
        assert_eq!(err.reply().map(|r| r.code().get()), Some(550), "{err:?}");
        assert!(!err.is_fatal());

        // Abort a download explicitly, then by dropping it; the session goes on.
        let mut down = $client.retrieve("c.bin", 0) $($await)* .unwrap();
        io::read_some(&mut down, 100_000) $($await)*;
        down.abort() $($await)* .unwrap();
        $client.noop() $($await)* .unwrap();
        let mut down = $client.retrieve("c.bin", 0) $($await)* .unwrap();
        io::read_some(&mut down, 10_000) $($await)*;
        drop(down);
        assert_eq!($client.size("c.bin") $($await)* .unwrap(), data.len() as u64);
        let mut down = $client.retrieve("c.bin", 0) $($await)* .unwrap();
        let got = io::read_all(&mut down) $($await)*;
        down.finish() $($await)* .unwrap();
        support::assert_same(&got, &data, "retrieved c.bin after aborts");
        // A download into memory past its limit is aborted; the session goes on.
        let err = $client.retrieve_to_vec("c.bin", 10_000) $($await)* .unwrap_err();
        assert!(matches!(err, Error::TooLarge { limit: 10_000 }), "{err:?}");
        $client.noop() $($await)* .unwrap();

        // Abort an upload explicitly, then by dropping it.
        let mut up = $client.store("partial") $($await)* .unwrap();
        io::write_all(&mut up, &data[..200_000]) $($await)*;
        up.abort() $($await)* .unwrap();
        $client.noop() $($await)* .unwrap();
        let mut up = $client.store("partial") $($await)* .unwrap();
        io::write_all(&mut up, &data[..100_000]) $($await)*;
        drop(up);
        $client.noop() $($await)* .unwrap();
        let _ = $client.delete("partial") $($await)*;

        // From a reader.
        let mut reader = &extra[..];
        let sent = $client.store_from("d.bin", &mut reader) $($await)* .unwrap();
        assert_eq!(sent, extra.len() as u64);
        let mut reader = &extra[..];
        $client.append_from("d.bin", &mut reader) $($await)* .unwrap();
        let mut twice = extra.clone();
        twice.extend_from_slice(&extra);
        support::assert_same(&std::fs::read(peer.path("dir/d.bin")).unwrap(), &twice, "d.bin");

        // Raw commands and refusals.
        let syst = $client.raw("SYST") $($await)* .unwrap();
        assert_eq!(syst.code().get(), 215);
        assert!(matches!($client.raw("RETR x") $($await)*, Err(Error::Usage(_))));
        let err = $client.delete("no-such-file") $($await)* .unwrap_err();
        assert!(err.is_permanent(), "{err:?}");

        // Clean up: delete, rmdir.
        for name in ["b.bin", "c.bin", "d.bin", "empty"] {
            $client.delete(name) $($await)* .unwrap();
        }
        $client.cdup() $($await)* .unwrap();
        $client.rmdir("dir") $($await)* .unwrap();
        assert!(!peer.path("dir").exists());
        let entries = $client.list("") $($await)* .unwrap();
        assert!(entries.is_empty(), "{entries:?}");
        let bye = $client.quit() $($await)* .unwrap();
        assert_eq!(bye.code().get(), 221);
    }};
}

/// TYPE A both ways: the text comes back as sent; `disk` is what the server should have
/// stored (LF for servers that convert, CRLF for those that store the wire bytes).
macro_rules! ascii_scenario {
    ($client:ident, $peer:expr, $disk_crlf:expr, [$($await:tt)*]) => {{
        let peer = &$peer;
        let text = support::text(20_000);
        $client.set_type(ftp_client::DataType::Ascii(
            ftp_client::proto::transfer::FormatControl::NonPrint,
        )).unwrap();
        let mut up = $client.store("t.txt") $($await)* .unwrap();
        io::write_all(&mut up, &text) $($await)*;
        up.finish() $($await)* .unwrap();
        let stored = std::fs::read(peer.path("t.txt")).unwrap();
        if $disk_crlf {
            let crlf: Vec<u8> = text.iter().flat_map(|&b| if b == b'\n' { vec![b'\r', b'\n'] } else { vec![b] }).collect();
            support::assert_same(&stored, &crlf, "stored text (wire form)");
        } else {
            support::assert_same(&stored, &text, "stored text (converted)");
        }
        let mut down = $client.retrieve("t.txt", 0) $($await)* .unwrap();
        let got = io::read_all(&mut down) $($await)*;
        down.finish() $($await)* .unwrap();
        support::assert_same(&got, &text, "retrieved text");
        $client.set_type(ftp_client::DataType::Image).unwrap();
        let mut down = $client.retrieve("t.txt", 0) $($await)* .unwrap();
        let raw = io::read_all(&mut down) $($await)*;
        down.finish() $($await)* .unwrap();
        support::assert_same(&raw, &stored, "retrieved binary");
        $client.delete("t.txt") $($await)* .unwrap();
    }};
}

/// MLST of a file and the working directory (servers with RFC 3659).
macro_rules! mlst_scenario {
    ($client:ident, $peer:expr, [$($await:tt)*]) => {{
        let data = support::data(12_345, 5);
        let mut reader = &data[..];
        $client.store_from("m.bin", &mut reader) $($await)* .unwrap();
        let entry = $client.mlst("m.bin") $($await)* .unwrap();
        assert_eq!(entry.kind, ftp_client::EntryKind::File);
        assert_eq!(entry.size, Some(12_345));
        assert!(entry.name.ends_with(b"m.bin"));
        let here = $client.mlst("") $($await)* .unwrap();
        assert_eq!(here.kind, ftp_client::EntryKind::Dir);
        let time = ftp_client::Timestamp::new(2021, 3, 4, 5, 6, 7).unwrap();
        $client.set_modified("m.bin", time) $($await)* .unwrap();
        assert_eq!($client.mdtm("m.bin") $($await)* .unwrap(), time);
        $client.delete("m.bin") $($await)* .unwrap();
    }};
}

/// Every real-server test, for one client style: `$Client` is its client type, `$run` a
/// macro that runs a block (inside a runtime for the async styles).
macro_rules! peer_tests {
    ($Client:ty, [$($await:tt)*], $run:ident) => {
        use ftp_client::rustls::RootCertStore;
        use ftp_client::{ConnectOptions, TlsConfig, TlsMode};
        use support::{Peer, Server, PASS, USER};

        type Client = $Client;

        const VSFTPD: Server = Server::Vsftpd { ssl_reuse: false, implicit: false };
        const VSFTPD_REUSE: Server = Server::Vsftpd { ssl_reuse: true, implicit: false };
        const VSFTPD_IMPLICIT: Server = Server::Vsftpd { ssl_reuse: true, implicit: true };
        const PROFTPD: Server = Server::Proftpd { tls_required: true };
        const PROFTPD_PLAIN: Server = Server::Proftpd { tls_required: false };

        fn options(peer: &Peer, active: bool, tls: TlsMode) -> ConnectOptions {
            let ca = TlsConfig::default().add_root_pem(&Peer::ca_pem()).unwrap();
            let options = ConnectOptions::new("127.0.0.1", peer.port)
                .login(USER, PASS)
                .tls(tls)
                .tls_config(ca);
            if active {
                options.active()
            } else {
                options
            }
        }

        fn full(server: Server, active: bool, tls: TlsMode) {
            if support::skip_peers() {
                return;
            }
            let peer = Peer::start(server);
            $run! {
                let mut client = Client::connect_with(&options(&peer, active, tls)) $($await)* .unwrap();
                assert!(client.is_logged_in());
                assert_eq!(client.is_secure(), tls != TlsMode::None);
                assert_eq!(client.is_data_protected(), tls != TlsMode::None);
                full_scenario!(client, peer, [$($await)*]);
            }
        }

        #[test]
        fn vsftpd_passive() {
            full(VSFTPD, false, TlsMode::None);
        }

        #[test]
        fn vsftpd_active() {
            full(VSFTPD, true, TlsMode::None);
        }

        #[test]
        fn vsftpd_explicit_tls_session_reuse_passive() {
            full(VSFTPD_REUSE, false, TlsMode::Explicit);
        }

        #[test]
        fn vsftpd_explicit_tls_session_reuse_active() {
            full(VSFTPD_REUSE, true, TlsMode::Explicit);
        }

        #[test]
        fn vsftpd_implicit_tls_session_reuse() {
            full(VSFTPD_IMPLICIT, false, TlsMode::Implicit);
        }

        #[test]
        fn ftp_server_passive() {
            full(Server::Ours { tls_reuse: false }, false, TlsMode::None);
        }

        #[test]
        fn ftp_server_active() {
            full(Server::Ours { tls_reuse: false }, true, TlsMode::None);
        }

        #[test]
        fn ftp_server_explicit_tls() {
            full(Server::Ours { tls_reuse: false }, false, TlsMode::Explicit);
        }

        #[test]
        fn ftp_server_explicit_tls_session_reuse() {
            full(Server::Ours { tls_reuse: true }, false, TlsMode::Explicit);
        }

        #[test]
        fn pure_ftpd_passive() {
            full(Server::PureFtpd, false, TlsMode::None);
        }

        #[test]
        fn pure_ftpd_active() {
            full(Server::PureFtpd, true, TlsMode::None);
        }

        #[test]
        fn pure_ftpd_explicit_tls() {
            full(Server::PureFtpd, false, TlsMode::Explicit);
        }

        #[test]
        fn proftpd_passive() {
            full(PROFTPD_PLAIN, false, TlsMode::None);
        }

        #[test]
        fn proftpd_explicit_tls_session_reuse() {
            full(PROFTPD, false, TlsMode::Explicit);
        }

        /// ProFTPD requiring TLS session reuse sends two TLS 1.3 tickets on the control
        /// connection, one on each download and none on uploads; a rustls client presents
        /// each ticket once. 50 uploads in one session, then 50 downloads, every file
        /// compared byte for byte on the server's disk and as downloaded: the client moves
        /// to TLS 1.2 by itself when the tickets run dry (after the second upload).
        #[test]
        fn proftpd_session_reuse_50_uploads_then_downloads() {
            if support::skip_peers() {
                return;
            }
            let peer = Peer::start(PROFTPD);
            let files: Vec<(String, Vec<u8>)> = (0..50u64)
                .map(|i| (format!("f{i:02}.bin"), support::data(1_000 + 997 * i as usize, 70 + i)))
                .collect();
            $run! {
                let mut client = Client::connect_with(&options(&peer, false, TlsMode::Explicit)) $($await)* .unwrap();
                client.mkdir("up") $($await)* .unwrap();
                client.cwd("up") $($await)* .unwrap();
                for (i, (name, data)) in files.iter().enumerate() {
                    if i % 2 == 0 {
                        let mut reader = &data[..];
                        let sent = client.store_from(name, &mut reader) $($await)*;
                        assert_eq!(sent.unwrap_or_else(|e| panic!("upload {i}: {e}")), data.len() as u64);
                    } else {
                        let mut up = client.store(name) $($await)* .unwrap_or_else(|e| panic!("upload {i}: {e}"));
                        io::write_all(&mut up, data) $($await)*;
                        up.finish() $($await)* .unwrap_or_else(|e| panic!("upload {i}: {e}"));
                    }
                }
                assert_eq!(client.pwd() $($await)* .unwrap(), "/up");
                for (name, data) in &files {
                    support::assert_same(&std::fs::read(peer.path(&format!("up/{name}"))).unwrap(), data, name);
                    let mut down = client.retrieve(name, 0) $($await)* .unwrap();
                    let got = io::read_all(&mut down) $($await)*;
                    down.finish() $($await)* .unwrap();
                    support::assert_same(&got, data, name);
                }
                client.quit() $($await)* .unwrap();
            }
        }

        #[test]
        fn pyftpdlib_passive() {
            full(Server::Pyftpdlib, false, TlsMode::None);
        }

        #[test]
        fn pyftpdlib_active() {
            full(Server::Pyftpdlib, true, TlsMode::None);
        }

        #[test]
        fn pyftpdlib_explicit_tls_active() {
            full(Server::Pyftpdlib, true, TlsMode::Explicit);
        }

        /// TYPE A against a converting (pyftpdlib) and a storing (vsftpd) server, MLST and
        /// MFMT, a URL login, a refused login that leaves the session usable.
        #[test]
        fn ascii_mlst_and_logins() {
            if support::skip_peers() {
                return;
            }
            let py = Peer::start(Server::Pyftpdlib);
            let vs = Peer::start(VSFTPD);
            let pure = Peer::start(Server::PureFtpd);
            $run! {
                let mut client = Client::connect_url(&py.url()) $($await)* .unwrap();
                ascii_scenario!(client, py, false, [$($await)*]);
                mlst_scenario!(client, py, [$($await)*]);
                client.quit() $($await)* .unwrap();

                let target = format!("127.0.0.1:{}", vs.port);
                let mut client = Client::connect(&target) $($await)* .unwrap();
                assert!(client.greeting().is_some());
                let err = client.login(USER, "wrong") $($await)* .unwrap_err();
                assert_eq!(err.reply().map(|r| r.code().get()), Some(530), "{err:?}");
                client.login(USER, PASS) $($await)* .unwrap();
                ascii_scenario!(client, vs, true, [$($await)*]);
                client.quit() $($await)* .unwrap();

                let mut client = Client::connect_url(&pure.url()) $($await)* .unwrap();
                mlst_scenario!(client, pure, [$($await)*]);
                client.quit() $($await)* .unwrap();
            }
        }

        /// A certificate the root store does not trust is refused with a TLS error; the
        /// clearly named escape hatch accepts it.
        #[test]
        fn untrusted_certificate_refused_unless_dangerously_accepted() {
            if support::skip_peers() {
                return;
            }
            let peer = Peer::start(VSFTPD_REUSE);
            $run! {
                let options = ConnectOptions::new("127.0.0.1", peer.port)
                    .login(USER, PASS)
                    .tls(TlsMode::Explicit)
                    .tls_config(TlsConfig::with_root_store(RootCertStore::empty()));
                let err = Client::connect_with(&options) $($await)* .unwrap_err();
                assert!(matches!(err, ftp_client::Error::Tls(_)), "{err:?}");
                let options = options.tls_config(TlsConfig::danger_accept_invalid_certs());
                let mut client = Client::connect_with(&options) $($await)* .unwrap();
                let mut reader = &b"hello"[..];
                client.store_from("x", &mut reader) $($await)* .unwrap();
                assert_eq!(std::fs::read(peer.path("x")).unwrap(), b"hello");
                client.quit() $($await)* .unwrap();
            }
        }

        /// Aborted and refused transfers must not use up the TLS sessions a server that
        /// requires reuse accepts: many in a row, then a transfer that must still resume.
        #[test]
        fn vsftpd_session_reuse_survives_many_aborts() {
            session_reuse_survives_many_aborts(VSFTPD_REUSE);
        }

        /// The same against this workspace's server (TLS 1.3 tickets).
        #[test]
        fn ftp_server_session_reuse_survives_many_aborts() {
            session_reuse_survives_many_aborts(Server::Ours { tls_reuse: true });
        }

        /// With TLS 1.3 and required session reuse, every data connection resumes a ticket:
        /// uploads in a row (which, unlike downloads, bring no ticket to clients that do not
        /// ask for one), then downloads, then uploads and downloads interleaved, all in one
        /// session, every file compared byte for byte.
        #[test]
        fn ftp_server_tls13_session_reuse_many_transfers() {
            if support::skip_peers() {
                return;
            }
            let peer = Peer::start(Server::Ours { tls_reuse: true });
            $run! {
                let mut client = Client::connect_with(&options(&peer, false, TlsMode::Explicit)) $($await)* .unwrap();
                let files: Vec<(String, Vec<u8>)> = (0..6u64)
                    .map(|i| (format!("f{i}.bin"), support::data(150_000 + 33_333 * i as usize, 40 + i)))
                    .collect();
                for (round, (name, data)) in files.iter().enumerate() {
                    if round % 2 == 0 {
                        let mut reader = &data[..];
                        client.store_from(name, &mut reader) $($await)* .unwrap();
                    } else {
                        let mut up = client.store(name) $($await)* .unwrap();
                        io::write_all(&mut up, data) $($await)*;
                        up.finish() $($await)* .unwrap();
                    }
                    support::assert_same(&std::fs::read(peer.path(name)).unwrap(), data, name);
                }
                for (name, data) in &files {
                    let mut down = client.retrieve(name, 0) $($await)* .unwrap();
                    let got = io::read_all(&mut down) $($await)*;
                    down.finish() $($await)* .unwrap();
                    support::assert_same(&got, data, name);
                }
                for (i, (name, data)) in files.iter().enumerate() {
                    let again = format!("again-{name}");
                    let mut reader = &data[..];
                    client.store_from(&again, &mut reader) $($await)* .unwrap();
                    support::assert_same(&std::fs::read(peer.path(&again)).unwrap(), data, &again);
                    if i % 2 == 1 {
                        let mut down = client.retrieve(&again, 0) $($await)* .unwrap();
                        let got = io::read_all(&mut down) $($await)*;
                        down.finish() $($await)* .unwrap();
                        support::assert_same(&got, data, &again);
                    }
                }
                let names = client.nlst("") $($await)* .unwrap();
                assert_eq!(names.len(), 12, "{names:?}");
                client.quit() $($await)* .unwrap();
            }
        }

        /// A server that requires session reuse refuses (522) every data connection of a
        /// client that cannot resume (its rustls configuration keeps no sessions): the
        /// upload and the download fail with that reply, not with the I/O error of the
        /// refused connection, and the session goes on.
        #[test]
        fn ftp_server_refuses_data_that_does_not_resume_with_522() {
            use ftp_client::rustls;
            use rustls::pki_types::pem::PemObject;
            if support::skip_peers() {
                return;
            }
            let peer = Peer::start(Server::Ours { tls_reuse: true });
            let mut roots = RootCertStore::empty();
            for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&Peer::ca_pem()) {
                roots.add(cert.unwrap()).unwrap();
            }
            let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
            let mut config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth();
            config.resumption = rustls::client::Resumption::disabled();
            let tls = TlsConfig::from_rustls(std::sync::Arc::new(config));
            let data = support::data(8_000_000, 5);
            $run! {
                let options = options(&peer, false, TlsMode::Explicit).tls_config(tls);
                let mut client = Client::connect_with(&options) $($await)* .unwrap();
                for _ in 0..2 {
                    let mut reader = &data[..];
                    let err = client.store_from("refused", &mut reader) $($await)* .unwrap_err();
                    assert!(matches!(err, ftp_client::Error::Reply(_)), "{err:?}");
                    assert_eq!(err.reply().map(|r| r.code().get()), Some(522), "{err:?}");
                }
                // The stream API: the refusal may come before the stream is handed out.
                let err = match client.store("refused") $($await)* {
                    Ok(mut up) => {
                        let _ = io::try_write_all(&mut up, &data) $($await)*;
                        up.finish() $($await)* .unwrap_err()
                    }
                    Err(err) => err,
                };
                assert_eq!(err.reply().map(|r| r.code().get()), Some(522), "{err:?}");
                let err = client.nlst("") $($await)* .unwrap_err();
                assert_eq!(err.reply().map(|r| r.code().get()), Some(522), "{err:?}");
                assert_eq!(client.pwd() $($await)* .unwrap(), "/");
                client.quit() $($await)* .unwrap();
            }
        }

        /// A server that answers the transfer command only after the data connection's TLS
        /// handshake (ftp-srv): the client, which holds that handshake back until the 1yz
        /// (vsftpd's order), starts it after the session's grace instead of deadlocking.
        #[test]
        fn server_that_answers_only_after_the_data_handshake() {
            if support::skip_peers() {
                return;
            }
            let payload = support::data(100_000, 3);
            let (tx, rx) = std::sync::mpsc::channel();
            let (port, server) = support::start_answers_after_data_handshake(payload.clone(), tx);
            $run! {
                let ca = TlsConfig::default().add_root_pem(&Peer::ca_pem()).unwrap();
                let options = ConnectOptions::new("127.0.0.1", port)
                    .login(USER, PASS)
                    .tls(TlsMode::Explicit)
                    .tls_config(ca)
                    .reply_timeout(std::time::Duration::from_secs(3));
                let mut client = Client::connect_with(&options) $($await)* .unwrap();
                let mut down = client.retrieve("f", 0) $($await)* .unwrap();
                let got = io::read_all(&mut down) $($await)*;
                down.finish() $($await)* .unwrap();
                support::assert_same(&got, &payload, "downloaded after the data handshake");
                client.quit() $($await)* .unwrap();
            }
            server.join().unwrap();
            // The handshake waited for the grace (500 ms by default), not less.
            let waited = rx.recv().unwrap();
            assert!(waited >= std::time::Duration::from_millis(400), "{waited:?}");
        }

        fn session_reuse_survives_many_aborts(server: Server) {
            if support::skip_peers() {
                return;
            }
            let peer = Peer::start(server);
            $run! {
                let mut client = Client::connect_with(&options(&peer, false, TlsMode::Explicit)) $($await)* .unwrap();
                let data = support::data(3_000_000, 7);
                let mut reader = &data[..];
                client.store_from("big", &mut reader) $($await)* .unwrap();
                for round in 0..6 {
                    // A refused transfer must not use up a TLS session either.
                    let err = client.retrieve("missing", 0) $($await)* .err().expect("refused");
                    assert_eq!(err.reply().map(|r| r.code().get()), Some(550), "{err:?}");
                    let mut down = client.retrieve("big", 0) $($await)* .unwrap();
                    if round % 2 == 0 {
                        io::read_some(&mut down, 50_000) $($await)*;
                    }
                    if round % 3 == 0 {
                        drop(down);
                    } else {
                        down.abort() $($await)* .unwrap();
                    }
                    let mut up = client.store("up") $($await)* .unwrap();
                    io::write_all(&mut up, &data[..300_000]) $($await)*;
                    if round % 2 == 0 {
                        drop(up);
                    } else {
                        up.abort() $($await)* .unwrap();
                    }
                }
                let mut down = client.retrieve("big", 0) $($await)* .unwrap();
                let got = io::read_all(&mut down) $($await)*;
                down.finish() $($await)* .unwrap();
                support::assert_same(&got, &data, "after aborts");
                client.quit() $($await)* .unwrap();
            }
        }
    };
}
