//! The command, Telnet, reply, address and FEAT test vectors (RFC 959, 854, 2428, 2389, 3659),
//! one test per vector, named after its id. Every parse is also run one byte at a time and must agree.
//!
//! Where a vector's expected outcome is a reply that only the server session can decide (for
//! example `TYPE L 36` → 504, or `PBSZ 0` before AUTH → 503), the test checks what the wire layer
//! hands the session; the session's answer is tested with the session.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};

use bytes::{Bytes, BytesMut};
use ftp_proto::addr::{self, AddrError, Leniency};
use ftp_proto::command::{
    AuthMechanism, CommandErrorKind, EpsvArg, HostName, OptsArg, ProtLevel, RestMarker,
};
use ftp_proto::feat::Features;
use ftp_proto::line::{BareLf, CrEncoding, LineConfig, LineError, LineFramer, TelnetSignals};
use ftp_proto::reply::{Protected, ProtectionLevel, ReplyConfig, ReplyDecoder, ReplyError};
use ftp_proto::transfer::{DataType, FormatControl};
use ftp_proto::{Command, Reply, ReplyCode, Timestamp};

// ---------------------------------------------------------------------------------------------
// Harness

/// What the server's framer and parser make of `input`: each line's command (or error), its
/// Telnet signals, and the Telnet refusals to send back.
#[derive(Debug, PartialEq)]
struct Parsed {
    commands: Vec<Result<Command, (ReplyCode, CommandErrorKind)>>,
    line_errors: Vec<LineError>,
    signals: Vec<TelnetSignals>,
    telnet_reply: Vec<u8>,
}

fn parse_with(config: LineConfig, chunks: &[&[u8]]) -> Parsed {
    let mut framer = LineFramer::new(config);
    let mut parsed = Parsed {
        commands: vec![],
        line_errors: vec![],
        signals: vec![],
        telnet_reply: vec![],
    };
    for chunk in chunks {
        framer.feed(chunk);
        while let Some(item) = framer.next_line() {
            match item {
                Ok(line) => {
                    parsed.signals.push(line.telnet);
                    parsed.commands.push(
                        Command::parse(&line.bytes).map_err(|e| (e.reply_code(), e.kind.clone())),
                    );
                }
                Err(error) => parsed.line_errors.push(error),
            }
        }
        while let Some(reply) = framer.poll_telnet_reply() {
            parsed.telnet_reply.extend_from_slice(&reply);
        }
    }
    parsed
}

/// Parses `input` whole and one byte at a time; both must agree.
fn server_reads_with(config: LineConfig, input: &[u8]) -> Parsed {
    let whole = parse_with(config, &[input]);
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(
        parse_with(config, &bytes),
        whole,
        "byte-at-a-time parse differs"
    );
    whole
}

fn server_reads(input: &[u8]) -> Parsed {
    server_reads_with(LineConfig::default(), input)
}

/// The single command in `input`.
fn command(input: &[u8]) -> Command {
    let parsed = server_reads(input);
    assert_eq!(parsed.commands.len(), 1, "{parsed:?}");
    parsed.commands.into_iter().next().unwrap().expect("parses")
}

/// The reply code a server sends for the single invalid command in `input`.
fn refused(input: &[u8]) -> u16 {
    let parsed = server_reads(input);
    assert_eq!(parsed.commands.len(), 1, "{parsed:?}");
    parsed
        .commands
        .into_iter()
        .next()
        .unwrap()
        .expect_err("refused")
        .0
        .get()
}

fn b(bytes: &'static [u8]) -> Bytes {
    Bytes::from_static(bytes)
}

/// Every reply a decoder with `config` reads from `input`, whole and byte by byte.
fn replies_with(config: ReplyConfig, input: &[u8]) -> Vec<Result<Reply, ReplyError>> {
    let run = |chunks: Vec<&[u8]>| {
        let mut decoder = ReplyDecoder::new(config);
        let mut out = vec![];
        for chunk in chunks {
            decoder.feed(chunk);
            out.extend(std::iter::from_fn(|| decoder.next_reply()));
        }
        out
    };
    let whole = run(vec![input]);
    assert_eq!(
        run(input.chunks(1).collect()),
        whole,
        "byte-at-a-time parse differs"
    );
    whole
}

fn replies(input: &[u8]) -> Vec<Result<Reply, ReplyError>> {
    replies_with(ReplyConfig::strict(), input)
}

fn reply(input: &[u8]) -> Reply {
    let mut all = replies(input);
    assert_eq!(all.len(), 1, "{all:?}");
    all.remove(0).expect("a reply")
}

fn lines(reply: &Reply) -> Vec<&[u8]> {
    reply.lines().iter().map(|l| &l[..]).collect()
}

