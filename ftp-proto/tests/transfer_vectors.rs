//! Data-connection encodings (RFC 959 §3.1 and §3.4: TYPE A, MODE B, MODE C), vectors
//! D01–D17, byte for byte. Every decoder
//! vector is run twice: whole, and one input byte at a time into one-byte output buffers.

use ftp_proto::transfer::{
    copy_step, AsciiDecoder, AsciiEncoder, BlockDecoder, CompressedDecoder, DataEvent, DataType,
    DecodeError, DecodeStep, FormatControl, LineEnding, RecordDecoder, RestartMarker, TypeDecoder,
};

/// What a decoder delivered: data runs (merged) and events, in stream order.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seen {
    Data(Vec<u8>),
    Event(DataEvent),
}

fn data(bytes: &[u8]) -> Seen {
    Seen::Data(bytes.to_vec())
}

fn event(event: DataEvent) -> Seen {
    Seen::Event(event)
}

fn record(seen: &mut Vec<Seen>, bytes: &[u8], event: Option<DataEvent>) {
    if !bytes.is_empty() {
        match seen.last_mut() {
            Some(Seen::Data(run)) => run.extend_from_slice(bytes),
            _ => seen.push(Seen::Data(bytes.to_vec())),
        }
    }
    seen.extend(event.map(Seen::Event));
}

/// The decoders that report events, behind one interface for these tests.
trait EventDecoder {
    fn decode(&mut self, input: &[u8], output: &mut [u8]) -> Result<DecodeStep, DecodeError>;
    fn finish(&mut self, output: &mut [u8]) -> Result<Option<DecodeStep>, DecodeError>;
}

macro_rules! event_decoder {
    ($($ty:ty),*) => {$(
        impl EventDecoder for $ty {
            fn decode(&mut self, i: &[u8], o: &mut [u8]) -> Result<DecodeStep, DecodeError> {
                <$ty>::decode(self, i, o)
            }
            fn finish(&mut self, o: &mut [u8]) -> Result<Option<DecodeStep>, DecodeError> {
                <$ty>::finish(self, o)
            }
        }
    )*};
}
event_decoder!(BlockDecoder, CompressedDecoder, RecordDecoder);

/// Decodes `wire` in input pieces of `piece` bytes into outputs of `room` bytes, then
/// finishes.
fn run_events<D: EventDecoder>(
    mut decoder: D,
    wire: &[u8],
    piece: usize,
    room: usize,
) -> (Vec<Seen>, Result<(), DecodeError>) {
    let mut seen = Vec::new();
    let mut out = vec![0u8; room];
    for chunk in wire.chunks(piece) {
        let mut input = chunk;
        loop {
            let step = match decoder.decode(input, &mut out) {
                Ok(step) => step,
                Err(error) => return (seen, Err(error)),
            };
            record(&mut seen, &out[..step.written], step.event);
            input = &input[step.consumed..];
            if !step.made_progress() {
                assert!(input.is_empty(), "decoder stalled with input left");
                break;
            }
        }
    }
    loop {
        match decoder.finish(&mut out) {
            Ok(Some(step)) => record(&mut seen, &out[..step.written], step.event),
            Ok(None) => return (seen, Ok(())),
            Err(error) => return (seen, Err(error)),
        }
    }
}

/// Runs a vector whole and byte by byte and checks both against the expectation.
fn check_events<D: EventDecoder>(
    new: impl Fn() -> D,
    wire: &[u8],
    expected: &[Seen],
    end: Result<(), DecodeError>,
) {
    let whole = run_events(new(), wire, wire.len().max(1), 4096);
    assert_eq!(whole, (expected.to_vec(), end), "whole");
    let bytewise = run_events(new(), wire, 1, 1);
    assert_eq!(bytewise, whole, "one byte at a time");
}

