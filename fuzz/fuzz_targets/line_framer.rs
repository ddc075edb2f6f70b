//! LineFramer: arbitrary control-connection bytes, with small limits taken from the input.
//!
//! Input layout: `[max_line_len, flood_extra, max_buffered, flags, split seed x4, data...]`.
//!
//! Properties:
//! * feeding the data in chunks (split points derived from the seed bytes) without taking lines
//!   in between gives exactly the same lines, errors, Telnet signals and Telnet refusals as
//!   feeding it whole;
//! * taking lines after every chunk gives the same sequence too, unless the whole-feed run hit
//!   `BufferFull` (which depends on how many lines wait untaken); then the whole-feed items before
//!   that error are a prefix of the draining run's items;
//! * every delivered line is at most `max_line_len` bytes; `TooLong` reports a length above it;
//!   a fatal error is the last item; what stays buffered after draining is at most
//!   `max_line_len` bytes;
//! * the Telnet refusals are `IAC DONT x` / `IAC WONT x` triples, each at most once (<= 1536
//!   bytes);
//! * every delivered line that has no LF or NUL, written back with `escape_text`
//!   (`CrEncoding::EscapeAsCrNul`) and CR LF, frames back to itself.
#![no_main]

use ftp_proto::line::{
    escape_text, BareLf, CrEncoding, Line, LineConfig, LineError, LineFramer, TelnetSignals, DONT,
    IAC, WONT,
};
use libfuzzer_sys::fuzz_target;

/// Everything a framer produced for one input.
#[derive(Debug, Default, PartialEq)]
struct Output {
    items: Vec<Result<Line, LineError>>,
    telnet_reply: Vec<u8>,
    signals: TelnetSignals,
}

impl Output {
    fn drain(&mut self, framer: &mut LineFramer) {
        while let Some(item) = framer.next_line() {
            self.items.push(item);
        }
        while let Some(reply) = framer.poll_telnet_reply() {
            self.telnet_reply.extend_from_slice(&reply);
        }
        self.signals = self.signals.union(framer.take_signals());
    }
}

/// Chunk lengths cycling through the seed bytes (1 to 32 bytes each; a zero seed byte means one
/// byte).
fn chunks<'a>(data: &'a [u8], seed: &'a [u8]) -> impl Iterator<Item = &'a [u8]> {
    let mut rest = data;
    let mut i = 0;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let len = seed
            .get(i % seed.len().max(1))
            .map_or(1, |&b| usize::from(b % 32) + 1);
        i += 1;
        let (chunk, tail) = rest.split_at(len.min(rest.len()));
        rest = tail;
        Some(chunk)
    })
}

fn run(config: LineConfig, data: &[u8], seed: &[u8], mode: Mode) -> Output {
    let mut framer = LineFramer::new(config);
    let mut out = Output::default();
    match mode {
        Mode::Whole => framer.feed(data),
        Mode::Split => chunks(data, seed).for_each(|chunk| framer.feed(chunk)),
        Mode::SplitDraining => {
            for chunk in chunks(data, seed) {
                framer.feed(chunk);
                out.drain(&mut framer);
                check_buffered(&framer);
            }
        }
    }
    out.drain(&mut framer);
    check_buffered(&framer);
    // Draining again yields nothing.
    assert!(framer.next_line().is_none() && !framer.has_line());
    assert!(framer.poll_telnet_reply().is_none());
    out
}

fn check_buffered(framer: &LineFramer) {
    // Only the partial line remains, and it never grows past the line limit.
    assert!(framer.buffered_len() <= framer.config().max_line_len);
}

#[derive(Clone, Copy)]
enum Mode {
    Whole,
    Split,
    SplitDraining,
}

fn check_output(config: &LineConfig, out: &Output) {
    let max_line_len = config.max_line_len;
    for (i, item) in out.items.iter().enumerate() {
        match item {
            Ok(line) => assert!(
                line.bytes.len() <= max_line_len,
                "line of {} bytes delivered, limit {max_line_len}",
                line.bytes.len()
            ),
            Err(LineError::TooLong { len }) => assert!(*len > max_line_len),
            Err(error) => {
                assert!(error.is_fatal());
                assert_eq!(i + 1, out.items.len(), "items after a fatal error");
            }
        }
    }
    let reply = &out.telnet_reply;
    assert!(reply.len().is_multiple_of(3) && reply.len() <= 1536);
    let mut seen = std::collections::HashSet::new();
    for triple in reply.chunks_exact(3) {
        assert_eq!(triple[0], IAC);
        assert!(triple[1] == DONT || triple[1] == WONT);
        assert!(seen.insert((triple[1], triple[2])), "option refused twice");
    }
}

/// A delivered line, escaped for the wire and framed again, comes back unchanged.
fn check_line_round_trip(line: &Line, bare_lf: BareLf) {
    // `bytes` is not a dependency of this crate: the buffer's type is inferred from the call.
    let mut wire = Default::default();
    if escape_text(&mut wire, &line.bytes, CrEncoding::EscapeAsCrNul).is_err() {
        assert!(line.bytes.contains(&b'\n') || line.bytes.contains(&0));
        return;
    }
    wire.extend_from_slice(b"\r\n");
    let mut framer = LineFramer::new(LineConfig {
        max_line_len: line.bytes.len().max(1),
        bare_lf,
        ..LineConfig::default()
    });
    framer.feed(&wire);
    let again = framer
        .next_line()
        .expect("escaped line frames")
        .expect("no error");
    assert_eq!(again.bytes, line.bytes);
    assert!(again.telnet.is_empty());
    assert!(framer.next_line().is_none());
    assert_eq!(framer.buffered_len(), 0);
}

fuzz_target!(|input: &[u8]| {
    let Some((header, data)) = input.split_first_chunk::<8>() else {
        return;
    };
    let [max_line, flood_extra, max_buffered, flags, seed @ ..] = *header;
    let max_line_len = usize::from(max_line % 64) + 1;
    let config = LineConfig {
        max_line_len,
        // Below max_line_len it is raised to it; keep that case too.
        flood_limit: usize::from(flood_extra) * 2,
        max_buffered: usize::from(max_buffered) * 4,
        bare_lf: if flags & 1 == 0 {
            BareLf::EndsLine
        } else {
            BareLf::IsData
        },
    };

    let whole = run(config, data, &seed, Mode::Whole);
    let effective = *LineFramer::new(config).config();
    check_output(&effective, &whole);

    let split = run(config, data, &seed, Mode::Split);
    assert_eq!(split, whole, "chunked feed differs from whole feed");

    let draining = run(config, data, &seed, Mode::SplitDraining);
    check_output(&effective, &draining);
    match whole.items.last() {
        Some(Err(LineError::BufferFull { .. })) => {
            let before = &whole.items[..whole.items.len() - 1];
            assert_eq!(draining.items.get(..before.len()), Some(before));
        }
        _ => assert_eq!(draining, whole, "draining after each chunk differs"),
    }

    for line in whole.items.iter().flatten() {
        check_line_round_trip(line, config.bare_lf);
    }
});
