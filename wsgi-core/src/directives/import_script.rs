//! WSGIImportScript: a script loaded into a given process and application
//! group when that process starts.

use super::words::{next_option, next_word};
use crate::directives::DirectiveError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportScript {
    pub path: String,
    /// `""` for the Apache child processes (`%{GLOBAL}`), else a daemon
    /// process group.
    pub process_group: String,
    /// `""` for the main interpreter (`%{GLOBAL}`).
    pub application_group: String,
}

pub fn parse(directive: &str, args: &str) -> Result<ImportScript, DirectiveError> {
    let (path, mut rest) = next_word(args)
        .filter(|(path, _)| !path.is_empty())
        .ok_or_else(|| crate::refuse!("{directive} needs the path of the script to import"))?;
    let mut process_group = None;
    let mut application_group = None;
    while let Some(option) = next_option(rest) {
        let (name, value, after) =
            option.map_err(|bad| format!("{directive}: '{bad}' is not a name=value option"))?;
        rest = after;
        let group = if value == "%{GLOBAL}" {
            String::new()
        } else {
            value.clone()
        };
        if value.is_empty() {
            return Err(crate::refuse!("{directive}: {name}= needs a name"));
        }
        match name.as_str() {
            "process-group" => process_group = Some(group),
            "application-group" => application_group = Some(group),
            _ => {
                return Err(crate::refuse!(
                    "{directive}: unknown option '{name}' (expected process-group and application-group)"
                ));
            }
        }
    }
    let application_group = application_group
        .ok_or_else(|| crate::refuse!("{directive}: the application-group= option is required"))?;
    let process_group = process_group
        .ok_or_else(|| crate::refuse!("{directive}: the process-group= option is required"))?;
    Ok(ImportScript {
        path,
        process_group,
        application_group,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_groups() {
        let s = parse(
            "WSGIImportScript",
            "/srv/app.wsgi process-group=%{GLOBAL} application-group=web",
        )
        .unwrap();
        assert_eq!(
            s,
            ImportScript {
                path: "/srv/app.wsgi".into(),
                process_group: String::new(),
                application_group: "web".into()
            }
        );
    }

    #[test]
    fn errors_name_the_directive() {
        for (args, needle) in [
            ("", "needs the path"),
            ("/a.wsgi", "application-group= option is required"),
            (
                "/a.wsgi application-group=x",
                "process-group= option is required",
            ),
            ("/a.wsgi application-group=", "needs a name"),
            ("/a.wsgi colour=red", "unknown option"),
            ("/a.wsgi oops", "not a name=value"),
        ] {
            let err = parse("WSGIImportScript", args).unwrap_err();
            assert!(
                err.starts_with("WSGIImportScript") && err.contains(needle),
                "{args}: {err}"
            );
        }
    }
}
