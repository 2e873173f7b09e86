//! Splitting directive arguments into words the way httpd does
//! (`ap_getword_conf`), so that quoting in our directives behaves exactly
//! like quoting anywhere else in httpd.conf.

use crate::directives::DirectiveError;
/// Takes the next word from `line`, returning it and the rest of the line
/// (leading whitespace skipped). A word starting with `"` or `'` runs to the
/// matching quote; inside it a backslash escapes that quote or a backslash.
/// An unquoted word runs to the next whitespace, and `\\` in it is a single
/// backslash. Returns `None` when nothing but whitespace is left.
pub fn next_word(line: &str) -> Option<(String, &str)> {
    let line = line.trim_start_matches(is_space);
    let mut chars = line.char_indices().peekable();
    let (_, first) = chars.peek().copied()?;
    let mut word = String::new();
    let end;
    if first == '"' || first == '\'' {
        let quote = first;
        chars.next();
        loop {
            match chars.next() {
                None => {
                    end = line.len();
                    break;
                }
                Some((i, c)) if c == quote => {
                    end = i + c.len_utf8();
                    break;
                }
                Some((_, '\\')) => match chars.peek() {
                    Some(&(_, next)) if next == quote || next == '\\' => {
                        word.push(next);
                        chars.next();
                    }
                    _ => word.push('\\'),
                },
                Some((_, c)) => word.push(c),
            }
        }
    } else {
        loop {
            match chars.next() {
                None => {
                    end = line.len();
                    break;
                }
                Some((i, c)) if is_space(c) => {
                    end = i;
                    break;
                }
                Some((_, '\\')) => match chars.peek() {
                    Some(&(_, '\\')) => {
                        word.push('\\');
                        chars.next();
                    }
                    _ => word.push('\\'),
                },
                Some((_, c)) => word.push(c),
            }
        }
    }
    Some((word, line[end..].trim_start_matches(is_space)))
}

/// All words of `line`.
pub fn words(mut line: &str) -> Vec<String> {
    let mut out = Vec::new();
    while let Some((word, rest)) = next_word(line) {
        out.push(word);
        line = rest;
    }
    out
}

/// Takes a `name=value` option from `line` (mod_wsgi's option syntax: the
/// name is unquoted, the value may be quoted like any word). Returns the
/// name, the value and the rest of the line; `Err` carries the offending
/// text when the next word is not of that form.
pub fn next_option(line: &str) -> Option<Result<(String, String, &str), DirectiveError>> {
    let line = line.trim_start_matches(is_space);
    if line.is_empty() {
        return None;
    }
    let name_end = line
        .find(|c: char| c == '=' || is_space(c))
        .unwrap_or(line.len());
    if name_end == 0 || !line[name_end..].starts_with('=') {
        let bad = line.split(is_space).next().unwrap_or(line).to_string();
        return Some(Err(bad.into()));
    }
    let name = line[..name_end].to_string();
    let after_eq = &line[name_end + 1..];
    if after_eq.is_empty() || after_eq.starts_with(is_space) {
        // `name=` with nothing after it: an empty value.
        return Some(Ok((
            name,
            String::new(),
            after_eq.trim_start_matches(is_space),
        )));
    }
    let (value, rest) = next_word(after_eq).unwrap_or_default();
    Some(Ok((name, value, rest)))
}

fn is_space(c: char) -> bool {
    c.is_ascii_whitespace()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_whitespace() {
        assert_eq!(words("  /a   /b/c\tx "), ["/a", "/b/c", "x"]);
        assert!(words("   ").is_empty());
    }

    #[test]
    fn double_and_single_quotes_group_words() {
        assert_eq!(
            words(r#""/my dir/app.wsgi" 'x y' z"#),
            ["/my dir/app.wsgi", "x y", "z"]
        );
    }

    #[test]
    fn backslash_escapes_quote_and_backslash_inside_quotes() {
        assert_eq!(words(r#""a \"b\" c\\d \x""#), [r#"a "b" c\d \x"#]);
    }

    #[test]
    fn unterminated_quote_runs_to_end() {
        assert_eq!(words(r#""abc def"#), ["abc def"]);
    }

    #[test]
    fn unquoted_double_backslash_is_one() {
        assert_eq!(words(r"a\\b c\d"), [r"a\b", r"c\d"]);
    }

    #[test]
    fn options_with_plain_and_quoted_values() {
        let line = r#"process-group=web application-group="%{GLOBAL}" callable-object='my app'"#;
        let (n, v, rest) = next_option(line).unwrap().unwrap();
        assert_eq!((n.as_str(), v.as_str()), ("process-group", "web"));
        let (n, v, rest) = next_option(rest).unwrap().unwrap();
        assert_eq!((n.as_str(), v.as_str()), ("application-group", "%{GLOBAL}"));
        let (n, v, rest) = next_option(rest).unwrap().unwrap();
        assert_eq!((n.as_str(), v.as_str()), ("callable-object", "my app"));
        assert!(next_option(rest).is_none());
    }

    #[test]
    fn option_without_equals_is_an_error() {
        assert_eq!(next_option("  bogus x=1").unwrap(), Err("bogus".into()));
        assert_eq!(next_option("=x").unwrap(), Err("=x".into()));
    }

    #[test]
    fn option_with_empty_value() {
        let (n, v, rest) = next_option("name= other=1").unwrap().unwrap();
        assert_eq!((n.as_str(), v.as_str(), rest), ("name", "", "other=1"));
    }
}
