//! Property tests for every encoder/decoder pair of `ftp_proto::transfer`: decoding what was
//! encoded gives the input back, whatever the split of the input and the output buffers (output
//! buffers down to one byte), and every decoder delivers the same data, events and errors when
//! fed one byte at a time as when fed everything at once, for arbitrary (even invalid) input.

use ftp_proto::transfer::{
    AsciiDecoder, AsciiEncoder, BlockDecoder, BlockEncoder, CompressedDecoder, CompressedEncoder,
    ControlStep, DataEvent, DataType, DecodeError, DecodeStep, Finish, FormatControl, LineEnding,
    RecordDecoder, RecordEncoder, RestartMarker, Step, MAX_BLOCK_LEN,
};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// Buffer sizes that cycle through a generated list.

struct Sizes {
    sizes: Vec<usize>,
    next: usize,
}

impl Sizes {
    fn new(sizes: Vec<usize>) -> Self {
        assert!(!sizes.is_empty() && sizes.iter().all(|&s| s > 0));
        Self { sizes, next: 0 }
    }

    fn whole() -> Self {
        Self::new(vec![usize::MAX / 2])
    }

    fn take(&mut self) -> usize {
        let size = self.sizes[self.next % self.sizes.len()];
        self.next += 1;
        size
    }

    /// A zeroed buffer of the next size, capped so "whole" stays affordable.
    fn buffer(&mut self, cap: usize) -> Vec<u8> {
        vec![0u8; self.take().min(cap.max(1))]
    }
}

fn sizes(max: usize) -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1..=max, 1..16)
}

// ---------------------------------------------------------------------------------------------
// One interface over the codecs, so each harness is written once.

trait Encoder {
    fn encode(&mut self, input: &[u8], output: &mut [u8]) -> Step;
    fn finish(&mut self, output: &mut [u8]) -> Finish;
    fn end_record(&mut self, output: &mut [u8]) -> ControlStep;
    fn restart_marker(&mut self, marker: &RestartMarker, output: &mut [u8]) -> ControlStep;
}

macro_rules! encoder {
    ($ty:ty, $marker:expr) => {
        impl Encoder for $ty {
            fn encode(&mut self, input: &[u8], output: &mut [u8]) -> Step {
                <$ty>::encode(self, input, output)
            }
            fn finish(&mut self, output: &mut [u8]) -> Finish {
                <$ty>::finish(self, output)
            }
            fn end_record(&mut self, output: &mut [u8]) -> ControlStep {
                <$ty>::end_record(self, output)
            }
            fn restart_marker(&mut self, marker: &RestartMarker, output: &mut [u8]) -> ControlStep {
                let send: fn(&mut $ty, &RestartMarker, &mut [u8]) -> ControlStep = $marker;
                send(self, marker, output)
            }
        }
    };
}
encoder!(BlockEncoder, BlockEncoder::restart_marker);
encoder!(CompressedEncoder, CompressedEncoder::restart_marker);
encoder!(RecordEncoder, |_, _, _| unreachable!(
    "stream mode has no restart markers"
));

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

// ---------------------------------------------------------------------------------------------
// What goes into an encoder and what comes out of a decoder.

/// One thing a sender hands a MODE B/C or STRU R encoder.
#[derive(Clone, Debug)]
enum Item {
    Data(Vec<u8>),
    EndRecord,
    Marker(RestartMarker),
}

/// What a decoder delivered: data runs (merged) and events, in stream order.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seen {
    Data(Vec<u8>),
    Event(DataEvent),
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

/// What decoding the encoding of `items` must deliver.
fn expected(items: &[Item]) -> Vec<Seen> {
    let mut seen = Vec::new();
    for item in items {
        match item {
            Item::Data(bytes) => record(&mut seen, bytes, None),
            Item::EndRecord => record(&mut seen, &[], Some(DataEvent::EndOfRecord)),
            Item::Marker(marker) => record(&mut seen, &[], Some(DataEvent::RestartMarker(*marker))),
        }
    }
    record(&mut seen, &[], Some(DataEvent::EndOfFile));
    seen
}

