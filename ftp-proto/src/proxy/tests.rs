use proptest::prelude::*;

use super::*;

/// Feeds `stream` to a reader the way a socket adapter does: reads at most `wanted()` bytes
/// (and at most `chunk`), until a header or an error. Returns the result and how many bytes of
/// the stream were consumed.
fn read_from(stream: &[u8], chunk: usize) -> (Result<ProxyHeader, ProxyHeaderError>, usize) {
    let mut reader = ProxyHeaderReader::new();
    let mut at = 0;
    loop {
        let wanted = reader.wanted();
        assert!(wanted > 0, "the reader wants nothing before it is done");
        let end = (at + wanted.min(chunk)).min(stream.len());
        if end == at {
            return (Err(ProxyHeaderError::Malformed("test stream ended")), at);
        }
        let result = reader.push(&stream[at..end]);
        at = end;
        match result {
            Ok(None) => {}
            Ok(Some(header)) => {
                assert_eq!(reader.wanted(), 0);
                return (Ok(header), at);
            }
            Err(e) => {
                assert_eq!(reader.wanted(), 0);
                return (Err(e), at);
            }
        }
    }
}

fn addr(text: &str) -> SocketAddr {
    text.parse().expect("socket address")
}

fn proxied(source: &str, destination: &str) -> ProxyHeader {
    ProxyHeader::Proxied {
        source: addr(source),
        destination: addr(destination),
    }
}

const NEXT: &[u8] = b"USER anonymous\r\n";

fn with_next(header: &[u8]) -> Vec<u8> {
    [header, NEXT].concat()
}

#[test]
fn v1_tcp4_is_read_to_its_crlf_and_no_further() {
    let header = b"PROXY TCP4 192.0.2.7 198.51.100.1 56324 21\r\n";
    for chunk in [1, 2, 7, usize::MAX] {
        let (result, used) = read_from(&with_next(header), chunk);
        assert_eq!(result, Ok(proxied("192.0.2.7:56324", "198.51.100.1:21")));
        assert_eq!(used, header.len(), "chunk {chunk}");
    }
}

#[test]
fn v1_tcp6_longest_line_is_104_bytes() {
    let ip = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
    let header = format!("PROXY TCP6 {ip} {ip} 65535 65535\r\n");
    assert_eq!(header.len(), 104);
    let (result, used) = read_from(&with_next(header.as_bytes()), usize::MAX);
    let full = format!("[{ip}]:65535");
    assert_eq!(result, Ok(proxied(&full, &full)));
    assert_eq!(used, 104);
}

#[test]
fn v1_unknown_means_the_connection_addresses() {
    let (result, used) = read_from(&with_next(b"PROXY UNKNOWN\r\n"), usize::MAX);
    assert_eq!((result, used), (Ok(ProxyHeader::Local), 15));
    // Anything after UNKNOWN is ignored, up to the 107-byte limit.
    let long = format!("PROXY UNKNOWN {}\r\n", "x".repeat(91));
    assert_eq!(long.len(), 107);
    let (result, used) = read_from(&with_next(long.as_bytes()), 3);
    assert_eq!((result, used), (Ok(ProxyHeader::Local), 107));
}

#[test]
fn v1_line_without_crlf_stops_at_107_bytes() {
    let stream = format!("PROXY UNKNOWN {}", "x".repeat(200));
    let (result, used) = read_from(stream.as_bytes(), usize::MAX);
    assert_eq!((result, used), (Err(ProxyHeaderError::TooLong), 107));
}

#[test]
fn v1_malformed_lines_are_refused() {
    let bad: &[&[u8]] = &[
        b"PROXY TCP4 192.0.2.7 198.51.100.1 56324\r\n",
        b"PROXY TCP4 192.0.2.7 198.51.100.1 56324 21 9\r\n",
        b"PROXY TCP4  192.0.2.7 198.51.100.1 56324 21\r\n",
        b"PROXY TCP4 192.0.2.7 198.51.100.1 +5632 21\r\n",
        b"PROXY TCP4 192.0.2.7 198.51.100.1 056324 21\r\n",
        b"PROXY TCP4 192.0.2.7 198.51.100.1 65536 21\r\n",
        b"PROXY TCP4 192.0.2.7 198.51.100.1 0021 21\r\n",
        b"PROXY TCP4 ::1 ::1 56324 21\r\n",
        b"PROXY TCP6 192.0.2.7 198.51.100.1 56324 21\r\n",
        b"PROXY TCP4 192.0.2.256 198.51.100.1 56324 21\r\n",
        b"PROXY UDP4 192.0.2.7 198.51.100.1 56324 21\r\n",
        b"PROXY UNKNOWNX\r\n",
        b"PROXY TCP4 192.0.2.7 198.51.100.1 56324 \xff1\r\n",
    ];
    for line in bad {
        let (result, used) = read_from(&with_next(line), usize::MAX);
        assert!(
            matches!(result, Err(ProxyHeaderError::Malformed(_))),
            "{:?}: {result:?}",
            String::from_utf8_lossy(line)
        );
        assert!(used <= line.len());
    }
}

