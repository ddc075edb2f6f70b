//! Property tests for the wire layer: encode then parse is the identity, and parsing an input
//! split at any points (down to one byte at a time) equals parsing it whole.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};

use bytes::{Bytes, BytesMut};
use ftp_proto::addr::{self, Leniency};
use ftp_proto::command::{AuthMechanism, EpsvArg, HostName, OptsArg, ProtLevel, RestMarker};
use ftp_proto::line::{CrEncoding, Line, LineConfig, LineError, LineFramer};
use ftp_proto::reply::{ReplyConfig, ReplyDecoder, ReplyError};
use ftp_proto::transfer::{DataType, FileStructure, FormatControl, TransferMode};
use ftp_proto::{Command, Reply, ReplyCode, Timestamp};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// Generators

/// Bytes that stress the framer: plenty of CR, LF, NUL, IAC and Telnet command bytes.
fn control_bytes() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        4 => prop::sample::select(b"ABOR NOOP abc/ 1,2".to_vec()),
        2 => prop::sample::select(vec![b'\r', b'\n', 0u8, 0xff, 0xf4, 0xf2, 0xfb, 0xfd, 0xfa, 0xf0]),
        1 => any::<u8>(),
    ];
    prop::collection::vec(byte, 0..300)
}

/// Split points for `len` bytes.
fn splits(len: usize) -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(0..=len, 0..12).prop_map(|mut cuts| {
        cuts.sort_unstable();
        cuts
    })
}

fn chunks<'a>(input: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut out = vec![];
    let mut start = 0;
    for &cut in cuts {
        out.push(&input[start..cut]);
        start = cut;
    }
    out.push(&input[start..]);
    out
}

/// A pathname or text argument: any bytes but CR, LF and NUL, not empty.
fn text_arg() -> impl Strategy<Value = Bytes> {
    prop::collection::vec(
        any::<u8>().prop_filter("no CR LF NUL", |b| !matches!(b, b'\r' | b'\n' | 0)),
        1..40,
    )
    .prop_map(Bytes::from)
}

/// A keyword-like token: printable ASCII without SP.
fn token() -> impl Strategy<Value = Bytes> {
    "[!-~]{1,12}".prop_map(Bytes::from)
}

fn fact_name() -> impl Strategy<Value = Bytes> {
    "[A-Za-z][A-Za-z0-9.-]{0,10}".prop_map(Bytes::from)
}

fn timestamp() -> impl Strategy<Value = Timestamp> {
    (
        1000u16..=9999,
        1u8..=12,
        1u8..=28,
        0u8..24,
        0u8..60,
        0u8..=60,
        0u8..=9,
        0u32..1_000_000_000,
    )
        .prop_map(|(y, mo, d, h, mi, s, digits, nanos)| {
            let ts = Timestamp::new(y, mo, d, h, mi, s).unwrap();
            if digits == 0 {
                ts
            } else {
                ts.with_fraction(nanos, digits).unwrap()
            }
        })
}

fn socket_v4() -> impl Strategy<Value = SocketAddrV4> {
    (any::<[u8; 4]>(), 1u16..).prop_map(|(ip, port)| SocketAddrV4::new(Ipv4Addr::from(ip), port))
}

fn socket_any() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        socket_v4().prop_map(SocketAddr::V4),
        (any::<[u8; 16]>(), 1u16..).prop_map(|(ip, port)| {
            let ip = Ipv6Addr::from(ip);
            // IPv4-mapped addresses are written as IPv4 on purpose (peers compare that way).
            let ip = ip.to_ipv4_mapped().map_or(IpAddr::V6(ip), IpAddr::V4);
            SocketAddr::new(ip, port)
        }),
    ]
}

