use thiserror::Error;

/// Why a value was refused by a domain rule. The import layer adds file, line and column.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum DomainError {
    #[error("an id must be 1-128 characters from [A-Za-z0-9._:@-]")]
    InvalidId,
    #[error("expected one of {allowed}")]
    NotInEnum { allowed: String },
    #[error("text must be non-empty and at most {max} characters")]
    InvalidText { max: usize },
    #[error("must be {rule}")]
    OutOfRange { rule: &'static str },
}
