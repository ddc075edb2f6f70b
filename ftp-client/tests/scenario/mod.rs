//! The scenarios every client style runs against every real server, written once.
//!
//! `$($await)*` is `.await` for the async styles and nothing for the blocking one. The
//! calling test file provides a module `io` with `read_all(&mut Download) -> Vec<u8>` and
//! `write_all(&mut Upload, &[u8])` (async or not, matching `$await`).

#![allow(unused_macros)]

/// Everything but TLS setup and connecting: directories, uploads (whole, resumed, appended,
/// from a reader, empty), downloads (whole, resumed), parsed listings, NLST, SIZE, MDTM,
/// rename, abort (explicit and by drop, for downloads and uploads), delete, raw commands.
/// Every file is compared byte for byte with what was sent and with what the server stored.
macro_rules! full_scenario {
    ($client:ident, $peer:expr, [$($await:tt)*]) => {{
        use ftp_client::{EntryKind, Error};
        let peer = &$peer;
        let data = support::data(1_500_000, peer.port as u64);
        let extra = support::data(77_777, 99);

        // Directories.
        assert_eq!($client.pwd() $($await)* .unwrap(), "/");
        let made = $client.mkdir("dir") $($await)* .unwrap();
        assert!(made.ends_with("dir"), "MKD said {made:?}");
        $client.cwd("dir") $($await)* .unwrap();
        assert_eq!($client.pwd() $($await)* .unwrap(), "/dir");

        // A whole upload.
        let mut up = $client.store("a.bin") $($await)* .unwrap();
        io::write_all(&mut up, &data) $($await)*;
        let outcome = up.finish() $($await)* .unwrap();
        assert_eq!(outcome.bytes, data.len() as u64);
        assert_eq!(outcome.reply.code().get() / 100, 2);
        support::assert_same(&std::fs::read(peer.path("dir/a.bin")).unwrap(), &data, "stored a.bin");
        assert_eq!($client.size("a.bin") $($await)* .unwrap(), data.len() as u64);

        // A whole download and a resumed one.
        let mut down = $client.retrieve("a.bin", 0) $($await)* .unwrap();
        let got = io::read_all(&mut down) $($await)*;
        let outcome = down.finish() $($await)* .unwrap();
        support::assert_same(&got, &data, "retrieved a.bin");
        assert_eq!(outcome.bytes, data.len() as u64);
        let mut down = $client.retrieve("a.bin", 1000) $($await)* .unwrap();
        let got = io::read_all(&mut down) $($await)*;
        down.finish() $($await)* .unwrap();
        support::assert_same(&got, &data[1000..], "retrieved a.bin from 1000");

        // A resumed upload, then an append.
        let mut up = $client.store("b.bin") $($await)* .unwrap();
        io::write_all(&mut up, &data[..500_000]) $($await)*;
        up.finish() $($await)* .unwrap();
        let mut up = $client.store_at("b.bin", 500_000) $($await)* .unwrap();
        io::write_all(&mut up, &data[500_000..]) $($await)*;
        up.finish() $($await)* .unwrap();
        support::assert_same(&std::fs::read(peer.path("dir/b.bin")).unwrap(), &data, "resumed b.bin");
        let mut up = $client.append("b.bin") $($await)* .unwrap();
        io::write_all(&mut up, &extra) $($await)*;
        up.finish() $($await)* .unwrap();
        let mut both = data.clone();
        both.extend_from_slice(&extra);
        support::assert_same(&std::fs::read(peer.path("dir/b.bin")).unwrap(), &both, "appended b.bin");
        let mut down = $client.retrieve("b.bin", 0) $($await)* .unwrap();
        let got = io::read_all(&mut down) $($await)*;
        down.finish() $($await)* .unwrap();
        support::assert_same(&got, &both, "retrieved b.bin");

        // An empty file both ways.
        let up = $client.store("empty") $($await)* .unwrap();
        assert_eq!(up.finish() $($await)* .unwrap().bytes, 0);
        assert_eq!(std::fs::metadata(peer.path("dir/empty")).unwrap().len(), 0);
        let mut down = $client.retrieve("empty", 0) $($await)* .unwrap();
        assert!(io::read_all(&mut down) $($await)* .is_empty());
        down.finish() $($await)* .unwrap();

        // Parsed listing, names, times.
        let entries = $client.list("") $($await)* .unwrap();
        let a = entries.iter().find(|e| e.name == "a.bin").expect("a.bin listed");
        assert_eq!(a.kind, EntryKind::File);
        assert_eq!(a.size, Some(data.len() as u64));
        let b = entries.iter().find(|e| e.name == "b.bin").expect("b.bin listed");
        assert_eq!(b.size, Some(both.len() as u64));
        assert_eq!(entries.len(), 3, "{entries:?}");
        let listed = $client.list("/") $($await)* .unwrap();
        let dir = listed.iter().find(|e| e.name == "dir").expect("dir listed in /");
        assert_eq!(dir.kind, EntryKind::Dir);
        let mut names = $client.nlst("") $($await)* .unwrap();
        names.sort();
        let names: Vec<&str> = names.iter().map(|n| n.rsplit('/').next().unwrap()).collect();
        assert_eq!(names, ["a.bin", "b.bin", "empty"]);
        let modified = $client.mdtm("a.bin") $($await)* .unwrap();
        assert!(modified.year() >= 2024, "{modified:?}");

        // Rename.
        $client.rename("a.bin", "c.bin") $($await)* .unwrap();
        assert!(!peer.path("dir/a.bin").exists());
        support::assert_same(&std::fs::read(peer.path("dir/c.bin")).unwrap(), &data, "renamed");
        let err = $client.size("a.bin") $($await)* .unwrap_err();
        assert_eq!(err.reply().map(|r| r.code().get()), Some(550), "{err:?}");
        assert!(!err.is_fatal());

        // Abort a download explicitly, then by dropping it; the session goes on.
        let mut down = $client.retrieve("c.bin", 0) $($await)* .unwrap();
        io::read_some(&mut down, 100_000) $($await)*;
        down.abort() $($await)* .unwrap();
        $client.noop() $($await)* .unwrap();
        let mut down = $client.retrieve("c.bin", 0) $($await)* .unwrap();
        io::read_some(&mut down, 10_000) $($await)*;
        drop(down);
        assert_eq!($client.size("c.bin") $($await)* .unwrap(), data.len() as u64);
        let mut down = $client.retrieve("c.bin", 0) $($await)* .unwrap();
        let got = io::read_all(&mut down) $($await)*;
        down.finish() $($await)* .unwrap();
        support::assert_same(&got, &data, "retrieved c.bin after aborts");

        // Abort an upload explicitly, then by dropping it.
        let mut up = $client.store("partial") $($await)* .unwrap();
        io::write_all(&mut up, &data[..200_000]) $($await)*;
        up.abort() $($await)* .unwrap();
        $client.noop() $($await)* .unwrap();
        let mut up = $client.store("partial") $($await)* .unwrap();
        io::write_all(&mut up, &data[..100_000]) $($await)*;
        drop(up);
        $client.noop() $($await)* .unwrap();
        let _ = $client.delete("partial") $($await)*;

        // From a reader.
        let mut reader = &extra[..];
        let sent = $client.store_from("d.bin", &mut reader) $($await)* .unwrap();
        assert_eq!(sent, extra.len() as u64);
        let mut reader = &extra[..];
        $client.append_from("d.bin", &mut reader) $($await)* .unwrap();
        let mut twice = extra.clone();
        twice.extend_from_slice(&extra);
        support::assert_same(&std::fs::read(peer.path("dir/d.bin")).unwrap(), &twice, "d.bin");

        // Raw commands and refusals.
        let syst = $client.raw("SYST") $($await)* .unwrap();
        assert_eq!(syst.code().get(), 215);
        assert!(matches!($client.raw("RETR x") $($await)*, Err(Error::Usage(_))));
        let err = $client.delete("no-such-file") $($await)* .unwrap_err();
        assert!(err.is_permanent(), "{err:?}");

        // Clean up: delete, rmdir.
        for name in ["b.bin", "c.bin", "d.bin", "empty"] {
            $client.delete(name) $($await)* .unwrap();
        }
        $client.cdup() $($await)* .unwrap();
        $client.rmdir("dir") $($await)* .unwrap();
        assert!(!peer.path("dir").exists());
        let entries = $client.list("") $($await)* .unwrap();
        assert!(entries.is_empty(), "{entries:?}");
        let bye = $client.quit() $($await)* .unwrap();
        assert_eq!(bye.code().get(), 221);
    }};
}

