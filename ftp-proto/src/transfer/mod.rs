//! Transfer encodings for the data connection: TYPE A, MODE B/C, STRU R.
//!
//! Every transcoder here is a pure, incremental state machine that works over caller buffers:
//! a step takes `(input, output)` and reports how many bytes it consumed and wrote, and a
//! finishing step flushes what it holds when the input ends. None of them allocates. Between
//! calls a decoder holds only a few bytes (a CR, an escape byte, a partial 3-byte header, the
//! state of one MODE C unit, at most one [`RestartMarker`]); an encoder holds at most a few
//! hundred (the MODE C encoder gathers one byte string of up to 127 bytes).
//!
//! ## Where each one sits
//!
//! ```text
//! send:    native bytes --TYPE--> AsciiEncoder (or a copy) --MODE/STRU--> BlockEncoder,
//!                                                           CompressedEncoder, RecordEncoder
//!                                                           (or a copy) --> data connection
//! receive: data connection --> BlockDecoder, CompressedDecoder, RecordDecoder (or a copy)
//!                          --> AsciiDecoder (or a copy) --> native bytes
//! ```
//!
//! TYPE I and TYPE L 8 are plain copies, and so are MODE S with STRU F ([`TypeEncoder`] and
//! [`TypeDecoder`] pick the copy or the ASCII transcoder from a [`DataType`]).
//!
//! ## The step contract
//!
//! * `consumed` input bytes are taken for good; the caller passes the rest again next time.
//! * `written` bytes at the front of `output` are ready to send or store.
//! * A step that consumed nothing, wrote nothing and reported no event needs more input (or,
//!   if `output` was full, more room).
//! * Decoders of MODE B, MODE C and STRU R stop at each non-data event ([`DataEvent`]) and
//!   report it in [`DecodeStep::event`]; the caller handles it and calls again.
//! * When the input ends, call `finish` until it says it is done. Decoders report a stream cut
//!   short there ([`DecodeError::TruncatedBlock`], [`DecodeError::MissingEndOfFile`], ...).
//! * Decoder errors are sticky: once a decoder has failed it returns the same error forever.
//!   The data before the error is always delivered first: if a call wrote data and then met
//!   the error, it returns the data and the next call returns the error.
//!
//! ```
//! use ftp_proto::transfer::{AsciiDecoder, LineEnding};
//!
//! let mut decoder = AsciiDecoder::new(LineEnding::Lf);
//! let mut output = [0u8; 64];
//! let mut local = Vec::new();
//! for chunk in [&b"line1\r"[..], b"\nline2\r\n"] {
//!     let mut input = chunk;
//!     while !input.is_empty() {
//!         let step = decoder.decode(input, &mut output);
//!         local.extend_from_slice(&output[..step.written]);
//!         input = &input[step.consumed..];
//!     }
//! }
//! loop {
//!     let finish = decoder.finish(&mut output);
//!     local.extend_from_slice(&output[..finish.written]);
//!     if finish.done {
//!         break;
//!     }
//! }
//! assert_eq!(local, b"line1\nline2\n");
//! ```
//!
//! ## Not here
//!
//! MODE Z (deflate) needs a deflate implementation, which this crate's dependency budget
//! (`bytes`, `memchr`, `thiserror`) leaves out. STRU P, TYPE E translation, TYPE A C (ASA
//! carriage control) and TYPE L other than 8 are parsed but not transcoded:
//! [`DataType::is_supported`] and [`FileStructure::is_supported`] say so, and a session answers
//! 504.

mod ascii;
mod block;
mod compressed;
mod marker;
mod params;
mod record;
mod stage;

pub use ascii::{
    AsciiDecoder, AsciiEncoder, LineEnding, TypeDecoder, TypeEncoder, UnsupportedType,
};
pub use block::{BlockDecoder, BlockEncoder, MAX_BLOCK_LEN};
pub use compressed::{CompressedDecoder, CompressedEncoder};
pub use marker::{RestartMarker, RestartMarkerError};
pub use params::{DataType, DataTypeError, FileStructure, FormatControl, TransferMode};
pub use record::{RecordDecoder, RecordEncoder};

/// The result of one step of a transcoder without events.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Step {
    /// Input bytes taken; pass the rest again.
    pub consumed: usize,
    /// Bytes written at the front of the output buffer.
    pub written: usize,
}

/// The result of one step of a decoder that reports events (MODE B, MODE C, STRU R).
///
/// The data written by this step comes before the event in the stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DecodeStep {
    /// Input bytes taken; pass the rest again.
    pub consumed: usize,
    /// Data bytes written at the front of the output buffer.
    pub written: usize,
    /// A non-data event that follows the written bytes, if the step stopped at one.
    pub event: Option<DataEvent>,
}

