//! ftpd's files: the configuration file (`--config FILE`) and the users file
//! (`--users-file FILE`), both TOML.
//!
//! The configuration file has one key per command-line option, named as the option without
//! its dashes: `max-sessions = 100` is `--max-sessions 100`, `require-tls = true` is
//! `--require-tls` (`false` leaves it off), repeatable options take arrays
//! (`listen = ["0.0.0.0:21", "[::]:21"]`). Options on the command line are read after the
//! file: a single-valued option overrides its key, a repeatable one adds to it. An unknown
//! key, or a value of the wrong type, is an error naming the file and the line. Passwords
//! never appear in it: `--user` has no key; users with Argon2 hashes go in the users file:
//!
//! ```toml
//! [[user]]
//! name = "alice"
//! password-hash = "$argon2id$v=19$m=19456,t=2,p=1$..."   # from `ftpd hash-password`
//! home = "/alice"                 # default "/"
//! permissions = "read-only, mkdir" # default "all"
//! max-sessions = 4                # default: no limit
//! upload-rate = "1M"              # bytes per second, K/M/G suffixes; default: no limit
//! download-rate = 500000
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use ftp_server::auth::{Permissions, UserLimits, UserTable};
use ftp_server::storage::VirtualPath;
use serde::Deserialize;

/// Options that take no value; in the file they are `true` or `false`.
pub(crate) const SWITCHES: [&str; 8] = [
    "--no-fsync",
    "--anonymous",
    "--anonymous-write",
    "--require-tls",
    "--require-tls-reuse",
    "--no-active",
    "--quiet",
    "--check-config",
];

/// Options that may be given more than once; in the file they take arrays.
const REPEATABLE: [&str; 3] = ["--listen", "--implicit-tls", "--proxy-protocol"];

/// Options that have no key: the file itself, checking it, help, the version, and plain-text
/// passwords.
const NOT_KEYS: [&str; 7] = [
    "--config",
    "--check-config",
    "--help",
    "-h",
    "--version",
    "-V",
    "--user",
];

/// The command-line arguments the configuration file at `path` stands for, checked against
/// `options` (every option ftpd has).
pub(crate) fn args_from_file(path: &Path, options: &[&str]) -> Result<Vec<String>, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("--config {}: {e}", path.display()))?;
    args_from_text(&text, &path.display().to_string(), options)
}

/// [`args_from_file`] on the file's text; `name` names it in errors.
pub(crate) fn args_from_text(
    text: &str,
    name: &str,
    options: &[&str],
) -> Result<Vec<String>, String> {
    let keys: BTreeMap<String, toml::Spanned<toml::Value>> =
        toml::from_str(text).map_err(|e| format!("{name}: {e}"))?;
    let mut args = Vec::new();
    for (key, value) in &keys {
        let at = |what: String| format!("{name}:{}: {what}", line_of(text, value.span().start));
        let flag = format!("--{key}");
        if key == "user" {
            return Err(at(
                "`user` has no key: passwords never go in the configuration; \
                          list users with password hashes in a users file (users-file = ...)"
                    .into(),
            ));
        }
        if !options.contains(&flag.as_str()) || NOT_KEYS.contains(&flag.as_str()) {
            return Err(at(format!("unknown key `{key}`")));
        }
        push_key(&flag, value.get_ref(), &mut args).map_err(at)?;
    }
    Ok(args)
}

/// Appends the arguments for `flag = value`.
fn push_key(flag: &str, value: &toml::Value, args: &mut Vec<String>) -> Result<(), String> {
    let key = &flag[2..];
    let scalar = |value: &toml::Value| match value {
        toml::Value::String(text) => Ok(text.clone()),
        toml::Value::Integer(n) => Ok(n.to_string()),
        _ => Err(format!("`{key}` takes a string or a number")),
    };
    match value {
        toml::Value::Boolean(on) if SWITCHES.contains(&flag) => {
            if *on {
                args.push(flag.to_owned());
            }
        }
        _ if SWITCHES.contains(&flag) => return Err(format!("`{key}` takes true or false")),
        toml::Value::Array(items) if REPEATABLE.contains(&flag) => {
            for item in items {
                args.push(format!("{flag}={}", scalar(item)?));
            }
        }
        value => args.push(format!("{flag}={}", scalar(value)?)),
    }
    Ok(())
}

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The users file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UsersFile {
    #[serde(default)]
    user: Vec<UserEntry>,
}

/// One `[[user]]` of the users file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct UserEntry {
    name: String,
    password_hash: String,
    home: Option<String>,
    permissions: Option<String>,
    max_sessions: Option<usize>,
    upload_rate: Option<Rate>,
    download_rate: Option<Rate>,
}

/// Bytes per second: a number, or text with a K, M or G suffix.
#[derive(Deserialize)]
#[serde(untagged)]
enum Rate {
    Number(u64),
    Text(String),
}

impl Rate {
    fn bytes_per_second(&self, what: &str) -> Result<u64, String> {
        match self {
            Self::Number(0) => Err(format!("{what}: expected at least 1 byte per second")),
            Self::Number(n) => Ok(*n),
            Self::Text(text) => super::parse_rate(text, what),
        }
    }
}

/// The users file at `path` as a [`UserTable`].
pub(crate) fn read_users(path: &Path) -> Result<UserTable, String> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{name}: {e}"))?;
    users_from_text(&text, &name)
}