// ---------------------------------------------------------------------------------------------
// Harnesses: feed input in pieces, drain into outputs of the given sizes.

/// Runs `step` over `input` in pieces from `pieces`, passing back what was not consumed, with
/// fresh outputs from `rooms`; appends the output to `out`.
fn pump(
    input: &[u8],
    pieces: &mut Sizes,
    rooms: &mut Sizes,
    out: &mut Vec<u8>,
    mut step: impl FnMut(&[u8], &mut [u8]) -> Step,
) {
    let mut rest = input;
    while !rest.is_empty() {
        let (piece, after) = rest.split_at(pieces.take().min(rest.len()));
        let mut piece = piece;
        while !piece.is_empty() {
            let mut buffer = rooms.buffer(piece.len() * 4 + 16);
            let done = step(piece, &mut buffer);
            assert!(done.consumed > 0 || done.written > 0, "no progress");
            out.extend_from_slice(&buffer[..done.written]);
            piece = &piece[done.consumed..];
        }
        rest = after;
    }
}

/// Calls `finish` with outputs from `rooms` until it is done.
fn drain(rooms: &mut Sizes, out: &mut Vec<u8>, mut finish: impl FnMut(&mut [u8]) -> Finish) {
    for _ in 0..100_000 {
        let mut buffer = rooms.buffer(1024);
        let done = finish(&mut buffer);
        out.extend_from_slice(&buffer[..done.written]);
        if done.done {
            return;
        }
    }
    panic!("finish never done");
}

fn encode_items<E: Encoder>(
    mut encoder: E,
    items: &[Item],
    pieces: &mut Sizes,
    rooms: &mut Sizes,
) -> Vec<u8> {
    let mut wire = Vec::new();
    for item in items {
        match item {
            Item::Data(bytes) => pump(bytes, pieces, rooms, &mut wire, |i, o| encoder.encode(i, o)),
            Item::EndRecord => control(rooms, &mut wire, |o| encoder.end_record(o)),
            Item::Marker(marker) => {
                control(rooms, &mut wire, |o| encoder.restart_marker(marker, o))
            }
        }
    }
    drain(rooms, &mut wire, |o| encoder.finish(o));
    wire
}

fn control(rooms: &mut Sizes, out: &mut Vec<u8>, mut send: impl FnMut(&mut [u8]) -> ControlStep) {
    for _ in 0..100_000 {
        let mut buffer = rooms.buffer(1024);
        let step = send(&mut buffer);
        out.extend_from_slice(&buffer[..step.written]);
        if step.accepted {
            return;
        }
    }
    panic!("control never accepted");
}

fn decode_events<D: EventDecoder>(
    mut decoder: D,
    wire: &[u8],
    pieces: &mut Sizes,
    rooms: &mut Sizes,
) -> (Vec<Seen>, Result<(), DecodeError>) {
    let mut seen = Vec::new();
    let mut rest = wire;
    while !rest.is_empty() {
        let (piece, after) = rest.split_at(pieces.take().min(rest.len()));
        let mut piece = piece;
        loop {
            let mut buffer = rooms.buffer(wire.len() * 64 + 16);
            let step = match decoder.decode(piece, &mut buffer) {
                Ok(step) => step,
                Err(error) => return (seen, Err(error)),
            };
            record(&mut seen, &buffer[..step.written], step.event);
            piece = &piece[step.consumed..];
            if !step.made_progress() {
                assert!(piece.is_empty(), "decoder stalled with input left");
                break;
            }
        }
        rest = after;
    }
    for _ in 0..100_000 {
        let mut buffer = rooms.buffer(wire.len() * 64 + 16);
        match decoder.finish(&mut buffer) {
            Ok(Some(step)) => record(&mut seen, &buffer[..step.written], step.event),
            Ok(None) => return (seen, Ok(())),
            Err(error) => return (seen, Err(error)),
        }
    }
    panic!("finish never done");
}

