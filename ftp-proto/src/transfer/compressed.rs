//! MODE C, compressed mode (RFC 959 §3.4.3).
//!
//! The stream is a sequence of units:
//!
//! ```text
//! 0nnnnnnn d1..dn   byte string, n = 1..127
//! 10nnnnnn d        n copies of d (replicated run), n = 0..63
//! 11nnnnnn          n filler bytes, n = 0..63 (SP for TYPE A, 0x40 for E, 0x00 for I and L)
//! 00000000 desc     escape: a block-mode descriptor (0x80 EOR, 0x40 EOF, 0x20 suspect,
//!                   0x10 restart marker)
//! ```
//!
//! RFC 959 says the descriptor applies to "the succeeding string of bytes". This module reads
//! end of record and end of file as marks at the escape's position (so `00 40` ends a stream,
//! as vector D12 in `tests/transfer_vectors.rs` shows), the suspect flag as covering the next data unit, and a
//! restart marker as the byte string that follows the escape (`00 10 06 R00042`, vector D13).

use super::descriptor::{END_OF_FILE, END_OF_RECORD, RESTART_MARKER, SUSPECT};
use super::marker::{self, MarkerBuilder};
use super::stage::Stage;
use super::{
    ControlStep, DataType, DecodeError, DecodeStep, Finish, PendingEvents, RestartMarker, Step,
};

/// The longest byte string (7-bit count).
const MAX_STRING: usize = 0x7F;
/// The longest replicated or filler run (6-bit count).
const MAX_RUN: usize = 0x3F;
/// The shortest run sent as a replicated or filler unit. A run of 3 costs 2 bytes (replicated)
/// or 1 (filler), plus at most 1 for the byte-string header it interrupts: never more than
/// sending it inside the string.
const MIN_RUN: usize = 3;
const ESCAPE: u8 = 0x00;
const REPLICATED: u8 = 0x80;
const FILLER: u8 = 0xC0;
/// Two byte-string units, a held end-of-record escape, and a marker escape with its string.
const STAGE_LEN: usize = 2 * (1 + MAX_STRING) + 2 + 2 + 1 + RestartMarker::MAX_LEN;

/// Compresses data into MODE C units.
///
/// Guarantees: runs of three or more identical bytes become replicated units (filler units
/// when the byte is the type's filler) of at most 63 bytes each, a remainder shorter than three
/// joining the byte string; everything else goes out in byte strings of up to 127 bytes. The
/// encoding is never longer than sending everything in byte strings. The output depends only on the data and control calls, not on how the input was
/// split. Between calls the encoder holds at most one byte string being gathered (127 bytes),
/// the current run (a byte and a count) and a few staged unit bytes.
#[derive(Clone, Copy, Debug)]
pub struct CompressedEncoder {
    filler: u8,
    stage: Stage<STAGE_LEN>,
    literal: [u8; MAX_STRING],
    literal_len: usize,
    run_byte: u8,
    run_len: usize,
    end_of_record_pending: bool,
    end_of_file_queued: bool,
}

impl CompressedEncoder {
    /// An encoder for data of `data_type` (which sets the filler byte).
    pub fn new(data_type: DataType) -> Self {
        Self {
            filler: data_type.filler_byte(),
            stage: Stage::new(),
            literal: [0; MAX_STRING],
            literal_len: 0,
            run_byte: 0,
            run_len: 0,
            end_of_record_pending: false,
            end_of_file_queued: false,
        }
    }

    /// Compresses as much of `input` into `output` as fits.
    pub fn encode(&mut self, input: &[u8], output: &mut [u8]) -> Step {
        let mut step = Step {
            consumed: 0,
            written: self.stage.flush(output),
        };
        while let Some(&byte) = input.get(step.consumed) {
            if !self.stage.is_empty() {
                step.written += self.stage.flush(&mut output[step.written..]);
                if !self.stage.is_empty() {
                    break;
                }
            }
            let taken = self.take_distinct(&input[step.consumed..]);
            if taken > 0 {
                step.consumed += taken;
                continue;
            }
            self.take_byte(byte);
            step.consumed += 1;
        }
        step.written += self.stage.flush(&mut output[step.written..]);
        step
    }

