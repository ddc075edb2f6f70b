//! The data path's transcoding, shared by every driver: the `ftp_proto::transfer` TYPE and
//! MODE transcoders chained, over fixed-size buffers.
//!
//! Download: wire → MODE S/B/C decoder → TYPE A/I decoder → the application's buffer.
//! Upload: the application's bytes → TYPE encoder → MODE encoder → wire.
//! TYPE I (and L 8) in MODE S is a plain copy, and the drivers skip this module for it
//! ([`Decoder::is_plain`], [`Encoder::is_plain`]).

use ftp_proto::client::TransferParams;
use ftp_proto::transfer::{
    BlockDecoder, BlockEncoder, CompressedDecoder, CompressedEncoder, DataEvent, DataType,
    DecodeError, LineEnding, TransferMode, TypeDecoder, TypeEncoder,
};

/// Bytes held between the two stages of a pipeline.
const MID_LEN: usize = 16 * 1024;

/// Local line ending for TYPE A: what the application reads and writes.
const NATIVE: LineEnding = LineEnding::Lf;

enum ModeDecoder {
    Stream,
    Block(BlockDecoder),
    Compressed(CompressedDecoder),
}

/// Wire bytes → local bytes for one download.
pub(crate) struct Decoder {
    mode: ModeDecoder,
    data_type: TypeDecoder,
    plain: bool,
    mid: Box<[u8]>,
    mid_start: usize,
    mid_end: usize,
    /// The MODE B/C end-of-file mark was read: what follows is not this file.
    end_of_file: bool,
    /// `finish` has run the MODE decoder's end.
    mode_finished: bool,
}

/// TYPE I unless the TYPE is ASCII (TYPE L 8 is a copy too); unsupported types never reach a
/// driver (the session refuses them), and fall back to a copy here.
fn type_decoder(data_type: DataType) -> TypeDecoder {
    TypeDecoder::new(data_type, NATIVE).unwrap_or_else(|_| {
        TypeDecoder::new(DataType::Image, NATIVE).expect("TYPE I is always supported")
    })
}

fn type_encoder(data_type: DataType) -> TypeEncoder {
    TypeEncoder::new(data_type, NATIVE).unwrap_or_else(|_| {
        TypeEncoder::new(DataType::Image, NATIVE).expect("TYPE I is always supported")
    })
}

fn is_copy(params: TransferParams) -> bool {
    params.mode == TransferMode::Stream
        && matches!(params.data_type, DataType::Image | DataType::Local(8))
}

impl Decoder {
    pub(crate) fn new(params: TransferParams) -> Self {
        let mode = match params.mode {
            TransferMode::Block => ModeDecoder::Block(BlockDecoder::new()),
            TransferMode::Compressed => {
                ModeDecoder::Compressed(CompressedDecoder::new(params.data_type))
            }
            _ => ModeDecoder::Stream,
        };
        let plain = is_copy(params);
        Self {
            mode,
            data_type: type_decoder(params.data_type),
            plain,
            mid: if plain {
                Box::default()
            } else {
                vec![0; MID_LEN].into_boxed_slice()
            },
            mid_start: 0,
            mid_end: 0,
            end_of_file: false,
            mode_finished: false,
        }
    }

    /// True when wire bytes are the local bytes (TYPE I, MODE S): no decoding needed.
    pub(crate) fn is_plain(&self) -> bool {
        self.plain
    }

    /// True once the MODE B/C end-of-file mark was read: the file is complete (the sender may
    /// keep the connection open), and later input is not part of it.
    pub(crate) fn at_end_of_file(&self) -> bool {
        self.end_of_file
    }

    /// Decodes as much of `input` as fits into `out`: `(consumed, written)`. Input after a
    /// MODE B/C end-of-file mark is consumed and dropped.
    pub(crate) fn decode(
        &mut self,
        input: &[u8],
        out: &mut [u8],
    ) -> Result<(usize, usize), DecodeError> {
        let (mut consumed, mut written) = (0, 0);
        loop {
            written += self.drain_mid(&mut out[written..]);
            if self.mid_start < self.mid_end || written == out.len() {
                return Ok((consumed, written));
            }
            if self.end_of_file {
                return Ok((input.len(), written));
            }
            if consumed == input.len() {
                return Ok((consumed, written));
            }
            let rest = &input[consumed..];
            let step = match &mut self.mode {
                ModeDecoder::Stream => {
                    let step = self.data_type.decode(rest, &mut out[written..]);
                    if step.consumed == 0 && step.written == 0 {
                        return Ok((consumed, written));
                    }
                    consumed += step.consumed;
                    written += step.written;
                    continue;
                }
                ModeDecoder::Block(d) => d.decode(rest, &mut self.mid)?,
                ModeDecoder::Compressed(d) => d.decode(rest, &mut self.mid)?,
            };
            if !step.made_progress() {
                return Ok((consumed, written));
            }
            consumed += step.consumed;
            self.mid_start = 0;
            self.mid_end = step.written;
            // Restart markers, suspect flags and record ends carry nothing for a byte stream.
            if step.event == Some(DataEvent::EndOfFile) {
                self.end_of_file = true;
            }
        }
    }

