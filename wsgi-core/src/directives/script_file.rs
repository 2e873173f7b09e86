//! The script-file directives: `path [options]` for WSGIAccessScript,
//! WSGIAuthUserScript, WSGIAuthGroupScript and WSGIDispatchScript (whose
//! only option is `application-group=`), and `name path [options]` for
//! WSGIHandlerScript (which also takes `process-group=` and
//! `pass-authorization=`).

use super::values::on_off;
use super::words::{next_option, next_word};
use crate::directives::DirectiveError;

/// A script named by one of these directives and its options, as written
/// (group names are expanded per request).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScriptFile {
    pub path: String,
    pub process_group: Option<String>,
    pub application_group: Option<String>,
    pub pass_authorization: Option<bool>,
}

/// Parses `path [application-group=name]`.
pub fn parse(directive: &str, args: &str) -> Result<ScriptFile, DirectiveError> {
    parse_with(directive, args, false)
}

/// Parses WSGIHandlerScript's `name path [options]`.
pub fn parse_handler(directive: &str, args: &str) -> Result<(String, ScriptFile), DirectiveError> {
    let (name, rest) = next_word(args)
        .filter(|(name, _)| !name.is_empty())
        .ok_or_else(|| crate::refuse!("{directive} needs a handler name and a script path"))?;
    Ok((name, parse_with(directive, rest, true)?))
}

fn parse_with(
    directive: &str,
    args: &str,
    handler_options: bool,
) -> Result<ScriptFile, DirectiveError> {
    let (path, mut rest) = next_word(args)
        .filter(|(path, _)| !path.is_empty())
        .ok_or_else(|| crate::refuse!("{directive} needs the path of the script"))?;
    let mut script = ScriptFile {
        path,
        ..ScriptFile::default()
    };
    while let Some(option) = next_option(rest) {
        let (name, value, after) =
            option.map_err(|bad| format!("{directive}: '{bad}' is not a name=value option"))?;
        rest = after;
        if value.is_empty() {
            return Err(crate::refuse!("{directive}: {name}= needs a value"));
        }
        match name.as_str() {
            "application-group" => script.application_group = Some(value),
            "process-group" if handler_options => script.process_group = Some(value),
            "pass-authorization" if handler_options => {
                script.pass_authorization =
                    Some(on_off(&format!("{directive} pass-authorization="), &value)?)
            }
            _ => {
                let expected = if handler_options {
                    "process-group, application-group and pass-authorization"
                } else {
                    "application-group"
                };
                return Err(crate::refuse!(
                    "{directive}: unknown option '{name}' (expected {expected})"
                ));
            }
        }
    }
    Ok(script)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_and_application_group() {
        let s = parse(
            "WSGIAuthUserScript",
            "'/srv/my auth.wsgi' application-group=site",
        )
        .unwrap();
        assert_eq!(s.path, "/srv/my auth.wsgi");
        assert_eq!(s.application_group.as_deref(), Some("site"));
        assert_eq!(s.process_group, None);
        assert_eq!(
            parse("WSGIAccessScript", "/a.wsgi")
                .unwrap()
                .application_group,
            None
        );
    }

    #[test]
    fn handler_scripts_take_process_options() {
        let (name, s) = parse_handler(
            "WSGIHandlerScript",
            "wsgi-resource /srv/h.wsgi process-group=g application-group=%{GLOBAL} pass-authorization=On",
        )
        .unwrap();
        assert_eq!(name, "wsgi-resource");
        assert_eq!(s.path, "/srv/h.wsgi");
        assert_eq!(s.process_group.as_deref(), Some("g"));
        assert_eq!(s.application_group.as_deref(), Some("%{GLOBAL}"));
        assert_eq!(s.pass_authorization, Some(true));
    }

    #[test]
    fn errors_name_the_directive() {
        for (args, needle) in [
            ("", "needs the path"),
            ("/a.wsgi process-group=g", "unknown option 'process-group'"),
            ("/a.wsgi application-group=", "needs a value"),
            ("/a.wsgi oops", "not a name=value"),
        ] {
            let err = parse("WSGIAccessScript", args).unwrap_err();
            assert!(
                err.starts_with("WSGIAccessScript") && err.contains(needle),
                "{args}: {err}"
            );
        }
        for (args, needle) in [
            ("", "needs a handler name"),
            ("name", "needs the path"),
            ("name /h.wsgi pass-authorization=maybe", "On or Off"),
            ("name /h.wsgi callable-object=x", "unknown option"),
        ] {
            let err = parse_handler("WSGIHandlerScript", args).unwrap_err();
            assert!(
                err.starts_with("WSGIHandlerScript") && err.contains(needle),
                "{args}: {err}"
            );
        }
    }
}
