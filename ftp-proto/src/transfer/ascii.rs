//! TYPE A (non-print) line-end translation between the local form and NVT-ASCII's CRLF
//! (RFC 959 §3.1.1.1).

use memchr::memchr;

use super::{copy_step, DataType, Finish, Step};

const CR: u8 = b'\r';
const LF: u8 = b'\n';

/// How the local system ends a line of text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LineEnding {
    /// `\n` (Unix and friends; the default).
    #[default]
    Lf,
    /// `\r\n`: the wire form already, so TYPE A is a plain copy.
    CrLf,
}

/// Turns local text into TYPE A wire text: each local LF becomes CRLF.
///
/// Guarantees: a CR already followed by LF is sent as it is (never `CR CR LF`), also when the
/// CR ends one input chunk and the LF starts the next; a lone CR is sent as it is; every other
/// byte (0xFF included) passes unchanged. It holds at most one unwritten LF between calls.
#[derive(Clone, Copy, Debug, Default)]
pub struct AsciiEncoder {
    native: LineEnding,
    /// The last byte consumed was a CR.
    after_cr: bool,
    /// A CR of a CRLF pair was written, its LF not yet.
    owe_lf: bool,
}

impl AsciiEncoder {
    /// An encoder for text whose lines end with `native`.
    pub fn new(native: LineEnding) -> Self {
        Self {
            native,
            after_cr: false,
            owe_lf: false,
        }
    }

    /// Translates as much of `input` into `output` as fits.
    pub fn encode(&mut self, input: &[u8], output: &mut [u8]) -> Step {
        match self.native {
            LineEnding::Lf => self.encode_from_lf(input, output),
            LineEnding::CrLf => copy_step(input, output),
        }
    }

    /// Writes what is still owed at the end of the text (at most one LF).
    pub fn finish(&mut self, output: &mut [u8]) -> Finish {
        self.after_cr = false;
        if !self.owe_lf {
            return Finish {
                written: 0,
                done: true,
            };
        }
        match output.first_mut() {
            Some(slot) => {
                *slot = LF;
                self.owe_lf = false;
                Finish {
                    written: 1,
                    done: true,
                }
            }
            None => Finish {
                written: 0,
                done: false,
            },
        }
    }

    fn encode_from_lf(&mut self, input: &[u8], output: &mut [u8]) -> Step {
        let mut step = Step::default();
        if self.owe_lf {
            let Some(slot) = output.first_mut() else {
                return step;
            };
            *slot = LF;
            self.owe_lf = false;
            step.written = 1;
        }
        loop {
            let rest_in = &input[step.consumed..];
            let rest_out = &mut output[step.written..];
            let window = rest_in.len().min(rest_out.len());
            let Some(at) = memchr(LF, &rest_in[..window]) else {
                rest_out[..window].copy_from_slice(&rest_in[..window]);
                if let Some(&last) = rest_in[..window].last() {
                    self.after_cr = last == CR;
                }
                step.consumed += window;
                step.written += window;
                return step;
            };
            // Copy the line, then the LF or CRLF in its place; `at < window` leaves room for
            // at least the first byte.
            rest_out[..at].copy_from_slice(&rest_in[..at]);
            if let Some(&last) = rest_in[..at].last() {
                self.after_cr = last == CR;
            }
            step.consumed += at + 1;
            step.written += at + 1;
            if self.after_cr {
                rest_out[at] = LF;
            } else {
                rest_out[at] = CR;
                match rest_out.get_mut(at + 1) {
                    Some(slot) => *slot = LF,
                    None => {
                        self.owe_lf = true;
                        self.after_cr = false;
                        return step;
                    }
                }
                step.written += 1;
            }
            self.after_cr = false;
        }
    }
}

/// Turns TYPE A wire text into local text: each CRLF becomes the local line end.
///
/// Guarantees: a lone CR and a lone LF pass unchanged, as does every other byte; a CR at the
/// end of an input chunk is held (and counted as consumed) until the next byte shows whether
/// an LF follows, or until [`AsciiDecoder::finish`] writes it out. That CR is all the decoder
/// holds between calls.
#[derive(Clone, Copy, Debug, Default)]
pub struct AsciiDecoder {
    native: LineEnding,
    held_cr: bool,
}