fn ascii_decode(chunks: &[&[u8]], room: usize) -> Vec<u8> {
    let mut decoder = AsciiDecoder::new(LineEnding::Lf);
    let mut local = Vec::new();
    let mut out = vec![0u8; room];
    for chunk in chunks {
        let mut input = *chunk;
        while !input.is_empty() {
            let step = decoder.decode(input, &mut out);
            local.extend_from_slice(&out[..step.written]);
            input = &input[step.consumed..];
        }
    }
    loop {
        let finish = decoder.finish(&mut out);
        local.extend_from_slice(&out[..finish.written]);
        if finish.done {
            return local;
        }
    }
}

fn ascii_encode(local: &[u8], room: usize) -> Vec<u8> {
    let mut encoder = AsciiEncoder::new(LineEnding::Lf);
    let mut wire = Vec::new();
    let mut out = vec![0u8; room];
    let mut input = local;
    while !input.is_empty() {
        let step = encoder.encode(input, &mut out);
        wire.extend_from_slice(&out[..step.written]);
        input = &input[step.consumed..];
    }
    loop {
        let finish = encoder.finish(&mut out);
        wire.extend_from_slice(&out[..finish.written]);
        if finish.done {
            return wire;
        }
    }
}

fn bytewise(bytes: &[u8]) -> Vec<&[u8]> {
    bytes.chunks(1).collect()
}

const ASCII: DataType = DataType::Ascii(FormatControl::NonPrint);
const EBCDIC: DataType = DataType::Ebcdic(FormatControl::NonPrint);

#[test]
fn d01_type_a_send_lf_becomes_crlf() {
    let local = b"line1\nline2\n";
    for room in [64, 1] {
        let wire = ascii_encode(local, room);
        assert_eq!(wire, b"line1\r\nline2\r\n");
        assert_eq!(
            (wire.len(), local.len()),
            (14, 12),
            "SIZE under TYPE A and TYPE I"
        );
    }
}

#[test]
fn d02_type_a_receive_crlf_becomes_lf() {
    assert_eq!(ascii_decode(&[b"a\r\nb"], 64), b"a\nb");
    assert_eq!(ascii_decode(&bytewise(b"a\r\nb"), 1), b"a\nb");
}

#[test]
fn d03_type_a_receive_cr_held_across_chunks() {
    assert_eq!(ascii_decode(&[b"a\r", b"\nb"], 64), b"a\nb");
    assert_eq!(ascii_decode(&[b"a\r", b"\nb"], 1), b"a\nb");
}

#[test]
fn d04_type_a_receive_lone_cr_kept() {
    assert_eq!(ascii_decode(&[b"a\rb\r\n"], 64), b"a\rb\n");
    assert_eq!(ascii_decode(&bytewise(b"a\rb\r\n"), 1), b"a\rb\n");
}

#[test]
fn d05_type_a_send_existing_crlf_not_doubled() {
    assert_eq!(ascii_encode(b"x\r\n", 64), b"x\r\n");
    assert_eq!(ascii_encode(b"x\r\n", 1), b"x\r\n");
    // The CR ending one chunk and the LF starting the next are still one CRLF.
    let mut encoder = AsciiEncoder::new(LineEnding::Lf);
    let mut out = [0u8; 8];
    let first = encoder.encode(b"x\r", &mut out).written;
    let second = encoder.encode(b"\n", &mut out[first..]).written;
    assert_eq!(&out[..first + second], b"x\r\n");
}

#[test]
fn d06_mode_b_eof_block() {
    check_events(
        BlockDecoder::new,
        b"\x40\x00\x05hello",
        &[data(b"hello"), event(DataEvent::EndOfFile)],
        Ok(()),
    );
}

#[test]
fn d07_mode_b_eof_from_empty_block() {
    check_events(
        BlockDecoder::new,
        b"\x00\x00\x03abc\x40\x00\x00",
        &[data(b"abc"), event(DataEvent::EndOfFile)],
        Ok(()),
    );
}

