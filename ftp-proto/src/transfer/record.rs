//! STRU R in stream mode (RFC 959 §3.4.1): records separated by two-byte escapes.
//!
//! `FF 01` ends a record, `FF 02` ends the file, `FF 03` does both, and a data byte 0xFF is
//! sent as `FF FF`. (This is record escaping on the data connection, not Telnet IAC escaping.)
//! With STRU F in stream mode there are no escapes at all: use a plain copy.

use memchr::memchr;

use super::descriptor::{END_OF_FILE, END_OF_RECORD};
use super::stage::Stage;
use super::{ControlStep, DecodeError, DecodeStep, Finish, PendingEvents, Step};

const ESCAPE: u8 = 0xFF;
const CODE_END_OF_RECORD: u8 = 0x01;
const CODE_END_OF_FILE: u8 = 0x02;

/// Writes records for STRU R in stream mode: escapes 0xFF and marks record and file ends.
///
/// Guarantees: every data 0xFF becomes `FF FF`, all other bytes pass unchanged; an end of
/// record is written as `FF 01`, merged with the end of file into `FF 03` when nothing comes
/// between them. Between calls the encoder holds at most two unwritten bytes.
#[derive(Clone, Copy, Debug)]
pub struct RecordEncoder {
    stage: Stage<4>,
    end_of_record_pending: bool,
    end_of_file_queued: bool,
}

impl Default for RecordEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl RecordEncoder {
    /// An encoder at the start of a file.
    pub const fn new() -> Self {
        Self {
            stage: Stage::new(),
            end_of_record_pending: false,
            end_of_file_queued: false,
        }
    }

    /// Escapes as much of `input` into `output` as fits.
    pub fn encode(&mut self, input: &[u8], output: &mut [u8]) -> Step {
        let mut step = Step {
            consumed: 0,
            written: self.stage.flush(output),
        };
        if !self.stage.is_empty() || input.is_empty() {
            return step;
        }
        if core::mem::take(&mut self.end_of_record_pending) {
            self.stage.push(&[ESCAPE, CODE_END_OF_RECORD]);
            step.written += self.stage.flush(&mut output[step.written..]);
            if !self.stage.is_empty() {
                return step;
            }
        }
        loop {
            let rest_in = &input[step.consumed..];
            let rest_out = &mut output[step.written..];
            let window = rest_in.len().min(rest_out.len());
            let Some(at) = memchr(ESCAPE, &rest_in[..window]) else {
                rest_out[..window].copy_from_slice(&rest_in[..window]);
                step.consumed += window;
                step.written += window;
                return step;
            };
            // `at < window`: room for the first 0xFF of the pair.
            rest_out[..at].copy_from_slice(&rest_in[..at]);
            rest_out[at] = ESCAPE;
            step.consumed += at + 1;
            step.written += at + 1;
            match rest_out.get_mut(at + 1) {
                Some(slot) => {
                    *slot = ESCAPE;
                    step.written += 1;
                }
                None => {
                    self.stage.push(&[ESCAPE]);
                    return step;
                }
            }
        }
    }

    /// Ends the current record. `FF 01` is held until the next data, record end or finish, so
    /// that the last record's end can share the end-of-file code (`FF 03`).
    pub fn end_record(&mut self, output: &mut [u8]) -> ControlStep {
        let written = self.stage.flush(output);
        if !self.stage.is_empty() {
            return ControlStep {
                written,
                accepted: false,
            };
        }
        if self.end_of_record_pending {
            self.stage.push(&[ESCAPE, CODE_END_OF_RECORD]);
        }
        self.end_of_record_pending = true;
        ControlStep {
            written: written + self.stage.flush(&mut output[written..]),
            accepted: true,
        }
    }

    /// Ends the file with `FF 02` (or `FF 03` after [`RecordEncoder::end_record`]). Call until
    /// `done`.
    pub fn finish(&mut self, output: &mut [u8]) -> Finish {
        super::finish_encoding(self, output)
    }
}

/// Reads records of STRU R in stream mode, reporting [`super::DataEvent::EndOfRecord`] and
/// [`super::DataEvent::EndOfFile`].
///
/// Guarantees: `FF FF` becomes one data 0xFF and every byte other than 0xFF passes unchanged;
/// `FF 03` is reported as an end of record, then an end of file. 0xFF followed by any other
/// byte is an error ([`DecodeError::InvalidRecordEscape`]). A 0xFF at the end of an input
/// chunk is held (and counted as consumed) until the next byte arrives; that is all the
/// decoder holds between calls.
#[derive(Clone, Copy, Debug)]
pub struct RecordDecoder {
    after_escape: bool,
    pending: PendingEvents,
    /// True until the first end of file, and again once data or a record end follows it.
    open_file: bool,
    failed: Option<DecodeError>,
}

impl Default for RecordDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl RecordDecoder {
    /// A decoder at the start of a stream.
    pub const fn new() -> Self {
        Self {
            after_escape: false,
            pending: PendingEvents::new(),
            open_file: true,
            failed: None,
        }
    }

    /// Decodes from `input` into `output` until both are used up or an event is reached.
    pub fn decode(&mut self, input: &[u8], output: &mut [u8]) -> Result<DecodeStep, DecodeError> {
        super::decode_with(self, input, output)
    }