fn ascii_encode(
    input: &[u8],
    native: LineEnding,
    pieces: &mut Sizes,
    rooms: &mut Sizes,
) -> Vec<u8> {
    let mut encoder = AsciiEncoder::new(native);
    let mut wire = Vec::new();
    pump(input, pieces, rooms, &mut wire, |i, o| encoder.encode(i, o));
    drain(rooms, &mut wire, |o| encoder.finish(o));
    wire
}

fn ascii_decode(wire: &[u8], native: LineEnding, pieces: &mut Sizes, rooms: &mut Sizes) -> Vec<u8> {
    let mut decoder = AsciiDecoder::new(native);
    let mut local = Vec::new();
    pump(wire, pieces, rooms, &mut local, |i, o| decoder.decode(i, o));
    drain(rooms, &mut local, |o| decoder.finish(o));
    local
}

/// `text` with every CRLF turned into LF: what a Unix round trip of TYPE A gives back
/// (a CRLF already in a local file is sent as is and comes back as LF, vector D05).
fn crlf_to_lf(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i] == b'\r' && text.get(i + 1) == Some(&b'\n') {
            i += 1;
        }
        out.push(text[i]);
        i += 1;
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Generators.

/// Bytes rich in what the codecs care about: CR, LF, 0xFF, filler bytes and runs.
fn interesting_bytes(max_len: usize) -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        3 => any::<u8>(),
        2 => Just(b'\r'),
        2 => Just(b'\n'),
        1 => Just(0xFF),
        1 => Just(b' '),
        1 => Just(0x00),
        1 => Just(0x40),
        2 => Just(b'a'),
    ];
    let run = (byte, prop_oneof![4 => 1..4usize, 1 => 1..140usize]);
    prop::collection::vec(run, 0..max_len / 8).prop_map(|runs| {
        runs.into_iter()
            .flat_map(|(byte, len)| std::iter::repeat_n(byte, len))
            .collect()
    })
}

fn any_bytes(max_len: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..max_len),
        interesting_bytes(max_len),
    ]
}

fn marker() -> impl Strategy<Value = RestartMarker> {
    "[!-~]{1,64}".prop_map(|text| RestartMarker::new(text.as_bytes()).unwrap())
}

fn items(markers: bool) -> impl Strategy<Value = Vec<Item>> {
    let marker_weight = if markers { 1 } else { 0 };
    let item = prop_oneof![
        6 => any_bytes(300).prop_map(Item::Data),
        2 => Just(Item::EndRecord),
        marker_weight => marker().prop_map(Item::Marker),
    ];
    prop::collection::vec(item, 0..12)
}

fn data_types() -> impl Strategy<Value = DataType> {
    prop_oneof![
        Just(DataType::Ascii(FormatControl::NonPrint)),
        Just(DataType::Ebcdic(FormatControl::NonPrint)),
        Just(DataType::Image),
    ]
}

// ---------------------------------------------------------------------------------------------
// Properties.

