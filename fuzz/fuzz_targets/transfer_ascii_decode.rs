//! TYPE A decoding of arbitrary bytes: no panic, the same output for any split of input and
//! output buffers, and encoding then decoding any local text gives it back with each CRLF
//! turned into LF (identically when the selector picks CRLF as the native line end).

#![no_main]

use ftp_proto::transfer::{AsciiDecoder, AsciiEncoder, LineEnding};
use libfuzzer_sys::fuzz_target;

mod transfer_common;
use transfer_common::{drain, pump, Setup};

fn decode(bytes: &[u8], native: LineEnding, piece: usize, room: usize) -> Vec<u8> {
    let mut decoder = AsciiDecoder::new(native);
    let mut out = Vec::new();
    pump(bytes, piece, room, &mut out, |i, o| decoder.decode(i, o));
    drain(room, &mut out, |o| decoder.finish(o));
    out
}

fn encode(bytes: &[u8], native: LineEnding, piece: usize, room: usize) -> Vec<u8> {
    let mut encoder = AsciiEncoder::new(native);
    let mut out = Vec::new();
    pump(bytes, piece, room, &mut out, |i, o| encoder.encode(i, o));
    drain(room, &mut out, |o| encoder.finish(o));
    out
}

fn crlf_to_lf(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while let Some(&byte) = text.get(i) {
        if byte == b'\r' && text.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        out.push(byte);
        i += 1;
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some(setup) = Setup::new(data) else {
        return;
    };
    let native = if setup.selector % 4 == 0 {
        LineEnding::CrLf
    } else {
        LineEnding::Lf
    };
    let (piece, room, bytes) = (setup.piece, setup.room, setup.bytes);

    let split = decode(bytes, native, piece, room);
    let whole = decode(bytes, native, bytes.len().max(1), bytes.len().max(1));
    assert_eq!(split, whole, "the split changed the output");
    if native == LineEnding::CrLf {
        assert_eq!(whole, bytes);
    }

    let wire = encode(bytes, native, piece, room);
    assert_eq!(
        wire,
        encode(bytes, native, bytes.len().max(1), 2 * bytes.len() + 1)
    );
    let back = decode(&wire, native, room, piece);
    let expected = match native {
        LineEnding::CrLf => bytes.to_vec(),
        _ => crlf_to_lf(bytes),
    };
    assert_eq!(back, expected, "round trip");
});