impl AsciiDecoder {
    /// A decoder that writes lines ending with `native`.
    pub fn new(native: LineEnding) -> Self {
        Self {
            native,
            held_cr: false,
        }
    }

    /// Translates as much of `input` into `output` as fits.
    pub fn decode(&mut self, input: &[u8], output: &mut [u8]) -> Step {
        match self.native {
            LineEnding::Lf => self.decode_to_lf(input, output),
            LineEnding::CrLf => copy_step(input, output),
        }
    }

    /// Writes a CR held back at the end of the input (a lone CR ending the text).
    pub fn finish(&mut self, output: &mut [u8]) -> Finish {
        if !self.held_cr {
            return Finish {
                written: 0,
                done: true,
            };
        }
        match output.first_mut() {
            Some(slot) => {
                *slot = CR;
                self.held_cr = false;
                Finish {
                    written: 1,
                    done: true,
                }
            }
            None => Finish {
                written: 0,
                done: false,
            },
        }
    }

    fn decode_to_lf(&mut self, input: &[u8], output: &mut [u8]) -> Step {
        let mut step = Step::default();
        if self.held_cr {
            let (Some(&next), Some(slot)) = (input.first(), output.first_mut()) else {
                return step;
            };
            if next == LF {
                *slot = LF;
                step.consumed = 1;
            } else {
                *slot = CR;
            }
            self.held_cr = false;
            step.written = 1;
        }
        loop {
            let rest_in = &input[step.consumed..];
            let rest_out = &mut output[step.written..];
            let window = rest_in.len().min(rest_out.len());
            let Some(at) = memchr(CR, &rest_in[..window]) else {
                rest_out[..window].copy_from_slice(&rest_in[..window]);
                step.consumed += window;
                step.written += window;
                return step;
            };
            // `at < window`: there is room for the one byte that replaces the CR or CRLF.
            rest_out[..at].copy_from_slice(&rest_in[..at]);
            step.written += at;
            step.consumed += at + 1;
            match rest_in.get(at + 1) {
                Some(&LF) => {
                    rest_out[at] = LF;
                    step.consumed += 1;
                }
                Some(_) => rest_out[at] = CR,
                None => {
                    self.held_cr = true;
                    return step;
                }
            }
            step.written += 1;
        }
    }
}

/// A representation type is not one this module transcodes (a session answers 504).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("TYPE {0} is not implemented")]
pub struct UnsupportedType(pub DataType);

/// The sending side of a representation type: ASCII translation for `A N`/`A T`, a copy for
/// `I` and `L 8`.
#[derive(Clone, Copy, Debug)]
pub struct TypeEncoder {
    ascii: Option<AsciiEncoder>,
}

impl TypeEncoder {
    /// The encoder for `data_type`, with local text lines ending in `native`.
    pub fn new(data_type: DataType, native: LineEnding) -> Result<Self, UnsupportedType> {
        let ascii = match data_type {
            _ if !data_type.is_supported() => return Err(UnsupportedType(data_type)),
            DataType::Ascii(_) => Some(AsciiEncoder::new(native)),
            _ => None,
        };
        Ok(Self { ascii })
    }

    /// Translates (or copies) as much of `input` into `output` as fits.
    pub fn encode(&mut self, input: &[u8], output: &mut [u8]) -> Step {
        match &mut self.ascii {
            Some(ascii) => ascii.encode(input, output),
            None => copy_step(input, output),
        }
    }

    /// Writes what is still owed at the end of the file.
    pub fn finish(&mut self, output: &mut [u8]) -> Finish {
        match &mut self.ascii {
            Some(ascii) => ascii.finish(output),
            None => Finish {
                written: 0,
                done: true,
            },
        }
    }
}

/// The receiving side of a representation type: ASCII translation for `A N`/`A T`, a copy for
/// `I` and `L 8`.
#[derive(Clone, Copy, Debug)]
pub struct TypeDecoder {
    ascii: Option<AsciiDecoder>,
}