proptest! {
    #![proptest_config(ProptestConfig { cases: 384, ..ProptestConfig::default() })]

    #[test]
    fn ascii_round_trip_restores_text_up_to_crlf(
        text in any_bytes(600),
        p1 in sizes(40), r1 in sizes(40), p2 in sizes(40), r2 in sizes(40),
    ) {
        let native = LineEnding::Lf;
        let wire = ascii_encode(&text, native, &mut Sizes::new(p1), &mut Sizes::new(r1));
        let back = ascii_decode(&wire, native, &mut Sizes::new(p2), &mut Sizes::new(r2));
        prop_assert_eq!(back, crlf_to_lf(&text));
    }

    #[test]
    fn ascii_round_trip_is_exact_without_local_crlf(
        text in any_bytes(600),
        pieces in sizes(40), rooms in sizes(40),
    ) {
        // Break every CRLF pair: a local text without CRLF comes back byte for byte.
        let text: Vec<u8> = text.iter().enumerate().map(|(i, &b)| {
            if b == b'\r' && text.get(i + 1) == Some(&b'\n') { b'x' } else { b }
        }).collect();
        let wire = ascii_encode(&text, LineEnding::Lf, &mut Sizes::whole(), &mut Sizes::whole());
        let back = ascii_decode(&wire, LineEnding::Lf, &mut Sizes::new(pieces), &mut Sizes::new(rooms));
        prop_assert_eq!(back, text);
    }

    #[test]
    fn ascii_wire_text_has_only_crlf_line_ends(text in any_bytes(600)) {
        let wire = ascii_encode(&text, LineEnding::Lf, &mut Sizes::whole(), &mut Sizes::whole());
        for (i, &byte) in wire.iter().enumerate() {
            if byte == b'\n' {
                prop_assert!(i > 0 && wire[i - 1] == b'\r');
            }
        }
        prop_assert_eq!(wire.len(), text.len() + text.iter().enumerate().filter(|&(i, &b)| {
            b == b'\n' && (i == 0 || text[i - 1] != b'\r')
        }).count());
    }

    #[test]
    fn ascii_crlf_native_is_identity(
        text in any_bytes(300),
        pieces in sizes(40), rooms in sizes(40),
    ) {
        let native = LineEnding::CrLf;
        let wire = ascii_encode(&text, native, &mut Sizes::new(pieces.clone()), &mut Sizes::new(rooms.clone()));
        prop_assert_eq!(&wire, &text);
        let back = ascii_decode(&wire, native, &mut Sizes::new(pieces), &mut Sizes::new(rooms));
        prop_assert_eq!(back, text);
    }

    #[test]
    fn ascii_split_invariance(
        text in any_bytes(600),
        pieces in sizes(40), rooms in sizes(40),
    ) {
        let native = LineEnding::Lf;
        let whole = ascii_encode(&text, native, &mut Sizes::whole(), &mut Sizes::whole());
        let split = ascii_encode(&text, native, &mut Sizes::new(pieces.clone()), &mut Sizes::new(rooms.clone()));
        prop_assert_eq!(&split, &whole);
        let whole = ascii_decode(&text, native, &mut Sizes::whole(), &mut Sizes::whole());
        let bytewise = ascii_decode(&text, native, &mut Sizes::new(vec![1]), &mut Sizes::new(vec![1]));
        let split = ascii_decode(&text, native, &mut Sizes::new(pieces), &mut Sizes::new(rooms));
        prop_assert_eq!(&bytewise, &whole);
        prop_assert_eq!(split, whole);
    }

    #[test]
    fn block_round_trip(
        items in items(true),
        p1 in sizes(80), r1 in sizes(80), p2 in sizes(80), r2 in sizes(80),
    ) {
        let wire = encode_items(BlockEncoder::new(), &items, &mut Sizes::new(p1), &mut Sizes::new(r1));
        let back = decode_events(BlockDecoder::new(), &wire, &mut Sizes::new(p2), &mut Sizes::new(r2));
        prop_assert_eq!(back, (expected(&items), Ok(())));
    }

    #[test]
    fn compressed_round_trip(
        items in items(true),
        data_type in data_types(),
        p1 in sizes(80), r1 in sizes(80), p2 in sizes(80), r2 in sizes(80),
    ) {
        let encoder = CompressedEncoder::new(data_type);
        let wire = encode_items(encoder, &items, &mut Sizes::new(p1), &mut Sizes::new(r1));
        let whole = encode_items(CompressedEncoder::new(data_type), &items, &mut Sizes::whole(), &mut Sizes::whole());
        prop_assert_eq!(&wire, &whole, "MODE C output does not depend on the splits");
        let decoder = CompressedDecoder::new(data_type);
        let back = decode_events(decoder, &wire, &mut Sizes::new(p2), &mut Sizes::new(r2));
        prop_assert_eq!(back, (expected(&items), Ok(())));
    }

    #[test]
    fn compressed_encoding_never_costs_more_than_byte_strings(
        data in any_bytes(2000),
        data_type in data_types(),
    ) {
        let items = [Item::Data(data.clone())];
        let wire = encode_items(CompressedEncoder::new(data_type), &items, &mut Sizes::whole(), &mut Sizes::whole());
        // Plain byte strings: one header per 127 bytes, plus the 2-byte end of file.
        let plain = data.len() + data.len().div_ceil(127) + 2;
        prop_assert!(wire.len() <= plain, "{} > {}", wire.len(), plain);
    }

    #[test]
    fn record_round_trip(
        items in items(false),
        p1 in sizes(40), r1 in sizes(40), p2 in sizes(40), r2 in sizes(40),
    ) {
        let wire = encode_items(RecordEncoder::new(), &items, &mut Sizes::new(p1), &mut Sizes::new(r1));
        let whole = encode_items(RecordEncoder::new(), &items, &mut Sizes::whole(), &mut Sizes::whole());
        prop_assert_eq!(&wire, &whole, "STRU R output does not depend on the splits");
        let back = decode_events(RecordDecoder::new(), &wire, &mut Sizes::new(p2), &mut Sizes::new(r2));
        prop_assert_eq!(back, (expected(&items), Ok(())));
    }

    #[test]
    fn block_decoding_is_split_invariant(
        wire in any_bytes(400), pieces in sizes(20), rooms in sizes(20),
    ) {
        let whole = decode_events(BlockDecoder::new(), &wire, &mut Sizes::whole(), &mut Sizes::whole());
        let bytewise = decode_events(BlockDecoder::new(), &wire, &mut Sizes::new(vec![1]), &mut Sizes::new(vec![1]));
        let split = decode_events(BlockDecoder::new(), &wire, &mut Sizes::new(pieces), &mut Sizes::new(rooms));
        prop_assert_eq!(&bytewise, &whole);
        prop_assert_eq!(split, whole);
    }

    #[test]
    fn compressed_decoding_is_split_invariant(
        wire in any_bytes(400), data_type in data_types(), pieces in sizes(20), rooms in sizes(20),
    ) {
        let new = || CompressedDecoder::new(data_type);
        let whole = decode_events(new(), &wire, &mut Sizes::whole(), &mut Sizes::whole());
        let bytewise = decode_events(new(), &wire, &mut Sizes::new(vec![1]), &mut Sizes::new(vec![1]));
        let split = decode_events(new(), &wire, &mut Sizes::new(pieces), &mut Sizes::new(rooms));
        prop_assert_eq!(&bytewise, &whole);
        prop_assert_eq!(split, whole);
    }

    #[test]
    fn record_decoding_is_split_invariant(
        wire in any_bytes(400), pieces in sizes(20), rooms in sizes(20),
    ) {
        let whole = decode_events(RecordDecoder::new(), &wire, &mut Sizes::whole(), &mut Sizes::whole());
        let bytewise = decode_events(RecordDecoder::new(), &wire, &mut Sizes::new(vec![1]), &mut Sizes::new(vec![1]));
        let split = decode_events(RecordDecoder::new(), &wire, &mut Sizes::new(pieces), &mut Sizes::new(rooms));
        prop_assert_eq!(&bytewise, &whole);
        prop_assert_eq!(split, whole);
    }
}

