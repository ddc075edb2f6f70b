//! Real-world listing lines, one per row, each labelled with the program whose output shape it
//! has. Every line is parsed with format detection and checked field by field; the reference
//! time is 2024-03-15 12:00, so `Mon dd HH:MM` dates fall in 2023 or 2024 by the ls rule.

use bytes::Bytes;
use ftp_proto::listing::{
    parse_list_line, parse_listing, Device, EntryKind, ListFormat, ParseContext,
};
use ftp_proto::Timestamp;

use EntryKind::{BlockDevice, CharDevice, Dir, Fifo, File, Socket, Symlink};
use ListFormat::{Dos, Eplf, Mlsd, Mlst, Unix};

/// One expected entry.
struct Row {
    source: &'static str,
    line: &'static [u8],
    format: ListFormat,
    kind: EntryKind,
    name: &'static [u8],
    size: Option<u64>,
    /// `time-val` of the expected modification time.
    modified: Option<&'static str>,
    owner: Option<&'static str>,
    group: Option<&'static str>,
    target: Option<&'static str>,
}

#[allow(clippy::too_many_arguments)]
const fn row(
    source: &'static str,
    line: &'static [u8],
    format: ListFormat,
    kind: EntryKind,
    name: &'static [u8],
    size: Option<u64>,
    modified: Option<&'static str>,
    owner: Option<&'static str>,
    group: Option<&'static str>,
    target: Option<&'static str>,
) -> Row {
    Row {
        source,
        line,
        format,
        kind,
        name,
        size,
        modified,
        owner,
        group,
        target,
    }
}

const N: Option<&str> = None;

