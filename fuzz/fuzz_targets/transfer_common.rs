//! Shared harness of the `transfer_*` fuzz targets: decode arbitrary bytes with buffer sizes
//! taken from the input's first bytes, check that the split does not change what comes out,
//! and re-encode what was decoded to check the round trip.

#![allow(dead_code)]

use ftp_proto::transfer::{
    BlockDecoder, BlockEncoder, CompressedDecoder, CompressedEncoder, ControlStep, DataEvent,
    DecodeError, DecodeStep, Finish, RecordDecoder, RecordEncoder, RestartMarker, Step,
};

/// How the fuzz input is cut: the sizes of input pieces and output buffers, a selector for
/// targets that need one, and the bytes to decode.
pub struct Setup<'a> {
    pub piece: usize,
    pub room: usize,
    pub selector: u8,
    pub bytes: &'a [u8],
}

impl<'a> Setup<'a> {
    /// Reads three header bytes; sizes run from 1 byte to 64 bytes, or 4 KiB for a header byte
    /// of 0xFF (so the bulk paths get exercised too).
    pub fn new(data: &'a [u8]) -> Option<Self> {
        let (&[piece, room, selector], bytes) = data.split_first_chunk::<3>()?;
        let size = |b: u8| {
            if b == 0xFF {
                4096
            } else {
                1 + usize::from(b % 64)
            }
        };
        Some(Self {
            piece: size(piece),
            room: size(room),
            selector,
            bytes,
        })
    }
}

/// What a decoder delivered: data runs (merged) and events, in stream order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    Data(Vec<u8>),
    Event(DataEvent),
}

pub fn record(seen: &mut Vec<Seen>, bytes: &[u8], event: Option<DataEvent>) {
    if !bytes.is_empty() {
        match seen.last_mut() {
            Some(Seen::Data(run)) => run.extend_from_slice(bytes),
            _ => seen.push(Seen::Data(bytes.to_vec())),
        }
    }
    seen.extend(event.map(Seen::Event));
}

/// Runs `step` over `input` in pieces, passing back what was not consumed; appends output.
pub fn pump(
    input: &[u8],
    piece: usize,
    room: usize,
    out: &mut Vec<u8>,
    mut step: impl FnMut(&[u8], &mut [u8]) -> Step,
) {
    let mut buffer = vec![0u8; room];
    for chunk in input.chunks(piece) {
        let mut rest = chunk;
        while !rest.is_empty() {
            let done = step(rest, &mut buffer);
            assert!(done.consumed > 0 || done.written > 0, "no progress");
            out.extend_from_slice(&buffer[..done.written]);
            rest = &rest[done.consumed..];
        }
    }
}

/// Calls `finish` until it is done.
pub fn drain(room: usize, out: &mut Vec<u8>, mut finish: impl FnMut(&mut [u8]) -> Finish) {
    let mut buffer = vec![0u8; room];
    for _ in 0..1_000_000 {
        let done = finish(&mut buffer);
        out.extend_from_slice(&buffer[..done.written]);
        if done.done {
            return;
        }
    }
    panic!("finish never done");
}

pub trait EventDecoder {
    fn decode(&mut self, input: &[u8], output: &mut [u8]) -> Result<DecodeStep, DecodeError>;
    fn finish(&mut self, output: &mut [u8]) -> Result<Option<DecodeStep>, DecodeError>;
}

pub trait Encoder {
    fn encode(&mut self, input: &[u8], output: &mut [u8]) -> Step;
    fn end_record(&mut self, output: &mut [u8]) -> ControlStep;
    fn restart_marker(&mut self, marker: &RestartMarker, output: &mut [u8]) -> ControlStep;
    fn finish(&mut self, output: &mut [u8]) -> Finish;
}

macro_rules! codec_pair {
    ($decoder:ty, $encoder:ty, $marker:expr) => {
        impl EventDecoder for $decoder {
            fn decode(&mut self, i: &[u8], o: &mut [u8]) -> Result<DecodeStep, DecodeError> {
                <$decoder>::decode(self, i, o)
            }
            fn finish(&mut self, o: &mut [u8]) -> Result<Option<DecodeStep>, DecodeError> {
                <$decoder>::finish(self, o)
            }
        }
        impl Encoder for $encoder {
            fn encode(&mut self, i: &[u8], o: &mut [u8]) -> Step {
                <$encoder>::encode(self, i, o)
            }
            fn end_record(&mut self, o: &mut [u8]) -> ControlStep {
                <$encoder>::end_record(self, o)
            }
            fn restart_marker(&mut self, m: &RestartMarker, o: &mut [u8]) -> ControlStep {
                let send: fn(&mut $encoder, &RestartMarker, &mut [u8]) -> ControlStep = $marker;
                send(self, m, o)
            }
            fn finish(&mut self, o: &mut [u8]) -> Finish {
                <$encoder>::finish(self, o)
            }
        }
    };
}
codec_pair!(BlockDecoder, BlockEncoder, BlockEncoder::restart_marker);
codec_pair!(
    CompressedDecoder,
    CompressedEncoder,
    CompressedEncoder::restart_marker
);
codec_pair!(RecordDecoder, RecordEncoder, |_, _, _| panic!(
    "no markers in stream mode"
));

