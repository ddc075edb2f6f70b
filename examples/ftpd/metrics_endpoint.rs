//! `ftpd --metrics ADDR:PORT`: the server's counters over HTTP at `/metrics`, in the text
//! format Prometheus scrapes (OpenMetrics), encoded by `prometheus-client`.
//!
//! A scrape is small and rare, so one thread answers one request at a time, each bounded: at
//! most 8 KiB of request head, 5 seconds to send it, `Connection: close`. `GET /metrics` (and
//! `HEAD`) get the metrics; any other path 404, any other method 405.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use ftp_server::Metrics;
use prometheus_client::registry::Registry;

const MAX_HEAD: usize = 8 * 1024;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Answers scrapes on `listener` from a thread of its own, for as long as the process runs.
pub(crate) fn serve(listener: TcpListener, metrics: Metrics) {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(metrics));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let _ = answer(stream, &registry);
        }
    });
}

fn answer(mut stream: TcpStream, registry: &Registry) -> std::io::Result<()> {
    stream.set_read_timeout(Some(REQUEST_TIMEOUT))?;
    stream.set_write_timeout(Some(REQUEST_TIMEOUT))?;
    let head = read_head(&mut stream)?;
    let request_line = head
        .split(|&b| b == b'\r' || b == b'\n')
        .next()
        .unwrap_or(b"");
    let mut parts = request_line.split(|&b| b == b' ');
    let (method, path) = (parts.next().unwrap_or(b""), parts.next().unwrap_or(b""));
    let path = path.split(|&b| b == b'?').next().unwrap_or(b"");
    let (status, body) = match (method, path) {
        (b"GET" | b"HEAD", b"/metrics") => {
            let mut body = String::new();
            prometheus_client::encoding::text::encode(&mut body, registry)
                .map_err(std::io::Error::other)?;
            ("200 OK", body)
        }
        (b"GET" | b"HEAD", _) => ("404 Not Found", "Not found: try /metrics\n".into()),
        _ => ("405 Method Not Allowed", "Only GET and HEAD\n".into()),
    };
    let content_type = if status.starts_with("200") {
        CONTENT_TYPE
    } else {
        "text/plain"
    };
    let mut response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    if method != b"HEAD" {
        response.push_str(&body);
    }
    stream.write_all(response.as_bytes())
}

/// The request head, up to its blank line; an error when longer than [`MAX_HEAD`], slower
/// than [`REQUEST_TIMEOUT`], or cut short.
fn read_head(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && !head.windows(2).any(|w| w == b"\n\n") {
        if head.len() > MAX_HEAD {
            return Err(std::io::Error::other("request head too long"));
        }
        match stream.read(&mut buf)? {
            0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            n => head.extend_from_slice(&buf[..n]),
        }
    }
    Ok(head)
}