// ---------------------------------------------------------------------------------------------
// 7.1 Command line parsing

#[test]
fn c01_user() {
    assert_eq!(
        command(b"USER anonymous\r\n"),
        Command::User(b(b"anonymous"))
    );
}

#[test]
fn c02_verb_is_case_insensitive() {
    assert_eq!(
        command(b"user anonymous\r\n"),
        Command::User(b(b"anonymous"))
    );
}

#[test]
fn c03_mixed_case_retr() {
    assert_eq!(command(b"rEtR a.txt\r\n"), Command::Retr(b(b"a.txt")));
}

#[test]
fn c04_noop() {
    assert_eq!(command(b"NOOP\r\n"), Command::Noop);
}

#[test]
fn c05_type_parameter_is_case_insensitive() {
    assert_eq!(command(b"type i\r\n"), Command::Type(DataType::Image));
}

#[test]
fn c06_type_forms() {
    let ascii = Command::Type(DataType::Ascii(FormatControl::NonPrint));
    assert_eq!(command(b"TYPE A N\r\n"), ascii);
    assert_eq!(command(b"TYPE A\r\n"), ascii);
    assert_eq!(command(b"TYPE L 8\r\n"), Command::Type(DataType::Local(8)));
    assert_eq!(refused(b"TYPE L\r\n"), 501);
    // Well formed; the session answers 504 because only L 8 is supported.
    assert_eq!(
        command(b"TYPE L 36\r\n"),
        Command::Type(DataType::Local(36))
    );
    assert_eq!(refused(b"TYPE X\r\n"), 501);
}

#[test]
fn c07_path_with_space() {
    assert_eq!(
        command(b"STOR my file.txt\r\n"),
        Command::Stor(b(b"my file.txt"))
    );
}

#[test]
fn c08_second_space_belongs_to_the_name() {
    assert_eq!(command(b"STOR  lead\r\n"), Command::Stor(b(b" lead")));
}

#[test]
fn c09_trailing_space_belongs_to_the_name() {
    assert_eq!(command(b"DELE trail \r\n"), Command::Dele(b(b"trail ")));
}

#[test]
fn c10_bare_lf_lenient_and_strict() {
    assert_eq!(command(b"RETR file\n"), Command::Retr(b(b"file")));
    let strict = LineConfig {
        bare_lf: BareLf::IsData,
        ..LineConfig::default()
    };
    assert!(
        server_reads_with(strict, b"RETR file\n")
            .commands
            .is_empty(),
        "incomplete"
    );
}

#[test]
fn c11_no_action_before_the_line_end() {
    assert!(server_reads(b"RETR file").commands.is_empty());
}

#[test]
fn c12_command_split_across_reads() {
    let parsed = parse_with(LineConfig::default(), &[b"RE", b"TR fi"]);
    assert!(parsed.commands.is_empty());
    let parsed = parse_with(LineConfig::default(), &[b"RE", b"TR fi", b"le\r\n"]);
    assert_eq!(parsed.commands, vec![Ok(Command::Retr(b(b"file")))]);
}

#[test]
fn c13_two_commands_in_one_read() {
    let parsed = server_reads(b"NOOP\r\nPWD\r\n");
    assert_eq!(parsed.commands, vec![Ok(Command::Noop), Ok(Command::Pwd)]);
}

#[test]
fn c14_cr_nul_pad_keeps_crlf_in_a_pathname() {
    assert_eq!(
        command(b"STOR foo\r\x00\nboo.bar\r\n"),
        Command::Stor(b(b"foo\r\nboo.bar"))
    );
}

#[test]
fn c15_empty_line_is_500() {
    assert_eq!(refused(b"\r\n"), 500);
}

#[test]
fn c16_unknown_verb() {
    let unknown = command(b"XYZZ\r\n");
    assert_eq!(
        unknown,
        Command::Unknown {
            verb: b(b"XYZZ"),
            arg: None
        }
    );
}

#[test]
fn c17_feat_takes_no_argument() {
    assert_eq!(refused(b"FEAT extra\r\n"), 501);
}

#[test]
fn c18_cwd_needs_a_path() {
    assert_eq!(refused(b"CWD\r\n"), 501);
}

#[test]
fn c19_pasv_with_trailing_space() {
    assert_eq!(command(b"PASV \r\n"), Command::Pasv);
}

#[test]
fn c20_site_keeps_its_whole_argument() {
    assert_eq!(
        command(b"SITE CHMOD 755 a b\r\n"),
        Command::Site(b(b"CHMOD 755 a b"))
    );
}

#[test]
fn c21_rest_offset() {
    assert_eq!(
        command(b"REST 802816\r\n"),
        Command::Rest(RestMarker::Offset(802_816))
    );
}