#[test]
fn other_protocols_are_refused_at_their_first_differing_byte() {
    for (stream, used) in [
        (&b"USER anonymous\r\n"[..], 1),
        (b"PROXX TCP4 1.2.3.4", 5),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 1),
        (b"\r\n\r\n\0\r\nQUIX\nxxxxx", 11),
    ] {
        let (result, consumed) = read_from(stream, 1);
        assert_eq!(result, Err(ProxyHeaderError::NotAProxyHeader));
        assert_eq!(consumed, used, "{stream:?}");
    }
}

#[test]
fn v2_ipv4_proxy_command() {
    let mut header = V2_SIGNATURE.to_vec();
    header.extend_from_slice(&[0x21, 0x11, 0x00, 0x0c]);
    header.extend_from_slice(&[192, 0, 2, 7, 198, 51, 100, 1]);
    header.extend_from_slice(&[0xdc, 0x04, 0x00, 0x15]);
    for chunk in [1, 5, usize::MAX] {
        let (result, used) = read_from(&with_next(&header), chunk);
        assert_eq!(result, Ok(proxied("192.0.2.7:56324", "198.51.100.1:21")));
        assert_eq!(used, 28, "chunk {chunk}");
    }
}

#[test]
fn v2_ipv6_proxy_command() {
    let mut header = V2_SIGNATURE.to_vec();
    header.extend_from_slice(&[0x21, 0x21, 0x00, 0x24]);
    header.extend_from_slice(&"2001:db8::7".parse::<Ipv6Addr>().unwrap().octets());
    header.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
    header.extend_from_slice(&[0xdc, 0x04, 0x00, 0x15]);
    let (result, used) = read_from(&with_next(&header), usize::MAX);
    assert_eq!(
        result,
        Ok(proxied("[2001:db8::7]:56324", "[2001:db8::1]:21"))
    );
    assert_eq!(used, 52);
}

#[test]
fn v2_tlvs_are_skipped_without_over_reading() {
    // HAProxy's send-proxy-v2 with an ALPN TLV and a NOOP padding TLV of 600 bytes.
    let mut tlvs = vec![0x01, 0x00, 0x02, b'h', b'2'];
    tlvs.extend_from_slice(&[0x04, 0x02, 0x58]);
    tlvs.extend(std::iter::repeat_n(0u8, 600));
    let mut header = V2_SIGNATURE.to_vec();
    header.extend_from_slice(&[0x21, 0x11]);
    header.extend_from_slice(&u16::try_from(12 + tlvs.len()).unwrap().to_be_bytes());
    header.extend_from_slice(&[127, 0, 0, 5, 127, 0, 0, 1, 0x30, 0x39, 0x00, 0x15]);
    header.extend_from_slice(&tlvs);
    for chunk in [1, 100, usize::MAX] {
        let (result, used) = read_from(&with_next(&header), chunk);
        assert_eq!(result, Ok(proxied("127.0.0.5:12345", "127.0.0.1:21")));
        assert_eq!(used, header.len(), "chunk {chunk}");
    }
}

#[test]
fn v2_local_unspec_and_unix_use_the_connection_addresses() {
    let local = [&V2_SIGNATURE[..], &[0x20, 0x00, 0x00, 0x00]].concat();
    assert_eq!(
        read_from(&with_next(&local), usize::MAX),
        (Ok(ProxyHeader::Local), 16)
    );
    // LOCAL with addresses: they are ignored.
    let mut local_v4 = [&V2_SIGNATURE[..], &[0x20, 0x11, 0x00, 0x0c]].concat();
    local_v4.extend_from_slice(&[1; 12]);
    assert_eq!(
        read_from(&with_next(&local_v4), usize::MAX),
        (Ok(ProxyHeader::Local), 28)
    );
    let mut unix = [&V2_SIGNATURE[..], &[0x21, 0x31, 0x00, 0xd8]].concat();
    unix.extend_from_slice(&[b'/'; 216]);
    assert_eq!(
        read_from(&with_next(&unix), 9),
        (Ok(ProxyHeader::Local), 232)
    );
}