fn data_type() -> impl Strategy<Value = DataType> {
    let form = prop::sample::select(vec![
        FormatControl::NonPrint,
        FormatControl::Telnet,
        FormatControl::CarriageControl,
    ]);
    prop_oneof![
        form.clone().prop_map(DataType::Ascii),
        form.prop_map(DataType::Ebcdic),
        Just(DataType::Image),
        (1u8..).prop_map(DataType::Local),
    ]
}

fn host_name() -> impl Strategy<Value = HostName> {
    prop_oneof![
        "[a-z]([a-z0-9-]{0,8}[a-z0-9])?(\\.[a-z][a-z0-9]{0,8}){0,3}"
            .prop_map(|s| HostName::Domain(s.into())),
        any::<[u8; 4]>().prop_map(|ip| HostName::Ipv4(ip.into())),
        any::<[u8; 16]>().prop_map(|ip| HostName::Ipv6(ip.into())),
    ]
}

fn opts_arg() -> impl Strategy<Value = OptsArg> {
    prop_oneof![
        prop::collection::vec(fact_name(), 0..5).prop_map(OptsArg::Mlst),
        prop::option::of(any::<bool>()).prop_map(OptsArg::Utf8),
        prop::option::of(token()).prop_map(OptsArg::Hash),
        ("X[A-Z]{1,6}", prop::option::of("[!-~]([ -~]{0,10}[!-~])?")).prop_map(
            |(command, options)| {
                OptsArg::Other {
                    command: command.into(),
                    options: options.map(Bytes::from),
                }
            }
        ),
    ]
}

/// Every command, with arguments that have a canonical wire form.
fn any_command() -> impl Strategy<Value = Command> {
    use Command as C;
    let path_verbs: Vec<fn(Bytes) -> Command> = vec![
        C::User,
        C::Pass,
        C::Acct,
        C::Cwd,
        C::Smnt,
        C::Retr,
        C::Stor,
        C::Appe,
        C::Rnfr,
        C::Rnto,
        C::Dele,
        C::Rmd,
        C::Mkd,
        C::Site,
        C::Size,
        C::Mdtm,
        C::Hash,
        C::Clnt,
    ];
    let optional_verbs: Vec<fn(Option<Bytes>) -> Command> = vec![
        C::Stou,
        C::List,
        C::Nlst,
        C::Stat,
        C::Help,
        C::Mlst,
        C::Mlsd,
    ];
    let token_verbs: Vec<fn(Bytes) -> Command> = vec![C::Adat, C::Mic, C::Conf, C::Enc];
    let bare = vec![
        C::Cdup,
        C::Rein,
        C::Quit,
        C::Pasv,
        C::Abor,
        C::Pwd,
        C::Syst,
        C::Noop,
        C::Ccc,
        C::Feat,
        C::Lpsv,
    ];
    prop_oneof![
        (prop::sample::select(path_verbs), text_arg()).prop_map(|(make, arg)| make(arg)),
        (
            prop::sample::select(optional_verbs),
            prop::option::of(text_arg())
        )
            .prop_map(|(make, arg)| make(arg)),
        (prop::sample::select(token_verbs), token()).prop_map(|(make, arg)| make(arg)),
        prop::sample::select(bare),
        socket_v4().prop_map(C::Port),
        socket_any().prop_map(C::Eprt),
        socket_any().prop_map(C::Lprt),
        data_type().prop_map(C::Type),
        prop::sample::select(vec![
            FileStructure::File,
            FileStructure::Record,
            FileStructure::Page
        ])
        .prop_map(C::Stru),
        prop::sample::select(vec![
            TransferMode::Stream,
            TransferMode::Block,
            TransferMode::Compressed
        ])
        .prop_map(C::Mode),
        (any::<u64>(), prop::option::of(any::<u64>()))
            .prop_map(|(size, max_record)| C::Allo { size, max_record }),
        any::<u64>().prop_map(|n| C::Rest(RestMarker::Offset(n))),
        "[!-~]{0,6}[!-/:-~][!-~]{0,6}".prop_map(|m| C::Rest(RestMarker::Marker(m.into()))),
        prop_oneof![
            Just(AuthMechanism::Tls),
            Just(AuthMechanism::Ssl),
            Just(AuthMechanism::TlsP),
            "GSSAPI|KERBEROS_V4|X[A-Z]{1,5}".prop_map(|m| AuthMechanism::Other(m.into())),
        ]
        .prop_map(C::Auth),
        any::<u32>().prop_map(C::Pbsz),
        prop::sample::select(vec![
            ProtLevel::Clear,
            ProtLevel::Safe,
            ProtLevel::Confidential,
            ProtLevel::Private
        ])
        .prop_map(C::Prot),
        opts_arg().prop_map(C::Opts),
        prop::option::of(prop_oneof![
            Just(EpsvArg::All),
            any::<u8>().prop_map(EpsvArg::Protocol)
        ])
        .prop_map(C::Epsv),
        prop::option::of("[a-zA-Z]{1,8}(-[a-zA-Z]{1,8}){0,2}")
            .prop_map(|t| C::Lang(t.map(Bytes::from))),
        host_name().prop_map(C::Host),
        (timestamp(), text_arg()).prop_map(|(time, path)| C::Mfmt { time, path }),
        (timestamp(), text_arg()).prop_map(|(time, path)| C::Mfct { time, path }),
        (
            prop::collection::vec((fact_name(), "[!-:<-~]{0,10}"), 1..4),
            text_arg()
        )
            .prop_map(|(facts, path)| {
                C::Mff {
                    facts: facts
                        .into_iter()
                        .map(|(n, v)| (n, Bytes::from(v)))
                        .collect(),
                    path,
                }
            }),
        (any::<u64>(), any::<u64>()).prop_map(|(start, end)| C::Rang { start, end }),
        ("Z[A-Z0-9]{0,6}", prop::option::of(text_arg())).prop_map(|(verb, arg)| C::Unknown {
            verb: verb.into(),
            arg
        }),
    ]
}

