//! MLSx parsing: MLSD lines, MLST entry lines, fact lists and whole MLST replies, strict and
//! lenient. Whatever parses and can be written again must parse back to the same entry.
#![no_main]

use bytes::Bytes;
use ftp_proto::listing::{parse_mlst_reply, Facts, MlsxEntry, PermSet, Strictness};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let input = Bytes::copy_from_slice(data);
    for strictness in [Strictness::Strict, Strictness::Lenient] {
        if let Ok(entry) = MlsxEntry::parse_mlsd_line(&input, strictness) {
            assert!(!entry.name.is_empty());
            check_round_trip(&entry);
        }
        if let Ok(entry) = MlsxEntry::parse_mlst_line(&input, strictness) {
            check_round_trip(&entry);
        }
        if let Ok(facts) = Facts::parse(&input, strictness) {
            let mut out = Vec::new();
            if facts.write_to(&mut out).is_ok() {
                let again = Facts::parse(&Bytes::from(out), Strictness::Strict);
                assert_eq!(again.as_ref(), Ok(&facts));
            }
        }
        let mut decoder = ftp_proto::reply::ReplyDecoder::default();
        decoder.feed(&input);
        while let Some(reply) = decoder.next_reply() {
            if let Ok(Ok(entries)) = reply.map(|r| parse_mlst_reply(&r, strictness)) {
                assert!(!entries.is_empty(), "an accepted MLST reply has an entry");
            }
        }
        let _ = PermSet::parse(data, strictness);
    }
});

/// If `entry` can be written, both written forms parse back to it, strictly and leniently.
fn check_round_trip(entry: &MlsxEntry) {
    let mut mlsd = Vec::new();
    if entry.write_mlsd_line(&mut mlsd).is_err() {
        assert!(mlsd.is_empty(), "nothing is written on error");
        return;
    }
    let mut mlst = Vec::new();
    entry
        .write_mlst_line(&mut mlst)
        .expect("MLST writes what MLSD writes");
    let (mlsd, mlst) = (Bytes::from(mlsd), Bytes::from(mlst));
    for strictness in [Strictness::Strict, Strictness::Lenient] {
        assert_eq!(
            MlsxEntry::parse_mlsd_line(&mlsd, strictness).as_ref(),
            Ok(entry)
        );
        assert_eq!(
            MlsxEntry::parse_mlst_line(&mlst, strictness).as_ref(),
            Ok(entry)
        );
    }
}