impl TypeDecoder {
    /// The decoder for `data_type`, writing local text lines ending in `native`.
    pub fn new(data_type: DataType, native: LineEnding) -> Result<Self, UnsupportedType> {
        let ascii = match data_type {
            _ if !data_type.is_supported() => return Err(UnsupportedType(data_type)),
            DataType::Ascii(_) => Some(AsciiDecoder::new(native)),
            _ => None,
        };
        Ok(Self { ascii })
    }

    /// Translates (or copies) as much of `input` into `output` as fits.
    pub fn decode(&mut self, input: &[u8], output: &mut [u8]) -> Step {
        match &mut self.ascii {
            Some(ascii) => ascii.decode(input, output),
            None => copy_step(input, output),
        }
    }

    /// Writes what is still held at the end of the file.
    pub fn finish(&mut self, output: &mut [u8]) -> Finish {
        match &mut self.ascii {
            Some(ascii) => ascii.finish(output),
            None => Finish {
                written: 0,
                done: true,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoder_owes_lf_when_output_ends_between_cr_and_lf() {
        let mut encoder = AsciiEncoder::default();
        let mut out = [0u8; 2];
        let step = encoder.encode(b"a\nb", &mut out);
        assert_eq!(
            step,
            Step {
                consumed: 2,
                written: 2
            }
        );
        assert_eq!(&out, b"a\r");
        let step = encoder.encode(b"b", &mut out);
        assert_eq!(
            step,
            Step {
                consumed: 1,
                written: 2
            }
        );
        assert_eq!(&out, b"\nb");
    }

    #[test]
    fn encoder_remembers_cr_across_chunks() {
        let mut encoder = AsciiEncoder::default();
        let mut out = [0u8; 8];
        assert_eq!(encoder.encode(b"x\r", &mut out).written, 2);
        let step = encoder.encode(b"\n", &mut out);
        assert_eq!(&out[..step.written], b"\n");
    }

    #[test]
    fn decoder_holds_cr_until_the_next_byte_or_finish() {
        let mut decoder = AsciiDecoder::default();
        let mut out = [0u8; 8];
        assert_eq!(
            decoder.decode(b"a\r", &mut out),
            Step {
                consumed: 2,
                written: 1
            }
        );
        assert_eq!(decoder.decode(b"", &mut out), Step::default());
        let step = decoder.decode(b"b", &mut out);
        assert_eq!(&out[..step.written], b"\rb");
        assert_eq!(decoder.decode(b"\r", &mut out).written, 0);
        let finish = decoder.finish(&mut out);
        assert_eq!(
            (finish, out[0]),
            (
                Finish {
                    written: 1,
                    done: true
                },
                CR
            )
        );
    }

    #[test]
    fn crlf_native_is_a_copy() {
        let mut encoder = AsciiEncoder::new(LineEnding::CrLf);
        let mut decoder = AsciiDecoder::new(LineEnding::CrLf);
        let mut out = [0u8; 8];
        assert_eq!(encoder.encode(b"a\nb\r", &mut out).written, 4);
        assert_eq!(&out[..4], b"a\nb\r");
        assert_eq!(decoder.decode(b"a\r\n\r", &mut out).written, 4);
        assert_eq!(&out[..4], b"a\r\n\r");
    }

    #[test]
    fn type_codecs_refuse_what_they_cannot_translate() {
        use super::super::FormatControl;
        let ebcdic = DataType::Ebcdic(FormatControl::NonPrint);
        assert_eq!(
            TypeEncoder::new(ebcdic, LineEnding::Lf).err(),
            Some(UnsupportedType(ebcdic))
        );
        assert!(TypeDecoder::new(DataType::Local(7), LineEnding::Lf).is_err());
        let mut image = TypeEncoder::new(DataType::Image, LineEnding::Lf).unwrap();
        let mut out = [0u8; 4];
        assert_eq!(image.encode(b"\n\xff", &mut out).written, 2);
        assert_eq!(&out[..2], b"\n\xff");
    }
}
