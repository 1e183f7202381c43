use std::fmt;

use super::DomainError;

/// An entity id from a partner platform: 1-128 characters from `[A-Za-z0-9._:@-]`
/// (DATA_FORMAT.md). The charset keeps ids safe in URLs, file names and log lines.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct Id(String);

impl Id {
    pub const MAX_LEN: usize = 128;

    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let valid = (1..=Self::MAX_LEN).contains(&raw.len())
            && raw.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'@' | b'-')
            });
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(DomainError::InvalidId)
        }
    }

    /// For values read back from the store, which only ever holds parsed ids.
    pub fn from_trusted(raw: String) -> Self {
        Self(raw)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Id {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// FNV-1a over bytes: a stable 64-bit hash (std's hasher may change between Rust
/// versions), for derived ids and data fingerprints.
pub fn fnv1a64(bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes.into_iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A free-text category (metric, template, kind, region...): trimmed, non-empty, bounded.
pub fn parse_category(raw: &str) -> Result<String, DomainError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() || trimmed.chars().count() > Id::MAX_LEN {
        return Err(DomainError::InvalidText { max: Id::MAX_LEN });
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_data_format_charset() {
        for ok in ["p1", "A.b_c:d@e-f", &"x".repeat(128)] {
            assert!(Id::parse(ok).is_ok(), "{ok} should be a valid id");
        }
        for bad in ["", "has space", "slash/no", "é", &"x".repeat(129)] {
            assert_eq!(
                Id::parse(bad),
                Err(DomainError::InvalidId),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn categories_are_trimmed_and_bounded() {
        assert_eq!(
            parse_category("  joint sales ").as_deref(),
            Ok("joint sales")
        );
        assert!(parse_category("   ").is_err());
        assert!(parse_category(&"k".repeat(129)).is_err());
    }
}