fn reply_code() -> impl Strategy<Value = ReplyCode> {
    (100u16..700).prop_map(|v| ReplyCode::new(v).unwrap())
}

fn reply_text() -> impl Strategy<Value = Bytes> {
    prop::collection::vec(
        any::<u8>().prop_filter("no CR LF NUL", |b| !matches!(b, b'\r' | b'\n' | 0)),
        0..30,
    )
    .prop_map(Bytes::from)
}

fn any_reply() -> impl Strategy<Value = Reply> {
    (reply_code(), prop::collection::vec(reply_text(), 1..6))
        .prop_map(|(code, lines)| Reply::multiline(code, lines))
}

/// What a reply reads back as: inner lines that start with a digit come back indented by the
/// one space the encoder adds.
fn as_read_back(reply: &Reply) -> Reply {
    let last = reply.lines().len() - 1;
    let lines = reply.lines().iter().enumerate().map(|(i, line)| {
        if i > 0 && i < last && line.first().is_some_and(u8::is_ascii_digit) {
            [&b" "[..], line].concat().into()
        } else {
            line.clone()
        }
    });
    Reply::multiline(reply.code(), lines.collect::<Vec<Bytes>>())
}

// ---------------------------------------------------------------------------------------------
// Helpers

#[derive(Debug, PartialEq)]
struct Framed {
    lines: Vec<Result<Line, LineError>>,
    telnet_reply: Vec<u8>,
}

fn frame(config: LineConfig, pieces: &[&[u8]]) -> Framed {
    let mut framer = LineFramer::new(config);
    let mut framed = Framed {
        lines: vec![],
        telnet_reply: vec![],
    };
    for piece in pieces {
        framer.feed(piece);
        framed
            .lines
            .extend(std::iter::from_fn(|| framer.next_line()));
        while let Some(reply) = framer.poll_telnet_reply() {
            framed.telnet_reply.extend_from_slice(&reply);
        }
    }
    framed
}