#[test]
fn v2_bad_versions_commands_and_lengths_are_refused() {
    for (version_family_len, error) in [
        (
            [0x11, 0x11, 0x00, 0x0c],
            ProxyHeaderError::UnsupportedVersion,
        ),
        (
            [0x31, 0x11, 0x00, 0x0c],
            ProxyHeaderError::UnsupportedVersion,
        ),
        (
            [0x22, 0x11, 0x00, 0x0c],
            ProxyHeaderError::UnsupportedVersion,
        ),
        (
            [0x21, 0x11, 0x00, 0x0b],
            ProxyHeaderError::Malformed("address block shorter than its family needs"),
        ),
        (
            [0x21, 0x21, 0x00, 0x0c],
            ProxyHeaderError::Malformed("address block shorter than its family needs"),
        ),
    ] {
        let mut stream = V2_SIGNATURE.to_vec();
        stream.extend_from_slice(&version_family_len);
        stream.extend_from_slice(&[0; 40]);
        let (result, used) = read_from(&stream, usize::MAX);
        assert_eq!((result, used), (Err(error), 16), "{version_family_len:x?}");
    }
}

#[test]
fn encoders_write_the_protocol_examples() {
    let header = proxied("192.0.2.7:56324", "198.51.100.1:21");
    let mut v1 = Vec::new();
    encode_v1(&header, &mut v1);
    assert_eq!(v1, b"PROXY TCP4 192.0.2.7 198.51.100.1 56324 21\r\n");
    let mut v2 = Vec::new();
    encode_v2(&header, &mut v2);
    let mut expected = V2_SIGNATURE.to_vec();
    expected.extend_from_slice(&[0x21, 0x11, 0x00, 0x0c, 192, 0, 2, 7, 198, 51, 100, 1]);
    expected.extend_from_slice(&[0xdc, 0x04, 0x00, 0x15]);
    assert_eq!(v2, expected);
    let mut local = Vec::new();
    encode_v1(&ProxyHeader::Local, &mut local);
    encode_v2(&ProxyHeader::Local, &mut local);
    assert_eq!(
        local,
        [&b"PROXY UNKNOWN\r\n"[..], &V2_SIGNATURE, &[0x20, 0, 0, 0]].concat()
    );
}

fn any_socket_addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::from((ip, port))),
        (any::<[u8; 16]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::from((ip, port))),
    ]
}

/// The address a header of the source's family carries for `ip`.
fn as_family_of(source: SocketAddr, ip: SocketAddr, v1: bool) -> SocketAddr {
    let v6 = |ip: IpAddr| match ip {
        IpAddr::V4(v4) => IpAddr::V6(v4.to_ipv6_mapped()),
        v6 => v6,
    };
    match (source.ip(), ip.ip()) {
        (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => ip,
        (IpAddr::V4(_), IpAddr::V6(d)) if v1 => SocketAddr::new(
            d.to_ipv4_mapped()
                .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), IpAddr::V4),
            ip.port(),
        ),
        _ => SocketAddr::new(v6(ip.ip()), ip.port()),
    }
}

proptest! {
    #[test]
    fn encoded_headers_read_back_and_leave_the_rest(
        source in any_socket_addr(),
        destination in any_socket_addr(),
        rest in proptest::collection::vec(any::<u8>(), 0..64),
        chunk in 1usize..40,
    ) {
        let header = ProxyHeader::Proxied { source, destination };
        for v1 in [true, false] {
            let mut stream = Vec::new();
            if v1 { encode_v1(&header, &mut stream) } else { encode_v2(&header, &mut stream) }
            let header_len = stream.len();
            stream.extend_from_slice(&rest);
            let (result, used) = read_from(&stream, chunk);
            let source = if v1 || destination.is_ipv4() == source.is_ipv4() {
                source
            } else {
                as_family_of(destination, source, false)
            };
            let expected = ProxyHeader::Proxied {
                source,
                destination: as_family_of(source, destination, v1),
            };
            prop_assert_eq!(result, Ok(expected));
            prop_assert_eq!(used, header_len);
        }
    }

    #[test]
    fn any_input_ends_within_the_bounds(
        stream in proptest::collection::vec(any::<u8>(), 0..300),
        v2_prefix in any::<bool>(),
        chunk in 1usize..64,
    ) {
        let stream = if v2_prefix { [&V2_SIGNATURE[..], &stream].concat() } else { stream };
        let mut reader = ProxyHeaderReader::new();
        let mut at = 0;
        while reader.wanted() > 0 && at < stream.len() {
            prop_assert!(reader.wanted() <= 65_535);
            let end = (at + reader.wanted().min(chunk)).min(stream.len());
            let _ = reader.push(&stream[at..end]);
            at = end;
        }
        prop_assert!(at <= V2_PREFIX_LEN + 65_535);
    }
}
