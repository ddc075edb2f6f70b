//! Passwords verified recently, remembered so that the next login with the same password skips
//! the Argon2id computation: [`super::UserTable::cache_verified_passwords`].
//!
//! What is kept is never the password: each entry is a keyed BLAKE2b digest of the user name,
//! the user's stored hash string and the password, and the time it expires. The key is drawn
//! when the table is made and never leaves the process. A wrong password is never remembered,
//! so every guess still pays the full Argon2id cost; a changed password (a new stored hash)
//! no longer matches the digests of the old one.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use blake2::{Blake2b256, Digest};

/// The secret key of a table's login fingerprints: drawn when the table is made, it never
/// leaves the process.
#[derive(Clone, Copy)]
pub(super) struct FingerprintKey([u8; 16]);

/// What a login is looked up and remembered by: a keyed digest of the user name, the user's
/// stored hash string and the password.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Fingerprint([u8; 32]);

impl FingerprintKey {
    pub(super) fn random() -> Self {
        Self(random_key())
    }

    /// The keyed digest of one login. Each field is preceded by its length, so that no two
    /// different logins share an input.
    pub(super) fn fingerprint(
        &self,
        user: &[u8],
        stored_hash: &str,
        password: &[u8],
    ) -> Fingerprint {
        let mut digest = Blake2b256::new();
        digest.update(self.0);
        for field in [user, stored_hash.as_bytes(), password] {
            digest.update((field.len() as u64).to_le_bytes());
            digest.update(field);
        }
        Fingerprint(digest.finalize().into())
    }
}

/// A bounded set of login fingerprints, each valid for `ttl` after the verification that put
/// it there.
pub(super) struct VerifiedPasswords {
    ttl: Duration,
    max_entries: usize,
    /// Fingerprint → when it expires.
    entries: Mutex<HashMap<Fingerprint, Instant>>,
}

impl VerifiedPasswords {
    pub(super) fn new(ttl: Duration, max_entries: usize) -> Self {
        Self {
            ttl,
            max_entries,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// True when this login was verified less than the cache's time to live before `now`.
    pub(super) fn contains(&self, login: Fingerprint, now: Instant) -> bool {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.get(&login).is_some_and(|&expires| now < expires)
    }

    /// Remembers a login verified at `now`. When the cache is full, expired entries go first,
    /// then the entry that would have expired soonest.
    pub(super) fn insert(&self, login: Fingerprint, now: Instant) {
        if self.max_entries == 0 {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.max_entries && !entries.contains_key(&login) {
            entries.retain(|_, &mut expires| now < expires);
            if entries.len() >= self.max_entries {
                let soonest = entries.iter().min_by_key(|(_, &expires)| expires);
                if let Some((&digest, _)) = soonest {
                    entries.remove(&digest);
                }
            }
        }
        entries.insert(login, now + self.ttl);
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// 128 random bits, from the standard library's per-process random hash keys (which it draws
/// from the operating system's generator).
fn random_key() -> [u8; 16] {
    let half = || {
        std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish()
    };
    let mut key = [0; 16];
    key[..8].copy_from_slice(&half().to_le_bytes());
    key[8..].copy_from_slice(&half().to_le_bytes());
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_login_is_remembered_until_its_time_to_live_ends() {
        let cache = VerifiedPasswords::new(Duration::from_secs(60), 8);
        let now = Instant::now();
        let login = FingerprintKey::random().fingerprint(b"alice", "$argon2id$h", b"pw");
        assert!(!cache.contains(login, now));
        cache.insert(login, now);
        assert!(cache.contains(login, now + Duration::from_secs(59)));
        assert!(!cache.contains(login, now + Duration::from_secs(60)));
    }

    #[test]
    fn every_field_and_the_key_change_the_fingerprint() {
        let key = FingerprintKey::random();
        let login = key.fingerprint(b"alice", "h", b"pw");
        assert!(login == key.fingerprint(b"alice", "h", b"pw"));
        for other in [
            key.fingerprint(b"alicE", "h", b"pw"),
            key.fingerprint(b"alice", "H", b"pw"),
            key.fingerprint(b"alice", "h", b"pW"),
            // The same bytes split differently between the fields.
            key.fingerprint(b"alic", "eh", b"pw"),
            FingerprintKey::random().fingerprint(b"alice", "h", b"pw"),
        ] {
            assert!(login != other);
        }
    }

    #[test]
    fn a_full_cache_drops_the_expired_then_the_soonest_to_expire() {
        let cache = VerifiedPasswords::new(Duration::from_secs(10), 3);
        let start = Instant::now();
        let at = |s| start + Duration::from_secs(s);
        let key = FingerprintKey::random();
        let login = |i: u8| key.fingerprint(b"u", "h", &[i]);
        for i in 0..3 {
            cache.insert(login(i), at(u64::from(i)));
        }
        // Full, none expired: the oldest (expiring at 10 s) makes room.
        cache.insert(login(3), at(5));
        assert_eq!(cache.len(), 3);
        assert!(!cache.contains(login(0), at(5)));
        assert!([1, 2, 3].iter().all(|&i| cache.contains(login(i), at(5))));
        // At 12.5 s login 1 and 2 have expired: both go, and the newest stays with login 3.
        cache.insert(login(4), at(12) + Duration::from_millis(500));
        assert_eq!(cache.len(), 2);
        assert!(cache.contains(login(3), at(13)) && cache.contains(login(4), at(13)));
    }

    #[test]
    fn no_room_remembers_nothing() {
        let cache = VerifiedPasswords::new(Duration::from_secs(10), 0);
        let login = FingerprintKey::random().fingerprint(b"u", "h", b"p");
        cache.insert(login, Instant::now());
        assert!(!cache.contains(login, Instant::now()));
    }
}