impl DecodeStep {
    /// True when the step consumed, wrote or reported something; a step without progress
    /// needs more input or more output room.
    pub fn made_progress(&self) -> bool {
        self.consumed > 0 || self.written > 0 || self.event.is_some()
    }
}

/// The result of a finishing step of an encoder or of the ASCII decoder.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Finish {
    /// Bytes written at the front of the output buffer.
    pub written: usize,
    /// True once everything is out; otherwise call again with more output room.
    pub done: bool,
}

/// The result of asking an encoder to insert a control item (an end of record, a restart
/// marker).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ControlStep {
    /// Bytes written at the front of the output buffer.
    pub written: usize,
    /// True when the control item was taken. Any of its bytes that did not fit are written
    /// first by the next call. When false, the encoder is still flushing earlier bytes: write
    /// these out and ask again.
    pub accepted: bool,
}

/// Something other than data that a MODE B, MODE C or STRU R stream carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DataEvent {
    /// The sender flagged the next `len` data bytes as possibly damaged (descriptor 0x20).
    Suspect {
        /// How many of the following data bytes the flag covers.
        len: u16,
    },
    /// A restart marker (descriptor 0x10): all data before it may be made stable, and the
    /// marker may be reported with `110 MARK` and sent back with `REST`.
    RestartMarker(RestartMarker),
    /// The data before this point ends a record.
    EndOfRecord,
    /// The data before this point ends the file. MODE B and C may carry another file after it.
    EndOfFile,
}

/// Why a data-connection stream was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// MODE B: the input ended inside a block header or before a block's last data byte.
    #[error("MODE B stream ended inside a block")]
    TruncatedBlock,
    /// MODE C: the input ended inside a unit or an escape sequence.
    #[error("MODE C stream ended inside a unit")]
    TruncatedUnit,
    /// STRU R in stream mode: the input ended right after an 0xFF escape byte.
    #[error("record stream ended after an escape byte")]
    TruncatedEscape,
    /// MODE B, MODE C or STRU R: the input ended without an explicit end of file, so the
    /// transfer may have been cut short. All data before it was delivered.
    #[error("stream ended without an end-of-file mark")]
    MissingEndOfFile,
    /// STRU R in stream mode: 0xFF followed by a byte other than 0xFF, 0x01, 0x02 or 0x03.
    #[error("invalid record escape 0xFF 0x{byte:02X}")]
    InvalidRecordEscape {
        /// The byte after 0xFF.
        byte: u8,
    },
    /// MODE C: a restart-marker escape was not followed by a byte string.
    #[error("MODE C restart marker is not a byte string (unit 0x{byte:02X})")]
    RestartMarkerNotString {
        /// The first byte of the unit that followed the escape.
        byte: u8,
    },
    /// The stream carried a restart marker this crate will not pass on.
    #[error("bad restart marker: {0}")]
    RestartMarker(#[from] RestartMarkerError),
}

/// Turns the outcome of a decoder's run into its step result. An error found after data was
/// written in the same call is kept for the next call, so that the data before it is delivered.
pub(crate) fn report(
    failed: &mut Option<DecodeError>,
    step: DecodeStep,
    result: Result<(), DecodeError>,
) -> Result<DecodeStep, DecodeError> {
    match result {
        Ok(()) => Ok(step),
        Err(error) => {
            *failed = Some(error);
            if step.written > 0 {
                Ok(step)
            } else {
                Err(error)
            }
        }
    }
}

/// How a decoder's stream stands when its input has ended and nothing is left to deliver.
pub(crate) enum EndOfInput {
    /// The stream ended where it may: done.
    Complete,
    /// Output room ran out before the stream's end was reached: call `finish` again.
    AskAgain,
    /// The stream was cut short.
    Truncated(DecodeError),
}

/// What [`decode_with`] and [`finish_with`] need from a MODE B, MODE C or STRU R decoder, so
/// the three share one error-stickiness and end-of-input policy.
pub(crate) trait EventDecoder {
    /// The sticky error slot.
    fn failed(&mut self) -> &mut Option<DecodeError>;
    /// Decodes until input or output is used up or an event is reached, adding to `step`.
    fn decode_into(
        &mut self,
        input: &[u8],
        output: &mut [u8],
        step: &mut DecodeStep,
    ) -> Result<(), DecodeError>;
    /// Where the stream stands at the end of input.
    fn end_of_input(&self) -> EndOfInput;
}

/// One decoding step with sticky errors: data decoded before an error is delivered first.
pub(crate) fn decode_with<D: EventDecoder>(
    decoder: &mut D,
    input: &[u8],
    output: &mut [u8],
) -> Result<DecodeStep, DecodeError> {
    if let Some(error) = *decoder.failed() {
        return Err(error);
    }
    let mut step = DecodeStep::default();
    let result = decoder.decode_into(input, output, &mut step);
    report(decoder.failed(), step, result)
}

