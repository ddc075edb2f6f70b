//! Scripted-server cases, written once for every client style (see `misbehave_*.rs`): each
//! misbehaviour asserts a typed error, within a bound a little above the configured timeout,
//! and no panic; then the protocol paths no real peer here takes (PASV fallback with the
//! NAT-safe address policy, EPRT/PORT with a port range and an advertised address, MODE B).

/// Expands every case for one style. `$run` runs a block (in a runtime for async styles);
/// the calling file has a module `io` with `read_all_result(&mut Download) ->
/// io::Result<Vec<u8>>` and `write_until_error(&mut Upload) -> io::Error`.
macro_rules! misbehave_tests {
    ($Client:ty, [$($await:tt)*], $run:ident) => {
        use std::time::{Duration, Instant};

        use ftp_client::{ConnectOptions, DataFailure, Error};
        use scripted::{accept, Server};

        type Client = $Client;

        /// The timeouts the cases configure, and how long past them a failure may come.
        const SHORT: Duration = Duration::from_millis(300);
        const BOUND: Duration = Duration::from_millis(2500);
        const STALL: Duration = Duration::from_secs(5);

        fn options(server: &Server) -> ConnectOptions {
            ConnectOptions::new("127.0.0.1", server.addr.port())
                .login("user", "pass")
                .connect_timeout(SHORT)
                .reply_timeout(SHORT)
                .data_timeout(SHORT)
                .data_idle_timeout(SHORT)
        }

        /// The first of `n` consecutive ports that are free now.
        fn support_free_port_run(n: u16) -> u16 {
            let mut base = 31_000 + (std::process::id() % 500) as u16 * 8;
            loop {
                if (base..base + n).all(|p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok()) {
                    return base;
                }
                base += n;
            }
        }

        #[track_caller]
        fn within(start: Instant) {
            let took = start.elapsed();
            assert!(took < BOUND, "took {took:?}, more than {BOUND:?}");
        }

        #[test]
        fn malformed_greeting_is_a_protocol_error() {
            let server = Server::start(|s| {
                s.raw(b"hello, this is not FTP\r\n");
                s.stall(STALL);
            });
            $run! {
                let start = Instant::now();
                let err = Client::connect_with(&options(&server)) $($await)* .unwrap_err();
                within(start);
                assert!(matches!(err, Error::Protocol(_)), "{err:?}");
                assert!(err.is_fatal());
            }
        }

        #[test]
        fn binary_garbage_is_a_protocol_error() {
            let server = Server::start(|s| {
                s.raw(&[0xFF, 0xFE, 0x00, 0x01, 0xC3, b'\r', b'\n']);
                s.stall(STALL);
            });
            $run! {
                let err = Client::connect_with(&options(&server)) $($await)* .unwrap_err();
                assert!(matches!(err, Error::Protocol(_)), "{err:?}");
            }
        }

        #[test]
        fn refusing_greeting_carries_the_reply() {
            let server = Server::start(|s| s.send("421 Too many connections."));
            $run! {
                let err = Client::connect_with(&options(&server)) $($await)* .unwrap_err();
                assert_eq!(err.reply().map(|r| r.code().get()), Some(421), "{err:?}");
                assert!(err.is_fatal());
            }
        }

        #[test]
        fn silent_server_times_out_at_the_greeting() {
            let server = Server::start(|s| s.stall(STALL));
            $run! {
                let start = Instant::now();
                let err = Client::connect_with(&options(&server)) $($await)* .unwrap_err();
                within(start);
                assert!(matches!(err, Error::Timeout), "{err:?}");
                assert!(err.is_timeout());
            }
        }

        #[test]
        fn stalled_reply_times_out_and_closes_the_session() {
            let server = Server::start(|s| {
                s.login();
                s.expect("PWD");
                s.stall(STALL);
            });
            $run! {
                let mut client = Client::connect_with(&options(&server)) $($await)* .unwrap();
                let start = Instant::now();
                let err = client.pwd() $($await)* .unwrap_err();
                within(start);
                assert!(matches!(err, Error::Timeout), "{err:?}");
                let again = client.noop() $($await)* .unwrap_err();
                assert!(again.is_fatal(), "{again:?}");
            }
        }

        #[test]
        fn overlong_reply_is_a_protocol_error() {
            let server = Server::start(|s| {
                s.login();
                s.expect("PWD");
                s.raw(&vec![b'a'; 200_000]);
                s.stall(STALL);
            });
            $run! {
                let mut client = Client::connect_with(&options(&server)) $($await)* .unwrap();
                let err = client.pwd() $($await)* .unwrap_err();
                assert!(matches!(err, Error::Protocol(_)), "{err:?}");
            }
        }

        #[test]
        fn line_that_is_not_a_reply_is_a_protocol_error() {
            let server = Server::start(|s| {
                s.login();
                s.expect("PWD");
                s.send("whatever you say");
                s.stall(STALL);
            });
            $run! {
                let mut client = Client::connect_with(&options(&server)) $($await)* .unwrap();
                let err = client.pwd() $($await)* .unwrap_err();
                assert!(matches!(err, Error::Protocol(_)), "{err:?}");
            }
        }

        #[test]
        fn unexpected_reply_code_is_typed() {
            let server = Server::start(|s| {
                s.login();
                s.expect("TYPE");
                s.send("200 OK.");
                s.expect("SIZE");
                s.send("213 not-a-number");
                s.expect("QUIT");
                s.send("221 Bye.");
            });
            $run! {
                let mut client = Client::connect_with(&options(&server)) $($await)* .unwrap();
                let err = client.size("f") $($await)* .unwrap_err();
                assert!(matches!(err, Error::UnexpectedReply(_)), "{err:?}");
                assert!(!err.is_fatal());
                client.quit() $($await)* .unwrap();
            }
        }

        #[test]
        fn close_in_mid_command() {
            let server = Server::start(|s| {
                s.login();
                s.expect("PWD");
                s.close();
            });
            $run! {
                let mut client = Client::connect_with(&options(&server)) $($await)* .unwrap();
                let err = client.pwd() $($await)* .unwrap_err();
                assert!(matches!(err, Error::ConnectionClosed { reply: None } | Error::Io(_)), "{err:?}");
                assert!(err.is_fatal());
            }
        }

        #[test]
        fn service_closing_carries_the_421() {
            let server = Server::start(|s| {
                s.login();
                s.expect("MKD");
                s.send("421 Shutting down.");
                s.close();
            });
            $run! {
                let mut client = Client::connect_with(&options(&server)) $($await)* .unwrap();
                let err = client.mkdir("d") $($await)* .unwrap_err();
                assert!(matches!(err, Error::ConnectionClosed { reply: Some(_) }), "{err:?}");
                assert_eq!(err.reply().unwrap().code().get(), 421);
            }
        }

        #[test]
        fn data_closed_in_mid_transfer_gives_the_426() {
            let server = Server::start(|s| {
                s.login();
                let listener = s.passive();
                s.expect("RETR");
                s.send("150 Here it comes.");
                let mut data = accept(&listener);
                std::io::Write::write_all(&mut data, &[7u8; 100_000]).unwrap();
                drop(data);
                s.send("426 Connection closed; transfer aborted.");
                s.stall(STALL);
            });
            $run! {
                let mut client = Client::connect_with(&options(&server)) $($await)* .unwrap();
                let mut down = client.retrieve("f", 0) $($await)* .unwrap();
                let got = io::read_all_result(&mut down) $($await)*;
                assert_eq!(got.map(|v| v.len()).unwrap_or(100_000), 100_000);
                let err = down.finish() $($await)* .unwrap_err();
                assert_eq!(err.reply().map(|r| r.code().get()), Some(426), "{err:?}");
                assert!(!err.is_fatal());
            }
        }

        /// A server that refuses an upload in mid-transfer: it answers STOR with 150,
        /// accepts the data connection and resets it without reading a byte, and sends
        /// `reply` (before the reset when `reply_first`, else 200 ms after it, when the
        /// client's writes have already failed). Then it answers NOOP and QUIT.
        fn refusing_upload_server(reply: &'static str, reply_first: bool) -> Server {
            Server::start(move |s| {
                s.login();
                let listener = s.passive();
                s.expect("STOR");
                s.send("150 Go ahead.");
                let data = accept(&listener);
                if reply_first {
                    s.send(reply);
                    s.sleep(Duration::from_millis(200));
                }
                // SO_LINGER 0: the close is a reset, whatever the client sent.
                socket2::SockRef::from(&data).set_linger(Some(Duration::ZERO)).unwrap();
                drop(data);
                if !reply_first {
                    s.sleep(Duration::from_millis(200));
                    s.send(reply);
                }
                s.expect("NOOP");
                s.send("200 Still here.");
                s.expect("QUIT");
                s.send("221 Bye.");
            })
        }

        /// More than the socket buffers hold: the client is still writing when the data
        /// connection breaks.
        const BIG_UPLOAD: usize = 32 * 1024 * 1024;

        #[track_caller]
        fn assert_refused(err: &Error, code: u16) {
            assert!(matches!(err, Error::Reply(_)), "{err:?}");
            assert_eq!(err.reply().map(|r| r.code().get()), Some(code), "{err:?}");
            assert!(!err.is_fatal(), "{err:?}");
        }

        #[test]
        fn upload_reset_then_426_gives_the_426() {
            let server = refusing_upload_server("426 Connection closed; transfer aborted.", false);
            $run! {
                let mut client = Client::connect_with(&options(&server)) $($await)* .unwrap();
                let start = Instant::now();
                let data = vec![3u8; BIG_UPLOAD];
                let err = client.store_from("f", &mut &data[..]) $($await)* .unwrap_err();
                within(start);
                assert_refused(&err, 426);
                assert_eq!(err.reply().unwrap().first_line(), b"Connection closed; transfer aborted.");
                client.noop() $($await)* .unwrap();
                client.quit() $($await)* .unwrap();
            }
        }

        #[test]
        fn upload_426_then_reset_gives_the_426() {
            let server = refusing_upload_server("426 Connection closed; transfer aborted.", true);
            $run! {
                let mut client = Client::connect_with(&options(&server)) $($await)* .unwrap();
                let start = Instant::now();
                let data = vec![3u8; BIG_UPLOAD];
                let err = client.store_from("f", &mut &data[..]) $($await)* .unwrap_err();
                within(start);
                assert_refused(&err, 426);
                client.noop() $($await)* .unwrap();
                client.quit() $($await)* .unwrap();
            }
        }

        #[test]
        fn upload_reset_then_425_gives_the_425() {
            let server = refusing_upload_server("425 Can't open data connection.", false);
            $run! {
                let mut client = Client::connect_with(&options(&server)) $($await)* .unwrap();
                let data = vec![3u8; BIG_UPLOAD];
                let err = client.store_from("f", &mut &data[..]) $($await)* .unwrap_err();
                assert_refused(&err, 425);
                assert_eq!(err.reply().unwrap().first_line(), b"Can't open data connection.");
                client.noop() $($await)* .unwrap();
                client.quit() $($await)* .unwrap();
            }
        }

        /// What ftp-server with `require_tls_session_reuse` answers to a data connection
        /// that did not resume the control connection's TLS session.
        #[test]
        fn upload_reset_then_522_gives_the_522() {
            let server = refusing_upload_server(
                "522 SSL connection failed: session reuse required.",
                false,
            );
            $run! {
                let mut client = Client::connect_with(&options(&server)) $($await)* .unwrap();
                let data = vec![3u8; BIG_UPLOAD];
                let err = client.store_from("f", &mut &data[..]) $($await)* .unwrap_err();
                assert_refused(&err, 522);
                assert!(err.is_permanent());
                client.noop() $($await)* .unwrap();
                client.quit() $($await)* .unwrap();
            }
        }

        /// The stream API: the write fails (an `io::Error`, as `Write` must), and `finish`
        /// reports the server's reply.
        #[test]
        fn upload_stream_reset_then_426_finish_gives_the_426() {
            let server = refusing_upload_server("426 Connection closed; transfer aborted.", false);
            $run! {
                let mut client = Client::connect_with(&options(&server)) $($await)* .unwrap();
                let mut up = client.store("f") $($await)* .unwrap();
                let _ = io::write_until_error(&mut up) $($await)*;
                let err = up.finish() $($await)* .unwrap_err();
                assert_refused(&err, 426);
                client.noop() $($await)* .unwrap();
                client.quit() $($await)* .unwrap();
            }
        }

        /// The listing helpers read the data to its end themselves: a reset in mid-listing
        /// reports the server's reply too.
        #[test]
        fn listing_reset_then_451_gives_the_451() {
            let server = Server::start(|s| {
                s.login();
                // A listing sends no TYPE first.
                s.expect("EPSV");
                let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                let port = listener.local_addr().unwrap().port();
                s.send(&format!("229 Entering Extended Passive Mode (|||{port}|)"));
                s.expect("NLST");
                s.send("150 Here it comes.");
                let mut data = accept(&listener);
                std::io::Write::write_all(&mut data, b"a\r\nb\r\n").unwrap();
                s.sleep(Duration::from_millis(100));
                socket2::SockRef::from(&data).set_linger(Some(Duration::ZERO)).unwrap();
                drop(data);
                s.sleep(Duration::from_millis(200));
                s.send("451 Read error on the disk.");
                s.expect("NOOP");
                s.send("200 Still here.");
                s.expect("QUIT");
                s.send("221 Bye.");
            });
            $run! {
                let mut client = Client::connect_with(&options(&server)) $($await)* .unwrap();
                let err = client.nlst("") $($await)* .unwrap_err();
                assert_refused(&err, 451);
                client.noop() $($await)* .unwrap();
                client.quit() $($await)* .unwrap();
            }
        }

        #[test]
        fn stalled_download_times_out() {
            let server = Server::start(|s| {
                s.login();
                let listener = s.passive();
                s.expect("RETR");
                s.send("150 Here it comes.");
                let mut data = accept(&listener);
                std::io::Write::write_all(&mut data, &[1u8; 1000]).unwrap();
                s.stall(STALL);
                drop(data);
            });
            $run! {
                let mut client = Client::connect_with(&options(&server)) $($await)* .unwrap();
                let mut down = client.retrieve("f", 0) $($await)* .unwrap();
                let start = Instant::now();
                let err = io::read_all_result(&mut down) $($await)* .unwrap_err();
                within(start);
                assert_eq!(err.kind(), std::io::ErrorKind::TimedOut, "{err:?}");
                let start = Instant::now();
                let err = down.finish() $($await)* .unwrap_err();
                within(start);
                assert!(err.is_timeout(), "{err:?}");
            }
        }

        #[test]
        fn control_closed_in_mid_download() {
            let server = Server::start(|s| {
                s.login();
                let listener = s.passive();
                s.expect("RETR");
                s.send("150 Here it comes.");
                let mut data = accept(&listener);
                std::io::Write::write_all(&mut data, &[1u8; 1000]).unwrap();
                s.close();
                std::thread::sleep(STALL);
                drop(data);
            });
            $run! {
                let mut client = Client::connect_with(&options(&server)) $($await)* .unwrap();
                let start = Instant::now();
                // An async client may see the close before handing out the stream.
                let err = match client.retrieve("f", 0) $($await)* {
                    Ok(mut down) => {
                        assert!(io::read_all_result(&mut down) $($await)* .is_err());
                        down.finish() $($await)* .unwrap_err()
                    }
                    Err(err) => err,
                };
                within(start);
                assert!(err.is_fatal(), "{err:?}");
            }
        }

        #[test]
        fn stalled_upload_times_out() {
            let server = Server::start(|s| {
                s.login();
                let listener = s.passive();
                s.expect("STOR");
                s.send("150 Go ahead.");
                let data = accept(&listener);
                s.stall(STALL);
                drop(data);
            });
            $run! {
                let mut client = Client::connect_with(&options(&server)) $($await)* .unwrap();
                let mut up = client.store("f") $($await)* .unwrap();
                let start = Instant::now();
                let err = io::write_until_error(&mut up) $($await)*;
                assert_eq!(err.kind(), std::io::ErrorKind::TimedOut, "{err:?}");
                let err = up.finish() $($await)* .unwrap_err();
                assert!(err.is_timeout(), "{err:?}");
                assert!(start.elapsed() < BOUND * 2, "took {:?}", start.elapsed());
            }
        }

        #[test]
        fn upload_to_a_server_that_keeps_the_data_connection_open() {
            let server = Server::start(|s| {
                s.login();
                let listener = s.passive();
                s.expect("STOR");
                s.send("150 Go ahead.");
                let mut data = accept(&listener);
                let mut got = Vec::new();
                let _ = std::io::Read::read_to_end(&mut data, &mut got);
                assert_eq!(got.len(), 10_000);
                // The client's end arrived; this server answers but keeps its side open.
                s.send("226 Stored.");
                s.expect("QUIT");
                s.send("221 Bye.");
                drop(data);
            });
            $run! {
                let mut client = Client::connect_with(&options(&server)) $($await)* .unwrap();
                let start = Instant::now();
                let mut reader = &[5u8; 10_000][..];
                let sent = client.store_from("f", &mut reader) $($await)* .unwrap();
                within(start);
                assert_eq!(sent, 10_000);
                client.quit() $($await)* .unwrap();
            }
        }

        #[test]
        fn refused_data_connection_is_typed() {
            let server = Server::start(|s| {
                s.login();
                s.expect("TYPE");
                s.send("200 OK.");
                s.expect("EPSV");
                let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                let port = closed.local_addr().unwrap().port();
                drop(closed);
                s.send(&format!("229 Entering Extended Passive Mode (|||{port}|)"));
                s.expect("QUIT");
                s.send("221 Bye.");
            });
            $run! {
                let mut client = Client::connect_with(&options(&server)) $($await)* .unwrap();
                let err = client.retrieve("f", 0) $($await)* .err().expect("refused");
                assert!(matches!(err, Error::DataConnection(DataFailure::Refused)), "{err:?}");
                client.quit() $($await)* .unwrap();
            }
        }

        #[test]
        fn malformed_passive_reply_is_typed() {
            let server = Server::start(|s| {
                s.login();
                s.expect("TYPE");
                s.send("200 OK.");
                s.expect("EPSV");
                s.send("229 Entering Extended Passive Mode (|||not-a-port|)");
                s.stall(STALL);
            });
            $run! {
                let mut client = Client::connect_with(&options(&server)) $($await)* .unwrap();
                let start = Instant::now();
                let err = client.retrieve("f", 0) $($await)* .err().expect("refused");
                within(start);
                assert!(
                    matches!(err, Error::UnexpectedReply(_) | Error::Timeout),
                    "{err:?}"
                );
            }
        }

        #[test]
        fn server_that_never_connects_in_active_mode_times_out() {
            let server = Server::start(|s| {
                s.login();
                s.expect("TYPE");
                s.send("200 OK.");
                s.expect("EPRT");
                s.send("200 OK.");
                s.expect("RETR");
                s.send("150 Connecting (not really).");
                s.stall(STALL);
            });
            $run! {
                let mut client = Client::connect_with(&options(&server).active()) $($await)* .unwrap();
                let start = Instant::now();
                let err = client.retrieve("f", 0) $($await)* .err().expect("no connection");
                within(start);
                assert!(err.is_timeout(), "{err:?}");
            }
        }

        #[test]
        fn garbage_instead_of_tls_fails_the_handshake() {
            let server = Server::start(|s| {
                s.send("220 scripted server");
                s.expect("AUTH");
                s.send("234 Go ahead.");
                s.raw(b"this is not a TLS record at all\r\n");
                s.stall(STALL);
            });
            $run! {
                let options = options(&server)
                    .tls(ftp_client::TlsMode::Explicit)
                    .tls_config(ftp_client::TlsConfig::danger_accept_invalid_certs());
                let start = Instant::now();
                let err = Client::connect_with(&options) $($await)* .unwrap_err();
                within(start);
                assert!(matches!(err, Error::Tls(_) | Error::Io(_)), "{err:?}");
            }
        }

        #[test]
        fn tls_server_that_never_answers_times_out() {
            let server = Server::start(|s| {
                s.send("220 scripted server");
                s.expect("AUTH");
                s.send("234 Go ahead.");
                s.stall(STALL);
            });
            $run! {
                let options = options(&server)
                    .tls(ftp_client::TlsMode::Explicit)
                    .tls_config(ftp_client::TlsConfig::danger_accept_invalid_certs());
                let start = Instant::now();
                let err = Client::connect_with(&options) $($await)* .unwrap_err();
                within(start);
                assert!(err.is_timeout(), "{err:?}");
            }
        }

        // -- protocol paths no real peer here takes ------------------------------------

        /// EPSV refused: PASV, whose announced (private, unreachable) address is replaced by
        /// the control connection's peer (the NAT-safe default policy).
        #[test]
        fn pasv_fallback_connects_to_the_control_peer() {
            let server = Server::start(|s| {
                s.login();
                s.expect("TYPE");
                s.send("200 OK.");
                s.expect("EPSV");
                s.send("500 EPSV not understood.");
                s.expect("PASV");
                let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                let port = listener.local_addr().unwrap().port();
                s.send(&format!(
                    "227 Entering Passive Mode (10,255,0,7,{},{})",
                    port >> 8,
                    port & 0xFF
                ));
                s.expect("RETR");
                s.send("150 Here.");
                let mut data = accept(&listener);
                std::io::Write::write_all(&mut data, b"via pasv").unwrap();
                drop(data);
                s.send("226 Done.");
                // The next transfer goes straight to PASV.
                s.expect("PASV");
                s.send("421 Enough.");
            });
            $run! {
                let mut client = Client::connect_with(&options(&server)) $($await)* .unwrap();
                let mut down = client.retrieve("f", 0) $($await)* .unwrap();
                let got = io::read_all_result(&mut down) $($await)* .unwrap();
                down.finish() $($await)* .unwrap();
                assert_eq!(got, b"via pasv");
                assert!(client.session().is_epsv_refused());
                let err = client.nlst("") $($await)* .unwrap_err();
                assert_eq!(err.reply().map(|r| r.code().get()), Some(421));
            }
        }

        /// Active mode: the listener takes a port from the configured range, EPRT advertises
        /// the configured address; EPRT refused, PORT.
        #[test]
        fn active_mode_port_range_advertised_address_and_port_fallback() {
            let (tx, rx) = std::sync::mpsc::channel();
            let server = Server::start(move |s| {
                s.login();
                s.expect("TYPE");
                s.send("200 OK.");
                let eprt = s.expect("EPRT");
                tx.send(eprt).unwrap();
                s.send("500 EPRT not understood.");
                let port = s.expect("PORT");
                tx.send(port.clone()).unwrap();
                s.send("200 PORT OK.");
                s.expect("STOR");
                s.send("150 Connecting.");
                let nums: Vec<u16> = port[5..].split(',').map(|n| n.trim().parse().unwrap()).collect();
                let addr = std::net::SocketAddr::from((
                    [nums[0] as u8, nums[1] as u8, nums[2] as u8, nums[3] as u8],
                    nums[4] * 256 + nums[5],
                ));
                let mut data = std::net::TcpStream::connect(addr).unwrap();
                let mut got = Vec::new();
                std::io::Read::read_to_end(&mut data, &mut got).unwrap();
                assert_eq!(got, b"active bytes");
                drop(data);
                s.send("226 Stored.");
                s.expect("QUIT");
                s.send("221 Bye.");
            });
            let low = support_free_port_run(8);
            $run! {
                let options = options(&server)
                    .active()
                    .active_address("127.0.0.1".parse().unwrap())
                    .active_port_range(low..=low + 7);
                let mut client = Client::connect_with(&options) $($await)* .unwrap();
                let mut reader = &b"active bytes"[..];
                client.store_from("f", &mut reader) $($await)* .unwrap();
                client.quit() $($await)* .unwrap();
            }
            let eprt = rx.recv().unwrap();
            let port: u16 = eprt.trim_end_matches('|').rsplit('|').next().unwrap().parse().unwrap();
            assert!(eprt.starts_with("EPRT |1|127.0.0.1|"), "{eprt}");
            assert!((low..=low + 7).contains(&port), "{eprt} outside {low}..={}", low + 7);
            let port_cmd = rx.recv().unwrap();
            assert!(port_cmd.starts_with("PORT 127,0,0,1,"), "{port_cmd}");
        }

        /// MODE B on the wire (no real peer here speaks it): blocks decoded, the end-of-file
        /// block ends the file.
        #[test]
        fn block_mode_download_is_decoded() {
            let server = Server::start(|s| {
                s.login();
                s.expect("TYPE");
                s.send("200 OK.");
                s.expect("MODE");
                s.send("200 MODE B.");
                s.expect("EPSV");
                let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                let port = listener.local_addr().unwrap().port();
                s.send(&format!("229 Entering Extended Passive Mode (|||{port}|)"));
                s.expect("RETR");
                s.send("150 Here.");
                let mut data = accept(&listener);
                // A 5-byte block, a 6-byte block flagged end of file.
                std::io::Write::write_all(&mut data, b"\x00\x00\x05hello\x40\x00\x06 world").unwrap();
                s.send("226 Done.");
                s.expect("QUIT");
                s.send("221 Bye.");
                drop(data);
            });
            $run! {
                let mut client = Client::connect_with(&options(&server)) $($await)* .unwrap();
                client.set_mode(ftp_client::TransferMode::Block).unwrap();
                let mut down = client.retrieve("f", 0) $($await)* .unwrap();
                let got = io::read_all_result(&mut down) $($await)* .unwrap();
                assert_eq!(got, b"hello world");
                down.finish() $($await)* .unwrap();
                client.quit() $($await)* .unwrap();
            }
        }

        // -- data-connection events: TLS -----------------------------------------------

        /// What an FTPS server in active mode does with the data connection of a 0-byte
        /// RETR: it connects, then either completes its TLS handshake and closes at once
        /// (`handshake`, without close_notify), or resets the connection in mid-handshake.
        fn tls_active_empty_retr(handshake: bool) -> Server {
            tls_active_empty_retr_with(if handshake { DataEnd::Handshake } else { DataEnd::Reset })
        }

        /// How the scripted server ends an empty file's TLS data connection.
        #[derive(Clone, Copy)]
        enum DataEnd {
            /// Completes its TLS handshake, then closes without close_notify.
            Handshake,
            /// Sends its handshake flight and closes without reading the client's Finished.
            Flight,
            /// Resets the connection in mid-handshake.
            Reset,
        }

        fn tls_active_empty_retr_with(end: DataEnd) -> Server {
            let config = scripted::tls_config(2, false);
            Server::start(move |s| {
                s.tls_login(&config);
                s.expect("TYPE");
                s.send("200 OK.");
                let eprt = s.expect("EPRT");
                s.send("200 OK.");
                s.expect("RETR");
                // A reset loses the file's bytes: this one has some.
                let size = if matches!(end, DataEnd::Reset) { 5 } else { 0 };
                s.send(&format!("150 Opening BINARY mode data connection for f ({size} bytes)."));
                let tcp = scripted::connect_eprt(&eprt);
                match end {
                    DataEnd::Handshake => drop(scripted::tls_accept(tcp, &config)),
                    DataEnd::Flight => scripted::tls_flight_then_close(tcp, &config),
                    DataEnd::Reset => {
                        let mut hello = [0u8; 64];
                        let _ = std::io::Read::read(&mut &tcp, &mut hello);
                        socket2::SockRef::from(&tcp).set_linger(Some(Duration::ZERO)).unwrap();
                        drop(tcp);
                    }
                }
                s.send("226 Transfer complete.");
                s.expect("QUIT");
                s.send("221 Bye.");
            })
        }

        fn tls_options(server: &Server) -> ConnectOptions {
            options(server)
                .tls(ftp_client::TlsMode::Explicit)
                .tls_config(ftp_client::TlsConfig::danger_accept_invalid_certs())
        }

        /// A data connection closed right after its TLS handshake: an empty file, on every
        /// runtime (async-std and tokio used to panic here: `async fn resumed after
        /// completion`).
        #[test]
        fn tls_data_closed_right_after_handshake_is_an_empty_file() {
            for _ in 0..3 {
                let server = tls_active_empty_retr(true);
                $run! {
                    let options = tls_options(&server).active();
                    let mut client = Client::connect_with(&options) $($await)* .unwrap();
                    let mut down = client.retrieve("empty", 0) $($await)* .unwrap();
                    let got = io::read_all_result(&mut down) $($await)* .unwrap();
                    assert!(got.is_empty());
                    down.finish() $($await)* .unwrap();
                    client.quit() $($await)* .unwrap();
                }
            }
        }

        /// A data connection closed right after the server's handshake flight, before the
        /// client's Finished arrived (which then meets a closed socket): still an empty
        /// file, however the race between the end of the stream and the reset goes.
        #[test]
        fn tls_data_closed_before_the_clients_finished_is_an_empty_file() {
            for _ in 0..10 {
                let server = tls_active_empty_retr_with(DataEnd::Flight);
                $run! {
                    let options = tls_options(&server).active();
                    let mut client = Client::connect_with(&options) $($await)* .unwrap();
                    let mut down = client.retrieve("empty", 0) $($await)* .unwrap();
                    let got = io::read_all_result(&mut down) $($await)*;
                    let outcome = down.finish() $($await)*;
                    assert!(matches!(&got, Ok(v) if v.is_empty()), "{got:?} {outcome:?}");
                    outcome.unwrap();
                    client.quit() $($await)* .unwrap();
                }
            }
        }

        /// A data connection reset in mid-handshake (a file of 5 bytes): a typed, non-fatal
        /// error, never a panic.
        #[test]
        fn tls_data_reset_in_mid_handshake_is_typed() {
            for _ in 0..3 {
                let server = tls_active_empty_retr(false);
                $run! {
                    let options = tls_options(&server).active();
                    let mut client = Client::connect_with(&options) $($await)* .unwrap();
                    let start = Instant::now();
                    let err = match client.retrieve("empty", 0) $($await)* {
                        Ok(mut down) => {
                            let _ = io::read_all_result(&mut down) $($await)*;
                            down.finish() $($await)* .unwrap_err()
                        }
                        Err(err) => err,
                    };
                    within(start);
                    assert!(matches!(err, Error::DataConnection(_)), "{err:?}");
                    assert!(!err.is_fatal(), "{err:?}");
                    client.quit() $($await)* .unwrap();
                }
            }
        }

        /// Implicit FTPS against a server that answers PBSZ and PROT with 503 until the user
        /// is logged in: the client sends them after the login, and data is protected.
        #[test]
        fn implicit_tls_server_that_wants_the_login_before_pbsz() {
            let config = scripted::tls_config(2, false);
            let server = Server::start(move |s| {
                s.start_tls(&config);
                s.send("220 implicit FTPS");
                let mut logged_in = false;
                for _ in 0..10 {
                    let line = s.read();
                    let verb = line.split(' ').next().unwrap_or_default().to_ascii_uppercase();
                    match verb.as_str() {
                        "USER" => s.send("331 Password?"),
                        "PASS" => {
                            logged_in = true;
                            s.send("230 In.");
                        }
                        "PBSZ" | "PROT" if !logged_in => s.send("503 Login with USER first."),
                        "PBSZ" | "PROT" => s.send("200 OK."),
                        "FEAT" => s.raw(b"211-Features:\r\n EPSV\r\n211 End\r\n"),
                        "QUIT" => return s.send("221 Bye."),
                        "" => return,
                        _ => s.send("502 Not in this script."),
                    }
                }
            });
            $run! {
                let options = options(&server)
                    .tls(ftp_client::TlsMode::Implicit)
                    .tls_config(ftp_client::TlsConfig::danger_accept_invalid_certs());
                let client = Client::connect_with(&options) $($await)* .unwrap();
                assert!(client.is_logged_in() && client.is_data_protected());
                client.quit() $($await)* .unwrap();
            }
        }

        // -- listings of servers that run /bin/ls -------------------------------------

        /// `Mon dd HH:MM` of a time `days_ago` days before now, as Twisted shows every date
        /// of its current year, and the year it denotes.
        fn shown_without_year(days_ago: i64) -> (String, u16) {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64;
            let t = ftp_client::Timestamp::from_unix_seconds(now - days_ago * 86_400).unwrap();
            const MONTHS: [&str; 12] = [
                "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
            ];
            let shown = format!("{} {:2} 08:00", MONTHS[usize::from(t.month()) - 1], t.day());
            (shown, t.year())
        }

        /// A server like GNU inetutils ftpd: LIST's argument goes to /bin/ls, split at spaces
        /// (so `LIST dir with space` lists nothing), a missing folder lists as empty with 226,
        /// no MLSD; dates shown with a time instead of the year. CWD knows the folders.
        fn bin_ls_server(dated: String) -> Server {
            Server::start(move |s| {
                s.login();
                let mut cwd = "/".to_string();
                let mut listener = None;
                for _ in 0..40 {
                    let line = s.read();
                    let (verb, arg) = line.split_once(' ').unwrap_or((line.as_str(), ""));
                    match verb.to_ascii_uppercase().as_str() {
                        "PWD" => s.send(&format!("257 \"{cwd}\" is the current directory")),
                        "CWD" if arg == "/" || arg == "dir with space" => {
                            cwd = if arg == "/" { "/".into() } else { "/dir with space".into() };
                            s.send("250 OK.");
                        }
                        "CWD" => s.send("550 No such file or directory."),
                        "TYPE" | "MODE" => s.send("200 OK."),
                        "EPSV" => {
                            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                            let port = l.local_addr().unwrap().port();
                            listener = Some(l);
                            s.send(&format!("229 Entering Extended Passive Mode (|||{port}|)"));
                        }
                        "LIST" => {
                            s.send("150 Here comes the directory listing.");
                            let mut data = accept(listener.as_ref().unwrap());
                            // Only `LIST` inside the folder lists it; `ls dir with space`
                            // finds none of its three words, `ls missing/` nothing.
                            if arg.is_empty() && cwd == "/dir with space" {
                                let listing = format!(
                                    "-rw-r--r-- 1 u g 5 {dated} a file.txt\r\n\
                                     drwxr-xr-x 2 u g 4096 Jan  5  2020 sub dir\r\n"
                                );
                                std::io::Write::write_all(&mut data, listing.as_bytes()).unwrap();
                            }
                            drop(data);
                            s.send("226 Directory send OK.");
                        }
                        "QUIT" => return s.send("221 Bye."),
                        "" => return,
                        _ => s.send("502 Not in this script."),
                    }
                }
            })
        }

        /// The folder is listed from inside (CWD, LIST, CWD back): names with spaces come
        /// whole, a time-for-year date is this year's, and the working folder is unchanged.
        #[test]
        fn bin_ls_server_lists_a_folder_with_spaces_from_inside() {
            let (dated, year) = shown_without_year(200);
            let server = bin_ls_server(dated);
            $run! {
                let mut client = Client::connect_with(&options(&server)) $($await)* .unwrap();
                let entries = client.list("dir with space") $($await)* .unwrap();
                let names: Vec<_> = entries.iter().map(|e| e.name.to_vec()).collect();
                assert_eq!(names, vec![b"a file.txt".to_vec(), b"sub dir".to_vec()]);
                assert_eq!(entries[0].modified.unwrap().year(), year);
                assert_eq!(client.pwd() $($await)* .unwrap(), "/");
                client.quit() $($await)* .unwrap();
            }
        }

        /// A missing folder is an error (CWD's 550), not an empty listing.
        #[test]
        fn bin_ls_server_missing_folder_is_550() {
            let server = bin_ls_server(String::new());
            $run! {
                let mut client = Client::connect_with(&options(&server)) $($await)* .unwrap();
                let err = client.list("missing/") $($await)* .unwrap_err();
                assert_refused(&err, 550);
                assert_eq!(client.pwd() $($await)* .unwrap(), "/");
                client.quit() $($await)* .unwrap();
            }
        }

        // -- API helpers ----------------------------------------------------------------

        /// A local folder of its own for one test.
        fn local_dir(name: &str) -> std::path::PathBuf {
            let dir = std::env::temp_dir().join(format!(
                "ftp-client-scripted-{}-{name}-{}",
                std::process::id(),
                stringify!($run)
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            dir
        }

        /// `SITE args`, byte for byte; STOU with the name the server chose.
        #[test]
        fn site_and_store_unique() {
            let (tx, rx) = std::sync::mpsc::channel();
            let server = Server::start(move |s| {
                s.login();
                tx.send(s.expect("SITE")).unwrap();
                s.send("200 SITE CHMOD command ok.");
                let listener = s.passive();
                tx.send(s.expect("STOU")).unwrap();
                s.send("150 FILE: upload.1");
                let mut data = accept(&listener);
                let mut got = Vec::new();
                std::io::Read::read_to_end(&mut data, &mut got).unwrap();
                tx.send(String::from_utf8(got).unwrap()).unwrap();
                drop(data);
                s.send("226 Transfer complete (unique file name: upload.1).");
                s.expect("QUIT");
                s.send("221 Bye.");
            });
            $run! {
                let mut client = Client::connect_with(&options(&server)) $($await)* .unwrap();
                let reply = client.site("CHMOD 644 f") $($await)* .unwrap();
                assert_eq!(reply.to_string(), "200 SITE CHMOD command ok.");
                let mut up = client.store_unique("") $($await)* .unwrap();
                io::write_all_result(&mut up, b"unique") $($await)* .unwrap();
                assert_eq!(up.byte_count(), 6);
                let outcome = up.finish() $($await)* .unwrap();
                assert_eq!(outcome.stored_as.as_deref(), Some(&b"upload.1"[..]));
                client.quit() $($await)* .unwrap();
            }
            assert_eq!(rx.recv().unwrap(), "SITE CHMOD 644 f");
            assert_eq!(rx.recv().unwrap(), "STOU");
            assert_eq!(rx.recv().unwrap(), "unique");
        }

        /// `retrieve_to` never truncates the local file before the server confirmed: a 550
        /// and a transfer cut short leave it as it was (and no temporary file); a complete
        /// download replaces it. `retrieve_to_vec` keeps to its limit.
        #[test]
        fn retrieve_to_replaces_the_local_file_only_on_success() {
            let server = Server::start(|s| {
                s.login();
                let first = s.passive();
                s.expect("RETR");
                s.send("550 missing.txt: No such file or directory.");
                drop(first);
                let listener = s.epsv();
                s.expect("RETR");
                s.send("150 Here it comes.");
                let mut data = accept(&listener);
                std::io::Write::write_all(&mut data, b"half of it").unwrap();
                drop(data);
                s.send("426 Connection closed; transfer aborted.");
                for body in [&b"fresh contents"[..], b"0123456789"] {
                    let listener = s.epsv();
                    s.expect("RETR");
                    s.send("150 Here it comes.");
                    let mut data = accept(&listener);
                    let _ = std::io::Write::write_all(&mut data, body);
                    drop(data);
                    s.send("226 Done.");
                }
                s.expect("NOOP");
                s.send("200 Still here.");
                s.expect("QUIT");
                s.send("221 Bye.");
            });
            let dir = local_dir("retrieve-to");
            let local = dir.join("existing.txt");
            std::fs::write(&local, b"precious").unwrap();
            $run! {
                let mut client = Client::connect_with(&options(&server)) $($await)* .unwrap();
                let err = client.retrieve_to("missing.txt", &local) $($await)* .unwrap_err();
                assert_refused(&err, 550);
                let err = client.retrieve_to("cut.txt", &local) $($await)* .unwrap_err();
                assert_refused(&err, 426);
                assert_eq!(std::fs::read(&local).unwrap(), b"precious");
                assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "no temporary file left");
                let outcome = client.retrieve_to("fresh.txt", &local) $($await)* .unwrap();
                assert_eq!(outcome.bytes, 14);
                assert_eq!(std::fs::read(&local).unwrap(), b"fresh contents");
                assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
                let err = client.retrieve_to_vec("ten.txt", 4) $($await)* .unwrap_err();
                assert!(matches!(err, Error::TooLarge { limit: 4 }), "{err:?}");
                assert!(!err.is_fatal());
                client.noop() $($await)* .unwrap();
                client.quit() $($await)* .unwrap();
            }
            std::fs::remove_dir_all(&dir).unwrap();
        }

        /// A self-signed certificate trusted as a root (what `--cacert cert.pem` does with
        /// a certificate `openssl req -x509` made) is refused; the message says what that
        /// means and what to do, not only rustls' `CaUsedAsEndEntity`.
        #[test]
        fn self_signed_certificate_error_says_what_it_means() {
            let config = scripted::tls_config(2, false);
            let server = Server::start(move |s| {
                s.send("220 scripted server");
                s.expect("AUTH");
                s.send("234 Go ahead.");
                let _ = s.try_start_tls(&config);
            });
            let pem = std::fs::read(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripted/cert.pem"),
            )
            .unwrap();
            $run! {
                let tls = ftp_client::TlsConfig::with_root_store(ftp_client::rustls::RootCertStore::empty())
                    .add_root_pem(&pem)
                    .unwrap();
                let options = options(&server).tls(ftp_client::TlsMode::Explicit).tls_config(tls);
                let err = Client::connect_with(&options) $($await)* .unwrap_err();
                assert!(err.is_certificate_refused(), "{err:?}");
                let text = err.to_string();
                assert!(text.contains("self-signed"), "{text}");
                assert!(text.contains("danger_accept_invalid_certs"), "{text}");
            }
        }

        /// CCC: after the 200, close_notify both ways; the next command goes in plaintext
        /// on the same TCP connection (byte-exact on the server's side).
        #[test]
        fn ccc_returns_the_control_connection_to_plaintext() {
            let config = scripted::tls_config(2, false);
            let server = Server::start(move |s| {
                s.tls_login(&config);
                s.expect("CCC");
                s.send("200 CCC OK, control connection in plaintext.");
                s.stop_tls();
                assert_eq!(s.read(), "PWD");
                s.send("257 \"/\" is the current directory");
                s.expect("QUIT");
                s.send("221 Bye.");
            });
            $run! {
                let mut client = Client::connect_with(&tls_options(&server)) $($await)* .unwrap();
                client.ccc() $($await)* .unwrap();
                assert!(!client.is_secure() && client.is_data_protected());
                assert_eq!(client.pwd() $($await)* .unwrap(), "/");
                client.quit() $($await)* .unwrap();
            }
        }

        /// Records every connection it opens, then connects directly.
        struct RecordingConnector(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

        impl ftp_client::Connector for RecordingConnector {
            fn connect(
                &self,
                host: &str,
                port: u16,
                timeout: Duration,
            ) -> std::io::Result<std::net::TcpStream> {
                self.0.lock().unwrap().push(format!("{host}:{port}"));
                let addr = std::net::SocketAddr::new(host.parse().unwrap(), port);
                std::net::TcpStream::connect_timeout(&addr, timeout)
            }
        }

        /// A connector of the application opens the control connection and the passive data
        /// connection (what a SOCKS5 or HTTP CONNECT connector does through its proxy).
        #[test]
        fn connector_opens_control_and_data_connections() {
            let (tx, rx) = std::sync::mpsc::channel();
            let server = Server::start(move |s| {
                s.login();
                let listener = s.passive();
                tx.send(listener.local_addr().unwrap().port()).unwrap();
                s.expect("RETR");
                s.send("150 Here it comes.");
                let mut data = accept(&listener);
                std::io::Write::write_all(&mut data, b"via the connector").unwrap();
                drop(data);
                s.send("226 Done.");
                s.expect("QUIT");
                s.send("221 Bye.");
            });
            let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
            $run! {
                let options = options(&server).connector(RecordingConnector(seen.clone()));
                let mut client = Client::connect_with(&options) $($await)* .unwrap();
                let got = client.retrieve_to_vec("f", 1000) $($await)* .unwrap();
                assert_eq!(got, b"via the connector");
                client.quit() $($await)* .unwrap();
            }
            let data_port = rx.recv().unwrap();
            assert_eq!(
                *seen.lock().unwrap(),
                vec![server.target(), format!("127.0.0.1:{data_port}")]
            );
        }

        /// A server that requires TLS session reuse and sends no TLS 1.3 ticket after
        /// uploads (ProFTPD): the two tickets of the control connection last two uploads;
        /// then the client moves the session to a new control connection over TLS 1.2
        /// (same login, folder and TYPE) before the third, and all 50 uploads of one
        /// session work, none refused.
        #[test]
        fn no_tickets_after_uploads_still_uploads_all() {
            let (server, files) = scripted::reuse_requiring_server(2);
            files.lock().unwrap().dirs.insert("/in".into());
            $run! {
                let tls = options(&server)
                    .tls(ftp_client::TlsMode::Explicit)
                    .tls_config(ftp_client::TlsConfig::danger_accept_invalid_certs());
                let mut client = Client::connect_with(&tls) $($await)* .unwrap();
                client.cwd("in") $($await)* .unwrap();
                for i in 0..50 {
                    let body = format!("file {i}\n");
                    let sent = client.store_from(format!("f{i:02}"), &mut body.as_bytes()) $($await)*;
                    assert_eq!(sent.unwrap_or_else(|e| panic!("upload {i}: {e:?}")), body.len() as u64);
                }
                assert_eq!(client.pwd() $($await)* .unwrap(), "/in");
                let names: Vec<_> = client.list("") $($await)* .unwrap().into_iter().map(|e| e.name).collect();
                assert_eq!(names.len(), 50);
                client.quit() $($await)* .unwrap();
            }
            drop(server);
            let files = files.lock().unwrap();
            assert_eq!(files.refused, 0, "a data connection did not resume");
            for i in 0..50 {
                assert_eq!(files.files[&format!("/in/f{i:02}")], format!("file {i}\n").as_bytes());
            }
        }

        /// The same server, when no second control connection can be had (it serves one):
        /// the switch to TLS 1.2 fails, the session goes on, and the refusal of the third
        /// upload says why and what to do.
        #[test]
        fn no_tickets_after_uploads_and_no_second_connection_is_typed() {
            let (server, files) = scripted::reuse_requiring_server(1);
            $run! {
                let tls = options(&server)
                    .tls(ftp_client::TlsMode::Explicit)
                    .tls_config(ftp_client::TlsConfig::danger_accept_invalid_certs());
                let mut client = Client::connect_with(&tls) $($await)* .unwrap();
                for i in 0..2 {
                    client.store_from(format!("t{i}"), &mut &b"data"[..]) $($await)* .unwrap();
                }
                let start = Instant::now();
                let err = client.store_from("t2", &mut &b"data"[..]) $($await)* .unwrap_err();
                within(start);
                assert!(matches!(err, Error::TlsSessionsExhausted { .. }), "{err:?}");
                assert!(!err.is_fatal());
                assert_eq!(err.reply().map(|r| r.code().get()), Some(425));
                client.quit() $($await)* .unwrap();
            }
            drop(server);
            assert_eq!(files.lock().unwrap().refused, 1);
        }

        #[test]
        fn connect_to_a_closed_port_is_typed() {
            let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let port = closed.local_addr().unwrap().port();
            drop(closed);
            $run! {
                let err = Client::connect(&format!("127.0.0.1:{port}")) $($await)* .unwrap_err();
                assert!(matches!(err, Error::Connect { .. }), "{err:?}");
            }
        }
    };
}
