//! Every parser of `ftp_proto::addr` on arbitrary bytes, and format/parse round trips.
//!
//! Properties:
//! * no parser panics;
//! * PORT: a parsed address formats (`format_port`) to an argument that parses to the same
//!   address, and to a 227 text (`format_pasv_reply`) that both leniencies read back;
//! * EPRT and LPRT: a parsed address formats to an argument that parses to the same address,
//!   up to the documented IPv4-mapped normalisation (`canonical_ip`); its port formats to a 229
//!   text that strict EPSV parsing reads back, and LPRT's address to a 228 text that
//!   `parse_lpsv_reply` reads back;
//! * what a strict 227/229 parse accepts, the lenient parse accepts with the same result;
//! * every port returned is non-zero.
#![no_main]

use std::net::{SocketAddr, SocketAddrV4};

use ftp_proto::addr::{self, Leniency};
use libfuzzer_sys::fuzz_target;

fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr::canonical_ip(addr.ip()), addr.port())
}

fn check_v4(parsed: SocketAddrV4) {
    assert_ne!(parsed.port(), 0);
    let arg = addr::format_port(parsed);
    assert_eq!(addr::parse_port(arg.as_bytes()), Ok(parsed), "PORT {arg}");
    let text = addr::format_pasv_reply(parsed);
    for leniency in [Leniency::Strict, Leniency::Lenient] {
        assert_eq!(
            addr::parse_pasv_reply(text.as_bytes(), leniency),
            Ok(parsed),
            "227 {text}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(parsed) = addr::parse_port(data) {
        check_v4(parsed);
    }

    if let Ok(parsed) = addr::parse_eprt(data) {
        assert_ne!(parsed.port(), 0);
        let arg = addr::format_eprt(parsed);
        assert_eq!(
            addr::parse_eprt(arg.as_bytes()),
            Ok(canonical(parsed)),
            "EPRT {arg}"
        );
        let text = addr::format_epsv_reply(parsed.port());
        assert_eq!(
            addr::parse_epsv_reply(text.as_bytes(), Leniency::Strict),
            Ok(parsed.port())
        );
    }

    if let Ok(parsed) = addr::parse_lprt(data) {
        assert_ne!(parsed.port(), 0);
        let arg = addr::format_lprt(parsed);
        assert_eq!(
            addr::parse_lprt(arg.as_bytes()),
            Ok(canonical(parsed)),
            "LPRT {arg}"
        );
        let text = addr::format_lpsv_reply(parsed);
        assert_eq!(
            addr::parse_lpsv_reply(text.as_bytes()),
            Ok(canonical(parsed))
        );
        // The EPRT spelling of the same address reads back too.
        let eprt = addr::format_eprt(parsed);
        assert_eq!(addr::parse_eprt(eprt.as_bytes()), Ok(canonical(parsed)));
    }

    let strict = addr::parse_pasv_reply(data, Leniency::Strict);
    let lenient = addr::parse_pasv_reply(data, Leniency::Lenient);
    if let Ok(parsed) = strict {
        assert_eq!(lenient, Ok(parsed), "lenient 227 differs from strict");
    }
    if let Ok(parsed) = lenient {
        check_v4(parsed);
    }

    let strict = addr::parse_epsv_reply(data, Leniency::Strict);
    let lenient = addr::parse_epsv_reply(data, Leniency::Lenient);
    if let Ok(port) = strict {
        assert_eq!(lenient, Ok(port), "lenient 229 differs from strict");
    }
    if let Ok(port) = lenient {
        assert_ne!(port, 0);
        let text = addr::format_epsv_reply(port);
        assert_eq!(
            addr::parse_epsv_reply(text.as_bytes(), Leniency::Strict),
            Ok(port)
        );
    }

    if let Ok(parsed) = addr::parse_lpsv_reply(data) {
        assert_ne!(parsed.port(), 0);
        let text = addr::format_lpsv_reply(parsed);
        assert_eq!(
            addr::parse_lpsv_reply(text.as_bytes()),
            Ok(canonical(parsed))
        );
    }

    if let Ok(families) = addr::parse_supported_families(data) {
        assert!(!families.is_empty());
    }

    let mut octets = [0u8; 16];
    let n = data.len().min(16);
    octets[..n].copy_from_slice(&data[..n]);
    let v6 = std::net::Ipv6Addr::from(octets);
    let canon = addr::canonical_ip(v6.into());
    assert_eq!(canon.is_ipv4(), v6.to_ipv4_mapped().is_some());
});