#[rustfmt::skip]
const ROWS: &[Row] = &[
    // GNU coreutils ls -l (C locale)
    row("GNU ls", b"-rw-r--r-- 1 alice staff 1048576 Mar 14 09:30 report.pdf", Unix, File, b"report.pdf", Some(1_048_576), Some("20240314093000"), Some("alice"), Some("staff"), N),
    row("GNU ls", b"drwxr-xr-x 2 alice staff    4096 Jan  5  2023 projects", Unix, Dir, b"projects", Some(4096), Some("20230105000000"), Some("alice"), Some("staff"), N),
    row("GNU ls (symlink)", b"lrwxrwxrwx 1 root root 7 Feb 11  2022 bin -> usr/bin", Unix, Symlink, b"bin", Some(7), Some("20220211000000"), Some("root"), Some("root"), Some("usr/bin")),
    row("GNU ls (SELinux context mark)", b"-rw-r--r--. 1 alice alice 220 Dec 28 10:15 .bash_logout", Unix, File, b".bash_logout", Some(220), Some("20231228101500"), Some("alice"), Some("alice"), N),
    row("GNU ls (ACL mark)", b"-rw-rw-r--+ 1 bob devs 12 Mar  1 08:00 acl file.txt", Unix, File, b"acl file.txt", Some(12), Some("20240301080000"), Some("bob"), Some("devs"), N),
    row("GNU ls (char device)", b"crw-rw-rw- 1 root root 1, 3 Mar 10 07:41 null", Unix, CharDevice, b"null", None, Some("20240310074100"), Some("root"), Some("root"), N),
    row("GNU ls (block device)", b"brw-rw---- 1 root disk 8, 0 Mar 10 07:41 sda", Unix, BlockDevice, b"sda", None, Some("20240310074100"), Some("root"), Some("disk"), N),
    row("GNU ls (fifo)", b"prw-r--r-- 1 alice alice 0 Mar  2 11:11 fifo", Unix, Fifo, b"fifo", Some(0), Some("20240302111100"), Some("alice"), Some("alice"), N),
    row("GNU ls (socket)", b"srwxrwxrwx 1 root root 0 Mar 10 07:41 docker.sock", Unix, Socket, b"docker.sock", Some(0), Some("20240310074100"), Some("root"), Some("root"), N),
    row("GNU ls (setuid)", b"-rwsr-xr-x 1 root root 55672 Feb 20  2023 su", Unix, File, b"su", Some(55_672), Some("20230220000000"), Some("root"), Some("root"), N),
    row("GNU ls (sticky directory)", b"drwxrwxrwt 18 root root 4096 Mar 15 11:59 tmp", Unix, Dir, b"tmp", Some(4096), Some("20240315115900"), Some("root"), Some("root"), N),
    row("GNU ls (name with leading digits)", b"-rw-r--r-- 1 alice staff 0 Mar 14 09:30 2023 annual report.txt", Unix, File, b"2023 annual report.txt", Some(0), Some("20240314093000"), Some("alice"), Some("staff"), N),
    row("GNU ls (name with leading spaces)", b"-rw-r--r-- 1 alice staff 3 Mar 14 09:30   two leading spaces", Unix, File, b"  two leading spaces", Some(3), Some("20240314093000"), Some("alice"), Some("staff"), N),
    row("GNU ls --time-style=long-iso", b"-rw-r--r-- 1 alice staff 4 2024-03-14 09:30 iso.txt", Unix, File, b"iso.txt", Some(4), Some("20240314093000"), Some("alice"), Some("staff"), N),
    row("GNU ls -n (numeric owner, date ahead: last year)", b"-rw-r--r-- 1 1000 1000 512 Sep 10 08:00 upcoming.log", Unix, File, b"upcoming.log", Some(512), Some("20230910080000"), Some("1000"), Some("1000"), N),
    row("GNU ls (a server clock hours ahead)", b"-rw-r--r-- 1 alice staff 512 Mar 16 08:00 tomorrow.log", Unix, File, b"tomorrow.log", Some(512), Some("20240316080000"), Some("alice"), Some("staff"), N),
    row("Twisted (time instead of year, all of last year)", b"-rw-r--r-- 1 alice staff 512 Jun 20 08:00 june.log", Unix, File, b"june.log", Some(512), Some("20230620080000"), Some("alice"), Some("staff"), N),
    row("GNU ls (time of day, previous year)", b"-rw-r--r-- 1 alice staff 512 Oct  1 08:00 last-october.log", Unix, File, b"last-october.log", Some(512), Some("20231001080000"), Some("alice"), Some("staff"), N),
    row("GNU ls -o (no group column)", b"-rw-r--r-- 1 alice 1234 Mar 14 09:30 nogroup.txt", Unix, File, b"nogroup.txt", Some(1234), Some("20240314093000"), Some("alice"), N, N),
    row("GNU ls --block-size=\"'1\" (grouped size)", b"-rw-rw-r-- 1 alice staff 1,234,567 Mar 14 09:30 grouped.bin", Unix, File, b"grouped.bin", Some(1_234_567), Some("20240314093000"), Some("alice"), Some("staff"), N),
    row("GNU ls (Feb 29 of a leap year)", b"-rw-r--r-- 1 alice staff 100 Feb 29 10:00 leap.txt", Unix, File, b"leap.txt", Some(100), Some("20240229100000"), Some("alice"), Some("staff"), N),
    row("GNU ls (Latin-1 name)", b"-rw-r--r-- 1 alice staff 5 Mar 14 09:30 caf\xe9.txt", Unix, File, b"caf\xe9.txt", Some(5), Some("20240314093000"), Some("alice"), Some("staff"), N),
    // BSD ls (FreeBSD, macOS)
    row("FreeBSD ls", b"-rw-r--r--  1 alice  staff  1048576 Mar 14 09:30 report.pdf", Unix, File, b"report.pdf", Some(1_048_576), Some("20240314093000"), Some("alice"), Some("staff"), N),
    row("macOS ls", b"drwxr-xr-x  5 alice  staff      160 Jan  5  2023 Projects", Unix, Dir, b"Projects", Some(160), Some("20230105000000"), Some("alice"), Some("staff"), N),
    row("macOS ls (xattr mark)", b"-rw-r--r--@ 1 alice  staff     6148 Mar  3 17:02 .DS_Store", Unix, File, b".DS_Store", Some(6148), Some("20240303170200"), Some("alice"), Some("staff"), N),
    row("macOS ls (symlink)", b"lrwxr-xr-x  1 root  wheel  11 Jan  1  2020 etc -> private/etc", Unix, Symlink, b"etc", Some(11), Some("20200101000000"), Some("root"), Some("wheel"), Some("private/etc")),
    row("macOS ls (char device)", b"crw-rw-rw-  1 root  wheel    3,   2 Mar 10 07:41 null", Unix, CharDevice, b"null", None, Some("20240310074100"), Some("root"), Some("wheel"), N),
    row("FreeBSD ls", b"-r--r--r--  1 root  wheel  6109 Nov 30  2021 COPYRIGHT", Unix, File, b"COPYRIGHT", Some(6109), Some("20211130000000"), Some("root"), Some("wheel"), N),
    row("macOS ls (ACL mark)", b"drwx------+ 4 alice  staff  128 Mar 12 22:05 Desktop", Unix, Dir, b"Desktop", Some(128), Some("20240312220500"), Some("alice"), Some("staff"), N),
    // busybox ls -l
    row("busybox ls", b"-rw-r--r--    1 root     root          1234 Mar 14 09:30 busybox.conf", Unix, File, b"busybox.conf", Some(1234), Some("20240314093000"), Some("root"), Some("root"), N),
    row("busybox ls", b"drwxr-xr-x    2 root     root             0 Jan  1  1970 proc", Unix, Dir, b"proc", Some(0), Some("19700101000000"), Some("root"), Some("root"), N),
    row("busybox ls (symlink)", b"lrwxrwxrwx    1 root     root            12 Mar 14 09:30 sh -> /bin/busybox", Unix, Symlink, b"sh", Some(12), Some("20240314093000"), Some("root"), Some("root"), Some("/bin/busybox")),
    row("busybox ls (char device)", b"crw-rw----    1 root     tty         4,  64 Mar 10 07:41 ttyS0", Unix, CharDevice, b"ttyS0", None, Some("20240310074100"), Some("root"), Some("tty"), N),
    row("busybox ls (numeric owner)", b"-rwxr-xr-x    1 1000     1000       8388608 Mar  9 23:59 firmware.bin", Unix, File, b"firmware.bin", Some(8_388_608), Some("20240309235900"), Some("1000"), Some("1000"), N),
    // vsftpd (zero-padded day)
    row("vsftpd", b"-rw-r--r--    1 ftp      ftp      104857600 Mar 05 14:22 100MB.bin", Unix, File, b"100MB.bin", Some(104_857_600), Some("20240305142200"), Some("ftp"), Some("ftp"), N),
    row("vsftpd", b"drwxr-xr-x    2 ftp      ftp          4096 Dec 01  2022 pub", Unix, Dir, b"pub", Some(4096), Some("20221201000000"), Some("ftp"), Some("ftp"), N),
    row("vsftpd (numeric ids)", b"-rw-r--r--    1 1001     1001           42 Mar 14 09:30 numeric owner.txt", Unix, File, b"numeric owner.txt", Some(42), Some("20240314093000"), Some("1001"), Some("1001"), N),
    row("vsftpd (symlink)", b"lrwxrwxrwx    1 0        0              11 Jun 30  2023 current -> release-1.2", Unix, Symlink, b"current", Some(11), Some("20230630000000"), Some("0"), Some("0"), Some("release-1.2")),
    row("vsftpd (hidden file)", b"-rw-------    1 ftp      ftp             0 Mar 15 11:58 .hidden", Unix, File, b".hidden", Some(0), Some("20240315115800"), Some("ftp"), Some("ftp"), N),
    // proftpd
    row("proftpd", b"-rw-r--r--   1 proftpd  proftpd      1234 Mar 14 09:30 index.html", Unix, File, b"index.html", Some(1234), Some("20240314093000"), Some("proftpd"), Some("proftpd"), N),
    row("proftpd", b"drwxr-xr-x   3 proftpd  proftpd      4096 Jan  5  2023 incoming", Unix, Dir, b"incoming", Some(4096), Some("20230105000000"), Some("proftpd"), Some("proftpd"), N),
    row("proftpd (symlink)", b"lrwxrwxrwx   1 proftpd  proftpd        12 Mar 14 09:30 latest -> v2.0/latest", Unix, Symlink, b"latest", Some(12), Some("20240314093000"), Some("proftpd"), Some("proftpd"), Some("v2.0/latest")),
    row("proftpd (size wider than its column)", b"-rw-r--r--   1 ftp      ftp      2147483648 Feb  2 02:02 huge.iso", Unix, File, b"huge.iso", Some(2_147_483_648), Some("20240202020200"), Some("ftp"), Some("ftp"), N),
    row("proftpd (double spaces in name)", b"-rw-r--r--   1 ftp      ftp             7 Mar 14 09:30 name with  two  spaces", Unix, File, b"name with  two  spaces", Some(7), Some("20240314093000"), Some("ftp"), Some("ftp"), N),
    // pure-ftpd
    row("pure-ftpd", b"-rw-r--r--    1 1000       1000             1234 Mar 14 09:30 pure.txt", Unix, File, b"pure.txt", Some(1234), Some("20240314093000"), Some("1000"), Some("1000"), N),
    row("pure-ftpd", b"drwxr-xr-x    2 1000       1000             4096 Jan  5  2023 uploads", Unix, Dir, b"uploads", Some(4096), Some("20230105000000"), Some("1000"), Some("1000"), N),
    row("pure-ftpd (symlink)", b"lrwxrwxrwx    1 1000       1000               10 Mar 14 09:30 link -> target.txt", Unix, Symlink, b"link", Some(10), Some("20240314093000"), Some("1000"), Some("1000"), Some("target.txt")),
    row("pure-ftpd (named owner)", b"-rw-r--r--    1 ftpuser    ftpgroup    987654321 Nov 11  2022 backup.tar.gz", Unix, File, b"backup.tar.gz", Some(987_654_321), Some("20221111000000"), Some("ftpuser"), Some("ftpgroup"), N),
    // IIS, MS-DOS style
    row("IIS", b"03-14-24  09:30AM       <DIR>          aspnet_client", Dos, Dir, b"aspnet_client", None, Some("20240314093000"), N, N, N),
    row("IIS", b"03-14-24  02:15PM                 1234 iisstart.htm", Dos, File, b"iisstart.htm", Some(1234), Some("20240314141500"), N, N, N),
    row("IIS (name with a space)", b"12-31-23  11:59PM            104857600 year end.zip", Dos, File, b"year end.zip", Some(104_857_600), Some("20231231235900"), N, N, N),
    row("IIS (midnight, last century)", b"01-01-98  12:00AM                  100 old.txt", Dos, File, b"old.txt", Some(100), Some("19980101000000"), N, N, N),
    row("IIS (noon)", b"07-04-22  12:30PM       <DIR>          Name With Spaces", Dos, Dir, b"Name With Spaces", None, Some("20220704123000"), N, N, N),
    row("IIS (four-digit years)", b"03-14-2024  02:15PM                 5120 web.config", Dos, File, b"web.config", Some(5120), Some("20240314141500"), N, N, N),
    row("IIS (four-digit years)", b"03-14-2024  09:30AM       <DIR>          logs", Dos, Dir, b"logs", None, Some("20240314093000"), N, N, N),
    row("DOS style, 24-hour clock", b"03-14-2024  14:15       <DIR>          archive", Dos, Dir, b"archive", None, Some("20240314141500"), N, N, N),
    row("DOS style, 24-hour clock", b"03-14-2024  14:15                 1234 report.csv", Dos, File, b"report.csv", Some(1234), Some("20240314141500"), N, N, N),
    row("Windows dir", b"03/14/2024  02:15 PM    <DIR>          Documents", Dos, Dir, b"Documents", None, Some("20240314141500"), N, N, N),
    row("Windows dir (grouped size)", b"03/14/2024  02:15 PM         1,234,567 setup.exe", Dos, File, b"setup.exe", Some(1_234_567), Some("20240314141500"), N, N, N),
    // EPLF (D. J. Bernstein's publicfile)
    row("EPLF (publicfile)", b"+i8388621.29609,m824255902,/,\tdev", Eplf, Dir, b"dev", None, Some("19960213235822"), N, N, N),
    row("EPLF (publicfile)", b"+i8388621.44468,m839956783,r,s10376,\tRFCEPLF", Eplf, File, b"RFCEPLF", Some(10_376), Some("19960813171943"), N, N, N),
    row("EPLF (with mode)", b"+m825718503,r,s280,up644,\tdjb.html", Eplf, File, b"djb.html", Some(280), Some("19960301221503"), N, N, N),
    row("EPLF (directory, no id)", b"+/,m1710408600,\tpub", Eplf, Dir, b"pub", None, Some("20240314093000"), N, N, N),
    // MLSD, proftpd (mod_facts)
    row("MLSD (proftpd)", b"modify=20240314093000;perm=adfr;size=1234;type=file;unique=FD01U1C0E45;UNIX.group=1000;UNIX.mode=0644;UNIX.owner=1000; index.html", Mlsd, File, b"index.html", Some(1234), Some("20240314093000"), Some("1000"), Some("1000"), N),
    row("MLSD (proftpd)", b"modify=20240101120000;perm=flcdmpe;type=dir;unique=FD01U1C0E46;UNIX.group=1000;UNIX.mode=0755;UNIX.owner=1000; incoming", Mlsd, Dir, b"incoming", None, Some("20240101120000"), Some("1000"), Some("1000"), N),
    row("MLSD (proftpd, cdir)", b"modify=20240101120000;perm=flcdmpe;type=cdir;unique=FD01U1C0E40;UNIX.group=0;UNIX.mode=0755;UNIX.owner=0; .", Mlsd, Dir, b".", None, Some("20240101120000"), Some("0"), Some("0"), N),
    row("MLSD (proftpd, pdir)", b"modify=20240101120000;perm=flcdmpe;type=pdir;unique=FD01U1C0E3F;UNIX.group=0;UNIX.mode=0755;UNIX.owner=0; ..", Mlsd, Dir, b"..", None, Some("20240101120000"), Some("0"), Some("0"), N),
    row("MLSD (proftpd, symlink)", b"modify=20240314093000;perm=adfr;size=12;type=OS.unix=slink:/srv/ftp/target;unique=FD01U1C0E47;UNIX.group=1000;UNIX.mode=0777;UNIX.owner=1000; latest", Mlsd, Symlink, b"latest", Some(12), Some("20240314093000"), Some("1000"), Some("1000"), Some("/srv/ftp/target")),
    row("MLSD (proftpd, owner names)", b"modify=20240314093000;perm=adfr;size=5;type=file;unique=FD01U1C0E48;UNIX.group=1000;UNIX.groupname=ftp;UNIX.mode=0644;UNIX.owner=1000;UNIX.ownername=ftp; with names.txt", Mlsd, File, b"with names.txt", Some(5), Some("20240314093000"), Some("ftp"), Some("ftp"), N),
    // MLSD, pure-ftpd (sizd for directories)
    row("MLSD (pure-ftpd, cdir)", b"type=cdir;sizd=4096;modify=20240314093000;UNIX.mode=0755;UNIX.uid=1000;UNIX.gid=1000;unique=803g2a0412; .", Mlsd, Dir, b".", None, Some("20240314093000"), Some("1000"), Some("1000"), N),
    row("MLSD (pure-ftpd, pdir)", b"type=pdir;sizd=4096;modify=20240101120000;UNIX.mode=0755;UNIX.uid=0;UNIX.gid=0;unique=803g2; ..", Mlsd, Dir, b"..", None, Some("20240101120000"), Some("0"), Some("0"), N),
    row("MLSD (pure-ftpd)", b"type=file;size=1234;modify=20240314093000;UNIX.mode=0644;UNIX.uid=1000;UNIX.gid=1000;unique=803g2a0413; pure.txt", Mlsd, File, b"pure.txt", Some(1234), Some("20240314093000"), Some("1000"), Some("1000"), N),
    row("MLSD (pure-ftpd)", b"type=dir;sizd=4096;modify=20240101120000;UNIX.mode=0755;UNIX.uid=1000;UNIX.gid=1000;unique=803g2a0414; uploads", Mlsd, Dir, b"uploads", None, Some("20240101120000"), Some("1000"), Some("1000"), N),
    row("MLSD (pure-ftpd, name with spaces)", b"type=file;size=0;modify=20240314093000;UNIX.mode=0600;UNIX.uid=1000;UNIX.gid=1000;unique=803g2a0415; my  notes .txt", Mlsd, File, b"my  notes .txt", Some(0), Some("20240314093000"), Some("1000"), Some("1000"), N),
    // MLSD with millisecond times (FileZilla Server) and an MLST entry line (RFC 3659)
    row("MLSD (FileZilla Server)", b"type=file;size=1234;modify=20240314093000.123;perm=adfrw; fz.txt", Mlsd, File, b"fz.txt", Some(1234), Some("20240314093000.123"), N, N, N),
    row("MLST entry (RFC 3659 7.7.1)", b" Type=file;Size=1024990;Perm=r; /tmp/cap60.pl198.tar.gz", Mlst, File, b"/tmp/cap60.pl198.tar.gz", Some(1_024_990), N, N, N, N),
];