#[test]
fn c22_rest_with_a_sign_is_not_an_offset() {
    // Not `1*DIGIT`: in MODE S the session answers 501.
    assert_eq!(
        command(b"REST -1\r\n"),
        Command::Rest(RestMarker::Marker(b(b"-1")))
    );
}

#[test]
fn c23_rest_block_mode_marker() {
    assert_eq!(
        command(b"REST R00042\r\n"),
        Command::Rest(RestMarker::Marker(b(b"R00042")))
    );
}

#[test]
fn c24_allo_with_record_size() {
    assert_eq!(
        command(b"ALLO 1000 R 100\r\n"),
        Command::Allo {
            size: 1000,
            max_record: Some(100)
        }
    );
}

#[test]
fn c25_mdtm_whole_argument_is_the_path() {
    assert_eq!(
        command(b"MDTM 19990929043300 File6\r\n"),
        Command::Mdtm(b(b"19990929043300 File6"))
    );
}

#[test]
fn c26_mfmt() {
    let time = Timestamp::new(2002, 7, 17, 21, 7, 15).unwrap();
    assert_eq!(
        command(b"MFMT 20020717210715 Fred.txt\r\n"),
        Command::Mfmt {
            time,
            path: b(b"Fred.txt")
        }
    );
}

#[test]
fn c27_mfmt_impossible_date_is_501() {
    assert_eq!(refused(b"MFMT 20030229000000 x\r\n"), 501);
}

#[test]
fn c28_mff_facts_in_order() {
    assert_eq!(
        command(b"MFF UNIX.mode=777;Create=20020718012845; Fred.txt\r\n"),
        Command::Mff {
            facts: vec![
                (b(b"UNIX.mode"), b(b"777")),
                (b(b"Create"), b(b"20020718012845"))
            ],
            path: b(b"Fred.txt"),
        }
    );
}

#[test]
fn c29_opts_mlst_list() {
    assert_eq!(
        command(b"OPTS MLST type;size;\r\n"),
        Command::Opts(OptsArg::Mlst(vec![b(b"type"), b(b"size")]))
    );
}

#[test]
fn c30_opts_mlst_space_inside_list_is_501() {
    assert_eq!(refused(b"opts MLst unique type;\r\n"), 501);
}

#[test]
fn c31_opts_mlst_empty_list() {
    assert_eq!(
        command(b"OPTS MLST\r\n"),
        Command::Opts(OptsArg::Mlst(vec![]))
    );
}

#[test]
fn c32_host_domain() {
    assert_eq!(
        command(b"HOST ftp.example.com\r\n"),
        Command::Host(HostName::Domain(b(b"ftp.example.com")))
    );
}

#[test]
fn c33_host_ipv6_literal() {
    let ip: Ipv6Addr = "2001:db8::c000:201".parse().unwrap();
    assert_eq!(
        command(b"HOST [2001:db8::c000:201]\r\n"),
        Command::Host(HostName::Ipv6(ip))
    );
}

#[test]
fn c34_host_with_port_is_501() {
    assert_eq!(refused(b"HOST 192.0.2.1:2112\r\n"), 501);
}

#[test]
fn c35_lang_tags() {
    assert_eq!(command(b"LANG\r\n"), Command::Lang(None));
    assert_eq!(command(b"LANG en-US\r\n"), Command::Lang(Some(b(b"en-US"))));
    assert_eq!(refused(b"LANG en_US\r\n"), 501);
}

#[test]
fn c36_auth_tls_and_tls_c() {
    assert_eq!(command(b"AUTH tls\r\n"), Command::Auth(AuthMechanism::Tls));
    assert_eq!(
        command(b"AUTH TLS-C\r\n"),
        Command::Auth(AuthMechanism::Tls)
    );
}

#[test]
fn c37_pbsz_zero() {
    // 503 before AUTH and 200 after it are the session's answers.
    assert_eq!(command(b"PBSZ 0\r\n"), Command::Pbsz(0));
}

#[test]
fn c38_prot_levels() {
    assert_eq!(command(b"PROT P\r\n"), Command::Prot(ProtLevel::Private));
    assert_eq!(refused(b"PROT X\r\n"), 504);
}

#[test]
fn c39_hash() {
    assert_eq!(
        command(b"HASH filename.ext\r\n"),
        Command::Hash(b(b"filename.ext"))
    );
}

#[test]
fn c40_rang() {
    assert_eq!(command(b"RANG 1 0\r\n"), Command::Rang { start: 1, end: 0 });
    // start > end: the session answers 501 and resets the range.
    assert_eq!(command(b"RANG 5 2\r\n"), Command::Rang { start: 5, end: 2 });
}

