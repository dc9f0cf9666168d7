//! Secrets: the server key, random tokens, keyed token hashes and password
//! hashes. Nothing secret is stored in the clear.

use std::io::Write;
use std::path::Path;

use argon2::password_hash::{rand_core::OsRng, Output, ParamsString, PasswordHash, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::error::{Error, Result};

/// The server's 32-byte secret. Tokens are hashed with HMAC-SHA256 under a
/// key derived from it, so a copy of the database alone is not enough to
/// test guesses against stored hashes.
#[derive(Clone)]
pub struct SecretKey {
    /// HMAC-SHA256 under the token-hash key, its key already absorbed:
    /// each hash clones it instead of hashing the key again (half the work
    /// of a token's hash, which every authenticated request pays). Its
    /// inner and outer states are as secret as the key itself.
    token_mac: Hmac<Sha256>,
    encryption_key: [u8; 32],
}

/// A token's keyed hash (see [`SecretKey::token_digest`]): compared (in
/// constant time) and kept in memory as bytes, stored hex-encoded
/// ([`TokenDigest::hex`]).
#[derive(Clone, Copy, Eq)]
pub struct TokenDigest([u8; 32]);

impl PartialEq for TokenDigest {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

// By hand beside the constant-time `eq` (equal bytes, equal hashes).
impl std::hash::Hash for TokenDigest {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl TokenDigest {
    /// The form stored in the database.
    pub fn hex(&self) -> String {
        // Into a buffer: `hex::encode` collects char by char, several times
        // slower on this path.
        let mut buf = [0u8; 64];
        hex::encode_to_slice(self.0, &mut buf).expect("64 bytes hold 32 in hex");
        std::str::from_utf8(&buf).expect("hex is ASCII").to_owned()
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

impl SecretKey {
    /// A key from fixed bytes, for tests.
    #[cfg(test)]
    pub(crate) fn for_tests(master: [u8; 32]) -> Self {
        Self::from_master(&master)
    }

    fn from_master(master: &[u8]) -> Self {
        let token_hash_key = derive(master, b"switchyard token hash v1");
        Self {
            token_mac: <Hmac<Sha256> as Mac>::new_from_slice(&token_hash_key).expect("any key length"),
            encryption_key: derive(master, b"switchyard encryption v1"),
        }
    }

    /// Reads the key from `inline` (base64) if given, else from `path`,
    /// creating the file with 32 random bytes and mode 0600 when missing.
    pub fn load_or_create(inline: Option<&str>, path: &Path) -> Result<Self> {
        if let Some(b64) = inline {
            let bytes =
                STANDARD.decode(b64.trim()).map_err(|_| Error::invalid("SWITCHYARD_SECRET_KEY is not valid base64"))?;
            if bytes.len() < 32 {
                return Err(Error::invalid("SWITCHYARD_SECRET_KEY must hold at least 32 bytes"));
            }
            return Ok(Self::from_master(&bytes));
        }
        match std::fs::read(path) {
            Ok(bytes) if bytes.len() >= 32 => Ok(Self::from_master(&bytes)),
            Ok(_) => Err(Error::internal(format!("secret key file {} is shorter than 32 bytes", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut bytes = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut bytes);
                write_private(path, &bytes)
                    .map_err(|e| Error::internal(format!("cannot create secret key file {}: {e}", path.display())))?;
                tracing::info!(path = %path.display(), "created a new secret key file (mode 0600)");
                Ok(Self::from_master(&bytes))
            }
            Err(e) => Err(Error::internal(format!("cannot read secret key file {}: {e}", path.display()))),
        }
    }

    /// Keyed hash of a high-entropy token (API key secret, session token),
    /// hex-encoded, for storage and lookup.
    pub fn hash_token(&self, token: &str) -> String {
        self.token_digest(token).hex()
    }

    /// The same hash as bytes, for lookups in memory.
    pub fn token_digest(&self, token: &str) -> TokenDigest {
        let mut mac = self.token_mac.clone();
        mac.update(token.as_bytes());
        TokenDigest(mac.finalize().into_bytes().into())
    }
}

impl SecretKey {
    /// Encrypts a secret for storage (AES-256-GCM, random nonce):
    /// `v1:` + base64(nonce ‖ ciphertext).
    pub fn encrypt(&self, plaintext: &str) -> Result<String> {
        use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng as AeadRng};
        let cipher = aes_gcm::Aes256Gcm::new_from_slice(&self.encryption_key).map_err(Error::internal)?;
        let nonce = aes_gcm::Aes256Gcm::generate_nonce(&mut AeadRng);
        let mut out = nonce.to_vec();
        out.extend(cipher.encrypt(&nonce, plaintext.as_bytes()).map_err(|_| Error::internal("encryption failed"))?);
        Ok(format!("v1:{}", STANDARD.encode(out)))
    }

    /// Decrypts what [`encrypt`](Self::encrypt) produced with the same key.
    pub fn decrypt(&self, stored: &str) -> Result<String> {
        use aes_gcm::aead::{Aead, KeyInit};
        let bytes = stored
            .strip_prefix("v1:")
            .and_then(|b| STANDARD.decode(b).ok())
            .filter(|b| b.len() > 12)
            .ok_or_else(|| Error::internal("stored secret has an unknown format"))?;
        let cipher = aes_gcm::Aes256Gcm::new_from_slice(&self.encryption_key).map_err(Error::internal)?;
        let plain = cipher
            .decrypt(aes_gcm::Nonce::from_slice(&bytes[..12]), &bytes[12..])
            .map_err(|_| Error::internal("stored secret does not decrypt with this server key"))?;
        String::from_utf8(plain).map_err(Error::internal)
    }
}

fn derive(master: &[u8], label: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(master).expect("any key length");
    mac.update(label);
    mac.finalize().into_bytes().into()
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// `n` random bytes from the OS, URL-safe base64 without padding.
pub fn random_token(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Constant-time equality of two strings (length is not secret).
pub fn ct_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// Argon2's working memory for one hash: 19 MiB with our parameters.
/// Callers keep a few and reuse them, so the memory sign-in needs is fixed
/// and does not churn through the allocator (with glibc, 50 hashes in a row
/// on fresh 19 MiB buffers left ~600 MiB resident even two at a time).
pub struct HashMemory(Vec<Block>);

impl HashMemory {
    pub fn new() -> Self {
        Self(vec![Block::default(); Params::DEFAULT_M_COST as usize])
    }
}

impl Default for HashMemory {
    fn default() -> Self {
        Self::new()
    }
}

/// The raw Argon2 output of `password` under `argon`'s parameters, computed in `mem`.
fn argon2_output(
    argon: &Argon2,
    password: &[u8],
    salt: &Salt,
    len: usize,
    mem: &mut HashMemory,
) -> argon2::password_hash::Result<Output> {
    let mut salt_buf = [0u8; 64];
    let salt = salt.decode_b64(&mut salt_buf)?;
    let blocks = argon.params().block_count();
    if mem.0.len() < blocks {
        mem.0.resize(blocks, Block::default());
    }
    Output::init_with(len, |out| Ok(argon.hash_password_into_with_memory(password, salt, out, &mut mem.0[..blocks])?))
}

/// Argon2id hash of a password (PHC string). CPU-heavy: call from `spawn_blocking`.
pub fn hash_password(password: &str) -> Result<String> {
    hash_password_with(password, &mut HashMemory::new())
}

/// [`hash_password`] in reusable memory.
pub fn hash_password_with(password: &str, mem: &mut HashMemory) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    let argon = Argon2::default();
    let len = argon.params().output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let hash = argon2_output(&argon, password.as_bytes(), &salt.as_salt(), len, mem).map_err(Error::internal)?;
    let phc = PasswordHash {
        algorithm: Algorithm::default().ident(),
        version: Some(Version::default().into()),
        params: ParamsString::try_from(argon.params()).map_err(Error::internal)?,
        salt: Some(salt.as_salt()),
        hash: Some(hash),
    };
    Ok(phc.to_string())
}

/// Verifies a password against a stored Argon2 hash (the outputs compare
/// in constant time). With no stored hash, a dummy hash is checked so the
/// answer takes as long as for a real account. CPU-heavy: call from
/// `spawn_blocking`.
pub fn verify_password(password: &str, stored: Option<&str>) -> bool {
    verify_password_with(password, stored, &mut HashMemory::new())
}

/// [`verify_password`] in reusable memory.
pub fn verify_password_with(password: &str, stored: Option<&str>, mem: &mut HashMemory) -> bool {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let (hash, real) = match stored {
        Some(h) => (h, true),
        None => (DUMMY.get_or_init(|| hash_password("dummy password for timing").unwrap_or_default()).as_str(), false),
    };
    let mut check = || -> Option<bool> {
        let parsed = PasswordHash::new(hash).ok()?;
        let expected = parsed.hash?;
        let algorithm = Algorithm::try_from(parsed.algorithm).ok()?;
        let version = parsed.version.map(Version::try_from).transpose().ok()?.unwrap_or_default();
        let params = Params::try_from(&parsed).ok()?;
        let argon = Argon2::new(algorithm, version, params);
        let output = argon2_output(&argon, password.as_bytes(), &parsed.salt?, expected.len(), mem).ok()?;
        // `Output`'s equality is constant-time.
        Some(output == expected)
    };
    check().unwrap_or(false) && real
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_hash_is_the_hex_hmac_under_the_derived_key() {
        // Stored hashes must keep matching: a fixed value (computed with
        // Python's hmac), and the prepared MAC gives what a MAC keyed
        // afresh gives, in lowercase hex.
        let key = SecretKey::from_master(&[7u8; 32]);
        assert_eq!(key.hash_token("x"), "2b652bab841721d1f4888190c459860afca4a6bcb6f9b354cf13d67511565923");
        for token in ["", "x", "sk_live_0123456789abcdefghijklmnopqrstuv"] {
            let mut mac =
                <Hmac<Sha256> as Mac>::new_from_slice(&derive(&[7u8; 32], b"switchyard token hash v1")).unwrap();
            mac.update(token.as_bytes());
            let expected = hex::encode(mac.finalize().into_bytes());
            assert_eq!(key.hash_token(token), expected);
            assert_eq!(key.token_digest(token).hex(), expected);
        }
        assert!(key.token_digest("x") != key.token_digest("y"));
    }

    #[test]
    fn key_file_is_created_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let a = SecretKey::load_or_create(None, &path).unwrap();
        let b = SecretKey::load_or_create(None, &path).unwrap();
        assert_eq!(a.hash_token("x"), b.hash_token("x"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let other = SecretKey::load_or_create(Some(&STANDARD.encode([7u8; 32])), &path).unwrap();
        assert_ne!(a.hash_token("x"), other.hash_token("x"));
    }

    #[test]
    fn secrets_round_trip_and_do_not_decrypt_under_another_key() {
        let a = SecretKey::from_master(&[1u8; 32]);
        let b = SecretKey::from_master(&[2u8; 32]);
        let sealed = a.encrypt("whsec_abc").unwrap();
        assert!(!sealed.contains("whsec_abc"));
        assert_ne!(sealed, a.encrypt("whsec_abc").unwrap(), "random nonce");
        assert_eq!(a.decrypt(&sealed).unwrap(), "whsec_abc");
        assert!(b.decrypt(&sealed).is_err());
    }

    #[test]
    fn hashes_in_reused_memory_are_standard_argon2id() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let mut mem = HashMemory::new();
        let ours = hash_password_with("correct horse battery", &mut mem).unwrap();
        assert!(ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{ours}");
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default().verify_password(b"correct horse battery", &parsed).is_ok());
        // A hash made the usual way (as stored before) verifies in reused memory.
        let salt = SaltString::generate(&mut OsRng);
        let theirs = Argon2::default().hash_password(b"another password", &salt).unwrap().to_string();
        assert!(verify_password_with("another password", Some(&theirs), &mut mem));
        assert!(!verify_password_with("another passwore", Some(&theirs), &mut mem));
        assert!(verify_password_with("correct horse battery", Some(&ours), &mut mem));
        assert!(!verify_password_with("correct horse battery", Some("not a hash"), &mut mem));
    }

    #[test]
    fn passwords_verify_only_with_the_right_secret() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(verify_password("correct horse battery", Some(&h)));
        assert!(!verify_password("wrong", Some(&h)));
        assert!(!verify_password("correct horse battery", None));
    }
}
