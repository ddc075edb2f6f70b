//! MODE B, block mode (RFC 959 §3.4.2): blocks of a 3-byte header (descriptor, 16-bit count,
//! most significant byte first) and `count` data bytes.

use super::descriptor::{END_OF_FILE, END_OF_RECORD, RESTART_MARKER, SUSPECT};
use super::marker::{self, MarkerBuilder};
use super::stage::Stage;
use super::{ControlStep, DecodeError, DecodeStep, Finish, PendingEvents, RestartMarker, Step};

/// The most data bytes one block carries (the count field is 16 bits).
pub const MAX_BLOCK_LEN: usize = 0xFFFF;

const HEADER_LEN: usize = 3;
/// The largest data block staged when the output has no room for a header and a data byte.
const STAGED_DATA_LEN: usize = 64;
/// A held end-of-record header, then a restart-marker block (or a small staged data block).
const STAGE_LEN: usize = HEADER_LEN + HEADER_LEN + RestartMarker::MAX_LEN;

fn header(descriptor: u8, count: usize) -> [u8; HEADER_LEN] {
    let [high, low] = (count.min(MAX_BLOCK_LEN) as u16).to_be_bytes();
    [descriptor, high, low]
}

/// Frames data into MODE B blocks, with end-of-record, end-of-file and restart-marker blocks.
///
/// Guarantees: every block carries 1 to [`MAX_BLOCK_LEN`] data bytes, or none for a control
/// block; unassigned descriptor bits are zero. An end of record is sent as an empty block with
/// descriptor 0x80, merged into the end-of-file block (0xC0) when nothing comes between them.
/// When the output has room for a header and at least one byte, data goes straight from input
/// to output; with less room, a block of at most 64 bytes is staged inside the encoder.
#[derive(Clone, Copy, Debug)]
pub struct BlockEncoder {
    stage: Stage<STAGE_LEN>,
    end_of_record_pending: bool,
    end_of_file_queued: bool,
}

impl Default for BlockEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl BlockEncoder {
    /// An encoder at the start of a file.
    pub const fn new() -> Self {
        Self {
            stage: Stage::new(),
            end_of_record_pending: false,
            end_of_file_queued: false,
        }
    }

    /// Frames as much of `input` as fits into `output`.
    pub fn encode(&mut self, input: &[u8], output: &mut [u8]) -> Step {
        let mut step = Step {
            consumed: 0,
            written: self.stage.flush(output),
        };
        if !self.stage.is_empty() || input.is_empty() {
            return step;
        }
        if core::mem::take(&mut self.end_of_record_pending) {
            self.stage.push(&header(END_OF_RECORD, 0));
            step.written += self.stage.flush(&mut output[step.written..]);
            if !self.stage.is_empty() {
                return step;
            }
        }
        while step.consumed < input.len() && step.written < output.len() {
            let rest_in = &input[step.consumed..];
            let rest_out = &mut output[step.written..];
            if rest_out.len() > HEADER_LEN {
                let len = rest_in
                    .len()
                    .min(rest_out.len() - HEADER_LEN)
                    .min(MAX_BLOCK_LEN);
                rest_out[..HEADER_LEN].copy_from_slice(&header(0, len));
                rest_out[HEADER_LEN..HEADER_LEN + len].copy_from_slice(&rest_in[..len]);
                step.consumed += len;
                step.written += HEADER_LEN + len;
            } else {
                let len = rest_in.len().min(STAGED_DATA_LEN);
                self.stage.push(&header(0, len));
                self.stage.push(&rest_in[..len]);
                step.consumed += len;
                step.written += self.stage.flush(rest_out);
            }
        }
        step
    }

    /// Ends the current record (STRU R). The mark is held until the next data, control item or
    /// [`BlockEncoder::finish`], so that the last record's end can share the end-of-file block.
    pub fn end_record(&mut self, output: &mut [u8]) -> ControlStep {
        let written = self.stage.flush(output);
        if !self.stage.is_empty() {
            return ControlStep {
                written,
                accepted: false,
            };
        }
        if self.end_of_record_pending {
            self.stage.push(&header(END_OF_RECORD, 0));
        }
        self.end_of_record_pending = true;
        ControlStep {
            written: written + self.stage.flush(&mut output[written..]),
            accepted: true,
        }
    }