/// TYPE A both ways: the text comes back as sent; `disk` is what the server should have
/// stored (LF for servers that convert, CRLF for those that store the wire bytes).
macro_rules! ascii_scenario {
    ($client:ident, $peer:expr, $disk_crlf:expr, [$($await:tt)*]) => {{
        let peer = &$peer;
        let text = support::text(20_000);
        $client.set_type(ftp_client::DataType::Ascii(
            ftp_client::proto::transfer::FormatControl::NonPrint,
        )).unwrap();
        let mut up = $client.store("t.txt") $($await)* .unwrap();
        io::write_all(&mut up, &text) $($await)*;
        up.finish() $($await)* .unwrap();
        let stored = std::fs::read(peer.path("t.txt")).unwrap();
        if $disk_crlf {
            let crlf: Vec<u8> = text.iter().flat_map(|&b| if b == b'\n' { vec![b'\r', b'\n'] } else { vec![b] }).collect();
            support::assert_same(&stored, &crlf, "stored text (wire form)");
        } else {
            support::assert_same(&stored, &text, "stored text (converted)");
        }
        let mut down = $client.retrieve("t.txt", 0) $($await)* .unwrap();
        let got = io::read_all(&mut down) $($await)*;
        down.finish() $($await)* .unwrap();
        support::assert_same(&got, &text, "retrieved text");
        $client.set_type(ftp_client::DataType::Image).unwrap();
        let mut down = $client.retrieve("t.txt", 0) $($await)* .unwrap();
        let raw = io::read_all(&mut down) $($await)*;
        down.finish() $($await)* .unwrap();
        support::assert_same(&raw, &stored, "retrieved binary");
        $client.delete("t.txt") $($await)* .unwrap();
    }};
}

/// MLST of a file and the working directory (servers with RFC 3659).
macro_rules! mlst_scenario {
    ($client:ident, $peer:expr, [$($await:tt)*]) => {{
        let data = support::data(12_345, 5);
        let mut reader = &data[..];
        $client.store_from("m.bin", &mut reader) $($await)* .unwrap();
        let entry = $client.mlst("m.bin") $($await)* .unwrap();
        assert_eq!(entry.kind, ftp_client::EntryKind::File);
        assert_eq!(entry.size, Some(12_345));
        assert!(entry.name.ends_with(b"m.bin"));
        let here = $client.mlst("") $($await)* .unwrap();
        assert_eq!(here.kind, ftp_client::EntryKind::Dir);
        let time = ftp_client::Timestamp::new(2021, 3, 4, 5, 6, 7).unwrap();
        $client.set_mtime("m.bin", time) $($await)* .unwrap();
        assert_eq!($client.mdtm("m.bin") $($await)* .unwrap(), time);
        $client.delete("m.bin") $($await)* .unwrap();
    }};
}
