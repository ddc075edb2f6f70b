//! Listing parsers beside suppaftp's: LIST lines (Unix `ls -l` shapes and IIS/DOS) and MLSD
//! lines, in lines per second, on the same generated real-world lines for both libraries.
//!
//! The corpus keeps only lines suppaftp parses, so both sides do a full parse of every line.
//! Each comparison measures the two sides alternately, [`ROUNDS`] times each, and reports the
//! ratio of their best runs: on a shared machine that is the pair least disturbed by other load.
//! Run with `cargo bench -p ftp-benches --bench listing` (`FTP_BENCH_SECONDS` sets the time per
//! measurement).

use std::hint::black_box;
use std::str::FromStr;

use bytes::Bytes;
use ftp_benches::{measure, report_ratio, Measurement};
use ftp_proto::listing::{parse_list_line, ListFormat, MlsxEntry, ParseContext, Strictness};
use ftp_proto::Timestamp;
use suppaftp::list::{File, ListParser};

const LINES: usize = 4000;

/// Measurements per side in each comparison.
const ROUNDS: usize = 3;

/// Measures `ours` and `theirs` alternately and reports the ratio of their best runs.
fn compare(
    ours_name: &str,
    mut ours: impl FnMut() -> u64,
    theirs_name: &str,
    mut theirs: impl FnMut() -> u64,
) {
    let mut best: Option<(Measurement, Measurement)> = None;
    for _ in 0..ROUNDS {
        let ours = measure(ours_name, "lines", &mut ours);
        let theirs = measure(theirs_name, "lines", &mut theirs);
        best = Some(match best {
            None => (ours, theirs),
            Some((a, b)) => (faster(a, ours), faster(b, theirs)),
        });
    }
    if let Some((ours, theirs)) = best {
        println!("  best of {ROUNDS}:");
        report_ratio(&ours, &theirs);
    }
}

fn faster(a: Measurement, b: Measurement) -> Measurement {
    if b.per_second() > a.per_second() {
        b
    } else {
        a
    }
}

/// A small deterministic generator, so every run measures the same lines.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % bound
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.next(items.len() as u64) as usize]
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn name(rng: &mut Lcg, i: usize) -> String {
    match rng.next(5) {
        0 => format!("report_{i}.pdf"),
        1 => format!("holiday photo {i}.jpg"),
        2 => format!("{i} notes.txt"),
        3 => format!("archive-{i}.tar.gz"),
        _ => format!("src{i}"),
    }
}

/// One `ls -l` line in the shape of GNU ls, BSD ls, busybox, vsftpd, proftpd or pure-ftpd.
fn unix_line(rng: &mut Lcg, i: usize) -> String {
    let mode = rng.pick(&[
        "-rw-r--r--",
        "drwxr-xr-x",
        "lrwxrwxrwx",
        "-rwxr-xr-x",
        "-rw-------",
    ]);
    let links = 1 + rng.next(30);
    let (owner, group) = match rng.next(4) {
        0 => ("ftp", "ftp"),
        1 => ("1000", "1000"),
        2 => ("alice", "staff"),
        _ => ("www-data", "www-data"),
    };
    let size = rng.next(50_000_000);
    let month = MONTHS[rng.next(12) as usize];
    let day = 1 + rng.next(28);
    let recent = rng.next(2) == 0;
    let clock = format!("{:02}:{:02}", rng.next(24), rng.next(60));
    let year = 2000 + rng.next(24);
    let mut name = name(rng, i);
    if mode.starts_with('l') {
        name.push_str(&format!(" -> target/{i}"));
    }
    let date = |zero_pad: bool| match (recent, zero_pad) {
        (true, true) => format!("{month} {day:02} {clock}"),
        (true, false) => format!("{month} {day:>2} {clock}"),
        (false, true) => format!("{month} {day:02}  {year}"),
        (false, false) => format!("{month} {day:>2}  {year}"),
    };
    match rng.next(6) {
        0 => format!(
            "{mode} {links} {owner} {group} {size:>8} {} {name}",
            date(false)
        ),
        1 => format!(
            "{mode}  {links} {owner}  {group}  {size:>8} {} {name}",
            date(false)
        ),
        2 => format!(
            "{mode}    {links} {owner:<8} {group:<8} {size:>9} {} {name}",
            date(false)
        ),
        3 => format!(
            "{mode}    {links} {owner:<8} {group:<8} {size:>8} {} {name}",
            date(true)
        ),
        4 => format!(
            "{mode}   {links:>3} {owner:<8} {group:<8} {size:>8} {} {name}",
            date(false)
        ),
        _ => format!(
            "{mode}    {links} {owner:<10} {group:<10} {size:>10} {} {name}",
            date(false)
        ),
    }
}

/// One IIS line (two-digit years, 12-hour clock).
fn dos_line(rng: &mut Lcg, i: usize) -> String {
    let (month, day, year) = (1 + rng.next(12), 1 + rng.next(28), rng.next(30));
    let (hour, minute) = (1 + rng.next(12), rng.next(60));
    let meridiem = if rng.next(2) == 0 { "AM" } else { "PM" };
    let stamp = format!("{month:02}-{day:02}-{year:02}  {hour:02}:{minute:02}{meridiem}");
    if rng.next(4) == 0 {
        format!("{stamp}       <DIR>          {}", name(rng, i))
    } else {
        format!("{stamp} {:>20} {}", rng.next(5_000_000_000), name(rng, i))
    }
}