// ---------------------------------------------------------------------------------------------
// Large inputs, with the buffer sizes an adapter uses.

fn big_text(len: usize) -> Vec<u8> {
    let mut text = Vec::with_capacity(len);
    let mut state = 0x2545_f491_4f6c_dd1du64;
    while text.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let line = 40 + (state % 81) as usize;
        text.extend((0..line).map(|i| b'a' + ((state >> (i % 50)) % 26) as u8));
        text.push(b'\n');
    }
    text.truncate(len);
    text
}

#[test]
fn large_transfers_round_trip_with_64k_buffers() {
    let text = big_text(1 << 20);
    let chunk = || Sizes::new(vec![64 * 1024]);
    let wire = ascii_encode(&text, LineEnding::Lf, &mut chunk(), &mut chunk());
    assert_eq!(
        ascii_decode(&wire, LineEnding::Lf, &mut chunk(), &mut chunk()),
        text
    );

    let items = [Item::Data(text.clone())];
    let blocks = encode_items(BlockEncoder::new(), &items, &mut chunk(), &mut chunk());
    let back = decode_events(BlockDecoder::new(), &blocks, &mut chunk(), &mut chunk());
    assert_eq!(back, (expected(&items), Ok(())));

    let huge = vec![0x5Au8; 3 * MAX_BLOCK_LEN + 7];
    let items = [Item::Data(huge)];
    let blocks = encode_items(
        BlockEncoder::new(),
        &items,
        &mut Sizes::whole(),
        &mut Sizes::whole(),
    );
    assert_eq!(
        &blocks[..3],
        b"\x00\xff\xff",
        "blocks are capped at 65535 bytes"
    );
    let back = decode_events(
        BlockDecoder::new(),
        &blocks,
        &mut Sizes::whole(),
        &mut Sizes::whole(),
    );
    assert_eq!(back, (expected(&items), Ok(())));

    let compressed = encode_items(
        CompressedEncoder::new(DataType::Image),
        &[Item::Data(text.clone())],
        &mut chunk(),
        &mut chunk(),
    );
    let back = decode_events(
        CompressedDecoder::new(DataType::Image),
        &compressed,
        &mut chunk(),
        &mut chunk(),
    );
    assert_eq!(back, (expected(&[Item::Data(text)]), Ok(())));
}