fn ctx() -> ParseContext {
    ParseContext::new(Timestamp::new(2024, 3, 15, 12, 0, 0).unwrap())
}

fn opt_bytes(value: Option<&str>) -> Option<&[u8]> {
    value.map(str::as_bytes)
}

#[test]
fn table_has_at_least_sixty_lines() {
    assert!(ROWS.len() >= 60, "{} rows", ROWS.len());
}

#[test]
fn every_real_world_line_parses_to_the_expected_entry() {
    let ctx = ctx();
    let mut failures = Vec::new();
    for row in ROWS {
        let label = format!("{}: {}", row.source, row.line.escape_ascii());
        let entry = match parse_list_line(&Bytes::from_static(row.line), &ctx) {
            Ok(entry) => entry,
            Err(error) => {
                failures.push(format!("{label}\n    error: {error}"));
                continue;
            }
        };
        let modified = entry.modified.map(|time| time.to_string());
        let got = (
            entry.format,
            entry.kind,
            &entry.name[..],
            entry.size,
            modified.as_deref(),
            entry.owner.as_deref(),
            entry.group.as_deref(),
            entry.link_target.as_deref(),
        );
        let expected = (
            Some(row.format),
            row.kind,
            row.name,
            row.size,
            row.modified,
            opt_bytes(row.owner),
            opt_bytes(row.group),
            opt_bytes(row.target),
        );
        if got != expected {
            failures.push(format!(
                "{label}\n    got      {got:?}\n    expected {expected:?}"
            ));
        }
        if entry.raw != row.line {
            failures.push(format!("{label}\n    raw line not kept"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        ROWS.len(),
        failures.join("\n")
    );
}

#[test]
fn the_whole_table_as_one_crlf_listing() {
    let mut listing = b"total 1234\r\n".to_vec();
    for row in ROWS {
        listing.extend_from_slice(row.line);
        listing.extend_from_slice(b"\r\n");
    }
    let entries: Vec<_> = parse_listing(Bytes::from(listing), ctx())
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(entries.len(), ROWS.len());
    for (entry, row) in entries.iter().zip(ROWS) {
        assert_eq!(entry.raw, row.line);
    }
}

#[test]
fn device_numbers_modes_and_links() {
    let ctx = ctx();
    let parse = |line: &'static [u8]| parse_list_line(&Bytes::from_static(line), &ctx).unwrap();
    let null = parse(b"crw-rw-rw-  1 root  wheel    3,   2 Mar 10 07:41 null");
    assert_eq!(null.device, Some(Device { major: 3, minor: 2 }));
    assert_eq!(null.mode.map(|mode| mode.bits()), Some(0o666));
    let tty = parse(b"crw-rw----    1 root     tty         4,  64 Mar 10 07:41 ttyS0");
    assert_eq!(
        tty.device,
        Some(Device {
            major: 4,
            minor: 64
        })
    );
    let tmp = parse(b"drwxrwxrwt 18 root root 4096 Mar 15 11:59 tmp");
    assert_eq!(
        (tmp.mode.map(|mode| mode.bits()), tmp.links),
        (Some(0o1777), Some(18))
    );
    let su = parse(b"-rwsr-xr-x 1 root root 55672 Feb 20  2023 su");
    assert_eq!(su.mode.map(|mode| mode.bits()), Some(0o4755));
    let mlsd = parse(b"type=file;size=1234;modify=20240314093000;UNIX.mode=0644;UNIX.uid=1000;UNIX.gid=1000;unique=803g2a0413; pure.txt");
    assert_eq!(mlsd.mode.map(|mode| mode.bits()), Some(0o644));
    assert_eq!(mlsd.unique.as_deref(), Some(&b"803g2a0413"[..]));
    let eplf = parse(b"+m825718503,r,s280,up644,\tdjb.html");
    assert_eq!(eplf.mode.map(|mode| mode.bits()), Some(0o644));
}

#[test]
fn lines_that_are_not_entries_are_reported_with_the_line() {
    let ctx = ctx();
    for line in [
        &b"drwxr-xr-x 2 a b 4096 Jan 5"[..],
        b"-rw-r--r-- 1 a b 12 Foo 14 09:30 x",
        b"03-14-24  09:30XM  <DIR>  x",
        b"+i1,m12x,\tx",
        b"type=file;size=1;",
        b"Welcome to the FTP server",
        b"\x00\xff\xfe",
    ] {
        let error = parse_list_line(&Bytes::from_static(line), &ctx).unwrap_err();
        assert_eq!(error.line, line);
    }
}
