//! Reply texts and code mappings: pure functions of their arguments.

use bytes::{Bytes, BytesMut};

use crate::command::{CommandError, CommandErrorKind};
use crate::feat::{Feature, Features};
use crate::line::CrEncoding;
use crate::path::PathError;
use crate::reply::{Reply, ReplyCode};
use crate::transfer::{DataType, FileStructure, TransferMode};

use super::config::{FactSet, HashAlgorithm, ServerConfig};
use super::types::{DataFailure, StorageErrorKind, TransferParams};

/// The wire form of a reply. A CR inside a text (a pathname with CR NUL) is written as CR NUL
/// (RFC 2640 §3.1); an LF or NUL, which no reply line can carry, becomes `?`.
pub(super) fn encode(reply: &Reply) -> Bytes {
    // Room for the usual reply in one allocation: code, separator, text and CRLF per line
    // (a doubled IAC or an escaped CR grows it).
    let wire_len = reply.lines().iter().map(|line| line.len() + 6).sum();
    let mut out = BytesMut::with_capacity(wire_len);
    if reply
        .encode_with(&mut out, CrEncoding::EscapeAsCrNul)
        .is_ok()
    {
        return out.freeze();
    }
    let lines: Vec<Bytes> = reply.lines().iter().map(|l| sanitize(l)).collect();
    let clean = Reply::multiline(reply.code(), lines);
    let mut out = BytesMut::new();
    // Cannot fail: `sanitize` removed every LF and NUL.
    let _ = clean.encode_with(&mut out, CrEncoding::EscapeAsCrNul);
    out.freeze()
}

/// `text` with LF and NUL replaced by `?`.
pub(super) fn sanitize(text: &[u8]) -> Bytes {
    text.iter()
        .map(|&b| if b == b'\n' || b == 0 { b'?' } else { b })
        .collect::<Vec<u8>>()
        .into()
}

/// A storage back end's message as one reply line: CR, LF and NUL become spaces.
pub(super) fn one_line(message: &str) -> Bytes {
    message
        .bytes()
        .map(|b| {
            if matches!(b, b'\r' | b'\n' | 0) {
                b' '
            } else {
                b
            }
        })
        .collect::<Vec<u8>>()
        .into()
}

/// The verb of a command line, upper-cased into a fixed buffer (empty when longer than 4 bytes
/// or absent): enough to recognise ABOR, STAT and QUIT without parsing.
pub(super) fn verb_of(line: &[u8]) -> &'static [u8] {
    let start = line
        .iter()
        .position(|b| (0x21..=0x7e).contains(b))
        .unwrap_or(line.len());
    let rest = &line[start..];
    let end = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
    let verb = &rest[..end];
    [&b"ABOR"[..], b"STAT", b"QUIT"]
        .into_iter()
        .find(|known| known.eq_ignore_ascii_case(verb))
        .unwrap_or(b"")
}

/// True when a command line has no argument (trailing spaces allowed).
pub(super) fn has_no_argument(line: &[u8]) -> bool {
    let start = line
        .iter()
        .position(|b| (0x21..=0x7e).contains(b))
        .unwrap_or(line.len());
    let rest = &line[start..];
    match rest.iter().position(|&b| b == b' ') {
        None => true,
        Some(at) => rest[at..].iter().all(|&b| b == b' '),
    }
}

/// The reply to a line the parser refused.
pub(super) fn command_error(error: &CommandError) -> Reply {
    let code = error.reply_code();
    let text: &str = match &error.kind {
        CommandErrorKind::EmptyLine => "Empty command line.",
        CommandErrorKind::MissingArgument => "Argument required.",
        CommandErrorKind::UnexpectedArgument => "No argument allowed.",
        CommandErrorKind::UnsupportedParameter => "Parameter not implemented.",
        CommandErrorKind::Address(_) if code == ReplyCode::NETWORK_PROTOCOL_UNSUPPORTED => {
            "Network protocol not supported, use (1,2)"
        }
        CommandErrorKind::Address(_) if code == ReplyCode::LPRT_FAMILY_UNSUPPORTED => {
            "Supported address families are (4, 6)"
        }
        CommandErrorKind::Address(_) => "Invalid address.",
        CommandErrorKind::Time(_) => "Invalid time value.",
        _ => "Syntax error in parameters or arguments.",
    };
    Reply::new(code, text)
}