#[test]
fn mode_b_carries_several_files_on_one_connection() {
    let mut encoder = BlockEncoder::new();
    let mut wire = Vec::new();
    let (mut pieces, mut rooms) = (Sizes::new(vec![3]), Sizes::new(vec![2]));
    for file in [&b"first"[..], b"second"] {
        pump(file, &mut pieces, &mut rooms, &mut wire, |i, o| {
            encoder.encode(i, o)
        });
        drain(&mut rooms, &mut wire, |o| encoder.finish(o));
    }
    let seen = decode_events(
        BlockDecoder::new(),
        &wire,
        &mut Sizes::whole(),
        &mut Sizes::whole(),
    );
    let expected = vec![
        Seen::Data(b"first".to_vec()),
        Seen::Event(DataEvent::EndOfFile),
        Seen::Data(b"second".to_vec()),
        Seen::Event(DataEvent::EndOfFile),
    ];
    assert_eq!(seen, (expected, Ok(())));
}

#[test]
fn data_before_an_error_is_delivered_before_the_error() {
    use ftp_proto::transfer::RestartMarkerError;
    let whole = || (Sizes::whole(), Sizes::whole());
    let (mut p, mut r) = whole();
    assert_eq!(
        decode_events(RecordDecoder::new(), b"a\xff\x04", &mut p, &mut r),
        (
            vec![Seen::Data(b"a".to_vec())],
            Err(DecodeError::InvalidRecordEscape { byte: 4 })
        )
    );
    let (mut p, mut r) = whole();
    assert_eq!(
        decode_events(
            BlockDecoder::new(),
            b"\x00\x00\x01z\x10\x00\x00",
            &mut p,
            &mut r
        ),
        (
            vec![Seen::Data(b"z".to_vec())],
            Err(DecodeError::RestartMarker(RestartMarkerError::Empty))
        )
    );
    let (mut p, mut r) = whole();
    let image = CompressedDecoder::new(DataType::Image);
    assert_eq!(
        decode_events(image, b"\x01z\x00\x10\x85", &mut p, &mut r),
        (
            vec![Seen::Data(b"z".to_vec())],
            Err(DecodeError::RestartMarkerNotString { byte: 0x85 })
        )
    );
}
