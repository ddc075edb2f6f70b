//! LIST parsing: every line format, detected or named, line by line and as a whole listing.
//! A Unix entry written again by `LsFormatter` must parse back to the same name, kind, target
//! and device numbers; an MLSx entry written again must parse back to the same facts.
#![no_main]

use bytes::Bytes;
use ftp_proto::listing::{
    parse_list_line, parse_listing, Entry, ListFormat, LsFormatter, MlsxEntry, ParseContext,
    Strictness,
};
use ftp_proto::Timestamp;
use libfuzzer_sys::fuzz_target;

const FORMATS: [Option<ListFormat>; 6] = [
    None,
    Some(ListFormat::Unix),
    Some(ListFormat::Dos),
    Some(ListFormat::Eplf),
    Some(ListFormat::Mlsd),
    Some(ListFormat::Mlst),
];

fuzz_target!(|data: &[u8]| {
    let Ok(now) = Timestamp::new(2024, 3, 15, 12, 0, 0) else {
        return;
    };
    let input = Bytes::copy_from_slice(data);
    for strictness in [Strictness::Strict, Strictness::Lenient] {
        for format in FORMATS {
            let mut ctx = ParseContext::new(now).with_strictness(strictness);
            if let Some(format) = format {
                ctx = ctx.with_format(format);
            }
            if let Ok(entry) = parse_list_line(&input, &ctx) {
                check_entry(&entry, &ctx);
            }
            for entry in parse_listing(input.clone(), ctx).flatten() {
                check_entry(&entry, &ctx);
            }
        }
    }
    for extreme in [(1, 1, 1), (9999, 12, 31)] {
        if let Ok(now) = Timestamp::new(extreme.0, extreme.1, extreme.2, 0, 0, 0) {
            let _ = parse_list_line(&input, &ParseContext::new(now));
        }
    }
});

fn check_entry(entry: &Entry, ctx: &ParseContext) {
    assert!(!entry.name.is_empty());
    match entry.format {
        Some(ListFormat::Unix) => check_ls_round_trip(entry, ctx),
        Some(ListFormat::Mlsd | ListFormat::Mlst) => check_mlsx_round_trip(entry),
        _ => {}
    }
}

fn check_ls_round_trip(entry: &Entry, ctx: &ParseContext) {
    let formatter = LsFormatter::for_entries(ctx.now(), std::slice::from_ref(entry));
    let mut line = Vec::new();
    if formatter.write_entry(entry, &mut line).is_err() {
        return;
    }
    let unix = ctx.with_format(ListFormat::Unix);
    let again = parse_list_line(&Bytes::from(line), &unix).expect("formatted line parses");
    assert_eq!(again.name, entry.name);
    assert_eq!(again.kind, entry.kind);
    assert_eq!(again.link_target, entry.link_target);
    assert_eq!(again.device, entry.device);
    assert_eq!(again.mode, entry.mode);
}

fn check_mlsx_round_trip(entry: &Entry) {
    let mlsx = entry.to_mlsx();
    let mut line = Vec::new();
    if mlsx.write_mlsd_line(&mut line).is_err() {
        return;
    }
    let again = MlsxEntry::parse_mlsd_line(&Bytes::from(line), Strictness::Strict);
    assert_eq!(again, Ok(mlsx));
}