/// One MLSD line in the shape proftpd or pure-ftpd sends.
fn mlsd_line(rng: &mut Lcg, i: usize) -> String {
    let modify = format!(
        "{}{:02}{:02}{:02}{:02}{:02}",
        2000 + rng.next(24),
        1 + rng.next(12),
        1 + rng.next(28),
        rng.next(24),
        rng.next(60),
        rng.next(60)
    );
    let size = rng.next(50_000_000);
    let name = name(rng, i);
    match rng.next(4) {
        0 => format!("modify={modify};perm=adfr;size={size};type=file;unique=FD01U{i:X};UNIX.group=1000;UNIX.mode=0644;UNIX.owner=1000; {name}"),
        1 => format!("modify={modify};perm=flcdmpe;type=dir;unique=FD01U{i:X};UNIX.group=1000;UNIX.groupname=ftp;UNIX.mode=0755;UNIX.owner=1000;UNIX.ownername=ftp; {name}"),
        2 => format!("type=file;size={size};modify={modify};UNIX.mode=0644;UNIX.uid=1000;UNIX.gid=1000;unique=803g{i:x}; {name}"),
        _ => format!("type=dir;sizd=4096;modify={modify};UNIX.mode=0755;UNIX.uid=1000;UNIX.gid=1000;unique=803g{i:x}; {name}"),
    }
}

/// The lines as one buffer (as read from a data connection) and as `Bytes` slices of it.
fn as_bytes_lines(lines: &[String]) -> Vec<Bytes> {
    let buffer = Bytes::from(lines.concat());
    let mut start = 0;
    lines
        .iter()
        .map(|line| {
            let slice = buffer.slice(start..start + line.len());
            start += line.len();
            slice
        })
        .collect()
}

fn main() {
    let mut rng = Lcg(0x5eed);
    let ctx = ParseContext::new(Timestamp::new(2024, 3, 15, 12, 0, 0).unwrap());

    let generated: Vec<(String, ListFormat)> = (0..LINES)
        .map(|i| match rng.next(6) {
            0 => (dos_line(&mut rng, i), ListFormat::Dos),
            _ => (unix_line(&mut rng, i), ListFormat::Unix),
        })
        .collect();
    let (list, formats): (Vec<String>, Vec<ListFormat>) = generated
        .into_iter()
        .filter(|(line, _)| File::from_str(line).is_ok())
        .unzip();
    let list_bytes = as_bytes_lines(&list);
    let ours_ok = list_bytes
        .iter()
        .filter(|line| parse_list_line(line, &ctx).is_ok())
        .count();
    println!(
        "LIST corpus: {} of {LINES} generated lines parse with suppaftp ({} Unix, {} DOS); ftp-proto parses {ours_ok} of them",
        list.len(),
        formats.iter().filter(|f| **f == ListFormat::Unix).count(),
        formats.iter().filter(|f| **f == ListFormat::Dos).count(),
    );
    assert_eq!(
        ours_ok,
        list.len(),
        "ftp-proto must parse every line suppaftp parses"
    );

    compare(
        "LIST, format detected: ftp-proto",
        || {
            for line in &list_bytes {
                let _ = black_box(parse_list_line(black_box(line), &ctx));
            }
            list_bytes.len() as u64
        },
        "LIST, format detected: suppaftp File::from_str",
        || {
            for line in &list {
                let _ = black_box(File::from_str(black_box(line)));
            }
            list.len() as u64
        },
    );

    let unix_ctx = ctx.with_format(ListFormat::Unix);
    let dos_ctx = ctx.with_format(ListFormat::Dos);
    compare(
        "LIST, format known: ftp-proto",
        || {
            for (line, format) in list_bytes.iter().zip(&formats) {
                let ctx = if *format == ListFormat::Unix {
                    &unix_ctx
                } else {
                    &dos_ctx
                };
                let _ = black_box(parse_list_line(black_box(line), ctx));
            }
            list_bytes.len() as u64
        },
        "LIST, format known: suppaftp parse_posix/dos",
        || {
            for (line, format) in list.iter().zip(&formats) {
                let _ = black_box(if *format == ListFormat::Unix {
                    ListParser::parse_posix(black_box(line))
                } else {
                    ListParser::parse_dos(black_box(line))
                });
            }
            list.len() as u64
        },
    );

    let mlsd: Vec<String> = (0..LINES)
        .map(|i| mlsd_line(&mut rng, i))
        .filter(|line| ListParser::parse_mlsd(line).is_ok())
        .collect();
    let mlsd_bytes = as_bytes_lines(&mlsd);
    println!(
        "MLSD corpus: {} of {LINES} generated lines parse with suppaftp",
        mlsd.len()
    );
    let parse_mlsd_suppaftp = || {
        for line in &mlsd {
            let _ = black_box(ListParser::parse_mlsd(black_box(line)));
        }
        mlsd.len() as u64
    };
    compare(
        "MLSD: ftp-proto MlsxEntry (facts)",
        || {
            for line in &mlsd_bytes {
                let _ = black_box(MlsxEntry::parse_mlsd_line(
                    black_box(line),
                    Strictness::Lenient,
                ));
            }
            mlsd_bytes.len() as u64
        },
        "MLSD: suppaftp ListParser::parse_mlsd",
        parse_mlsd_suppaftp,
    );
    let mlsd_ctx = ctx.with_format(ListFormat::Mlsd);
    compare(
        "MLSD: ftp-proto parse_list_line (Entry)",
        || {
            for line in &mlsd_bytes {
                let _ = black_box(parse_list_line(black_box(line), &mlsd_ctx));
            }
            mlsd_bytes.len() as u64
        },
        "MLSD: suppaftp ListParser::parse_mlsd",
        parse_mlsd_suppaftp,
    );
}