/// What a command does with storage, for mapping storage errors to replies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum OpClass {
    /// RETR, LIST, NLST.
    Read,
    /// MLSD (a file is 501, RFC 3659 §7.1).
    Mlsd,
    /// STOR, STOU (RFC 959 lists 553, not 550).
    Write,
    /// APPE.
    Append,
    /// CWD, RNFR, SIZE, MDTM, MLST.
    Query,
    /// DELE, RMD, MKD, MFMT, SITE.
    Modify,
    /// RNTO.
    Rename,
    /// HASH (a directory is 553).
    Hash,
}

/// The reply code for a storage failure of a command of `class`, before any 1yz reply.
pub(super) fn storage_code(class: OpClass, kind: StorageErrorKind) -> ReplyCode {
    use StorageErrorKind as K;
    let creating = matches!(class, OpClass::Write);
    match kind {
        K::InsufficientStorage => ReplyCode::INSUFFICIENT_STORAGE,
        K::QuotaExceeded => ReplyCode::EXCEEDED_STORAGE,
        K::InvalidName => ReplyCode::FILE_NAME_NOT_ALLOWED,
        K::InvalidOffset => ReplyCode::INVALID_REST,
        K::Busy | K::Transient => ReplyCode::FILE_UNAVAILABLE_BUSY,
        K::Other => ReplyCode::LOCAL_ERROR,
        K::Unsupported if class == OpClass::Hash => ReplyCode::NOT_IMPLEMENTED_FOR_PARAMETER,
        K::Unsupported => ReplyCode::NOT_IMPLEMENTED,
        K::NotADirectory if class == OpClass::Mlsd => ReplyCode::SYNTAX_ERROR_ARGUMENTS,
        K::IsADirectory if class == OpClass::Hash => ReplyCode::FILE_NAME_NOT_ALLOWED,
        K::AlreadyExists if class == OpClass::Rename => ReplyCode::FILE_NAME_NOT_ALLOWED,
        // Refused by the file system or the back end, whatever the command: 550 with its own
        // text, so a client can tell it from a bad name (vsftpd and ProFTPD do the same).
        K::PermissionDenied => ReplyCode::FILE_UNAVAILABLE,
        _ if creating => ReplyCode::FILE_NAME_NOT_ALLOWED,
        _ => ReplyCode::FILE_UNAVAILABLE,
    }
}

/// The reply code for a storage failure after the 1yz reply.
pub(super) fn storage_code_in_transfer(kind: StorageErrorKind) -> ReplyCode {
    match kind {
        StorageErrorKind::InsufficientStorage => ReplyCode::INSUFFICIENT_STORAGE,
        StorageErrorKind::QuotaExceeded => ReplyCode::EXCEEDED_STORAGE,
        _ => ReplyCode::LOCAL_ERROR,
    }
}

/// The standard text of a storage-error reply.
pub(super) fn storage_text(code: ReplyCode, kind: StorageErrorKind) -> &'static str {
    match (code.get(), kind) {
        (501, _) => "Not a directory.",
        (553, StorageErrorKind::IsADirectory) => "Is a directory.",
        (553, StorageErrorKind::NotFound) => "No such directory.",
        (553, StorageErrorKind::NotADirectory) => "Not a directory.",
        (553, _) => "File name not allowed.",
        (550, StorageErrorKind::NotFound) => "No such file or directory.",
        (550, StorageErrorKind::PermissionDenied) => "Permission denied.",
        (550, StorageErrorKind::AlreadyExists) => "File exists.",
        (550, StorageErrorKind::NotADirectory) => "Not a directory.",
        (550, StorageErrorKind::IsADirectory) => "Is a directory.",
        (452, _) => "Insufficient storage space.",
        (552, _) => "Exceeded storage allocation.",
        (554, _) => "Invalid REST parameter.",
        (450, _) => "File unavailable, try again later.",
        (502, _) => "Command not implemented.",
        (504, _) => "Not implemented for that parameter.",
        _ => "Local error in processing.",
    }
}

