//! WSGIScriptAlias and WSGIScriptAliasMatch: parsing and URL matching.

use super::values;
use super::words::{next_option, next_word};
use crate::directives::DirectiveError;

/// One WSGIScriptAlias or WSGIScriptAliasMatch line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScriptAlias {
    /// The URL-path prefix, or the regular expression for ...Match.
    pub url: String,
    /// The script file or directory; for ...Match it may hold `$1`...
    pub target: String,
    /// `process-group=`; `%{GLOBAL}` is stored as the empty string.
    pub process_group: Option<String>,
    /// `application-group=`; `%{GLOBAL}` is stored as the empty string.
    pub application_group: Option<String>,
    /// `callable-object=`.
    pub callable_object: Option<String>,
    /// `pass-authorization=`.
    pub pass_authorization: Option<bool>,
}

/// Parses the raw argument text of `directive` (everything after its name).
pub fn parse(directive: &str, args: &str) -> Result<ScriptAlias, DirectiveError> {
    let missing = || {
        crate::refuse!(
            "{directive} needs a URL and a script path, then optional name=value options"
        )
    };
    let (url, rest) = next_word(args).ok_or_else(missing)?;
    let (target, mut rest) = next_word(rest).ok_or_else(missing)?;
    if url.is_empty() || target.is_empty() {
        return Err(missing());
    }
    let mut alias = ScriptAlias {
        url,
        target,
        ..ScriptAlias::default()
    };
    while let Some(option) = next_option(rest) {
        let (name, value, after) =
            option.map_err(|bad| format!("{directive}: '{bad}' is not a name=value option"))?;
        rest = after;
        let group = |what: &str| {
            if value.is_empty() {
                Err(crate::refuse!("{directive}: {name}= needs a {what} name"))
            } else if value == "%{GLOBAL}" {
                Ok(String::new())
            } else {
                Ok(value.clone())
            }
        };
        match name.as_str() {
            "process-group" => alias.process_group = Some(group("process group")?),
            "application-group" => alias.application_group = Some(group("application group")?),
            "callable-object" => {
                alias.callable_object = Some(values::callable_object(
                    &format!("{directive} callable-object="),
                    &value,
                )?)
            }
            "pass-authorization" => {
                alias.pass_authorization = Some(values::on_off(
                    &format!("{directive} pass-authorization="),
                    &value,
                )?)
            }
            _ => {
                return Err(crate::refuse!(
                    "{directive}: unknown option '{name}' (expected process-group, \
                     application-group, callable-object or pass-authorization)"
                ));
            }
        }
    }
    Ok(alias)
}

/// Matches `uri` against a WSGIScriptAlias URL-path the way mod_alias
/// does: a run of slashes in the alias matches a run of one or more
/// slashes in the URI, other characters must be equal, and the alias must
/// end on a path-segment boundary of the URI. Returns how many bytes of the
/// URI matched (which can exceed the alias length when slashes were
/// doubled).
pub fn prefix_match(uri: &str, alias: &str) -> Option<usize> {
    let uri = uri.as_bytes();
    let alias = alias.as_bytes();
    let (mut a, mut u) = (0, 0);
    while a < alias.len() {
        if alias[a] == b'/' {
            if uri.get(u) != Some(&b'/') {
                return None;
            }
            while alias.get(a) == Some(&b'/') {
                a += 1;
            }
            while uri.get(u) == Some(&b'/') {
                u += 1;
            }
        } else {
            if uri.get(u) != Some(&alias[a]) {
                return None;
            }
            a += 1;
            u += 1;
        }
    }
    let alias_ends_with_slash = alias.last() == Some(&b'/');
    if !alias_ends_with_slash && u < uri.len() && uri[u] != b'/' {
        return None;
    }
    Some(u)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_and_target() {
        let a = parse("WSGIScriptAlias", "/app /srv/app.wsgi").unwrap();
        assert_eq!(
            (a.url.as_str(), a.target.as_str()),
            ("/app", "/srv/app.wsgi")
        );
        assert_eq!(a.process_group, None);
    }

    #[test]
    fn all_options() {
        let a = parse(
            "WSGIScriptAlias",
            r#"/ "/srv/my app.wsgi" process-group=web application-group=%{GLOBAL} callable-object=app pass-authorization=On"#,
        )
        .unwrap();
        assert_eq!(a.target, "/srv/my app.wsgi");
        assert_eq!(a.process_group.as_deref(), Some("web"));
        assert_eq!(a.application_group.as_deref(), Some(""));
        assert_eq!(a.callable_object.as_deref(), Some("app"));
        assert_eq!(a.pass_authorization, Some(true));
    }

    #[test]
    fn global_process_group_is_empty() {
        let a = parse("WSGIScriptAlias", "/a /b process-group=%{GLOBAL}").unwrap();
        assert_eq!(a.process_group.as_deref(), Some(""));
    }

    #[test]
    fn errors_name_the_directive() {
        for (args, needle) in [
            ("/only-one", "needs a URL and a script path"),
            ("", "needs a URL"),
            ("/a /b bogus", "'bogus' is not a name=value option"),
            ("/a /b colour=red", "unknown option 'colour'"),
            ("/a /b process-group=", "process-group= needs"),
            ("/a /b pass-authorization=maybe", "must be On or Off"),
            ("/a /b callable-object=", "callable-object="),
        ] {
            let err = parse("WSGIScriptAliasMatch", args).unwrap_err();
            assert!(err.starts_with("WSGIScriptAliasMatch"), "{args}: {err}");
            assert!(err.contains(needle), "{args}: {err}");
        }
    }

    #[test]
    fn prefix_matching_follows_mod_alias() {
        assert_eq!(prefix_match("/app", "/app"), Some(4));
        assert_eq!(prefix_match("/app/x/y", "/app"), Some(4));
        assert_eq!(prefix_match("/application", "/app"), None);
        assert_eq!(prefix_match("/ap", "/app"), None);
        assert_eq!(prefix_match("//app//x", "/app"), Some(5));
        assert_eq!(prefix_match("/anything", "/"), Some(1));
        assert_eq!(prefix_match("/dir/name", "/dir/"), Some(5));
        assert_eq!(prefix_match("/dir", "/dir/"), None);
        assert_eq!(prefix_match("/dirx/a", "/dir/"), None);
    }
}
