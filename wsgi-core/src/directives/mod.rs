//! Directive values, parsed by pure functions that mirror httpd's own
//! splitting (`ap_getword_conf`). Every error message names the directive;
//! httpd adds the file and line.

pub mod groups;
pub mod import_script;
pub mod newer;
pub mod script_alias;
pub mod script_file;
pub mod values;
pub mod words;

/// Why a directive's value was refused: the message httpd shows (it adds
/// the file and line), naming the directive.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DirectiveError(String);

impl DirectiveError {
    pub fn new(message: impl Into<String>) -> DirectiveError {
        DirectiveError(message.into())
    }

    pub fn message(&self) -> &str {
        &self.0
    }
}

/// The message, for code that reads or matches it.
impl std::ops::Deref for DirectiveError {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl From<String> for DirectiveError {
    fn from(message: String) -> DirectiveError {
        DirectiveError(message)
    }
}

impl From<&str> for DirectiveError {
    fn from(message: &str) -> DirectiveError {
        DirectiveError(message.to_string())
    }
}

/// A [`DirectiveError`] from a format string.
#[macro_export]
macro_rules! refuse {
    ($($arg:tt)*) => {
        $crate::directives::DirectiveError::new(format!($($arg)*))
    };
}