/// [`read_users`] on the file's text; `name` names it in errors.
pub(crate) fn users_from_text(text: &str, name: &str) -> Result<UserTable, String> {
    let file: UsersFile = toml::from_str(text).map_err(|e| format!("{name}: {e}"))?;
    let mut table = UserTable::new();
    for entry in file.user {
        let what = |field: &str| format!("{name}: user {:?}: {field}", entry.name);
        let home = entry.home.as_deref().unwrap_or("/");
        let home = VirtualPath::root()
            .resolve(home.as_bytes())
            .map_err(|_| what("home is not a valid path"))?;
        let permissions = Permissions::parse(entry.permissions.as_deref().unwrap_or("all"))
            .map_err(|e| what(&e.to_string()))?;
        table
            .add_hashed(&entry.name, &entry.password_hash, home, permissions)
            .map_err(|e| {
                what(&format!(
                    "password-hash: {e} (make one with `ftpd hash-password`)"
                ))
            })?;
        let mut limits = UserLimits::new();
        if let Some(max) = entry.max_sessions {
            limits = limits.max_sessions(max.max(1));
        }
        if let Some(rate) = &entry.upload_rate {
            limits = limits.upload_rate(rate.bytes_per_second(&what("upload-rate"))?);
        }
        if let Some(rate) = &entry.download_rate {
            limits = limits.download_rate(rate.bytes_per_second(&what("download-rate"))?);
        }
        table.set_limits(&entry.name, limits);
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Result<Vec<String>, String> {
        args_from_text(text, "ftpd.toml", &super::super::usage_options())
    }

    #[test]
    fn every_option_but_the_excluded_has_a_key() {
        let options = super::super::usage_options();
        let mut text = String::new();
        let mut expected = Vec::new();
        for flag in &options {
            if NOT_KEYS.contains(flag) {
                continue;
            }
            let key = &flag[2..];
            if SWITCHES.contains(flag) {
                text.push_str(&format!("{key} = true\n"));
                expected.push(flag.to_string());
            } else if REPEATABLE.contains(flag) {
                text.push_str(&format!("{key} = [\"a\", \"b\"]\n"));
                expected.extend([format!("{flag}=a"), format!("{flag}=b")]);
            } else {
                text.push_str(&format!("{key} = 7\n"));
                expected.push(format!("{flag}=7"));
            }
        }
        let mut got = args(&text).unwrap();
        got.sort();
        expected.sort();
        assert_eq!(got, expected);
        assert!(got.len() >= 30, "{got:?}");
    }

    #[test]
    fn keys_read_as_the_options_they_stand_for() {
        let text = "listen = [\"127.0.0.1:2121\", \"[::1]:2121\"]\nrequire-tls = true\n\
                    no-active = false\nmax-sessions = 100\nmax-upload-rate = \"2M\"\n";
        let got = args(text).unwrap();
        assert_eq!(
            got,
            [
                "--listen=127.0.0.1:2121",
                "--listen=[::1]:2121",
                "--max-sessions=100",
                "--max-upload-rate=2M",
                "--require-tls",
            ]
        );
    }

    #[test]
    fn bad_keys_and_values_name_their_line() {
        let cases = [
            (
                "root = \"/srv\"\n\nbogus = 1\n",
                "ftpd.toml:3: unknown key `bogus`",
            ),
            (
                "quiet = true\nconfig = \"x\"\n",
                "ftpd.toml:2: unknown key `config`",
            ),
            ("help = true\n", "ftpd.toml:1: unknown key `help`"),
            (
                "\nrequire-tls = \"yes\"\n",
                "ftpd.toml:2: `require-tls` takes true or false",
            ),
            (
                "max-sessions = 1.5\n",
                "ftpd.toml:1: `max-sessions` takes a string or a number",
            ),
            (
                "listen = [true]\n",
                "ftpd.toml:1: `listen` takes a string or a number",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(args(text).unwrap_err(), expected, "{text:?}");
        }
        let user = args("user = \"alice:secret\"\n").unwrap_err();
        assert!(
            user.starts_with("ftpd.toml:1: `user` has no key: passwords never go"),
            "{user}"
        );
        let syntax = args("root = \n").unwrap_err();
        assert!(
            syntax.starts_with("ftpd.toml: TOML parse error at line 1"),
            "{syntax}"
        );
    }

    #[test]
    fn users_files_give_hashes_rights_homes_and_limits() {
        let hash = UserTable::hash_password("pw").unwrap();
        let text = format!(
            "[[user]]\nname = \"alice\"\npassword-hash = \"{hash}\"\n\n\
             [[user]]\nname = \"drop\"\npassword-hash = \"{hash}\"\nhome = \"/incoming\"\n\
             permissions = \"list, write\"\nmax-sessions = 2\nupload-rate = \"1K\"\n\
             download-rate = 5000\n"
        );
        let table = users_from_text(&text, "users.toml").unwrap();
        assert_eq!(table.len(), 2);
        assert!(table.contains("alice") && table.contains("drop"));
        let bad = [
            ("[[user]]\nname = \"a\"\npassword-hash = \"secret\"\n", "users.toml: user \"a\": password-hash: not an Argon2 PHC hash string (make one with `ftpd hash-password`)"),
            (&*format!("[[user]]\nname = \"a\"\npassword-hash = \"{hash}\"\npermissions = \"read,wrte\"\n"), "users.toml: user \"a\": unknown permission \"wrte\""),
            (&*format!("[[user]]\nname = \"a\"\npassword-hash = \"{hash}\"\nupload-rate = 0\n"), "users.toml: user \"a\": upload-rate: expected at least 1 byte per second"),
        ];
        for (text, expected) in bad {
            let error = users_from_text(text, "users.toml").unwrap_err();
            assert!(error.starts_with(expected), "{error}");
        }
        let unknown =
            users_from_text("[[user]]\nname = \"a\"\npasword = \"x\"\n", "users.toml").unwrap_err();
        assert!(
            unknown.contains("line 3") && unknown.contains("pasword"),
            "{unknown}"
        );
    }
}