    /// Ends the current record (STRU R) with an `00 80` escape after the data so far. The
    /// escape is held until the next data, control item or finish, so that the last record's
    /// end can share the end-of-file escape (`00 C0`).
    pub fn end_record(&mut self, output: &mut [u8]) -> ControlStep {
        let written = self.stage.flush(output);
        if !self.stage.is_empty() {
            return ControlStep {
                written,
                accepted: false,
            };
        }
        self.push_data();
        if self.end_of_record_pending {
            self.stage.push(&[ESCAPE, END_OF_RECORD]);
        }
        self.end_of_record_pending = true;
        ControlStep {
            written: written + self.stage.flush(&mut output[written..]),
            accepted: true,
        }
    }

    /// Sends `marker` as `00 10` and a byte string, after the data so far.
    pub fn restart_marker(&mut self, marker: &RestartMarker, output: &mut [u8]) -> ControlStep {
        let written = self.stage.flush(output);
        if !self.stage.is_empty() {
            return ControlStep {
                written,
                accepted: false,
            };
        }
        self.push_data();
        if core::mem::take(&mut self.end_of_record_pending) {
            self.stage.push(&[ESCAPE, END_OF_RECORD]);
        }
        // A marker has 1..=64 bytes, a valid byte-string count.
        self.stage
            .push(&[ESCAPE, RESTART_MARKER, marker.len() as u8]);
        self.stage.push(marker.as_bytes());
        ControlStep {
            written: written + self.stage.flush(&mut output[written..]),
            accepted: true,
        }
    }

    /// Sends the data still gathered and the end-of-file escape (`00 40`, or `00 C0` after
    /// [`CompressedEncoder::end_record`]). Call until `done`; the encoder is then ready for
    /// another file.
    pub fn finish(&mut self, output: &mut [u8]) -> Finish {
        super::finish_encoding(self, output)
    }

    /// Adds one data byte to the current run or starts a new one. Called with an empty stage.
    fn take_byte(&mut self, byte: u8) {
        if core::mem::take(&mut self.end_of_record_pending) {
            self.stage.push(&[ESCAPE, END_OF_RECORD]);
        }
        if self.run_len > 0 && byte == self.run_byte && self.run_len < MAX_RUN {
            self.run_len += 1;
            return;
        }
        self.settle_run();
        self.run_byte = byte;
        self.run_len = 1;
    }

    /// The fast path of [`Self::take_byte`] for text without runs: while each byte differs
    /// from the one before, the current one-byte run joins the byte string and the new byte
    /// becomes the run, so copy them in bulk. Produces exactly what `take_byte` would; returns
    /// how many bytes of `rest` it took (0 when the slow path must decide).
    fn take_distinct(&mut self, rest: &[u8]) -> usize {
        if self.run_len != 1 || self.end_of_record_pending {
            return 0;
        }
        let room = MAX_STRING - self.literal_len;
        let mut previous = self.run_byte;
        let distinct = rest
            .iter()
            .take(room)
            .take_while(|&&byte| {
                let differs = byte != previous;
                previous = byte;
                differs
            })
            .count();
        let Some(&last) = distinct.checked_sub(1).and_then(|i| rest.get(i)) else {
            return 0;
        };
        let start = self.literal_len;
        self.literal[start] = self.run_byte;
        self.literal[start + 1..start + distinct].copy_from_slice(&rest[..distinct - 1]);
        self.literal_len += distinct;
        self.run_byte = last;
        distinct
    }

    /// Sends the current run as a unit if it is long enough, or adds it to the byte string.
    fn settle_run(&mut self) {
        if self.run_len >= MIN_RUN {
            self.push_literal();
            let count = self.run_len as u8; // at most MAX_RUN
            if self.run_byte == self.filler {
                self.stage.push(&[FILLER | count]);
            } else {
                self.stage.push(&[REPLICATED | count, self.run_byte]);
            }
        } else {
            for _ in 0..self.run_len {
                if self.literal_len == MAX_STRING {
                    self.push_literal();
                }
                self.literal[self.literal_len] = self.run_byte;
                self.literal_len += 1;
            }
        }
        self.run_len = 0;
    }

    /// Stages the gathered byte string, if any.
    fn push_literal(&mut self) {
        if self.literal_len > 0 {
            self.stage.push(&[self.literal_len as u8]); // at most MAX_STRING
            self.stage.push(&self.literal[..self.literal_len]);
            self.literal_len = 0;
        }
    }

