//! Parsing single directive values. Every error names the directive, so
//! that httpd's "Syntax error on line N of FILE" is followed by a message
//! that says which setting is wrong and what would be right.

use crate::directives::DirectiveError;
use std::path::PathBuf;

/// `On` or `Off`, case-insensitively, as httpd's own flags.
pub fn on_off(directive: &str, value: &str) -> Result<bool, DirectiveError> {
    if value.eq_ignore_ascii_case("on") {
        Ok(true)
    } else if value.eq_ignore_ascii_case("off") {
        Ok(false)
    } else {
        Err(crate::refuse!(
            "{directive} must be On or Off, not '{value}'"
        ))
    }
}

/// The lock mechanisms WSGIAcceptMutex names on Linux, as APR offers them.
pub const ACCEPT_MUTEX_MECHANISMS: [&str; 6] = [
    "default", "flock", "fcntl", "sysvsem", "posixsem", "pthread",
];

/// The value of WSGIAcceptMutex, lower-cased: one of
/// [`ACCEPT_MUTEX_MECHANISMS`].
pub fn accept_mutex(value: &str) -> Result<String, DirectiveError> {
    let lower = value.to_ascii_lowercase();
    if ACCEPT_MUTEX_MECHANISMS.contains(&lower.as_str()) {
        Ok(lower)
    } else {
        Err(crate::refuse!(
            "WSGIAcceptMutex: accept mutex lock mechanism '{value}' is invalid. Valid accept mutex mechanisms for this platform are: {}.",
            ACCEPT_MUTEX_MECHANISMS.join(", ")
        ))
    }
}

/// The value of WSGIMapHEADToGET.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MapHeadToGet {
    /// Never change the method.
    Off,
    /// Always present HEAD to the application as GET.
    On,
    /// Present HEAD as GET only when an output filter that needs the whole
    /// body (mod_deflate, mod_cache, ...) is in the chain.
    #[default]
    Auto,
}

pub fn map_head_to_get(directive: &str, value: &str) -> Result<MapHeadToGet, DirectiveError> {
    if value.eq_ignore_ascii_case("on") {
        Ok(MapHeadToGet::On)
    } else if value.eq_ignore_ascii_case("off") {
        Ok(MapHeadToGet::Off)
    } else if value.eq_ignore_ascii_case("auto") {
        Ok(MapHeadToGet::Auto)
    } else {
        Err(crate::refuse!(
            "{directive} must be On, Off or Auto, not '{value}'"
        ))
    }
}

/// WSGIPythonOptimize: 0, 1 or 2.
pub fn optimize_level(directive: &str, value: &str) -> Result<u8, DirectiveError> {
    match value.trim() {
        "0" => Ok(0),
        "1" => Ok(1),
        "2" => Ok(2),
        _ => Err(crate::refuse!(
            "{directive} must be 0, 1 or 2, not '{value}'"
        )),
    }
}

/// WSGIPythonHome: `prefix` or `prefix:exec_prefix`, absolute paths.
pub fn python_home(directive: &str, value: &str) -> Result<PathBuf, DirectiveError> {
    if value.is_empty() {
        return Err(crate::refuse!("{directive} needs a directory"));
    }
    for part in value.split(':') {
        if !part.starts_with('/') {
            return Err(crate::refuse!(
                "{directive} must be an absolute directory (or prefix:exec_prefix), not '{value}'"
            ));
        }
    }
    Ok(PathBuf::from(value))
}

/// WSGIPythonPath and python-path=: `dir[:dir...]`, empty parts ignored;
/// an empty value (which mod_wsgi-express always writes as
/// `python-path=''`) adds nothing, as in mod_wsgi.
pub fn python_path(_directive: &str, value: &str) -> Result<Vec<PathBuf>, DirectiveError> {
    Ok(value
        .split(':')
        .filter(|part| !part.is_empty())
        .map(PathBuf::from)
        .collect())
}

/// WSGICallableObject and callable-object=: a name, or `%{ENV:variable}`.
pub fn callable_object(directive: &str, value: &str) -> Result<String, DirectiveError> {
    if value.is_empty() {
        return Err(crate::refuse!(
            "{directive} needs the name of the WSGI application object"
        ));
    }
    Ok(value.to_string())
}

/// WSGIPythonHashSeed: `random` (hashing stays randomised) or a seed in
/// 0..=4294967295, as PYTHONHASHSEED.
pub fn hash_seed(directive: &str, value: &str) -> Result<Option<u32>, DirectiveError> {
    if value == "random" {
        return Ok(None);
    }
    if !value.is_empty()
        && value.bytes().all(|b| b.is_ascii_digit())
        && let Ok(seed) = value.parse::<u32>()
    {
        return Ok(Some(seed));
    }
    Err(crate::refuse!(
        "{directive} must be \"random\" or an integer in range [0; 4294967295], not '{value}'"
    ))
}

