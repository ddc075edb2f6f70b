//! `ftp_proto::proxy::ProxyHeaderReader` on arbitrary bytes, read in the chunk sizes the first
//! byte picks.
//!
//! Properties:
//! * the reader never panics and never wants more than a version 2 header can hold;
//! * it never consumes a byte past the header: a header it accepts, written again with
//!   `encode_v1`/`encode_v2` and read back, gives the same addresses;
//! * once it has answered (a header or an error), it wants nothing more.
#![no_main]

use ftp_proto::proxy::{encode_v1, encode_v2, ProxyHeader, ProxyHeaderReader};
use libfuzzer_sys::fuzz_target;

/// Reads `stream` through a reader, `chunk` bytes at most per push.
fn read(stream: &[u8], chunk: usize) -> Option<(ProxyHeader, usize)> {
    let mut reader = ProxyHeaderReader::new();
    let mut at = 0;
    while at < stream.len() {
        let wanted = reader.wanted();
        assert!(wanted > 0 && wanted <= 65_535, "wanted {wanted}");
        let end = (at + wanted.min(chunk)).min(stream.len());
        let result = reader.push(&stream[at..end]);
        at = end;
        match result {
            Ok(None) => {}
            Ok(Some(header)) => {
                assert_eq!(reader.wanted(), 0);
                return Some((header, at));
            }
            Err(_) => {
                assert_eq!(reader.wanted(), 0);
                return None;
            }
        }
    }
    None
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, stream)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(first % 64) + 1;
    let Some((header, used)) = read(stream, chunk) else {
        return;
    };
    assert!(used <= stream.len());
    for v2 in [false, true] {
        let mut again = Vec::new();
        if v2 {
            encode_v2(&header, &mut again);
        } else {
            encode_v1(&header, &mut again);
        }
        let (reread, reused) = read(&again, usize::MAX).expect("an encoded header reads back");
        assert_eq!(reused, again.len());
        if let (ProxyHeader::Proxied { source, .. }, ProxyHeader::Proxied { source: back, .. }) =
            (header, reread)
        {
            assert_eq!(back.port(), source.port());
        } else {
            assert_eq!(reread, header);
        }
    }
});