    /// Stages every data byte taken so far.
    fn push_data(&mut self) {
        self.settle_run();
        self.push_literal();
    }
}

/// Where the decoder is inside the current unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum UnitState {
    /// Expecting a unit's first byte.
    Start,
    /// After an escape byte, expecting the descriptor.
    Descriptor,
    /// Copying a byte string.
    String { remaining: u8 },
    /// After a replicated unit's count, expecting the byte to repeat.
    RunByte { count: u8 },
    /// Writing a replicated or filler run.
    Run { byte: u8, remaining: u8 },
    /// After a restart-marker escape, expecting the marker's byte-string header.
    MarkerStart,
    /// Collecting a restart marker's bytes.
    Marker { remaining: u8 },
}

/// Expands MODE C units, reporting end of record, end of file, suspect data and restart
/// markers as [`super::DataEvent`]s.
///
/// Guarantees: between calls the decoder holds at most the state of one unit (a count and a
/// byte) and one restart marker ([`RestartMarker::MAX_LEN`] bytes); a run it has not finished
/// writing is written by the next call, input or not. Replicated and filler units with a zero
/// count are accepted and expand to nothing. A restart-marker escape must be followed by a byte
/// string of printable non-space ASCII no longer than [`RestartMarker::MAX_LEN`].
#[derive(Clone, Copy, Debug)]
pub struct CompressedDecoder {
    filler: u8,
    state: UnitState,
    marker: MarkerBuilder,
    pending: PendingEvents,
    /// An escape flagged the next data unit as suspect.
    suspect_next: bool,
    /// True until the first end of file, and again once a unit follows it.
    open_file: bool,
    failed: Option<DecodeError>,
}

impl CompressedDecoder {
    /// A decoder for data of `data_type` (which sets the filler byte).
    pub fn new(data_type: DataType) -> Self {
        Self {
            filler: data_type.filler_byte(),
            state: UnitState::Start,
            marker: MarkerBuilder::new(),
            pending: PendingEvents::new(),
            suspect_next: false,
            open_file: true,
            failed: None,
        }
    }

    /// Decodes from `input` into `output` until both are used up or an event is reached.
    pub fn decode(&mut self, input: &[u8], output: &mut [u8]) -> Result<DecodeStep, DecodeError> {
        super::decode_with(self, input, output)
    }

    /// Tells the decoder the input has ended. Returns `Ok(Some(step))` while data or events are
    /// still to be delivered, `Ok(None)` once the stream is complete, or an error if it ended
    /// inside a unit ([`DecodeError::TruncatedUnit`]) or without an end of file
    /// ([`DecodeError::MissingEndOfFile`]).
    pub fn finish(&mut self, output: &mut [u8]) -> Result<Option<DecodeStep>, DecodeError> {
        super::finish_with(self, output)
    }

    fn run(
        &mut self,
        input: &[u8],
        output: &mut [u8],
        step: &mut DecodeStep,
    ) -> Result<(), DecodeError> {
        loop {
            if let Some(event) = self.pending.pop() {
                step.event = Some(event);
                return Ok(());
            }
            let rest_in = &input[step.consumed..];
            let rest_out = &mut output[step.written..];
            match self.state {
                UnitState::String { remaining } => {
                    let len = usize::from(remaining)
                        .min(rest_in.len())
                        .min(rest_out.len());
                    if len == 0 {
                        return Ok(());
                    }
                    rest_out[..len].copy_from_slice(&rest_in[..len]);
                    step.consumed += len;
                    step.written += len;
                    self.state = match remaining - len as u8 {
                        0 => UnitState::Start,
                        remaining => UnitState::String { remaining },
                    };
                }
                UnitState::Run { byte, remaining } => {
                    let len = usize::from(remaining).min(rest_out.len());
                    if len == 0 {
                        return Ok(());
                    }
                    rest_out[..len].fill(byte);
                    step.written += len;
                    self.state = match remaining - len as u8 {
                        0 => UnitState::Start,
                        remaining => UnitState::Run { byte, remaining },
                    };
                }
                UnitState::Marker { remaining } => {
                    let len = usize::from(remaining).min(rest_in.len());
                    if len == 0 {
                        return Ok(());
                    }
                    self.marker.extend(&rest_in[..len]);
                    step.consumed += len;
                    self.state = match remaining - len as u8 {
                        0 => {
                            self.pending.push_marker(self.marker.build()?);
                            UnitState::Start
                        }
                        remaining => UnitState::Marker { remaining },
                    };
                }
                _ => {
                    let Some(&byte) = rest_in.first() else {
                        return Ok(());
                    };
                    step.consumed += 1;
                    self.state = self.next_state(byte)?;
                }
            }
        }
    }