    /// The input ended: writes what the decoders still hold. Returns `(written, done)`; call
    /// again while not done. A MODE B/C stream that ended without its end-of-file mark (or
    /// inside a block) is an error: the transfer was cut short.
    pub(crate) fn finish(&mut self, out: &mut [u8]) -> Result<(usize, bool), DecodeError> {
        let mut written = 0;
        loop {
            written += self.drain_mid(&mut out[written..]);
            if self.mid_start < self.mid_end {
                return Ok((written, false));
            }
            if !self.mode_finished {
                let step = match &mut self.mode {
                    ModeDecoder::Stream => None,
                    _ if self.end_of_file => None,
                    ModeDecoder::Block(d) => d.finish(&mut self.mid)?,
                    ModeDecoder::Compressed(d) => d.finish(&mut self.mid)?,
                };
                match step {
                    Some(step) => {
                        self.mid_start = 0;
                        self.mid_end = step.written;
                        if step.event == Some(DataEvent::EndOfFile) {
                            self.end_of_file = true;
                        }
                        continue;
                    }
                    None => self.mode_finished = true,
                }
            }
            let finish = self.data_type.finish(&mut out[written..]);
            written += finish.written;
            return Ok((written, finish.done));
        }
    }

    /// Moves held MODE output through the TYPE decoder into `out`.
    fn drain_mid(&mut self, out: &mut [u8]) -> usize {
        let mut written = 0;
        while self.mid_start < self.mid_end && written < out.len() {
            let step = self
                .data_type
                .decode(&self.mid[self.mid_start..self.mid_end], &mut out[written..]);
            if step.consumed == 0 && step.written == 0 {
                break;
            }
            self.mid_start += step.consumed;
            written += step.written;
        }
        written
    }
}

enum ModeEncoder {
    Stream,
    Block(BlockEncoder),
    Compressed(Box<CompressedEncoder>),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Finishing {
    No,
    Type,
    Mode,
    Done,
}

/// Local bytes → wire bytes for one upload.
pub(crate) struct Encoder {
    mode: ModeEncoder,
    data_type: TypeEncoder,
    plain: bool,
    mid: Box<[u8]>,
    mid_start: usize,
    mid_end: usize,
    finishing: Finishing,
}

impl Encoder {
    pub(crate) fn new(params: TransferParams) -> Self {
        let mode = match params.mode {
            TransferMode::Block => ModeEncoder::Block(BlockEncoder::new()),
            TransferMode::Compressed => {
                ModeEncoder::Compressed(Box::new(CompressedEncoder::new(params.data_type)))
            }
            _ => ModeEncoder::Stream,
        };
        let plain = is_copy(params);
        Self {
            mode,
            data_type: type_encoder(params.data_type),
            plain,
            mid: if plain {
                Box::default()
            } else {
                vec![0; MID_LEN].into_boxed_slice()
            },
            mid_start: 0,
            mid_end: 0,
            finishing: Finishing::No,
        }
    }

    /// True when local bytes are the wire bytes (TYPE I, MODE S): no encoding needed.
    pub(crate) fn is_plain(&self) -> bool {
        self.plain
    }

    /// Encodes as much of `input` as fits into `out`: `(consumed, written)`.
    pub(crate) fn encode(&mut self, input: &[u8], out: &mut [u8]) -> (usize, usize) {
        let (mut consumed, mut written) = (0, 0);
        loop {
            written += self.drain_mid(&mut out[written..]);
            if self.mid_start < self.mid_end || written == out.len() || consumed == input.len() {
                return (consumed, written);
            }
            let rest = &input[consumed..];
            if let ModeEncoder::Stream = self.mode {
                let step = self.data_type.encode(rest, &mut out[written..]);
                if step.consumed == 0 && step.written == 0 {
                    return (consumed, written);
                }
                consumed += step.consumed;
                written += step.written;
                continue;
            }
            let step = self.data_type.encode(rest, &mut self.mid);
            if step.consumed == 0 && step.written == 0 {
                return (consumed, written);
            }
            consumed += step.consumed;
            self.mid_start = 0;
            self.mid_end = step.written;
        }
    }

