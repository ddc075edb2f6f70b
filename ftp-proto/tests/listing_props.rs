//! Properties of the listing layer: formatting then parsing gives back what was formatted (MLSx
//! entries with arbitrary facts and byte names; `ls -l` listings from [`LsFormatter`]), and no
//! input makes a parser panic.

use bytes::Bytes;
use ftp_proto::listing::{
    parse_list_line, parse_listing, parse_mlst_reply, Device, Entry, EntryKind, FactType, Facts,
    ListFormat, LsFormatter, MlsxEntry, ParseContext, Perm, PermSet, Principal, Strictness,
    UnixMode,
};
use ftp_proto::Timestamp;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::string::string_regex;

/// `RCHAR` of RFC 3659 as a regex class body.
const RCHAR: &str = r#"a-zA-Z0-9,.:!@#$%^&()_+?/\\'"-"#;

fn token() -> impl Strategy<Value = Bytes> {
    string_regex(&format!("[{RCHAR}]{{1,12}}"))
        .unwrap()
        .prop_map(Bytes::from)
}

fn value() -> impl Strategy<Value = Bytes> {
    string_regex(&format!("[={RCHAR}]{{0,16}}"))
        .unwrap()
        .prop_map(Bytes::from)
}

/// A byte name without CR or LF (anything else, spaces and non-UTF-8 included).
fn name() -> impl Strategy<Value = Bytes> {
    vec(
        any::<u8>().prop_filter("no CR/LF/NUL", |b| !matches!(b, b'\r' | b'\n' | 0)),
        1..24,
    )
    .prop_map(Bytes::from)
}

fn timestamp(years: std::ops::RangeInclusive<u16>) -> impl Strategy<Value = Timestamp> {
    (years, 1u8..=12, 1u8..=31, 0u8..=23, 0u8..=59, 0u8..=60)
        .prop_filter_map("a real date", |(y, mo, d, h, mi, s)| {
            Timestamp::new(y, mo, d, h, mi, s).ok()
        })
}

fn time_val() -> impl Strategy<Value = Timestamp> {
    (timestamp(1000..=9999), 0u8..=9, 0u32..1_000_000_000)
        .prop_map(|(ts, digits, nanos)| ts.with_fraction(nanos, digits).unwrap())
}

fn fact_type() -> impl Strategy<Value = FactType> {
    prop_oneof![
        Just(FactType::File),
        Just(FactType::Dir),
        Just(FactType::Cdir),
        Just(FactType::Pdir),
        ("[a-zA-Z0-9]{1,8}", value()).prop_map(|(os, kind)| FactType::Os {
            os: Bytes::from(os),
            kind
        }),
    ]
}

fn perm_set() -> impl Strategy<Value = PermSet> {
    any::<u16>().prop_map(|bits| {
        Perm::ALL
            .into_iter()
            .enumerate()
            .filter(|(i, _)| bits & (1 << i) != 0)
            .map(|(_, perm)| perm)
            .collect()
    })
}

/// Unregistered facts with distinct names (any case), e.g. `UNIX.mode` or `X.foo`.
fn other_facts() -> impl Strategy<Value = Vec<(Bytes, Bytes)>> {
    let fact = ("(UNIX|X|OS2|unix)\\.[a-zA-Z0-9_-]{1,8}", value())
        .prop_map(|(name, value)| (Bytes::from(name), value));
    vec(fact, 0..5).prop_map(|facts| {
        let mut kept: Vec<(Bytes, Bytes)> = Vec::new();
        for (name, value) in facts {
            if !kept
                .iter()
                .any(|(seen, _)| seen.eq_ignore_ascii_case(&name))
            {
                kept.push((name, value));
            }
        }
        kept
    })
}