    /// The state after `byte` in one of the states that read a single byte.
    fn next_state(&mut self, byte: u8) -> Result<UnitState, DecodeError> {
        match self.state {
            UnitState::Descriptor => Ok(self.escape(byte)),
            UnitState::RunByte { count: 0 } => Ok(UnitState::Start),
            UnitState::RunByte { count } => Ok(UnitState::Run {
                byte,
                remaining: count,
            }),
            UnitState::MarkerStart => self.marker_start(byte),
            _ => Ok(self.unit_start(byte)),
        }
    }

    /// Reads a unit's first byte.
    fn unit_start(&mut self, byte: u8) -> UnitState {
        self.open_file = true;
        let (state, len) = match byte {
            ESCAPE => return UnitState::Descriptor,
            0x01..=0x7F => (UnitState::String { remaining: byte }, byte),
            0x80..=0xBF => {
                let count = byte & 0x3F;
                (UnitState::RunByte { count }, count)
            }
            _ => {
                let count = byte & 0x3F;
                let run = UnitState::Run {
                    byte: self.filler,
                    remaining: count,
                };
                (if count == 0 { UnitState::Start } else { run }, count)
            }
        };
        if core::mem::take(&mut self.suspect_next) {
            self.pending.push_suspect(u16::from(len));
        }
        state
    }

    /// Acts on an escape's descriptor byte.
    fn escape(&mut self, descriptor: u8) -> UnitState {
        self.pending.push_ends(descriptor);
        if descriptor & END_OF_FILE != 0 {
            self.open_file = false;
        }
        if descriptor & SUSPECT != 0 {
            self.suspect_next = true;
        }
        if descriptor & RESTART_MARKER != 0 {
            UnitState::MarkerStart
        } else {
            UnitState::Start
        }
    }

    /// Reads the header of the byte string that carries a restart marker.
    fn marker_start(&mut self, byte: u8) -> Result<UnitState, DecodeError> {
        match byte {
            0x01..=0x7F => {
                marker::check_len(usize::from(byte))?;
                self.marker.clear();
                Ok(UnitState::Marker { remaining: byte })
            }
            _ => Err(DecodeError::RestartMarkerNotString { byte }),
        }
    }
}

impl super::EventDecoder for CompressedDecoder {
    fn failed(&mut self) -> &mut Option<DecodeError> {
        &mut self.failed
    }

    fn decode_into(
        &mut self,
        input: &[u8],
        output: &mut [u8],
        step: &mut DecodeStep,
    ) -> Result<(), DecodeError> {
        self.run(input, output, step)
    }

    fn end_of_input(&self) -> super::EndOfInput {
        match self.state {
            // Only an empty output stops a run: ask again.
            UnitState::Run { .. } => super::EndOfInput::AskAgain,
            UnitState::Start if !self.open_file => super::EndOfInput::Complete,
            UnitState::Start => super::EndOfInput::Truncated(DecodeError::MissingEndOfFile),
            _ => super::EndOfInput::Truncated(DecodeError::TruncatedUnit),
        }
    }
}

impl super::MarkedEncoder<STAGE_LEN> for CompressedEncoder {
    fn stage(&mut self) -> &mut Stage<STAGE_LEN> {
        &mut self.stage
    }

    fn end_of_file_queued(&mut self) -> &mut bool {
        &mut self.end_of_file_queued
    }

    fn queue_end_of_file(&mut self) {
        self.push_data();
        let record = if core::mem::take(&mut self.end_of_record_pending) {
            END_OF_RECORD
        } else {
            0
        };
        self.stage.push(&[ESCAPE, END_OF_FILE | record]);
    }
}

#[cfg(test)]
mod tests {
    use super::super::{DataEvent, FormatControl};
    use super::*;

