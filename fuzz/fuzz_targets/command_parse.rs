//! Command::parse on arbitrary lines, and the round trip of its canonical form.
//!
//! Properties:
//! * parsing never panics; an error names a reply code a server may send for it (500, 501, 504,
//!   521, 522) and formats;
//! * when a parsed command encodes (`to_bytes`), the encoding is one CR LF-terminated line with no
//!   other CR, LF or NUL; framed through a [`LineFramer`] it is delivered as exactly one line,
//!   with no Telnet signal, that parses to the same command, and encodes to the same bytes
//!   again (the canonical form is a fixed point);
//! * the same holds for `encode_with(.., CrEncoding::EscapeAsCrNul)`, which may additionally
//!   carry CRs (as `CR NUL`).
//!
//! One documented normalisation: EPRT and LPRT write an IPv4-mapped IPv6 address as IPv4
//! (`addr::format_eprt`), so `EPRT |2|::ffff:1.2.3.4|21|` comes back as
//! `EPRT |1|1.2.3.4|21|`. Addresses are compared through `addr::canonical_ip`.
#![no_main]

use std::net::SocketAddr;

use ftp_proto::addr::canonical_ip;
use ftp_proto::command::CommandError;
use ftp_proto::line::{CrEncoding, LineConfig, LineFramer};
use ftp_proto::Command;
use libfuzzer_sys::fuzz_target;

fn canonical(command: Command) -> Command {
    let canon = |addr: SocketAddr| SocketAddr::new(canonical_ip(addr.ip()), addr.port());
    match command {
        Command::Eprt(addr) => Command::Eprt(canon(addr)),
        Command::Lprt(addr) => Command::Lprt(canon(addr)),
        other => other,
    }
}

fn check_error(error: &CommandError) {
    let code = error.reply_code().get();
    assert!(
        matches!(code, 500 | 501 | 504 | 521 | 522),
        "unexpected reply code {code} for {error:?}"
    );
    let _ = error.to_string();
}

/// Frames `wire` (one encoded command) and parses the line it yields. Before the final CR LF
/// there is no LF, and CR and NUL only as the `CR NUL` pair when `cr_nul` is set.
fn reparse(wire: &[u8], cr_nul: bool) -> Command {
    assert!(wire.ends_with(b"\r\n"), "no CR LF at the end: {wire:?}");
    let body = &wire[..wire.len() - 2];
    assert!(!body.contains(&b'\n'));
    for (i, &byte) in body.iter().enumerate() {
        match byte {
            b'\r' => assert!(cr_nul && body.get(i + 1) == Some(&0), "bare CR in {wire:?}"),
            0 => assert!(i > 0 && body[i - 1] == b'\r', "bare NUL in {wire:?}"),
            _ => {}
        }
    }
    let mut framer = LineFramer::new(LineConfig {
        max_line_len: wire.len(),
        flood_limit: wire.len(),
        ..LineConfig::default()
    });
    framer.feed(wire);
    let line = framer
        .next_line()
        .expect("a line")
        .expect("the encoded command frames");
    assert!(framer.next_line().is_none(), "encoding framed as two lines");
    assert!(line.telnet.is_empty());
    assert_eq!(framer.buffered_len(), 0);
    match Command::parse(&line.bytes) {
        Ok(command) => command,
        Err(error) => panic!("encoded form {wire:?} does not parse: {error:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    // `bytes` is not a dependency of this crate: the `Bytes` type is inferred from the call.
    let line = data.to_vec().into();
    let command = match Command::parse(&line) {
        Ok(command) => command,
        Err(error) => {
            check_error(&error);
            return;
        }
    };
    let _ = command.verb();
    let _ = command.active_address();

    if let Ok(wire) = command.to_bytes() {
        let again = reparse(&wire, false);
        assert_eq!(
            canonical(again.clone()),
            canonical(command.clone()),
            "round trip of {wire:?}"
        );
        assert_eq!(again.to_bytes().as_ref(), Ok(&wire), "not a fixed point");
    }

    let mut wire = Default::default();
    if command
        .encode_with(&mut wire, CrEncoding::EscapeAsCrNul)
        .is_ok()
    {
        let again = reparse(&wire, true);
        assert_eq!(
            canonical(again.clone()),
            canonical(command.clone()),
            "CR NUL round trip of {wire:?}"
        );
    }
});