#[test]
fn c41_utf8_path_kept_as_bytes() {
    assert_eq!(
        command(b"RETR caf\xc3\xa9.txt\r\n"),
        Command::Retr(b(b"caf\xc3\xa9.txt"))
    );
}

#[test]
fn c42_non_utf8_path_kept_as_bytes() {
    assert_eq!(
        command(b"RETR caf\xe9.txt\r\n"),
        Command::Retr(b(b"caf\xe9.txt"))
    );
}

#[test]
fn c43_iac_iac_in_a_path() {
    assert_eq!(command(b"CWD \xff\xffdir\r\n"), Command::Cwd(b(b"\xffdir")));
}

#[test]
fn c44_overlong_line_is_500_then_resynchronises() {
    let mut input = b"RETR ".to_vec();
    input.extend(std::iter::repeat_n(b'a', 9000));
    input.extend_from_slice(b"\r\nNOOP\r\n");
    let parsed = server_reads(&input);
    assert_eq!(parsed.line_errors, vec![LineError::TooLong { len: 9005 }]);
    assert_eq!(parsed.commands, vec![Ok(Command::Noop)]);
}

#[test]
fn c45_tab_is_not_a_separator() {
    assert_eq!(
        command(b"CWD\t/tmp\r\n"),
        Command::Unknown {
            verb: b(b"CWD\t/tmp"),
            arg: None
        }
    );
}

// ---------------------------------------------------------------------------------------------
// 7.2 Telnet layer

#[test]
fn t01_abor_with_ip_and_synch() {
    let parsed = server_reads(b"\xff\xf4\xff\xf2ABOR\r\n");
    assert_eq!(parsed.commands, vec![Ok(Command::Abor)]);
    assert!(parsed.signals[0].interrupt_process() && parsed.signals[0].data_mark());
}

#[test]
fn t02_stray_data_mark_before_the_verb() {
    let parsed = server_reads(b"\xff\xf4\xf2ABOR\r\n");
    assert_eq!(parsed.commands, vec![Ok(Command::Abor)]);
    assert!(parsed.signals[0].interrupt_process() && !parsed.signals[0].data_mark());
}

#[test]
fn t03_will_is_refused_with_dont() {
    let parsed = server_reads(b"\xff\xfb\x01NOOP\r\n");
    assert_eq!(parsed.telnet_reply, b"\xff\xfe\x01");
    assert_eq!(parsed.commands, vec![Ok(Command::Noop)]);
}

#[test]
fn t04_do_is_refused_with_wont() {
    let parsed = server_reads(b"\xff\xfd\x03NOOP\r\n");
    assert_eq!(parsed.telnet_reply, b"\xff\xfc\x03");
    assert_eq!(parsed.commands, vec![Ok(Command::Noop)]);
}

#[test]
fn t05_wont_and_dont_get_no_answer() {
    let parsed = server_reads(b"\xff\xfc\x01\xff\xfe\x01NOOP\r\n");
    assert!(parsed.telnet_reply.is_empty());
    assert_eq!(parsed.commands, vec![Ok(Command::Noop)]);
}

#[test]
fn t06_subnegotiation_is_skipped() {
    let parsed = server_reads(b"\xff\xfa\x18\x01\xff\xf0NOOP\r\n");
    assert_eq!(parsed.commands, vec![Ok(Command::Noop)]);
    assert!(parsed.signals[0].negotiation());
}

#[test]
fn t07_iac_nop_is_ignored() {
    let parsed = server_reads(b"\xff\xf1NOOP\r\n");
    assert_eq!(parsed.commands, vec![Ok(Command::Noop)]);
}

#[test]
fn t08_iac_pair_split_across_reads() {
    let parsed = parse_with(LineConfig::default(), &[b"CWD a\xff", b"\xffb\r\n"]);
    assert_eq!(parsed.commands, vec![Ok(Command::Cwd(b(b"a\xffb")))]);
}

#[test]
fn t09_server_escapes_iac_in_a_257_path() {
    let pwd = Reply::with_quoted_path(
        ReplyCode::PATHNAME_CREATED,
        b"/a\xffb",
        "is current directory.",
    );
    assert_eq!(
        &pwd.to_bytes().unwrap()[..],
        b"257 \"/a\xff\xffb\" is current directory.\r\n"
    );
}

#[test]
fn t10_client_escapes_cr_in_a_path_as_cr_nul() {
    let mut out = BytesMut::new();
    Command::Stor(b(b"x\ry"))
        .encode_with(&mut out, CrEncoding::EscapeAsCrNul)
        .unwrap();
    assert_eq!(&out[..], b"STOR x\r\x00y\r\n");
    assert_eq!(
        command(&out),
        Command::Stor(b(b"x\ry")),
        "and the server reads it back"
    );
}

