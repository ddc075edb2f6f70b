//! ReplyDecoder on arbitrary bytes, the reply-text readers, and reply encoding.
//!
//! Input layout: `[max_line_len, max_lines, split seed x4, data...]`.
//!
//! Properties, for `ReplyConfig::strict()`, the default (tolerant) config, and a tolerant config
//! with tiny `max_line_len` / `max_lines` taken from the input:
//! * decoding the data whole and in chunks (taking replies after every chunk) gives the same
//!   replies and errors, the same `skipped_lines` and the same `is_mid_reply`;
//! * every reply has at least one line, at most `max_lines`, each at most `max_line_len` bytes;
//! * every text reader (quoted_path, size, modification_time, restart_mark, stored_as, hash,
//!   mlst_opts, protected) runs without panicking, and what they find is consistent
//!   (a quoted path re-quoted reads back the same; a protected payload parses without panic);
//! * a reply re-encoded with `encode_with(.., CrEncoding::EscapeAsCrNul)` decodes (strictly and
//!   tolerantly) to exactly one reply with the same code and the same lines, except that inner
//!   lines starting with a digit come back indented by one space, as the encoder writes them.
#![no_main]

use ftp_proto::line::CrEncoding;
use ftp_proto::reply::{Protected, ReplyConfig, ReplyDecoder, ReplyError, ReplyTolerance};
use ftp_proto::Reply;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, PartialEq)]
struct Decoded {
    replies: Vec<Result<Reply, ReplyError>>,
    skipped_lines: u64,
    mid_reply: bool,
}

fn decode<'a>(config: ReplyConfig, chunks: impl IntoIterator<Item = &'a [u8]>) -> Decoded {
    let mut decoder = ReplyDecoder::new(config);
    let mut replies = Vec::new();
    for chunk in chunks {
        decoder.feed(chunk);
        while let Some(reply) = decoder.next_reply() {
            replies.push(reply);
        }
    }
    Decoded {
        replies,
        skipped_lines: decoder.skipped_lines(),
        mid_reply: decoder.is_mid_reply(),
    }
}

fn chunks<'a>(data: &'a [u8], seed: &'a [u8]) -> impl Iterator<Item = &'a [u8]> {
    let mut rest = data;
    let mut i = 0;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let len = usize::from(seed[i % seed.len()] % 32) + 1;
        i += 1;
        let (chunk, tail) = rest.split_at(len.min(rest.len()));
        rest = tail;
        Some(chunk)
    })
}

fn check_readers(reply: &Reply) {
    if let Some(path) = reply.quoted_path() {
        let quoted = Reply::with_quoted_path(reply.code(), &path, "");
        assert_eq!(quoted.quoted_path().as_ref(), Some(&path));
    }
    if let Some(size) = reply.size() {
        let digits = reply.last_line().trim_ascii();
        assert!(digits.iter().all(u8::is_ascii_digit));
        let text = std::str::from_utf8(digits).expect("digits are ASCII");
        assert_eq!(text.parse::<u64>(), Ok(size));
    }
    let _ = reply.modification_time();
    if let Some((sender, receiver)) = reply.restart_mark() {
        assert!(reply.first_line().starts_with(b"MARK "));
        assert!(sender.len() + receiver.len() + 8 <= reply.first_line().len());
    }
    let _ = reply.stored_as();
    if let Some(hash) = reply.hash() {
        assert!(!hash.algorithm.is_empty() && !hash.hex.is_empty());
        assert!(hash.hex.iter().all(u8::is_ascii_hexdigit));
    }
    let _ = reply.mlst_opts();
    if let Some(protected) = reply.protected() {
        assert!(reply.code().is_protected());
        let _ = Protected::parse_inner(&protected.payload);
    }
}

/// Encodes with CR as CR NUL and decodes again: one reply, same code, same lines (inner lines
/// that start with a digit are indented by one space on the wire).
fn check_encoding(reply: &Reply) {
    // `bytes` is not a dependency of this crate: the buffer's type is inferred from the call.
    let mut wire = Default::default();
    if reply
        .encode_with(&mut wire, CrEncoding::EscapeAsCrNul)
        .is_err()
    {
        assert!(reply
            .lines()
            .iter()
            .any(|line| line.contains(&b'\n') || line.contains(&0)));
        return;
    }
    if let Ok(plain) = reply.to_bytes() {
        assert_eq!(
            &plain[..],
            &wire[..],
            "CR-free reply encodes the same both ways"
        );
    }
    let last = reply.lines().len() - 1;
    let expected: Vec<Vec<u8>> = reply
        .lines()
        .iter()
        .enumerate()
        .map(|(i, line)| {
            let mut line = line.to_vec();
            if i != 0 && i != last && line.first().is_some_and(u8::is_ascii_digit) {
                line.insert(0, b' ');
            }
            line
        })
        .collect();
    let limits = ReplyConfig {
        max_line_len: wire.len(),
        max_lines: reply.lines().len() + 1,
        ..ReplyConfig::default()
    };
    for tolerance in [ReplyTolerance::STRICT, ReplyTolerance::TOLERANT] {
        let config = ReplyConfig {
            tolerance,
            ..limits
        };
        let decoded = decode(config, [&wire[..]]);
        assert!(!decoded.mid_reply);
        assert_eq!(decoded.replies.len(), 1, "{wire:?} decodes as {decoded:?}");
        let again = decoded.replies[0].as_ref().expect("encoded reply decodes");
        assert_eq!(again.code(), reply.code());
        let lines: Vec<Vec<u8>> = again.lines().iter().map(|l| l.to_vec()).collect();
        assert_eq!(lines, expected, "lines of {wire:?}");
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((header, data)) = input.split_first_chunk::<6>() else {
        return;
    };
    let [max_line, max_lines, seed @ ..] = *header;
    let tiny = ReplyConfig {
        tolerance: ReplyTolerance {
            bare_lf: max_line & 0x80 != 0,
            mismatched_final_code: max_lines & 0x80 != 0,
        },
        max_line_len: usize::from(max_line % 32) + 4,
        max_lines: usize::from(max_lines % 8) + 1,
        ..ReplyConfig::default()
    };
    for config in [ReplyConfig::strict(), ReplyConfig::default(), tiny] {
        let whole = decode(config, [data]);
        let split = decode(config, chunks(data, &seed));
        assert_eq!(split, whole, "chunked decode differs ({config:?})");
        for reply in whole.replies.iter().flatten() {
            let lines = reply.lines();
            assert!(!lines.is_empty() && lines.len() <= config.max_lines.max(2));
            assert!(lines.iter().all(|l| l.len() <= config.max_line_len));
            assert!((100..=699).contains(&reply.code().get()));
            check_readers(reply);
            check_encoding(reply);
        }
        for error in whole.replies.iter().filter_map(|r| r.as_ref().err()) {
            let _ = error.to_string();
        }
    }
});
