//! The secret that proves a connection to a daemon process comes from one
//! of Apache's own children. SO_PEERCRED only proves the uid, and any
//! other process of Apache's user (a CGI or PHP script) shares it; the
//! secret is only in the memory of the Apache parent, its children and
//! the group's own daemon processes.

use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use wsgi_core::protocol::SECRET_LEN;

/// 256 bits from the operating system's random source.
#[derive(Clone)]
pub struct Secret([u8; SECRET_LEN]);

#[derive(Debug, thiserror::Error)]
#[error("cannot read the operating system's random source: {0}")]
pub struct NoRandomness(getrandom::Error);

impl Secret {
    pub fn generate() -> Result<Secret, NoRandomness> {
        let mut bytes = [0u8; SECRET_LEN];
        getrandom::fill(&mut bytes).map_err(NoRandomness)?;
        Ok(Secret(bytes))
    }

    pub fn from_bytes(bytes: [u8; SECRET_LEN]) -> Secret {
        Secret(bytes)
    }

    pub fn bytes(&self) -> &[u8; SECRET_LEN] {
        &self.0
    }

    /// Whether `offered` is this secret, in time that does not depend on
    /// where they differ.
    pub fn matches(&self, offered: &[u8]) -> bool {
        offered.len() == SECRET_LEN && bool::from(self.0.ct_eq(offered))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_differ_and_match_only_themselves() {
        let a = Secret::generate().unwrap();
        let b = Secret::generate().unwrap();
        assert_ne!(a.bytes(), b.bytes());
        assert!(a.matches(a.bytes()));
        assert!(!a.matches(b.bytes()));
        assert!(!a.matches(&a.bytes()[..SECRET_LEN - 1]));
        let mut longer = a.bytes().to_vec();
        longer.push(0);
        assert!(!a.matches(&longer));
        assert!(!a.matches(&[]));
        assert_eq!(format!("{a:?}"), "Secret(..)");
    }
}