    /// Sends `marker` in a restart-marker block (descriptor 0x10) after the data so far.
    pub fn restart_marker(&mut self, marker: &RestartMarker, output: &mut [u8]) -> ControlStep {
        let written = self.stage.flush(output);
        if !self.stage.is_empty() {
            return ControlStep {
                written,
                accepted: false,
            };
        }
        if core::mem::take(&mut self.end_of_record_pending) {
            self.stage.push(&header(END_OF_RECORD, 0));
        }
        self.stage.push(&header(RESTART_MARKER, marker.len()));
        self.stage.push(marker.as_bytes());
        ControlStep {
            written: written + self.stage.flush(&mut output[written..]),
            accepted: true,
        }
    }

    /// Ends the file with an end-of-file block (0x40, or 0xC0 after [`BlockEncoder::end_record`]).
    /// Call until `done`; the encoder is then ready for another file on the same connection.
    pub fn finish(&mut self, output: &mut [u8]) -> Finish {
        super::finish_encoding(self, output)
    }
}

/// Where the decoder is inside the current block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BlockState {
    /// Collecting a header; `have` bytes of it so far.
    Header { have: u8 },
    /// Copying a data block's bytes.
    Data { descriptor: u8, remaining: u16 },
    /// Collecting a restart marker block's bytes.
    Marker { descriptor: u8, remaining: u16 },
}

/// Unframes MODE B blocks, reporting end of record, end of file, suspect data and restart
/// markers as [`super::DataEvent`]s.
///
/// Guarantees: data bytes are copied from input to output with nothing in between; between
/// calls the decoder holds at most a partial header (2 bytes) and a restart marker
/// ([`RestartMarker::MAX_LEN`] bytes). A marker block longer than that, empty, or holding
/// anything but printable non-space ASCII is an error. Events of one block are reported in
/// this order: `Suspect` before its data; then `RestartMarker`, `EndOfRecord`, `EndOfFile`.
/// Unassigned descriptor bits are ignored. After an end of file, the decoder reads the next
/// file's blocks, if any.
#[derive(Clone, Copy, Debug)]
pub struct BlockDecoder {
    state: BlockState,
    header: [u8; HEADER_LEN],
    marker: MarkerBuilder,
    pending: PendingEvents,
    /// True until the first end of file, and again once a block follows it.
    open_file: bool,
    failed: Option<DecodeError>,
}

impl Default for BlockDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl BlockDecoder {
    /// A decoder at the start of a stream.
    pub const fn new() -> Self {
        Self {
            state: BlockState::Header { have: 0 },
            header: [0; HEADER_LEN],
            marker: MarkerBuilder::new(),
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
    /// to be reported, `Ok(None)` once the stream is complete, or an error if it ended inside a
    /// block ([`DecodeError::TruncatedBlock`]) or without an end of file
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
            match self.state {
                BlockState::Header { have } => {
                    let have = usize::from(have);
                    let take = (HEADER_LEN - have).min(rest_in.len());
                    if take == 0 {
                        return Ok(());
                    }
                    self.header[have..have + take].copy_from_slice(&rest_in[..take]);
                    step.consumed += take;
                    if have + take < HEADER_LEN {
                        self.state = BlockState::Header {
                            have: (have + take) as u8,
                        };
                        return Ok(());
                    }
                    self.start_block()?;
                }
                BlockState::Data {
                    descriptor,
                    remaining,
                } => {
                    let rest_out = &mut output[step.written..];
                    let len = usize::from(remaining)
                        .min(rest_in.len())
                        .min(rest_out.len());
                    if len == 0 && remaining > 0 {
                        return Ok(());
                    }
                    rest_out[..len].copy_from_slice(&rest_in[..len]);
                    step.consumed += len;
                    step.written += len;
                    let remaining = remaining - len as u16;
                    self.state = BlockState::Data {
                        descriptor,
                        remaining,
                    };
                    if remaining == 0 {
                        self.end_block(descriptor);
                    }
                }
                BlockState::Marker {
                    descriptor,
                    remaining,
                } => {
                    let len = usize::from(remaining).min(rest_in.len());
                    if len == 0 {
                        return Ok(());
                    }
                    self.marker.extend(&rest_in[..len]);
                    step.consumed += len;
                    let remaining = remaining - len as u16;
                    self.state = BlockState::Marker {
                        descriptor,
                        remaining,
                    };
                    if remaining == 0 {
                        self.pending.push_marker(self.marker.build()?);
                        self.end_block(descriptor);
                    }
                }
            }
        }
    }

    /// Acts on a complete header.
    fn start_block(&mut self) -> Result<(), DecodeError> {
        let [descriptor, high, low] = self.header;
        let count = u16::from_be_bytes([high, low]);
        self.open_file = true;
        if descriptor & RESTART_MARKER != 0 {
            marker::check_len(usize::from(count))?;
            self.marker.clear();
            self.state = BlockState::Marker {
                descriptor,
                remaining: count,
            };
            return Ok(());
        }
        if descriptor & SUSPECT != 0 {
            self.pending.push_suspect(count);
        }
        self.state = BlockState::Data {
            descriptor,
            remaining: count,
        };
        if count == 0 {
            self.end_block(descriptor);
        }
        Ok(())
    }