fn facts() -> impl Strategy<Value = Facts> {
    let typed = (
        proptest::option::of(fact_type()),
        proptest::option::of(any::<u64>()),
        proptest::option::of(time_val()),
        proptest::option::of(time_val()),
        proptest::option::of(token()),
        proptest::option::of(perm_set()),
    );
    let text = (
        proptest::option::of(token()),
        proptest::option::of("[a-z]{1,11}/[a-zA-Z0-9.+-]{1,16}".prop_map(Bytes::from)),
        proptest::option::of(token()),
        other_facts(),
    );
    (typed, text).prop_map(
        |((kind, size, modify, create, unique, perm), (lang, media, charset, other))| {
            let mut facts = Facts::default();
            facts.kind = kind;
            facts.size = size;
            facts.modify = modify;
            facts.create = create;
            facts.unique = unique;
            facts.perm = perm;
            facts.lang = lang;
            facts.media_type = media;
            facts.charset = charset;
            facts.other = other;
            facts
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn mlsx_format_then_parse_is_identity(facts in facts(), name in name()) {
        let entry = MlsxEntry::new(facts, name);
        for strictness in [Strictness::Strict, Strictness::Lenient] {
            let mut mlsd = Vec::new();
            entry.write_mlsd_line(&mut mlsd).unwrap();
            let parsed = MlsxEntry::parse_mlsd_line(&Bytes::from(mlsd), strictness).unwrap();
            prop_assert_eq!(&parsed, &entry);

            let mut mlst = Vec::new();
            entry.write_mlst_line(&mut mlst).unwrap();
            let parsed = MlsxEntry::parse_mlst_line(&Bytes::from(mlst.clone()), strictness).unwrap();
            prop_assert_eq!(&parsed, &entry);

            // On the control connection the entry travels Telnet-escaped (0xFF doubled).
            let entry_line = Bytes::from(mlst).slice(..mlst_len_without_crlf(&entry));
            let wire = ftp_proto::Reply::multiline(ftp_proto::ReplyCode::FILE_ACTION_OK, [Bytes::from_static(b" Listing"), entry_line, Bytes::from_static(b"End")])
                .to_bytes()
                .unwrap();
            let mut decoder = ftp_proto::reply::ReplyDecoder::default();
            decoder.feed(&wire);
            let reply = decoder.next_reply().unwrap().unwrap();
            let parsed = parse_mlst_reply(&reply, strictness).unwrap();
            prop_assert_eq!(parsed, vec![entry.clone()]);
        }
    }
}

/// The length of the entry's MLST line without its CRLF.
fn mlst_len_without_crlf(entry: &MlsxEntry) -> usize {
    let mut line = Vec::new();
    entry.write_mlst_line(&mut line).unwrap();
    line.len() - 2
}

const KINDS: [EntryKind; 8] = [
    EntryKind::File,
    EntryKind::Dir,
    EntryKind::Symlink,
    EntryKind::CharDevice,
    EntryKind::BlockDevice,
    EntryKind::Fifo,
    EntryKind::Socket,
    EntryKind::Unknown,
];

/// An owner or group column: no blanks, CR or LF.
fn column() -> impl Strategy<Value = Bytes> {
    vec(
        any::<u8>().prop_filter("no blank", |b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n')),
        1..12,
    )
    .prop_map(Bytes::from)
}

fn now() -> Timestamp {
    Timestamp::new(2024, 3, 15, 12, 0, 0).unwrap()
}

/// Times near `now` (to show the time of day) and anywhere in years 1 to 9999.
fn ls_time() -> impl Strategy<Value = Timestamp> {
    let now = now().to_unix_seconds();
    prop_oneof![
        (now - 400 * 86_400..now + 200 * 86_400)
            .prop_map(|secs| Timestamp::from_unix_seconds(secs).unwrap()),
        timestamp(1..=9999),
    ]
}

/// True when the name and target of a symlink line split back at the same ` -> `.
fn symlink_splits_back(name: &[u8], target: Option<&Bytes>) -> bool {
    let mut line = name.to_vec();
    if let Some(target) = target {
        line.extend_from_slice(b" -> ");
        line.extend_from_slice(target);
    }
    let arrow = line.windows(4).position(|w| w == b" -> ");
    arrow == target.map(|_| name.len())
}

fn ls_entry() -> impl Strategy<Value = Entry> {
    let shape = (
        proptest::sample::select(&KINDS[..]),
        name(),
        proptest::option::of(0u16..=0o7777),
        proptest::option::of(any::<u64>()),
        proptest::option::of(column()),
        proptest::option::of(column()),
    );
    let details = (
        proptest::option::of(any::<u64>()),
        proptest::option::of((any::<u32>(), any::<u32>())),
        ls_time(),
        proptest::option::of(name()),
    );
    (shape, details)
        .prop_map(
            |((kind, name, mode, links, owner, group), (size, device, modified, target))| {
                let mut entry = Entry::new(name, kind);
                entry.mode = mode.map(UnixMode::new);
                entry.links = links;
                entry.owner = owner.map(Principal::from);
                entry.group = group.map(Principal::from);
                entry.size = size;
                entry.device = device.map(|(major, minor)| Device { major, minor });
                entry.modified = Some(modified);
                entry.link_target = target;
                entry
            },
        )
        .prop_filter("symlink name and target split back", |entry| {
            entry.kind != EntryKind::Symlink
                || symlink_splits_back(&entry.name, entry.link_target.as_ref())
        })
}

/// What the `ls -l` line of `entry` says, read back: defaults filled in, the time cut to what
/// the line shows.
fn as_listed(entry: &Entry, now: &Timestamp) -> Entry {
    let is_device = matches!(entry.kind, EntryKind::CharDevice | EntryKind::BlockDevice);
    let device = entry.device.filter(|_| is_device);
    let mut expected = Entry::new(entry.name.clone(), entry.kind);
    expected.format = Some(ListFormat::Unix);
    expected.mode = Some(entry.mode.unwrap_or(UnixMode::new(match entry.kind {
        EntryKind::Dir => 0o755,
        EntryKind::Symlink => 0o777,
        _ => 0o644,
    })));
    expected.links = Some(entry.links.unwrap_or(1));
    let ftp = Principal::from("ftp");
    expected.owner = Some(entry.owner.clone().unwrap_or_else(|| ftp.clone()));
    expected.group = Some(entry.group.clone().unwrap_or(ftp));
    expected.device = device;
    expected.size = if device.is_some() {
        None
    } else {
        Some(entry.size.unwrap_or(0))
    };
    expected.link_target = entry
        .link_target
        .clone()
        .filter(|_| entry.kind == EntryKind::Symlink);
    let time = entry.modified.unwrap();
    let minute = Timestamp::new(
        time.year(),
        time.month(),
        time.day(),
        time.hour(),
        time.minute(),
        0,
    )
    .unwrap();
    let age = now.to_unix_seconds() - minute.to_unix_seconds();
    let recent = (0..182 * 86_400).contains(&age);
    expected.modified = Some(if recent {
        minute
    } else {
        Timestamp::new(time.year(), time.month(), time.day(), 0, 0, 0).unwrap()
    });
    expected
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn ls_format_then_parse_is_identity(entries in vec(ls_entry(), 1..8)) {
        let now = now();
        let formatter = LsFormatter::for_entries(now, &entries);
        let mut listing = Vec::new();
        formatter.write_all(&entries, &mut listing).unwrap();
        let parsed: Vec<Entry> = parse_listing(Bytes::from(listing), ParseContext::new(now))
            .collect::<Result<_, _>>()
            .unwrap();
        prop_assert_eq!(parsed.len(), entries.len());
        for (got, entry) in parsed.iter().zip(&entries) {
            let mut got = got.clone();
            got.raw = Bytes::new();
            prop_assert_eq!(got, as_listed(entry, &now));
        }
    }

    #[test]
    fn parsers_never_panic_on_arbitrary_bytes(bytes in vec(any::<u8>(), 0..300)) {
        exercise_every_parser(&bytes);
    }

    #[test]
    fn parsers_never_panic_on_mutated_real_lines(
        base in proptest::sample::select(SAMPLES),
        edits in vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..6),
    ) {
        let mut line = base.to_vec();
        for (at, byte, op) in edits {
            let at = at.index(line.len() + 1);
            match op {
                0 => line.insert(at, byte),
                1 if at < line.len() => line[at] = byte,
                _ if at < line.len() => { line.remove(at); }
                _ => {}
            }
        }
        exercise_every_parser(&line);
    }
}

const SAMPLES: &[&[u8]] = &[
    b"-rw-r--r-- 1 alice staff 1048576 Mar 14 09:30 report.pdf",
    b"lrwxrwxrwx 1 root root 7 Feb 11  2022 bin -> usr/bin",
    b"crw-rw-rw-  1 root  wheel    3,   2 Mar 10 07:41 null",
    b"-rw-r--r-- 1 alice staff 4 2024-03-14 09:30 iso.txt",
    b"03-14-24  02:15PM                 1234 iisstart.htm",
    b"03/14/2024  02:15 PM    <DIR>          Documents",
    b"+i8388621.44468,m839956783,r,s10376,up644,\tRFCEPLF",
    b"modify=20240314093000;perm=adfr;size=12;type=OS.unix=slink:/x;UNIX.mode=0777; latest",
    b" Type=dir;Perm=el;Unique=keVO1+ZF4 test",
];

fn exercise_every_parser(bytes: &[u8]) {
    let line = Bytes::copy_from_slice(bytes);
    let formats = [
        None,
        Some(ListFormat::Unix),
        Some(ListFormat::Dos),
        Some(ListFormat::Eplf),
        Some(ListFormat::Mlsd),
        Some(ListFormat::Mlst),
    ];
    for strictness in [Strictness::Strict, Strictness::Lenient] {
        for format in formats {
            let mut ctx = ParseContext::new(now()).with_strictness(strictness);
            if let Some(format) = format {
                ctx = ctx.with_format(format);
            }
            if let Ok(entry) = parse_list_line(&line, &ctx) {
                assert!(!entry.name.is_empty());
            }
            parse_listing(line.clone(), ctx).for_each(drop);
        }
        let _ = MlsxEntry::parse_mlsd_line(&line, strictness);
        let _ = MlsxEntry::parse_mlst_line(&line, strictness);
        let _ = Facts::parse(&line, strictness);
        let mut decoder = ftp_proto::reply::ReplyDecoder::default();
        decoder.feed(&line);
        decoder.feed(b"\r\n250 End\r\n");
        while let Some(reply) = decoder.next_reply() {
            if let Ok(reply) = reply {
                let _ = parse_mlst_reply(&reply, strictness);
            }
        }
        let _ = PermSet::parse(bytes, strictness);
    }
    let extreme = [
        Timestamp::new(1, 1, 1, 0, 0, 0).unwrap(),
        Timestamp::new(9999, 12, 31, 23, 59, 60).unwrap(),
    ];
    for now in extreme {
        let _ = parse_list_line(&line, &ParseContext::new(now));
    }
}