fn decode_replies(config: ReplyConfig, pieces: &[&[u8]]) -> Vec<Result<Reply, ReplyError>> {
    let mut decoder = ReplyDecoder::new(config);
    let mut out = vec![];
    for piece in pieces {
        decoder.feed(piece);
        out.extend(std::iter::from_fn(|| decoder.next_reply()));
    }
    out
}

fn parse_wire(wire: &[u8]) -> Vec<Command> {
    let framed = frame(
        LineConfig {
            max_line_len: 1 << 20,
            flood_limit: 1 << 21,
            ..Default::default()
        },
        &[wire],
    );
    framed
        .lines
        .into_iter()
        .map(|line| Command::parse(&line.unwrap().bytes).unwrap())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Properties

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn framer_split_anywhere_equals_whole(input in control_bytes(), cuts in splits(300)) {
        let cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(input.len())).collect();
        // The buffer limit depends on how fast lines are taken, so it is set out of reach here; its
        // own behaviour is a unit test in `line.rs`.
        let config = LineConfig { max_line_len: 40, flood_limit: 120, max_buffered: 1024, ..Default::default() };
        let whole = frame(config, &[&input]);
        prop_assert_eq!(&frame(config, &chunks(&input, &cuts)), &whole);
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        prop_assert_eq!(&frame(config, &bytes), &whole);
        for line in whole.lines.iter().flatten() {
            prop_assert!(line.bytes.len() <= 40);
        }
    }

    #[test]
    fn command_encode_then_parse_is_identity(command in any_command()) {
        let wire = command.to_bytes().unwrap();
        prop_assert_eq!(parse_wire(&wire), vec![command.clone()]);
        let split: Vec<&[u8]> = wire.chunks(1).collect();
        let one_by_one = frame(LineConfig::default(), &split);
        prop_assert_eq!(one_by_one.lines.len(), 1);
    }

    #[test]
    fn command_with_cr_round_trips_as_cr_nul(path in text_arg(), at in any::<prop::sample::Index>()) {
        let mut bytes = path.to_vec();
        bytes.insert(at.index(bytes.len() + 1), b'\r');
        let command = Command::Stor(bytes.into());
        let mut wire = BytesMut::new();
        command.encode_with(&mut wire, CrEncoding::EscapeAsCrNul).unwrap();
        prop_assert_eq!(parse_wire(&wire), vec![command]);
    }

    #[test]
    fn many_commands_split_anywhere(commands in prop::collection::vec(any_command(), 1..8), cuts in splits(400)) {
        let mut wire = BytesMut::new();
        for command in &commands {
            command.encode(&mut wire).unwrap();
        }
        let cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(wire.len())).collect();
        let framed = frame(LineConfig::default(), &chunks(&wire, &cuts));
        let parsed: Vec<Command> = framed.lines.into_iter().map(|l| Command::parse(&l.unwrap().bytes).unwrap()).collect();
        prop_assert_eq!(parsed, commands);
    }

    #[test]
    fn command_parse_never_panics(input in control_bytes()) {
        let _ = Command::parse(&Bytes::from(input));
    }

    #[test]
    fn reply_encode_then_parse_is_identity(reply in any_reply(), cuts in splits(200)) {
        let wire = reply.to_bytes().unwrap();
        let cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(wire.len())).collect();
        let expected = vec![Ok(as_read_back(&reply))];
        for config in [ReplyConfig::strict(), ReplyConfig::default()] {
            prop_assert_eq!(&decode_replies(config, &[&wire]), &expected);
            prop_assert_eq!(&decode_replies(config, &chunks(&wire, &cuts)), &expected);
            let bytes: Vec<&[u8]> = wire.chunks(1).collect();
            prop_assert_eq!(&decode_replies(config, &bytes), &expected);
        }
    }

    #[test]
    fn replies_in_sequence_split_anywhere(replies in prop::collection::vec(any_reply(), 1..6), cuts in splits(500)) {
        let mut wire = BytesMut::new();
        for reply in &replies {
            reply.encode(&mut wire).unwrap();
        }
        let cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(wire.len())).collect();
        let expected: Vec<_> = replies.iter().map(|r| Ok(as_read_back(r))).collect();
        prop_assert_eq!(decode_replies(ReplyConfig::strict(), &chunks(&wire, &cuts)), expected);
    }

    #[test]
    fn reply_decoder_never_panics_and_stays_bounded(input in control_bytes(), cuts in splits(300)) {
        let cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(input.len())).collect();
        let config = ReplyConfig { max_line_len: 64, max_lines: 4, max_buffered: 1024, ..ReplyConfig::default() };
        let whole = decode_replies(config, &[&input]);
        prop_assert_eq!(decode_replies(config, &chunks(&input, &cuts)), whole.clone());
        for reply in whole.iter().flatten() {
            prop_assert!(reply.lines().len() <= 4);
        }
    }

    #[test]
    fn addresses_round_trip(v4 in socket_v4(), any_addr in socket_any()) {
        prop_assert_eq!(addr::parse_port(addr::format_port(v4).as_bytes()), Ok(v4));
        prop_assert_eq!(addr::parse_pasv_reply(addr::format_pasv_reply(v4).as_bytes(), Leniency::Strict), Ok(v4));
        prop_assert_eq!(addr::parse_eprt(addr::format_eprt(any_addr).as_bytes()), Ok(any_addr));
        prop_assert_eq!(addr::parse_lprt(addr::format_lprt(any_addr).as_bytes()), Ok(any_addr));
        prop_assert_eq!(addr::parse_lpsv_reply(addr::format_lpsv_reply(any_addr).as_bytes()), Ok(any_addr));
        let port = any_addr.port();
        prop_assert_eq!(addr::parse_epsv_reply(addr::format_epsv_reply(port).as_bytes(), Leniency::Strict), Ok(port));
    }

    #[test]
    fn address_parsers_never_panic(input in control_bytes()) {
        let _ = addr::parse_port(&input);
        let _ = addr::parse_eprt(&input);
        let _ = addr::parse_lprt(&input);
        let _ = addr::parse_pasv_reply(&input, Leniency::Lenient);
        let _ = addr::parse_epsv_reply(&input, Leniency::Lenient);
        let _ = addr::parse_lpsv_reply(&input);
        let _ = addr::parse_supported_families(&input);
    }

    #[test]
    fn timestamps_round_trip(ts in timestamp()) {
        prop_assert_eq!(Timestamp::parse(ts.to_string().as_bytes()), Ok(ts));
        let whole_seconds = Timestamp::new(ts.year(), ts.month(), ts.day(), ts.hour(), ts.minute(), ts.second().min(59)).unwrap();
        prop_assert_eq!(Timestamp::from_unix_seconds(whole_seconds.to_unix_seconds()), Ok(whole_seconds));
    }
}

proptest! {
    #[test]
    fn resolved_paths_never_escape_the_root(
        cwd in prop::collection::vec(prop::sample::select(vec![&b"a"[..], b"..", b".", b"", b"b c", b"\xff"]), 0..6),
        arg in prop::collection::vec(prop::sample::select(vec![&b"x"[..], b"..", b".", b"", b"/", b"..\\"]), 0..10),
    ) {
        use ftp_proto::path::VirtualPath;
        let cwd = VirtualPath::root().resolve(&cwd.join(&b'/')).unwrap();
        let resolved = cwd.resolve(&arg.join(&b'/')).unwrap();
        prop_assert!(resolved.as_bytes().starts_with(b"/"));
        prop_assert!(resolved.segments().all(|s| !s.is_empty() && s != b"." && s != b".."));
        prop_assert_eq!(VirtualPath::root().resolve(resolved.as_bytes()).unwrap(), resolved.clone());
    }
}
