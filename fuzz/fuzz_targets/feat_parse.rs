//! Features::from_reply on replies decoded from arbitrary bytes, and on a 211 reply built
//! directly from the input's LF-separated lines.
//!
//! Properties:
//! * `advertised` is true exactly for 211 replies; an unadvertised set answers every query with
//!   "not listed";
//! * labels are non-empty, upper-cased and free of spaces; parameters are non-empty and carry no
//!   trailing whitespace; every label can be looked up;
//! * every query runs without panicking; the `;`-lists (MLST facts, HASH algorithms, LANG tags)
//!   format and parse back to the same items; AUTH mechanisms are non-empty words;
//! * `to_reply()` then `from_reply` gives the same features, also through the wire
//!   (`encode_with(.., CrEncoding::EscapeAsCrNul)` and a strict `ReplyDecoder`).
#![no_main]

use ftp_proto::feat::{format_listed_items, parse_listed_items, Features};
use ftp_proto::line::CrEncoding;
use ftp_proto::reply::{ReplyConfig, ReplyDecoder};
use ftp_proto::{Reply, ReplyCode};
use libfuzzer_sys::fuzz_target;

const LABELS: [&str; 14] = [
    "SIZE", "MDTM", "REST", "UTF8", "MLST", "HASH", "LANG", "AUTH", "TVFS", "EPSV", "MFMT", "PROT",
    "PBSZ", "",
];

fn decode_all(config: ReplyConfig, wire: &[u8]) -> Vec<Reply> {
    let mut decoder = ReplyDecoder::new(config);
    decoder.feed(wire);
    std::iter::from_fn(|| decoder.next_reply())
        .filter_map(Result::ok)
        .collect()
}

fn check(reply: &Reply) {
    let features = Features::from_reply(reply);
    assert_eq!(
        features.advertised(),
        reply.code() == ReplyCode::SYSTEM_STATUS
    );

    for feature in features.iter() {
        let label = &feature.label;
        assert!(!label.is_empty() && !label.contains(&b' '));
        assert_eq!(label.to_ascii_uppercase(), label.to_vec());
        if let Some(params) = &feature.params {
            assert!(!params.is_empty());
            assert!(!params.last().is_some_and(u8::is_ascii_whitespace));
        }
        if let Ok(name) = std::str::from_utf8(label) {
            assert!(features.has(name) && features.has(&name.to_ascii_lowercase()));
            assert!(features.get(name).is_some());
        }
    }
    for label in LABELS {
        let found = features.get(label);
        assert_eq!(found.is_some(), features.has(label));
        if !features.advertised() {
            assert!(found.is_none());
        }
    }
    let _ = features.has_with("REST", "STREAM");
    let _ = features.rest_stream();
    let _ = features.utf8();
    for list in [
        features.mlst_facts(),
        features.hash_algorithms(),
        features.languages(),
    ]
    .into_iter()
    .flatten()
    {
        let formatted = format_listed_items(&list);
        assert_eq!(parse_listed_items(&formatted), list);
    }
    for mechanism in features.auth_mechanisms() {
        assert!(!mechanism.is_empty());
        assert!(!mechanism.contains(&b' ') && !mechanism.contains(&b';'));
    }

    if !features.advertised() {
        assert_eq!(features.iter().count(), 0);
        return;
    }
    let written = features.to_reply();
    assert_eq!(
        Features::from_reply(&written),
        features,
        "to_reply round trip"
    );

    // `bytes` is not a dependency of this crate: the buffer's type is inferred from the call.
    let mut wire = Default::default();
    if written
        .encode_with(&mut wire, CrEncoding::EscapeAsCrNul)
        .is_ok()
    {
        let config = ReplyConfig {
            max_line_len: wire.len(),
            max_lines: written.lines().len() + 1,
            ..ReplyConfig::strict()
        };
        let decoded = decode_all(config, &wire);
        assert_eq!(decoded.len(), 1, "{wire:?}");
        assert_eq!(decoded[0], written);
        assert_eq!(
            Features::from_reply(&decoded[0]),
            features,
            "wire round trip"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    for config in [ReplyConfig::default(), ReplyConfig::strict()] {
        for reply in decode_all(config, data) {
            check(&reply);
        }
    }
    let lines = data.split(|&b| b == b'\n').map(<[u8]>::to_vec);
    check(&Reply::multiline(ReplyCode::SYSTEM_STATUS, lines));
});