    /// Queues the events that follow a block's last byte and expects the next header.
    fn end_block(&mut self, descriptor: u8) {
        self.pending.push_ends(descriptor);
        if descriptor & END_OF_FILE != 0 {
            self.open_file = false;
        }
        self.state = BlockState::Header { have: 0 };
    }
}

impl super::EventDecoder for BlockDecoder {
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
            BlockState::Header { have: 0 } if !self.open_file => super::EndOfInput::Complete,
            BlockState::Header { have: 0 } => {
                super::EndOfInput::Truncated(DecodeError::MissingEndOfFile)
            }
            _ => super::EndOfInput::Truncated(DecodeError::TruncatedBlock),
        }
    }
}

impl super::MarkedEncoder<STAGE_LEN> for BlockEncoder {
    fn stage(&mut self) -> &mut Stage<STAGE_LEN> {
        &mut self.stage
    }

    fn end_of_file_queued(&mut self) -> &mut bool {
        &mut self.end_of_file_queued
    }

    fn queue_end_of_file(&mut self) {
        let record = if core::mem::take(&mut self.end_of_record_pending) {
            END_OF_RECORD
        } else {
            0
        };
        self.stage.push(&header(END_OF_FILE | record, 0));
    }
}

#[cfg(test)]
mod tests {
    use super::super::DataEvent;
    use super::*;

    #[test]
    fn encoder_frames_data_into_blocks_that_fit_the_output() {
        let mut encoder = BlockEncoder::new();
        let mut out = [0u8; 16];
        let step = encoder.encode(b"hello", &mut out);
        assert_eq!(
            step,
            Step {
                consumed: 5,
                written: 8
            }
        );
        assert_eq!(&out[..8], b"\x00\x00\x05hello");
        let control = encoder.end_record(&mut out);
        assert_eq!(
            control,
            ControlStep {
                written: 0,
                accepted: true
            }
        );
        let finish = encoder.finish(&mut out);
        assert_eq!(
            finish,
            Finish {
                written: 3,
                done: true
            }
        );
        assert_eq!(&out[..3], b"\xc0\x00\x00");
    }

    #[test]
    fn encoder_splits_at_the_block_limit() {
        let mut encoder = BlockEncoder::new();
        let input = vec![7u8; MAX_BLOCK_LEN + 10];
        let mut out = vec![0u8; MAX_BLOCK_LEN + 100];
        let step = encoder.encode(&input, &mut out);
        assert_eq!(step.consumed, MAX_BLOCK_LEN + 10);
        assert_eq!(step.written, MAX_BLOCK_LEN + 10 + 2 * HEADER_LEN);
        assert_eq!(&out[..3], b"\x00\xff\xff");
        let second = HEADER_LEN + MAX_BLOCK_LEN;
        assert_eq!(&out[second..second + 3], b"\x00\x00\x0a");
    }

    #[test]
    fn encoder_sends_restart_marker_blocks() {
        let mut encoder = BlockEncoder::new();
        let mut out = [0u8; 16];
        let marker = RestartMarker::new(b"R00042").unwrap();
        let control = encoder.restart_marker(&marker, &mut out);
        assert_eq!(control.written, 9);
        assert_eq!(&out[..9], b"\x10\x00\x06R00042");
    }

    #[test]
    fn decoder_refuses_oversized_and_empty_markers() {
        let mut decoder = BlockDecoder::new();
        let mut out = [0u8; 4];
        assert!(matches!(
            decoder.decode(b"\x10\x01\x00", &mut out),
            Err(DecodeError::RestartMarker(
                super::super::RestartMarkerError::TooLong { len: 256 }
            ))
        ));
        assert!(decoder.decode(b"", &mut out).is_err(), "errors are sticky");
        let mut decoder = BlockDecoder::new();
        assert!(decoder.decode(b"\x10\x00\x00", &mut out).is_err());
    }

    #[test]
    fn decoder_ignores_unassigned_descriptor_bits() {
        let mut decoder = BlockDecoder::new();
        let mut out = [0u8; 4];
        let step = decoder.decode(b"\x4f\x00\x01z", &mut out).unwrap();
        assert_eq!(step.written, 1);
        assert_eq!(step.event, Some(DataEvent::EndOfFile));
        assert_eq!(decoder.finish(&mut out), Ok(None));
    }
}
