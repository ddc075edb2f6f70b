//! `embedded`: ftp-server inside an application, with the application's own storage policy
//! and its own user store, the two extension points most embedders need.
//!
//! * [`QuotaAudit`], a [`StorageLayer`] over any back end: each user may store at most
//!   `quota` bytes through this server (one byte more and the upload fails with `552`, and
//!   nothing of it is kept), and every stored upload is written to an audit trail with the
//!   session, the client's address, the user, the path and the size. It wraps each upload's
//!   writer, so it sees every byte (the zero-copy path is left, knowingly).
//! * [`AppUsers`], an [`Authenticator`] over the application's own accounts (here a map; a
//!   database works the same way: the session awaits the check's future).
//!
//! ```sh
//! cargo run --example embedded -- /tmp/share      # demo:demo, 1 MiB quota, on 127.0.0.1:2121
//! ```

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use ftp_server::auth::{AuthFailure, Authenticator, Credentials, User};
use ftp_server::pool::BlockingPool;
use ftp_server::storage::{
    BoxFuture, FileWrite, FsStorage, Storage, StorageContext, StorageError, StorageLayer,
    StoreMode, Upload, VirtualPath,
};
use ftp_server::Server;

/// One stored upload, as the audit trail keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRecord {
    /// The session's number.
    pub session: u64,
    /// The client's address.
    pub peer: Option<SocketAddr>,
    /// The user.
    pub user: String,
    /// The file, as the storage sees it (below the user's home).
    pub path: String,
    /// Its size.
    pub bytes: u64,
}

/// A quota per user and an audit trail of stored uploads, over any storage back end.
pub struct QuotaAudit<S> {
    inner: S,
    quota: u64,
    state: Arc<Mutex<Ledger>>,
}

/// What the layer remembers: bytes stored per user, and the audit trail.
#[derive(Default)]
struct Ledger {
    used: HashMap<Bytes, u64>,
    trail: Vec<AuditRecord>,
}

impl<S: Storage> QuotaAudit<S> {
    /// `inner` with a quota of `quota` bytes per user.
    pub fn new(inner: S, quota: u64) -> Self {
        Self {
            inner,
            quota,
            state: Arc::default(),
        }
    }

    /// A handle on the audit trail, to read it while the server owns the layer.
    pub fn trail(&self) -> AuditTrail {
        AuditTrail(Arc::clone(&self.state))
    }
}

/// The audit trail of a [`QuotaAudit`].
#[derive(Clone)]
pub struct AuditTrail(Arc<Mutex<Ledger>>);

impl AuditTrail {
    /// Every stored upload so far, oldest first.
    pub fn records(&self) -> Vec<AuditRecord> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .trail
            .clone()
    }
}

impl<S: Storage> StorageLayer for QuotaAudit<S> {
    fn inner(&self) -> &dyn Storage {
        &self.inner
    }

    fn open_write(
        &self,
        cx: StorageContext,
        path: VirtualPath,
        mode: StoreMode,
        offset: u64,
    ) -> BoxFuture<'_, Result<Upload, StorageError>> {
        Box::pin(async move {
            let user = Bytes::copy_from_slice(cx.user());
            let record = AuditRecord {
                session: cx.session_id(),
                peer: cx.peer(),
                user: String::from_utf8_lossy(&user).into_owned(),
                path: String::from_utf8_lossy(&path.to_bytes()).into_owned(),
                bytes: 0,
            };
            let mut upload = self.inner.open_write(cx, path, mode, offset).await?;
            let used = self.ledger().used.get(&user).copied().unwrap_or(0);
            upload.writer = Box::new(CountingWriter {
                inner: upload.writer,
                room: self.quota.saturating_sub(used),
                record,
                ledger: Arc::clone(&self.state),
            });
            Ok(upload)
        })
    }
}

impl<S> QuotaAudit<S> {
    fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// An upload's writer that counts its bytes against the user's room, and books the upload
/// once it is stored. Its `bypass_file` is the default `None`: every byte comes through
/// `write`.
struct CountingWriter {
    inner: Box<dyn FileWrite>,
    room: u64,
    record: AuditRecord,
    ledger: Arc<Mutex<Ledger>>,
}

impl FileWrite for CountingWriter {
    fn write(&mut self, buf: Vec<u8>) -> BoxFuture<'_, (Vec<u8>, io::Result<()>)> {
        let after = self.record.bytes + buf.len() as u64;
        if after > self.room {
            let over = io::Error::new(io::ErrorKind::QuotaExceeded, "quota exceeded");
            return Box::pin(async move { (buf, Err(over)) });
        }
        self.record.bytes = after;
        self.inner.write(buf)
    }