// ---------------------------------------------------------------------------------------------
// 7.3 Reply parsing

#[test]
fn r01_single_line() {
    let r = reply(b"220 Service ready\r\n");
    assert_eq!(
        (r.code().get(), lines(&r)),
        (220, vec![&b"Service ready"[..]])
    );
}

#[test]
fn r02_multi_line() {
    let r = reply(b"220-Welcome\r\n220 Ready\r\n");
    assert_eq!(
        (r.code().get(), lines(&r)),
        (220, vec![&b"Welcome"[..], b"Ready"])
    );
}

#[test]
fn r03_rfc959_example() {
    let r = reply(b"123-First line\r\nSecond line\r\n  234 A line beginning with numbers\r\n123 The last line\r\n");
    assert_eq!(
        lines(&r),
        vec![
            &b"First line"[..],
            b"Second line",
            b"  234 A line beginning with numbers",
            b"The last line"
        ]
    );
}

#[test]
fn r04_code_dash_inner_lines_are_not_terminators() {
    let r = reply(b"230-Hello\r\n230-Second\r\n230 Done\r\n");
    assert_eq!(lines(&r), vec![&b"Hello"[..], b"230-Second", b"Done"]);
}

#[test]
fn r05_other_code_never_ends_the_reply() {
    let r = reply(b"150-Opening\r\n226 Looks final but is not\r\n150 ok\r\n");
    assert_eq!(r.code().get(), 150);
    assert_eq!(
        lines(&r),
        vec![&b"Opening"[..], b"226 Looks final but is not", b"ok"]
    );
}

#[test]
fn r06_code_must_be_followed_by_space() {
    let r = reply(b"211-a\r\n2110 not end\r\n211 end\r\n");
    assert_eq!(lines(&r), vec![&b"a"[..], b"2110 not end", b"end"]);
}

#[test]
fn r07_last_line_without_space() {
    let r = reply(b"250-x\r\n250\r\n");
    assert_eq!(lines(&r), vec![&b"x"[..], b""]);
}

#[test]
fn r08_code_alone() {
    let r = reply(b"200\r\n");
    assert_eq!((r.code().get(), lines(&r)), (200, vec![&b""[..]]));
}

#[test]
fn r09_bare_lf_strict_and_tolerant() {
    assert!(replies(b"200 OK\n").is_empty(), "strict: incomplete");
    let tolerant = replies_with(ReplyConfig::default(), b"200 OK\n");
    assert_eq!(tolerant, vec![Ok(Reply::new(ReplyCode::COMMAND_OK, "OK"))]);
}

#[test]
fn r10_no_line_end_is_incomplete() {
    assert!(replies(b"220 Ready").is_empty());
}

#[test]
fn r11_unterminated_multi_line_is_incomplete() {
    assert!(replies(b"220-Multi\r\nline\r\n").is_empty());
}

fn malformed(input: &'static [u8]) {
    let all = replies(input);
    assert!(
        matches!(&all[..], [Err(ReplyError::MalformedCode { .. })]),
        "{all:?}"
    );
}

#[test]
fn r12_two_digit_code_is_malformed() {
    malformed(b"20 OK\r\n");
}

#[test]
fn r13_four_digit_code_is_malformed() {
    malformed(b"2000 OK\r\n");
}

#[test]
fn r14_first_digit_above_6_is_malformed() {
    malformed(b"700 Foo\r\n");
}

#[test]
fn r15_text_is_bytes() {
    assert_eq!(lines(&reply(b"550 \xe9chec\r\n")), vec![&b"\xe9chec"[..]]);
}

#[test]
fn r16_257_doubled_quotes() {
    let r = reply(b"257 \"/usr/dm/foo\"\"bar\" directory created\r\n");
    assert_eq!(r.quoted_path(), Some(b(b"/usr/dm/foo\"bar")));
}

#[test]
fn r17_257_root() {
    assert_eq!(
        reply(b"257 \"/\" is current directory.\r\n").quoted_path(),
        Some(b(b"/"))
    );
}

#[test]
fn r18_mdtm_with_fraction() {
    let time = reply(b"213 19980615100045.014\r\n")
        .modification_time()
        .unwrap();
    assert_eq!(
        time,
        Timestamp::new(1998, 6, 15, 10, 0, 45)
            .unwrap()
            .with_fraction(14_000_000, 3)
            .unwrap()
    );
}

#[test]
fn r19_size() {
    assert_eq!(reply(b"213 1830\r\n").size(), Some(1830));
}