/// Decodes `wire` in pieces into buffers of `room` bytes, then finishes.
pub fn decode_events<D: EventDecoder>(
    mut decoder: D,
    wire: &[u8],
    piece: usize,
    room: usize,
) -> (Vec<Seen>, Result<(), DecodeError>) {
    let mut seen = Vec::new();
    let mut buffer = vec![0u8; room];
    for chunk in wire.chunks(piece) {
        let mut rest = chunk;
        loop {
            let step = match decoder.decode(rest, &mut buffer) {
                Ok(step) => step,
                Err(error) => return (seen, Err(error)),
            };
            record(&mut seen, &buffer[..step.written], step.event);
            rest = &rest[step.consumed..];
            if !step.made_progress() {
                assert!(rest.is_empty(), "decoder stalled with input left");
                break;
            }
        }
    }
    for _ in 0..1_000_000 {
        match decoder.finish(&mut buffer) {
            Ok(Some(step)) => record(&mut seen, &buffer[..step.written], step.event),
            Ok(None) => return (seen, Ok(())),
            Err(error) => return (seen, Err(error)),
        }
    }
    panic!("finish never done");
}

/// Sends what a decoder delivered through the matching encoder (suspect flags are not
/// re-sent; each end of file finishes a file, and the last file is always finished).
pub fn encode_seen<E: Encoder>(
    mut encoder: E,
    seen: &[Seen],
    piece: usize,
    room: usize,
) -> Vec<u8> {
    let mut wire = Vec::new();
    let mut finished = false;
    for item in seen {
        if matches!(item, Seen::Event(DataEvent::Suspect { .. })) {
            continue;
        }
        finished = false;
        match item {
            Seen::Data(bytes) => pump(bytes, piece, room, &mut wire, |i, o| encoder.encode(i, o)),
            Seen::Event(DataEvent::EndOfRecord) => {
                control(room, &mut wire, |o| encoder.end_record(o))
            }
            Seen::Event(DataEvent::RestartMarker(marker)) => {
                control(room, &mut wire, |o| encoder.restart_marker(marker, o))
            }
            Seen::Event(DataEvent::EndOfFile) => {
                drain(room, &mut wire, |o| encoder.finish(o));
                finished = true;
            }
            Seen::Event(_) => {}
        }
    }
    if !finished {
        drain(room, &mut wire, |o| encoder.finish(o));
    }
    wire
}

fn control(room: usize, out: &mut Vec<u8>, mut send: impl FnMut(&mut [u8]) -> ControlStep) {
    let mut buffer = vec![0u8; room];
    for _ in 0..1_000_000 {
        let step = send(&mut buffer);
        out.extend_from_slice(&buffer[..step.written]);
        if step.accepted {
            return;
        }
    }
    panic!("control never accepted");
}

/// What decoding `encode_seen(seen)` must deliver.
pub fn expected_after_reencoding(seen: &[Seen]) -> Vec<Seen> {
    let mut expected = Vec::new();
    for item in seen {
        match item {
            Seen::Data(bytes) => record(&mut expected, bytes, None),
            Seen::Event(DataEvent::Suspect { .. }) => {}
            Seen::Event(event) => record(&mut expected, &[], Some(*event)),
        }
    }
    if expected.last() != Some(&Seen::Event(DataEvent::EndOfFile)) {
        expected.push(Seen::Event(DataEvent::EndOfFile));
    }
    expected
}

/// The whole check of an event decoder and its encoder.
pub fn check_event_codec<D: EventDecoder, E: Encoder>(
    setup: &Setup<'_>,
    new_decoder: impl Fn() -> D,
    new_encoder: impl Fn() -> E,
) {
    let split = decode_events(new_decoder(), setup.bytes, setup.piece, setup.room);
    let whole = decode_events(
        new_decoder(),
        setup.bytes,
        setup.bytes.len().max(1),
        1 << 16,
    );
    assert_eq!(split, whole, "the split changed the result");
    let (seen, _) = whole;
    let wire = encode_seen(new_encoder(), &seen, setup.piece, setup.room);
    let back = decode_events(new_decoder(), &wire, setup.room, setup.piece);
    assert_eq!(
        back,
        (expected_after_reencoding(&seen), Ok(())),
        "round trip"
    );
}