/// The reply for a data-connection failure (`connected`: the connection had been up).
pub(super) fn data_failure(failure: DataFailure, connected: bool) -> (ReplyCode, &'static str) {
    match failure {
        DataFailure::Tls => (
            ReplyCode::NETWORK_PROTOCOL_UNSUPPORTED,
            "TLS negotiation failed on the data connection.",
        ),
        DataFailure::PeerMismatch => (
            ReplyCode::CANT_OPEN_DATA,
            "Security: data connection from the wrong address.",
        ),
        _ if connected => (
            ReplyCode::TRANSFER_ABORTED,
            "Connection closed; transfer aborted.",
        ),
        _ => (ReplyCode::CANT_OPEN_DATA, "Can't open data connection."),
    }
}

/// The reply code for a pathname argument that cannot be resolved.
pub(super) fn path_error_code(error: PathError, class: OpClass) -> ReplyCode {
    match (error, class) {
        (PathError::Nul, _) => ReplyCode::SYNTAX_ERROR_ARGUMENTS,
        (_, OpClass::Write | OpClass::Rename | OpClass::Hash) => ReplyCode::FILE_NAME_NOT_ALLOWED,
        _ => ReplyCode::FILE_UNAVAILABLE,
    }
}

/// The name of a TYPE for replies.
pub(super) fn type_name(data_type: DataType) -> &'static str {
    match data_type {
        DataType::Ascii(_) => "ASCII",
        DataType::Ebcdic(_) => "EBCDIC",
        DataType::Image | DataType::Local(_) => "BINARY",
    }
}

/// The 150 text for a transfer of `what`: the file's name for RETR, STOR and APPE (as
/// vsftpd and ProFTPD write it), the verb for listings.
pub(super) fn opening_text(what: &[u8], params: TransferParams, size: Option<u64>) -> Vec<u8> {
    let mut text = format!(
        "Opening {} mode data connection for ",
        type_name(params.data_type)
    )
    .into_bytes();
    text.extend_from_slice(what);
    if let Some(size) = size {
        text.extend_from_slice(format!(" ({size} bytes)").as_bytes());
    }
    text.push(b'.');
    text
}

/// `Type;Size;` for an OPTS MLST reply, or `Type*;Size*;Perm;` for FEAT (`marked` starred).
pub(super) fn fact_list(facts: FactSet, marked: Option<FactSet>) -> String {
    let mut out = String::new();
    for (fact, name) in facts.iter() {
        out.push_str(name);
        if marked.is_some_and(|m| m.contains(fact)) {
            out.push('*');
        }
        out.push(';');
    }
    out
}

/// What FEAT lists: exactly what this session's configuration enables.
pub(super) struct FeatInput<'a> {
    pub(super) config: &'a ServerConfig,
    pub(super) facts: FactSet,
    pub(super) hash: Option<HashAlgorithm>,
}