/// WSGIPythonWarnings: one `-W` option, `action:message:category:module:lineno`
/// with at most five fields. The action is checked as Python does: empty,
/// `all`, or the start of one of its actions (case matters).
pub fn warning_option(directive: &str, value: &str) -> Result<String, DirectiveError> {
    let fields: Vec<&str> = value.split(':').collect();
    let action = fields[0];
    let actions = ["default", "always", "ignore", "module", "once", "error"];
    let known = action == "all" || actions.iter().any(|a| a.starts_with(action));
    if fields.len() > 5 || !known {
        return Err(crate::refuse!(
            "{directive}: '{value}' is not a Python warning option (action:message:category:module:lineno)"
        ));
    }
    if let Some(line) = fields.get(4)
        && !line.is_empty()
        && line.parse::<u32>().is_err()
    {
        return Err(crate::refuse!(
            "{directive}: '{value}' has an invalid line number"
        ));
    }
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_case_insensitive_and_strict() {
        assert_eq!(on_off("X", "On"), Ok(true));
        assert_eq!(on_off("X", "oFF"), Ok(false));
        let err = on_off("WSGIChunkedRequest", "yes").unwrap_err();
        assert!(
            err.contains("WSGIChunkedRequest") && err.contains("'yes'"),
            "{err}"
        );
    }

    #[test]
    fn head_mapping_values() {
        assert_eq!(map_head_to_get("X", "AUTO"), Ok(MapHeadToGet::Auto));
        assert_eq!(map_head_to_get("X", "on"), Ok(MapHeadToGet::On));
        assert_eq!(map_head_to_get("X", "Off"), Ok(MapHeadToGet::Off));
        assert!(
            map_head_to_get("WSGIMapHEADToGET", "1")
                .unwrap_err()
                .contains("WSGIMapHEADToGET")
        );
    }

    #[test]
    fn optimize_accepts_only_0_1_2() {
        assert_eq!(optimize_level("X", "0"), Ok(0));
        assert_eq!(optimize_level("X", "2"), Ok(2));
        for bad in ["3", "-1", "one", "", "1.0"] {
            let err = optimize_level("WSGIPythonOptimize", bad).unwrap_err();
            assert!(err.starts_with("WSGIPythonOptimize"), "{err}");
        }
    }

    #[test]
    fn python_home_must_be_absolute() {
        assert_eq!(
            python_home("X", "/opt/venv"),
            Ok(PathBuf::from("/opt/venv"))
        );
        assert!(python_home("X", "/usr:/usr/local").is_ok());
        assert!(
            python_home("WSGIPythonHome", "venv")
                .unwrap_err()
                .contains("WSGIPythonHome")
        );
        assert!(python_home("X", "/usr:lib").is_err());
        assert!(python_home("X", "").is_err());
    }

    #[test]
    fn python_path_splits_on_colons() {
        assert_eq!(
            python_path("X", "/a::/b:"),
            Ok(vec![PathBuf::from("/a"), PathBuf::from("/b")])
        );
        assert!(python_path("X", ":").unwrap().is_empty());
        assert!(python_path("X", "").unwrap().is_empty());
    }

    #[test]
    fn hash_seed_is_random_or_a_u32() {
        assert_eq!(hash_seed("X", "random"), Ok(None));
        assert_eq!(hash_seed("X", "0"), Ok(Some(0)));
        assert_eq!(hash_seed("X", "4294967295"), Ok(Some(u32::MAX)));
        for bad in ["4294967296", "-1", "abc", "", "+5", "Random"] {
            assert!(
                hash_seed("WSGIPythonHashSeed", bad)
                    .unwrap_err()
                    .contains("WSGIPythonHashSeed"),
                "{bad}"
            );
        }
    }

    #[test]
    fn warning_options_are_checked() {
        assert!(warning_option("X", "ignore::DeprecationWarning").is_ok());
        assert!(warning_option("X", "error").is_ok());
        assert!(warning_option("X", "default:msg:UserWarning:mod:10").is_ok());
        assert!(warning_option("X", "ign::DeprecationWarning").is_ok());
        assert!(warning_option("X", "all").is_ok());
        assert!(warning_option("W", "shout").unwrap_err().starts_with("W"));
        assert!(
            warning_option("W", "Error").is_err(),
            "Python's actions are lower case"
        );
        assert!(warning_option("W", "error::UserWarning::x").is_err());
        assert!(warning_option("W", "a:b:c:d:e:f").is_err());
    }

    #[test]
    fn callable_object_must_not_be_empty() {
        assert_eq!(callable_object("X", "app").as_deref(), Ok("app"));
        assert!(callable_object("WSGICallableObject", "").is_err());
    }

    #[test]
    fn accept_mutex_takes_apr_mechanisms_in_any_case() {
        assert_eq!(accept_mutex("fcntl").unwrap(), "fcntl");
        assert_eq!(accept_mutex("Default").unwrap(), "default");
        let error = accept_mutex("spinlock").unwrap_err().to_string();
        assert!(error.contains("WSGIAcceptMutex"), "{error}");
        assert!(error.contains("'spinlock'"), "{error}");
        assert!(error.contains("flock, fcntl"), "{error}");
    }
}