#[test]
fn r20_restart_mark() {
    assert_eq!(
        reply(b"110 MARK R00042 = 9123\r\n").restart_mark(),
        Some((b(b"R00042"), b(b"9123")))
    );
}

#[test]
fn r21_stou_file_name() {
    assert_eq!(
        reply(b"150 FILE: /pub/stou.1\r\n").stored_as(),
        Some(b(b"/pub/stou.1"))
    );
}

#[test]
fn r22_hash_reply() {
    let hash = reply(b"213-\r\n213 SHA-256 0-49 169cd22282da7f147cb491e559e9dd filename.ext\r\n")
        .hash()
        .unwrap();
    assert_eq!(hash.algorithm, b(b"SHA-256"));
    assert_eq!((hash.start, hash.end), (0, 49));
    assert_eq!(hash.hex, b(b"169cd22282da7f147cb491e559e9dd"));
    assert_eq!(hash.path, b(b"filename.ext"));
}

#[test]
fn r23_mlst_opts_reply() {
    let facts = reply(b"200 MLST OPTS Type;Perm;UNIX.mode;\r\n")
        .mlst_opts()
        .unwrap();
    assert_eq!(facts, vec![b(b"Type"), b(b"Perm"), b(b"UNIX.mode")]);
}

#[test]
fn r24_522_supported_families() {
    let r = reply(b"522 Network protocol not supported, use (1,2)\r\n");
    assert_eq!(
        addr::parse_supported_families(r.first_line()),
        Ok(vec![1, 2])
    );
}

#[test]
fn r25_521_supported_ip_versions() {
    let r = reply(b"521 Supported address families are (4, 6)\r\n");
    assert_eq!(
        addr::parse_supported_families(r.first_line()),
        Ok(vec![4, 6])
    );
}

#[test]
fn r26_421_parses_as_a_transient_failure() {
    // Detecting the close that follows is the client session's job (RFC 1123 §4.1.2.11).
    let r = reply(b"421 Service not available, closing control connection.\r\n");
    assert_eq!(r.code(), ReplyCode::SERVICE_NOT_AVAILABLE);
    assert!(r.code().is_transient_failure());
}

#[test]
fn r27_protected_reply_payload_and_inner_reply() {
    // base64("200 Command okay.")
    let r = reply(b"631 MjAwIENvbW1hbmQgb2theS4=\r\n");
    let protected = r.protected().unwrap();
    assert_eq!(protected.level, ProtectionLevel::Integrity);
    assert_eq!(protected.payload, b"200 Command okay.");
    let inner = Protected::parse_inner(&protected.payload).unwrap();
    assert_eq!(inner, Reply::new(ReplyCode::COMMAND_OK, "Command okay."));
    // A multi-line 632: fragments are concatenated before decoding.
    let r = reply(b"632-MjAwIENvbW1h\r\n632 bmQgb2theS4=\r\n");
    assert_eq!(r.protected().unwrap().payload, b"200 Command okay.");
}

// ---------------------------------------------------------------------------------------------
// 7.4 Addresses

fn v4(text: &str) -> SocketAddrV4 {
    text.parse().unwrap()
}