#[test]
fn d08_mode_b_restart_marker() {
    let marker = RestartMarker::new(b"R00042").unwrap();
    check_events(
        BlockDecoder::new,
        b"\x10\x00\x06R00042",
        &[event(DataEvent::RestartMarker(marker))],
        Err(DecodeError::MissingEndOfFile),
    );
    assert_eq!(marker.as_bytes(), b"R00042", "usable as the REST argument");
}

#[test]
fn d09_mode_b_records() {
    check_events(
        BlockDecoder::new,
        b"\x80\x00\x02ab\xc0\x00\x02cd",
        &[
            data(b"ab"),
            event(DataEvent::EndOfRecord),
            data(b"cd"),
            event(DataEvent::EndOfRecord),
            event(DataEvent::EndOfFile),
        ],
        Ok(()),
    );
}

#[test]
fn d10_mode_b_suspect_block() {
    check_events(
        BlockDecoder::new,
        b"\x60\x00\x01z",
        &[
            event(DataEvent::Suspect { len: 1 }),
            data(b"z"),
            event(DataEvent::EndOfFile),
        ],
        Ok(()),
    );
}

#[test]
fn d11_mode_b_truncated_block() {
    check_events(
        BlockDecoder::new,
        b"\x00\x00\x05abc",
        &[data(b"abc")],
        Err(DecodeError::TruncatedBlock),
    );
    check_events(
        BlockDecoder::new,
        b"\x00\x00",
        &[],
        Err(DecodeError::TruncatedBlock),
    );
}

#[test]
fn d12_mode_c_string_replicated_filler_eof() {
    let wire = b"\x03abc\x85A\xc4\x00\x40";
    check_events(
        || CompressedDecoder::new(ASCII),
        wire,
        &[data(b"abcAAAAA    "), event(DataEvent::EndOfFile)],
        Ok(()),
    );
    check_events(
        || CompressedDecoder::new(DataType::Image),
        wire,
        &[data(b"abcAAAAA\0\0\0\0"), event(DataEvent::EndOfFile)],
        Ok(()),
    );
}

#[test]
fn d13_mode_c_restart_marker() {
    let marker = RestartMarker::new(b"R00042").unwrap();
    check_events(
        || CompressedDecoder::new(DataType::Image),
        b"\x00\x10\x06R00042",
        &[event(DataEvent::RestartMarker(marker))],
        Err(DecodeError::MissingEndOfFile),
    );
}

#[test]
fn d14_mode_c_ebcdic_filler() {
    check_events(
        || CompressedDecoder::new(EBCDIC),
        b"\xc2",
        &[data(b"\x40\x40")],
        Err(DecodeError::MissingEndOfFile),
    );
}

#[test]
fn d15_stream_records() {
    check_events(
        RecordDecoder::new,
        b"rec1\xff\x01rec2\xff\x03",
        &[
            data(b"rec1"),
            event(DataEvent::EndOfRecord),
            data(b"rec2"),
            event(DataEvent::EndOfRecord),
            event(DataEvent::EndOfFile),
        ],
        Ok(()),
    );
}

#[test]
fn d16_stream_records_escaped_ff() {
    check_events(
        RecordDecoder::new,
        b"a\xff\xffb\xff\x03",
        &[
            data(b"a\xffb"),
            event(DataEvent::EndOfRecord),
            event(DataEvent::EndOfFile),
        ],
        Ok(()),
    );
}

#[test]
fn d17_stream_file_structure_has_no_escapes() {
    let wire = b"\xff\x01";
    let mut out = [0u8; 4];
    let step = copy_step(wire, &mut out);
    assert_eq!(&out[..step.written], wire);
    let mut image = TypeDecoder::new(DataType::Image, LineEnding::Lf).unwrap();
    let step = image.decode(wire, &mut out);
    assert_eq!(&out[..step.written], wire);
    // TYPE A does not touch 0xFF either: no Telnet escaping on the data connection.
    assert_eq!(ascii_decode(&[wire], 4), wire);
}