    fn commit(self: Box<Self>) -> BoxFuture<'static, Result<(), StorageError>> {
        let Self {
            inner,
            record,
            ledger,
            ..
        } = *self;
        Box::pin(async move {
            inner.commit().await?;
            let mut ledger = ledger.lock().unwrap_or_else(|e| e.into_inner());
            let user = Bytes::from(record.user.clone().into_bytes());
            *ledger.used.entry(user).or_insert(0) += record.bytes;
            ledger.trail.push(record);
            Ok(())
        })
    }

    fn abort(self: Box<Self>) -> BoxFuture<'static, ()> {
        self.inner.abort()
    }
}

/// The application's accounts: name → password (a database in a real application).
pub struct AppUsers(pub HashMap<String, String>);

impl AppUsers {
    fn check(&self, credentials: Credentials) -> Result<User, AuthFailure> {
        let name = String::from_utf8_lossy(&credentials.user).into_owned();
        let given = credentials.password.into_inner();
        match self.0.get(&name) {
            // Every right, rooted at the storage's root: what `User::new` gives.
            Some(password) if password.as_bytes() == &given[..] => Ok(User::new(name)),
            _ => Err(AuthFailure::InvalidCredentials),
        }
    }
}

impl Authenticator for AppUsers {
    fn authenticate(
        &self,
        credentials: Credentials,
        _blocking: BlockingPool,
    ) -> BoxFuture<'_, Result<User, AuthFailure>> {
        let result = self.check(credentials);
        Box::pin(async move { result })
    }
}

/// The server of this example over `storage`, on `listen`.
pub fn server<S: Storage>(storage: QuotaAudit<S>, listen: SocketAddr) -> Server {
    let users = AppUsers(HashMap::from([("demo".into(), "demo".into())]));
    Server::new(storage).listen(listen).authenticator(users)
}

/// Serves the folder named by the first argument (default: the current one) on
/// 127.0.0.1:2121 to `demo`/`demo`, with a 1 MiB quota, printing the audit trail on exit.
pub fn main() -> ExitCode {
    let dir = std::env::args().nth(1).unwrap_or_else(|| ".".into());
    let storage = match FsStorage::new(&dir) {
        Ok(storage) => QuotaAudit::new(storage, 1 << 20),
        Err(e) => {
            eprintln!("embedded: {dir}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let trail = storage.trail();
    let listen = SocketAddr::from(([127, 0, 0, 1], 2121));
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let result = runtime.block_on(async {
        let running = server(storage, listen).start_tokio().await?;
        println!("embedded: serving {dir} on ftp://demo:demo@{listen}/ (Ctrl-C stops)");
        tokio::signal::ctrl_c().await?;
        running.shutdown().await;
        io::Result::Ok(())
    });
    for record in trail.records() {
        println!("audit: {record:?}");
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("embedded: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The quota and the audit trail over a real client: uploads within the quota are stored
    /// and audited with the session and the client's address; the one that would pass it
    /// fails with 552 and leaves nothing; a wrong password is refused. Over `FsStorage`,
    /// whose uploads offer the zero-copy path: the layer's writer keeps every byte in view.
    #[test]
    fn quota_and_audit_over_a_real_client() {
        let dir = std::env::temp_dir().join(format!("embedded-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let storage = QuotaAudit::new(FsStorage::new(&dir).unwrap(), 100_000);
        let trail = storage.trail();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let running = runtime
            .block_on(server(storage, "127.0.0.1:0".parse().unwrap()).start_tokio())
            .unwrap();
        let port = running.local_addrs()[0].port();
        let url = format!("ftp://demo:demo@127.0.0.1:{port}/");
        let mut client = ftp_client::blocking::Client::connect_url(&url).unwrap();
        client.set_type(ftp_client::DataType::Image).unwrap();
        client.store_from("a.bin", &mut &[7u8; 60_000][..]).unwrap();
        client.store_from("b.bin", &mut &[8u8; 30_000][..]).unwrap();
        let refused = client
            .store_from("c.bin", &mut &[9u8; 20_000][..])
            .unwrap_err();
        assert_eq!(
            refused.reply().map(|r| r.code().get()),
            Some(552),
            "{refused}"
        );
        let names = client.nlst("").unwrap();
        assert_eq!(names.len(), 2, "{names:?}");
        client.quit().unwrap();

        let records = trail.records();
        let summary: Vec<(&str, &str, u64)> = records
            .iter()
            .map(|r| (r.user.as_str(), r.path.as_str(), r.bytes))
            .collect();
        assert_eq!(
            summary,
            [("demo", "/a.bin", 60_000), ("demo", "/b.bin", 30_000)]
        );
        assert!(records.iter().all(|r| r.session == 1), "{records:?}");
        let peer = records[0].peer.expect("the client's address");
        assert_eq!(peer.ip().to_string(), "127.0.0.1");

        let wrong = format!("ftp://demo:wrong@127.0.0.1:{port}/");
        assert!(ftp_client::blocking::Client::connect_url(&wrong).is_err());
        runtime.block_on(running.shutdown());
        assert_eq!(std::fs::read(dir.join("a.bin")).unwrap().len(), 60_000);
        assert!(!dir.join("c.bin").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