fn sa(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

#[test]
fn a01_port() {
    assert_eq!(
        command(b"PORT 192,168,0,1,4,1\r\n"),
        Command::Port(v4("192.168.0.1:1025"))
    );
}

#[test]
fn a02_port_five_fields_is_501() {
    assert_eq!(refused(b"PORT 192,168,0,1,4\r\n"), 501);
}

#[test]
fn a03_port_byte_over_255_is_501() {
    assert_eq!(refused(b"PORT 192,168,0,256,4,1\r\n"), 501);
}

#[test]
fn a04_port_zero_is_501() {
    assert_eq!(refused(b"PORT 10,0,0,1,0,0\r\n"), 501);
}

#[test]
fn a05_port_to_a_privileged_port_on_another_host_parses() {
    // Refusing it (504, RFC 2577) is the server session's policy; the wire layer hands it over.
    let port = command(b"PORT 203,0,113,9,0,25\r\n");
    assert_eq!(port.active_address(), Some(sa("203.0.113.9:25")));
}

#[test]
fn a06_pasv_reply_in_parentheses() {
    let r = reply(b"227 Entering Passive Mode (10,0,0,5,195,80).\r\n");
    assert_eq!(
        addr::parse_pasv_reply(r.first_line(), Leniency::Strict),
        Ok(v4("10.0.0.5:50000"))
    );
}

#[test]
fn a07_pasv_reply_without_parentheses() {
    let r = reply(b"227 Entering Passive Mode. 10,0,0,5,195,80\r\n");
    assert_eq!(
        addr::parse_pasv_reply(r.first_line(), Leniency::Strict),
        Ok(v4("10.0.0.5:50000"))
    );
}

#[test]
fn a08_pasv_reply_djb_style() {
    let r = reply(b"227 =10,0,0,5,195,80\r\n");
    assert_eq!(
        addr::parse_pasv_reply(r.first_line(), Leniency::Strict),
        Ok(v4("10.0.0.5:50000"))
    );
}

#[test]
fn a09_pasv_reply_with_five_numbers_fails() {
    let r = reply(b"227 Entering Passive Mode (10,0,0,5,195)\r\n");
    assert_eq!(
        addr::parse_pasv_reply(r.first_line(), Leniency::Lenient),
        Err(AddrError::NotFound)
    );
}

#[test]
fn a10_eprt_ipv4() {
    assert_eq!(
        command(b"EPRT |1|132.235.1.2|6275|\r\n"),
        Command::Eprt(sa("132.235.1.2:6275"))
    );
}

#[test]
fn a11_eprt_ipv6() {
    assert_eq!(
        command(b"EPRT |2|1080::8:800:200C:417A|5282|\r\n"),
        Command::Eprt(sa("[1080::8:800:200c:417a]:5282"))
    );
}

#[test]
fn a12_eprt_other_delimiter() {
    assert_eq!(
        command(b"EPRT !1!132.235.1.2!6275!\r\n"),
        Command::Eprt(sa("132.235.1.2:6275"))
    );
}

#[test]
fn a13_eprt_unknown_family_is_522() {
    assert_eq!(refused(b"EPRT |3|foo|1|\r\n"), 522);
}

#[test]
fn a14_eprt_missing_closing_delimiter_is_501() {
    assert_eq!(refused(b"EPRT |1|132.235.1.2|6275\r\n"), 501);
}

#[test]
fn a15_eprt_family_address_mismatch_is_501() {
    assert_eq!(refused(b"EPRT |1|::1|6275|\r\n"), 501);
}

#[test]
fn a16_epsv_reply_format() {
    let r = Reply::new(
        ReplyCode::EXTENDED_PASSIVE_MODE,
        addr::format_epsv_reply(6446),
    );
    assert_eq!(
        &r.to_bytes().unwrap()[..],
        b"229 Entering Extended Passive Mode (|||6446|)\r\n"
    );
    assert_eq!(command(b"EPSV\r\n"), Command::Epsv(None));
}

#[test]
fn a17_epsv_with_protocol() {
    // On an IPv4-only server the session answers 522 "use (1)".
    assert_eq!(
        command(b"EPSV 2\r\n"),
        Command::Epsv(Some(EpsvArg::Protocol(2)))
    );
}

#[test]
fn a18_epsv_all() {
    assert_eq!(command(b"EPSV ALL\r\n"), Command::Epsv(Some(EpsvArg::All)));
}

#[test]
fn a19_epsv_reply_port() {
    let r = reply(b"229 Entering Extended Passive Mode (|||6446|)\r\n");
    assert_eq!(
        addr::parse_epsv_reply(r.first_line(), Leniency::Strict),
        Ok(6446)
    );
}

#[test]
fn a20_epsv_reply_other_delimiter() {
    let r = reply(b"229 Entering Extended Passive Mode (!!!6446!)\r\n");
    assert_eq!(
        addr::parse_epsv_reply(r.first_line(), Leniency::Strict),
        Ok(6446)
    );
}

#[test]
fn a21_epsv_reply_port_out_of_range() {
    let r = reply(b"229 Entering Extended Passive Mode (|||70000|)\r\n");
    assert_eq!(
        addr::parse_epsv_reply(r.first_line(), Leniency::Lenient),
        Err(AddrError::BadPort)
    );
}

#[test]
fn a22_epsv_reply_with_address_strict_and_lenient() {
    let r = reply(b"229 Entering Extended Passive Mode (|1|1.2.3.4|6446|)\r\n");
    assert_eq!(
        addr::parse_epsv_reply(r.first_line(), Leniency::Strict),
        Err(AddrError::BadAddress)
    );
    assert_eq!(
        addr::parse_epsv_reply(r.first_line(), Leniency::Lenient),
        Ok(6446)
    );
}

#[test]
fn a23_lprt_ipv4() {
    assert_eq!(
        command(b"LPRT 4,4,132,235,1,2,2,24,131\r\n"),
        Command::Lprt(sa("132.235.1.2:6275"))
    );
}

#[test]
fn a24_lprt_ipv6() {
    assert_eq!(
        command(b"LPRT 6,16,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1,2,4,1\r\n"),
        Command::Lprt(sa("[::1]:1025"))
    );
}

#[test]
fn a25_lprt_wrong_address_length_is_501() {
    assert_eq!(refused(b"LPRT 6,4,127,0,0,1,2,4,1\r\n"), 501);
}

#[test]
fn a26_lpsv_reply() {
    let r = reply(b"228 Entering Long Passive Mode (4,4,132,235,1,2,2,24,131)\r\n");
    assert_eq!(
        addr::parse_lpsv_reply(r.first_line()),
        Ok(sa("132.235.1.2:6275"))
    );
    let ours = addr::format_lpsv_reply(sa("132.235.1.2:6275"));
    assert_eq!(
        ours,
        "Entering Long Passive Mode (4,4,132,235,1,2,2,24,131)"
    );
}

// ---------------------------------------------------------------------------------------------
// 7.5 FEAT

fn features(input: &[u8]) -> Features {
    Features::from_reply(
        &replies_with(ReplyConfig::default(), input)
            .remove(0)
            .unwrap(),
    )
}

fn names(items: Option<Vec<ftp_proto::feat::ListedItem>>) -> Vec<(Bytes, bool)> {
    items
        .unwrap()
        .into_iter()
        .map(|i| (i.name, i.selected))
        .collect()
}

#[test]
fn f01_unknown_feature_kept_and_mlst_list_without_trailing_semicolon() {
    let f = features(b"211-Extensions supported:\r\n MLST size*;create;modify*;perm;media-type\r\n SIZE\r\n COMPRESSION\r\n MDTM\r\n211 END\r\n");
    assert!(f.has("SIZE") && f.has("COMPRESSION") && f.has("MDTM"));
    assert_eq!(
        names(f.mlst_facts()),
        vec![
            (b(b"size"), true),
            (b(b"create"), false),
            (b(b"modify"), true),
            (b(b"perm"), false),
            (b(b"media-type"), false)
        ]
    );
}

#[test]
fn f02_no_features() {
    let f = features(b"211 No features\r\n");
    assert!(f.advertised());
    assert_eq!(f.iter().count(), 0);
}

#[test]
fn f03_rfc3659_feature_list() {
    let f = features(b"211-Features supported\r\n MDTM\r\n MLST Type*;Size*;Modify*;Perm;Unique*;\r\n REST STREAM\r\n SIZE\r\n TVFS\r\n211 End\r\n");
    let defaults: Vec<Bytes> = f
        .mlst_facts()
        .unwrap()
        .into_iter()
        .filter(|i| i.selected)
        .map(|i| i.name)
        .collect();
    assert_eq!(
        defaults,
        vec![b(b"Type"), b(b"Size"), b(b"Modify"), b(b"Unique")]
    );
    assert!(f.rest_stream() && f.has("TVFS") && f.has("MDTM"));
}

#[test]
fn f04_terminator_text_varies() {
    let f = features(b"211-Extensions supported:\r\n CLNT\r\n MDTM\r\n211 End.\r\n");
    assert_eq!(
        f.iter().map(|x| x.label.clone()).collect::<Vec<_>>(),
        vec![b(b"CLNT"), b(b"MDTM")]
    );
}

#[test]
fn f05_tls_features() {
    let f = features(b"211-x\r\n AUTH TLS\r\n PBSZ\r\n PROT\r\n211 END\r\n");
    assert_eq!(f.auth_mechanisms(), vec![b(b"TLS")]);
    assert!(f.has("PBSZ") && f.has("PROT"));
}

#[test]
fn f06_lang_and_utf8() {
    let f = features(b"211-x\r\n LANG EN*;FR\r\n UTF8\r\n211 end\r\n");
    assert_eq!(
        names(f.languages()),
        vec![(b(b"EN"), true), (b(b"FR"), false)]
    );
    assert!(f.utf8());
}

#[test]
fn f07_hash_algorithms() {
    let f = features(b"211-x\r\n HASH SHA-256;SHA-512;SHA-1*;MD5\r\n211 END\r\n");
    assert_eq!(
        names(f.hash_algorithms()),
        vec![
            (b(b"SHA-256"), false),
            (b(b"SHA-512"), false),
            (b(b"SHA-1"), true),
            (b(b"MD5"), false)
        ]
    );
}

#[test]
fn f08_feat_unsupported() {
    let f = features(b"500 'FEAT': command not understood\r\n");
    assert!(!f.advertised());
    assert!(!f.has("SIZE"));
}

// ---------------------------------------------------------------------------------------------
// Addresses the vectors imply but do not spell out.

#[test]
fn ipv4_mapped_peer_compares_equal_to_plain_ipv4() {
    let mapped: std::net::IpAddr = "::ffff:10.0.0.1".parse().unwrap();
    assert_eq!(
        addr::canonical_ip(mapped),
        std::net::IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))
    );
}
