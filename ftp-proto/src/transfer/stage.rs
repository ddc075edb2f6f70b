//! A small fixed buffer of encoded bytes waiting for output room.

/// Bytes an encoder has produced but not yet written, at most `N`.
///
/// Encoders only push into an empty stage, and `N` is sized for the largest group of units one
/// push sequence can produce, so the stage never overflows.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stage<const N: usize> {
    buf: [u8; N],
    start: usize,
    end: usize,
}

impl<const N: usize> Stage<N> {
    /// An empty stage.
    pub(crate) const fn new() -> Self {
        Self {
            buf: [0; N],
            start: 0,
            end: 0,
        }
    }

    /// True when nothing waits.
    pub(crate) fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Appends `bytes`. The callers' size bounds make this fit; should one be wrong, the
    /// bytes that do not fit are dropped in release builds rather than panicking.
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        debug_assert!(bytes.len() <= N - self.end, "stage overflow");
        let n = bytes.len().min(N - self.end);
        self.buf[self.end..self.end + n].copy_from_slice(&bytes[..n]);
        self.end += n;
    }

    /// Writes as much as fits into `output`; returns how many bytes were written.
    pub(crate) fn flush(&mut self, output: &mut [u8]) -> usize {
        let n = (self.end - self.start).min(output.len());
        output[..n].copy_from_slice(&self.buf[self.start..self.start + n]);
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        n
    }
}
