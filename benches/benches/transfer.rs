//! Throughput of the data-connection transcoders in `ftp_proto::transfer`: TYPE A both ways,
//! MODE B both ways, MODE C both ways and STRU R decoding, over a 16 MiB text of 40–120
//! character lines, with the 64 KiB input and output buffers an adapter's copy loop uses.
//!
//! Run with `cargo bench -p ftp-benches --bench transfer`. Every figure is input bytes per
//! second (local bytes for encoders, wire bytes for decoders).

use std::hint::black_box;

use ftp_benches::measure;
use ftp_proto::transfer::{
    AsciiDecoder, AsciiEncoder, BlockDecoder, BlockEncoder, CompressedDecoder, CompressedEncoder,
    DataType, DecodeError, DecodeStep, Finish, LineEnding, RecordDecoder, RecordEncoder, Step,
};

const TEXT_LEN: usize = 16 << 20;
const CHUNK: usize = 64 << 10;

/// Deterministic text: lines of 40 to 120 printable characters, LF-terminated, some indented
/// with runs of spaces so MODE C has something to compress.
fn text() -> Vec<u8> {
    let mut text = Vec::with_capacity(TEXT_LEN + 128);
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    while text.len() < TEXT_LEN {
        let len = 40 + (next() % 81) as usize;
        let indent = (next() % 4) as usize * 4;
        text.extend(std::iter::repeat_n(b' ', indent));
        for _ in indent..len {
            let r = next();
            text.push(if r % 7 == 0 {
                b' '
            } else {
                b'!' + (r % 94) as u8
            });
        }
        text.push(b'\n');
    }
    text.truncate(TEXT_LEN);
    text
}

type StepFn<C> = fn(&mut C, &[u8], &mut [u8]) -> Step;
type FinishFn<C> = fn(&mut C, &mut [u8]) -> Finish;
type DecodeFn<C> = fn(&mut C, &[u8], &mut [u8]) -> Result<DecodeStep, DecodeError>;
type DecodeFinishFn<C> = fn(&mut C, &mut [u8]) -> Result<Option<DecodeStep>, DecodeError>;

/// Feeds `input` in 64 KiB pieces through `codec` into `out` (64 KiB), then finishes; hands
/// every output chunk to `sink`.
fn pump<C>(
    codec: &mut C,
    (step, finish): (StepFn<C>, FinishFn<C>),
    input: &[u8],
    out: &mut [u8],
    mut sink: impl FnMut(&[u8]),
) {
    for chunk in input.chunks(CHUNK) {
        let mut piece = chunk;
        while !piece.is_empty() {
            let done = step(codec, piece, out);
            sink(&out[..done.written]);
            piece = &piece[done.consumed..];
        }
    }
    loop {
        let done = finish(codec, out);
        sink(&out[..done.written]);
        if done.done {
            return;
        }
    }
}

/// Like [`pump`] for a decoder that reports events.
fn pump_events<C>(
    codec: &mut C,
    (decode, finish): (DecodeFn<C>, DecodeFinishFn<C>),
    input: &[u8],
    out: &mut [u8],
    mut sink: impl FnMut(&[u8]),
) {
    for chunk in input.chunks(CHUNK) {
        let mut piece = chunk;
        loop {
            let step = decode(codec, piece, out).expect("valid stream");
            sink(&out[..step.written]);
            black_box(step.event);
            piece = &piece[step.consumed..];
            if !step.made_progress() {
                break;
            }
        }
    }
    while let Some(step) = finish(codec, out).expect("complete stream") {
        sink(&out[..step.written]);
    }
}

/// Runs an encoder over everything and keeps the wire bytes, to feed the decoders.
fn wire<C>(mut codec: C, fns: (StepFn<C>, FinishFn<C>), input: &[u8], out: &mut [u8]) -> Vec<u8> {
    let mut wire = Vec::with_capacity(input.len() * 2);
    pump(&mut codec, fns, input, out, |bytes| {
        wire.extend_from_slice(bytes)
    });
    wire
}

fn discard(bytes: &[u8]) {
    black_box(bytes);
}

fn main() {
    let text = text();
    let mut out = vec![0u8; CHUNK];
    let out = &mut out[..];
    println!(
        "transfer transcoders: {} MiB of text, 64 KiB buffers, input bytes per second",
        TEXT_LEN >> 20
    );

    let ascii_encoder: (StepFn<_>, FinishFn<_>) = (AsciiEncoder::encode, AsciiEncoder::finish);
    let ascii_decoder: (StepFn<_>, FinishFn<_>) = (AsciiDecoder::decode, AsciiDecoder::finish);
    let ascii_wire = wire(AsciiEncoder::new(LineEnding::Lf), ascii_encoder, &text, out);
    measure("TYPE A encode (LF -> CRLF)", "B", || {
        let mut encoder = AsciiEncoder::new(LineEnding::Lf);
        pump(&mut encoder, ascii_encoder, &text, out, discard);
        text.len() as u64
    });
    measure("TYPE A decode (CRLF -> LF)", "B", || {
        let mut decoder = AsciiDecoder::new(LineEnding::Lf);
        pump(&mut decoder, ascii_decoder, &ascii_wire, out, discard);
        ascii_wire.len() as u64
    });

    let block_encoder: (StepFn<_>, FinishFn<_>) = (BlockEncoder::encode, BlockEncoder::finish);
    let block_decoder: (DecodeFn<_>, DecodeFinishFn<_>) =
        (BlockDecoder::decode, BlockDecoder::finish);
    let blocks = wire(BlockEncoder::new(), block_encoder, &text, out);
    measure("MODE B encode", "B", || {
        pump(&mut BlockEncoder::new(), block_encoder, &text, out, discard);
        text.len() as u64
    });
    measure("MODE B decode", "B", || {
        pump_events(
            &mut BlockDecoder::new(),
            block_decoder,
            &blocks,
            out,
            discard,
        );
        blocks.len() as u64
    });

    let image = DataType::Image;
    let c_encoder: (StepFn<_>, FinishFn<_>) =
        (CompressedEncoder::encode, CompressedEncoder::finish);
    let c_decoder: (DecodeFn<_>, DecodeFinishFn<_>) =
        (CompressedDecoder::decode, CompressedDecoder::finish);
    let compressed = wire(CompressedEncoder::new(image), c_encoder, &text, out);
    println!(
        "  (MODE C wire size: {:.1}% of the text)",
        100.0 * compressed.len() as f64 / text.len() as f64
    );
    measure("MODE C encode", "B", || {
        pump(
            &mut CompressedEncoder::new(image),
            c_encoder,
            &text,
            out,
            discard,
        );
        text.len() as u64
    });
    measure("MODE C decode", "B", || {
        let mut decoder = CompressedDecoder::new(image);
        pump_events(&mut decoder, c_decoder, &compressed, out, discard);
        compressed.len() as u64
    });

    let r_encoder: (StepFn<_>, FinishFn<_>) = (RecordEncoder::encode, RecordEncoder::finish);
    let r_decoder: (DecodeFn<_>, DecodeFinishFn<_>) =
        (RecordDecoder::decode, RecordDecoder::finish);
    let records = wire(RecordEncoder::new(), r_encoder, &text, out);
    measure("STRU R decode (stream mode)", "B", || {
        pump_events(&mut RecordDecoder::new(), r_decoder, &records, out, discard);
        records.len() as u64
    });
}