    fn encode_all(encoder: &mut CompressedEncoder, input: &[u8]) -> Vec<u8> {
        let mut out = vec![0u8; 4 * input.len() + 64];
        let step = encoder.encode(input, &mut out);
        assert_eq!(step.consumed, input.len());
        let finish = encoder.finish(&mut out[step.written..]);
        assert!(finish.done);
        out.truncate(step.written + finish.written);
        out
    }

    #[test]
    fn encoder_picks_runs_and_filler() {
        let mut encoder = CompressedEncoder::new(DataType::Ascii(FormatControl::NonPrint));
        assert_eq!(
            encode_all(&mut encoder, b"abcAAAAA    "),
            b"\x03abc\x85A\xc4\x00\x40"
        );
        assert_eq!(encode_all(&mut encoder, b"aab"), b"\x03aab\x00\x40");
        assert_eq!(encode_all(&mut encoder, b""), b"\x00\x40");
    }

    proptest::proptest! {
        #[test]
        fn bulk_path_encodes_exactly_like_the_byte_path(
            data in proptest::collection::vec(proptest::sample::select(vec![0u8, 1, 2, b' ']), 0..1200),
        ) {
            let mut bulk = CompressedEncoder::new(DataType::Image);
            let mut bytewise = CompressedEncoder::new(DataType::Image);
            let mut expected = vec![0u8; 4 * data.len() + 64];
            let mut written = 0;
            for &byte in &data {
                bytewise.take_byte(byte);
                written += bytewise.stage.flush(&mut expected[written..]);
            }
            let finish = bytewise.finish(&mut expected[written..]);
            expected.truncate(written + finish.written);
            proptest::prop_assert_eq!(encode_all(&mut bulk, &data), expected);
        }
    }

    #[test]
    fn encoder_splits_long_strings_and_runs() {
        let mut encoder = CompressedEncoder::new(DataType::Image);
        let out = encode_all(&mut encoder, &[0u8; 64]);
        assert_eq!(out, b"\xff\x01\x00\x00\x40");
        let text: Vec<u8> = (0..130u8).map(|i| i % 2).collect();
        let out = encode_all(&mut encoder, &text);
        assert_eq!(out[0], 127);
        assert_eq!(out[128], 3);
    }

    #[test]
    fn encoder_merges_last_record_end_with_end_of_file() {
        let mut encoder = CompressedEncoder::new(DataType::Image);
        let mut out = [0u8; 16];
        let step = encoder.encode(b"ab", &mut out);
        assert_eq!(
            step,
            Step {
                consumed: 2,
                written: 0
            }
        );
        let control = encoder.end_record(&mut out);
        assert_eq!(&out[..control.written], b"\x02ab");
        let finish = encoder.finish(&mut out);
        assert_eq!(&out[..finish.written], b"\x00\xc0");
    }

    #[test]
    fn decoder_reports_suspect_units_and_requires_string_markers() {
        let mut decoder = CompressedDecoder::new(DataType::Image);
        let mut out = [0u8; 8];
        let step = decoder.decode(b"\x00\x20\x83x", &mut out).unwrap();
        assert_eq!(step.event, Some(DataEvent::Suspect { len: 3 }));
        let step = decoder.decode(b"x", &mut out).unwrap();
        assert_eq!(&out[..step.written], b"xxx");
        assert_eq!(
            decoder.decode(b"\x00\x10\x85", &mut out),
            Err(DecodeError::RestartMarkerNotString { byte: 0x85 })
        );
    }

    #[test]
    fn decoder_accepts_zero_counts_and_reports_truncation() {
        let mut decoder = CompressedDecoder::new(DataType::Image);
        let mut out = [0u8; 8];
        let step = decoder.decode(b"\x80z\xc0\x00\x40", &mut out).unwrap();
        assert_eq!((step.written, step.event), (0, Some(DataEvent::EndOfFile)));
        assert_eq!(decoder.finish(&mut out), Ok(None));
        let mut decoder = CompressedDecoder::new(DataType::Image);
        assert_eq!(decoder.decode(b"\x05ab", &mut out).unwrap().written, 2);
        assert_eq!(decoder.finish(&mut out), Err(DecodeError::TruncatedUnit));
    }
}