    /// The input ended: writes the encoders' tails (a pending CR, the MODE B/C end-of-file
    /// block). Returns `(written, done)`; call again while not done.
    pub(crate) fn finish(&mut self, out: &mut [u8]) -> (usize, bool) {
        let mut written = 0;
        if self.finishing == Finishing::No {
            self.finishing = Finishing::Type;
        }
        loop {
            written += self.drain_mid(&mut out[written..]);
            if self.mid_start < self.mid_end {
                return (written, false);
            }
            match self.finishing {
                Finishing::Type => {
                    let finish = match self.mode {
                        ModeEncoder::Stream => {
                            let f = self.data_type.finish(&mut out[written..]);
                            written += f.written;
                            f
                        }
                        _ => {
                            let f = self.data_type.finish(&mut self.mid);
                            self.mid_start = 0;
                            self.mid_end = f.written;
                            f
                        }
                    };
                    if finish.done {
                        self.finishing = Finishing::Mode;
                    } else if written == out.len() {
                        return (written, false);
                    }
                }
                Finishing::Mode => {
                    let finish = match &mut self.mode {
                        ModeEncoder::Stream => ftp_proto::transfer::Finish {
                            written: 0,
                            done: true,
                        },
                        ModeEncoder::Block(e) => e.finish(&mut out[written..]),
                        ModeEncoder::Compressed(e) => e.finish(&mut out[written..]),
                    };
                    written += finish.written;
                    if !finish.done {
                        return (written, false);
                    }
                    self.finishing = Finishing::Done;
                }
                Finishing::Done | Finishing::No => return (written, true),
            }
        }
    }

    fn drain_mid(&mut self, out: &mut [u8]) -> usize {
        let mut written = 0;
        while self.mid_start < self.mid_end && written < out.len() {
            let step = match &mut self.mode {
                ModeEncoder::Stream => {
                    let n = (self.mid_end - self.mid_start).min(out.len() - written);
                    out[written..written + n]
                        .copy_from_slice(&self.mid[self.mid_start..self.mid_start + n]);
                    ftp_proto::transfer::Step {
                        consumed: n,
                        written: n,
                    }
                }
                ModeEncoder::Block(e) => {
                    e.encode(&self.mid[self.mid_start..self.mid_end], &mut out[written..])
                }
                ModeEncoder::Compressed(e) => {
                    e.encode(&self.mid[self.mid_start..self.mid_end], &mut out[written..])
                }
            };
            if step.consumed == 0 && step.written == 0 {
                break;
            }
            self.mid_start += step.consumed;
            written += step.written;
        }
        written
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ftp_proto::transfer::{FileStructure, FormatControl};

    fn params(data_type: DataType, mode: TransferMode) -> TransferParams {
        TransferParams {
            data_type,
            mode,
            structure: FileStructure::File,
        }
    }

    fn encode_all(params: TransferParams, input: &[u8], chunk: usize, room: usize) -> Vec<u8> {
        let mut enc = Encoder::new(params);
        let mut out = vec![0; room];
        let mut wire = Vec::new();
        for piece in input.chunks(chunk.max(1)) {
            let mut rest = piece;
            while !rest.is_empty() {
                let (c, w) = enc.encode(rest, &mut out);
                wire.extend_from_slice(&out[..w]);
                rest = &rest[c..];
            }
        }
        loop {
            let (w, done) = enc.finish(&mut out);
            wire.extend_from_slice(&out[..w]);
            if done {
                break;
            }
        }
        wire
    }

    fn decode_all(params: TransferParams, wire: &[u8], chunk: usize, room: usize) -> Vec<u8> {
        let mut dec = Decoder::new(params);
        let mut out = vec![0; room];
        let mut local = Vec::new();
        for piece in wire.chunks(chunk.max(1)) {
            let mut rest = piece;
            while !rest.is_empty() {
                let (c, w) = dec.decode(rest, &mut out).unwrap();
                local.extend_from_slice(&out[..w]);
                rest = &rest[c..];
                assert!(c > 0 || w > 0, "no progress");
            }
        }
        loop {
            let (w, done) = dec.finish(&mut out).unwrap();
            local.extend_from_slice(&out[..w]);
            if done {
                break;
            }
        }
        local
    }

    #[test]
    fn round_trips_every_type_and_mode_in_small_pieces() {
        let text: Vec<u8> = (0..5000u32)
            .flat_map(|i| format!("line {i}\n").into_bytes())
            .chain([b'\r', b'x', 0xFF, 0])
            .collect();
        let ascii = DataType::Ascii(FormatControl::NonPrint);
        for data_type in [ascii, DataType::Image] {
            for mode in [
                TransferMode::Stream,
                TransferMode::Block,
                TransferMode::Compressed,
            ] {
                let p = params(data_type, mode);
                for (chunk, room) in [(1, 7), (13, 64), (4096, 70_000), (100_000, 5)] {
                    let wire = encode_all(p, &text, chunk, room);
                    if data_type == ascii {
                        assert!(wire.windows(2).any(|w| w == b"\r\n"));
                    }
                    let back = decode_all(p, &wire, chunk, room);
                    assert_eq!(back, text, "{data_type:?} {mode:?} {chunk} {room}");
                }
            }
        }
    }

    #[test]
    fn block_mode_cut_short_is_an_error() {
        let p = params(DataType::Image, TransferMode::Block);
        let wire = encode_all(p, b"hello world", 100, 100);
        let cut = &wire[..wire.len() - 3];
        let mut dec = Decoder::new(p);
        let mut out = [0u8; 64];
        let (c, _) = dec.decode(cut, &mut out).unwrap();
        assert_eq!(c, cut.len());
        let mut result = dec.finish(&mut out);
        while let Ok((_, false)) = result {
            result = dec.finish(&mut out);
        }
        assert!(result.is_err());
    }
}