/// The FEAT reply.
pub(super) fn feat(input: &FeatInput<'_>) -> Reply {
    let config = input.config;
    let mut features = Vec::new();
    let mut add = |label: &str, params: Option<String>| {
        features.push(Feature {
            label: Bytes::copy_from_slice(label.as_bytes()),
            params: params.map(Bytes::from),
        });
    };
    if config.tls.enabled {
        add("AUTH", Some("TLS".into()));
        add("PBSZ", None);
        add("PROT", None);
    }
    if config.active_mode {
        add("EPRT", None);
    }
    add("EPSV", None);
    if !config.hash_algorithms.is_empty() {
        let list: Vec<String> = config
            .hash_algorithms
            .iter()
            .map(|&a| {
                let star = if Some(a) == input.hash { "*" } else { "" };
                format!("{}{star}", a.name())
            })
            .collect();
        add("HASH", Some(list.join(";")));
    }
    add("HOST", None);
    add("LANG", Some("EN*".into()));
    add("MDTM", None);
    if config.mfmt {
        add("MFMT", None);
    }
    if !config.mlst_facts.is_empty() {
        add(
            "MLST",
            Some(fact_list(config.mlst_facts, Some(input.facts))),
        );
    }
    if config.block_mode || config.compressed_mode {
        add("MODE", Some(modes(config)));
    }
    add("REST", Some("STREAM".into()));
    add("SIZE", None);
    add("TVFS", None);
    add("UTF8", None);
    Features::new(features).to_reply()
}

fn modes(config: &ServerConfig) -> String {
    let mut modes = String::from("S");
    if config.block_mode {
        modes.push_str(";B");
    }
    if config.compressed_mode {
        modes.push_str(";C");
    }
    modes
}

/// Every verb the server implements, for HELP.
pub const IMPLEMENTED: &[&str] = &[
    "ABOR", "ACCT", "ALLO", "APPE", "AUTH", "CCC", "CDUP", "CLNT", "CWD", "DELE", "EPRT", "EPSV",
    "FEAT", "HASH", "HELP", "HOST", "LANG", "LIST", "LPRT", "LPSV", "MDTM", "MFMT", "MKD", "MLSD",
    "MLST", "MODE", "NLST", "NOOP", "OPTS", "PASS", "PASV", "PBSZ", "PORT", "PROT", "PWD", "QUIT",
    "RANG", "REIN", "REST", "RETR", "RMD", "RNFR", "RNTO", "SITE", "SIZE", "STAT", "STOR", "STOU",
    "STRU", "SYST", "TYPE", "USER", "XCUP", "XCWD", "XMKD", "XPWD", "XRMD",
];

/// True when `verb` (one of [`IMPLEMENTED`]) is answered under `config`, rather than refused
/// as disabled (502): what HELP lists.
pub(super) fn offered(verb: &str, config: &ServerConfig) -> bool {
    match verb {
        "AUTH" | "PBSZ" | "PROT" => config.tls.enabled,
        "CCC" => config.tls.enabled && config.tls.allow_ccc,
        "HASH" | "RANG" => !config.hash_algorithms.is_empty(),
        "MFMT" => config.mfmt,
        "EPRT" | "LPRT" | "PORT" => config.active_mode,
        _ => true,
    }
}

/// The 214 reply to HELP without an argument: the commands `config` offers.
pub(super) fn help(config: &ServerConfig) -> Reply {
    let mut lines = vec![Bytes::from_static(
        b"The following commands are recognized.",
    )];
    let verbs: Vec<&str> = IMPLEMENTED
        .iter()
        .copied()
        .filter(|verb| offered(verb, config))
        .collect();
    for chunk in verbs.chunks(12) {
        let mut line = String::new();
        for verb in chunk {
            line.push(' ');
            line.push_str(&format!("{verb:<5}"));
        }
        lines.push(Bytes::from(line.trim_end().to_owned()));
    }
    lines.push(Bytes::from_static(b"Help OK."));
    Reply::multiline(ReplyCode::HELP_MESSAGE, lines)
}

/// `ASCII Non-print` style names for STAT.
pub(super) fn params_summary(params: TransferParams) -> String {
    let mode = match params.mode {
        TransferMode::Stream => "Stream",
        TransferMode::Block => "Block",
        TransferMode::Compressed => "Compressed",
    };
    let structure = match params.structure {
        FileStructure::File => "File",
        FileStructure::Record => "Record",
        FileStructure::Page => "Page",
    };
    format!(
        " TYPE: {}; MODE: {mode}; STRU: {structure}",
        type_name(params.data_type)
    )
}