    /// Tells the decoder the input has ended. Returns `Ok(Some(step))` while events are still
    /// to be reported, `Ok(None)` once the stream is complete, or an error if it ended after a
    /// lone 0xFF ([`DecodeError::TruncatedEscape`]) or without an end of file
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
            if self.after_escape {
                if !self.escape_code(input, output, step)? {
                    return Ok(());
                }
                continue;
            }
            let rest_in = &input[step.consumed..];
            let rest_out = &mut output[step.written..];
            let window = rest_in.len().min(rest_out.len());
            let Some(at) = memchr(ESCAPE, &rest_in[..window]) else {
                rest_out[..window].copy_from_slice(&rest_in[..window]);
                self.open_file |= window > 0;
                step.consumed += window;
                step.written += window;
                return Ok(());
            };
            rest_out[..at].copy_from_slice(&rest_in[..at]);
            self.open_file |= at > 0;
            step.consumed += at + 1;
            step.written += at;
            self.after_escape = true;
        }
    }

    /// Acts on the byte after an 0xFF; false when that byte (or room for a data 0xFF) is not
    /// there yet.
    fn escape_code(
        &mut self,
        input: &[u8],
        output: &mut [u8],
        step: &mut DecodeStep,
    ) -> Result<bool, DecodeError> {
        let Some(&code) = input.get(step.consumed) else {
            return Ok(false);
        };
        match code {
            ESCAPE => {
                let Some(slot) = output.get_mut(step.written) else {
                    return Ok(false);
                };
                *slot = ESCAPE;
                step.written += 1;
                self.open_file = true;
            }
            0x01..=0x03 => {
                let ends_record = code & CODE_END_OF_RECORD != 0;
                let ends_file = code & CODE_END_OF_FILE != 0;
                self.pending.push_ends(
                    if ends_record { END_OF_RECORD } else { 0 }
                        | if ends_file { END_OF_FILE } else { 0 },
                );
                self.open_file = !ends_file;
            }
            byte => return Err(DecodeError::InvalidRecordEscape { byte }),
        }
        step.consumed += 1;
        self.after_escape = false;
        Ok(true)
    }
}

impl super::EventDecoder for RecordDecoder {
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
        if self.after_escape {
            super::EndOfInput::Truncated(DecodeError::TruncatedEscape)
        } else if self.open_file {
            super::EndOfInput::Truncated(DecodeError::MissingEndOfFile)
        } else {
            super::EndOfInput::Complete
        }
    }
}

impl super::MarkedEncoder<4> for RecordEncoder {
    fn stage(&mut self) -> &mut Stage<4> {
        &mut self.stage
    }

    fn end_of_file_queued(&mut self) -> &mut bool {
        &mut self.end_of_file_queued
    }

    fn queue_end_of_file(&mut self) {
        let record = if core::mem::take(&mut self.end_of_record_pending) {
            CODE_END_OF_RECORD
        } else {
            0
        };
        self.stage.push(&[ESCAPE, CODE_END_OF_FILE | record]);
    }
}

#[cfg(test)]
mod tests {
    use super::super::DataEvent;
    use super::*;

    #[test]
    fn encoder_escapes_ff_even_when_the_pair_straddles_outputs() {
        let mut encoder = RecordEncoder::new();
        let mut out = [0u8; 2];
        let step = encoder.encode(b"a\xffb", &mut out);
        assert_eq!(
            step,
            Step {
                consumed: 2,
                written: 2
            }
        );
        assert_eq!(&out, b"a\xff");
        let step = encoder.encode(b"b", &mut out);
        assert_eq!(
            step,
            Step {
                consumed: 1,
                written: 2
            }
        );
        assert_eq!(&out, b"\xffb");
    }

    #[test]
    fn encoder_merges_last_record_end_with_end_of_file() {
        let mut encoder = RecordEncoder::new();
        let mut out = [0u8; 8];
        assert_eq!(encoder.encode(b"r", &mut out).written, 1);
        assert!(encoder.end_record(&mut out).accepted);
        assert!(encoder.end_record(&mut out).accepted);
        let finish = encoder.finish(&mut out[2..]);
        assert_eq!(&out[..4], b"\xff\x01\xff\x03");
        assert_eq!(
            finish,
            Finish {
                written: 2,
                done: true
            }
        );
    }

    #[test]
    fn decoder_refuses_unknown_escapes_and_truncation() {
        let mut decoder = RecordDecoder::new();
        let mut out = [0u8; 8];
        let step = decoder.decode(b"a\xff\x04", &mut out).unwrap();
        assert_eq!(step.written, 1, "the data before the error comes first");
        assert_eq!(
            decoder.decode(b"", &mut out),
            Err(DecodeError::InvalidRecordEscape { byte: 4 })
        );
        let mut decoder = RecordDecoder::new();
        assert_eq!(decoder.decode(b"a\xff", &mut out).unwrap().consumed, 2);
        assert_eq!(decoder.finish(&mut out), Err(DecodeError::TruncatedEscape));
        let mut decoder = RecordDecoder::new();
        assert_eq!(decoder.decode(b"a", &mut out).unwrap().written, 1);
        assert_eq!(decoder.finish(&mut out), Err(DecodeError::MissingEndOfFile));
    }

    #[test]
    fn decoder_reports_both_ends_of_ff_03() {
        let mut decoder = RecordDecoder::new();
        let mut out = [0u8; 8];
        let first = decoder.decode(b"\xff\x03", &mut out).unwrap();
        assert_eq!(first.event, Some(DataEvent::EndOfRecord));
        let second = decoder.decode(b"", &mut out).unwrap();
        assert_eq!(second.event, Some(DataEvent::EndOfFile));
        assert_eq!(decoder.finish(&mut out), Ok(None));
    }
}