/// The finishing step: deliver what is left, then report completion or truncation.
pub(crate) fn finish_with<D: EventDecoder>(
    decoder: &mut D,
    output: &mut [u8],
) -> Result<Option<DecodeStep>, DecodeError> {
    let step = decode_with(decoder, &[], output)?;
    if step.made_progress() {
        return Ok(Some(step));
    }
    match decoder.end_of_input() {
        EndOfInput::Complete => Ok(None),
        EndOfInput::AskAgain => Ok(Some(step)),
        EndOfInput::Truncated(error) => {
            *decoder.failed() = Some(error);
            Err(error)
        }
    }
}

/// What [`finish_encoding`] needs from a MODE B, MODE C or STRU R encoder.
pub(crate) trait MarkedEncoder<const N: usize> {
    /// The encoder's staged output.
    fn stage(&mut self) -> &mut stage::Stage<N>;
    /// Whether the end-of-file mark is already staged.
    fn end_of_file_queued(&mut self) -> &mut bool;
    /// Stages whatever the encoder still holds, then the end-of-file mark (carrying a pending
    /// end of record). Called with an empty stage.
    fn queue_end_of_file(&mut self);
}

/// The encoders' finishing step: flush what is staged, then stage the end-of-file mark once and
/// flush it. Done when the mark is out; the encoder can then start the next file.
pub(crate) fn finish_encoding<const N: usize, E: MarkedEncoder<N>>(
    encoder: &mut E,
    output: &mut [u8],
) -> Finish {
    let mut written = encoder.stage().flush(output);
    if !encoder.stage().is_empty() {
        return Finish {
            written,
            done: false,
        };
    }
    if !*encoder.end_of_file_queued() {
        encoder.queue_end_of_file();
        *encoder.end_of_file_queued() = true;
        written += encoder.stage().flush(&mut output[written..]);
    }
    let done = encoder.stage().is_empty();
    if done {
        *encoder.end_of_file_queued() = false;
    }
    Finish { written, done }
}

/// MODE B/C descriptor bits (RFC 959 §3.4.2).
pub(crate) mod descriptor {
    /// End of data block is EOR.
    pub(crate) const END_OF_RECORD: u8 = 0x80;
    /// End of data block is EOF.
    pub(crate) const END_OF_FILE: u8 = 0x40;
    /// Suspected errors in data block.
    pub(crate) const SUSPECT: u8 = 0x20;
    /// Data block is a restart marker.
    pub(crate) const RESTART_MARKER: u8 = 0x10;
}

/// Events a decoder has seen but not yet reported, in the order they are reported.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct PendingEvents {
    suspect: Option<u16>,
    marker: Option<RestartMarker>,
    end_of_record: bool,
    end_of_file: bool,
}

impl PendingEvents {
    /// Nothing pending.
    pub(crate) const fn new() -> Self {
        Self {
            suspect: None,
            marker: None,
            end_of_record: false,
            end_of_file: false,
        }
    }

    /// Queues the events of a descriptor's end-of-record and end-of-file bits.
    pub(crate) fn push_ends(&mut self, descriptor: u8) {
        self.end_of_record |= descriptor & descriptor::END_OF_RECORD != 0;
        self.end_of_file |= descriptor & descriptor::END_OF_FILE != 0;
    }

    /// Queues a suspect flag over the next `len` bytes (nothing for an empty run).
    pub(crate) fn push_suspect(&mut self, len: u16) {
        if len > 0 {
            self.suspect = Some(len);
        }
    }

    /// Queues a restart marker.
    pub(crate) fn push_marker(&mut self, marker: RestartMarker) {
        self.marker = Some(marker);
    }

    /// Takes the next event to report.
    pub(crate) fn pop(&mut self) -> Option<DataEvent> {
        if let Some(len) = self.suspect.take() {
            return Some(DataEvent::Suspect { len });
        }
        if let Some(marker) = self.marker.take() {
            return Some(DataEvent::RestartMarker(marker));
        }
        if core::mem::take(&mut self.end_of_record) {
            return Some(DataEvent::EndOfRecord);
        }
        if core::mem::take(&mut self.end_of_file) {
            return Some(DataEvent::EndOfFile);
        }
        None
    }
}

/// Copies as much of `input` as fits into `output`: the transcoder of TYPE I, TYPE L 8 and
/// MODE S with STRU F.
pub fn copy_step(input: &[u8], output: &mut [u8]) -> Step {
    let n = input.len().min(output.len());
    output[..n].copy_from_slice(&input[..n]);
    Step {
        consumed: n,
        written: n,
    }
}
