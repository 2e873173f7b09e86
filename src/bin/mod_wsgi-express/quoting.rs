//! Values going into the generated files, quoted so that httpd.conf and
//! the shell read back exactly the value given, or refused when they
//! cannot be.

/// Why `value` cannot be one word of httpd.conf, if it cannot.
///
/// httpd reads a configuration line by line (a newline ends the directive,
/// a trailing backslash joins the next line) and replaces `${NAME}` in
/// every line before splitting it into words, with no way to escape it.
pub fn apache_problem(value: &str) -> Option<&'static str> {
    if value.contains(['\n', '\r']) {
        Some("it holds a line break")
    } else if value.contains('\0') {
        Some("it holds a NUL byte")
    } else if value.contains("${") {
        Some("httpd would expand the ${...} in it")
    } else {
        None
    }
}

/// `value` as one double-quoted httpd.conf word: inside the quotes httpd
/// (ap_getword_conf) reads `\"` as `"` and `\\` as `\`.
pub fn apache_word(value: &str) -> String {
    let mut quoted = String::with_capacity(value.len() + 2);
    quoted.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

/// `value` as one single-quoted POSIX shell word.
pub fn shell_word(value: &str) -> String {
    format!("'{}'", value.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// httpd's reading of a double-quoted word, as `ap_getword_conf` and
    /// `substring_conf` do it.
    fn httpd_reads(word: &str) -> String {
        let inner = &word[1..word.len() - 1];
        let mut out = String::new();
        let mut chars = inner.chars().peekable();
        while let Some(c) = chars.next() {
            match (c, chars.peek()) {
                ('\\', Some(&next)) if next == '"' || next == '\\' => {
                    out.push(next);
                    chars.next();
                }
                _ => out.push(c),
            }
        }
        out
    }

    #[test]
    fn quoted_words_read_back_unchanged() {
        for value in [
            "/srv/my app",
            "a\"b",
            "trailing\\",
            "\\\\server\\share",
            "it's",
            "%{GLOBAL}",
            "",
        ] {
            assert_eq!(apache_problem(value), None);
            let word = apache_word(value);
            assert_eq!(httpd_reads(&word), value, "{word}");
            // The closing quote is the only unescaped quote.
            assert!(
                !word[1..word.len() - 1]
                    .replace("\\\\", "")
                    .replace("\\\"", "")
                    .contains('"')
            );
        }
    }

    #[test]
    fn lines_and_variables_are_refused() {
        assert!(apache_problem("/srv/a\nInclude /etc/shadow").is_some());
        assert!(apache_problem("/srv/a\r").is_some());
        assert!(apache_problem("/srv/${HOME}").is_some());
        assert!(apache_problem("a\0b").is_some());
        assert_eq!(apache_problem("$HOME"), None);
    }

    #[test]
    fn shell_words() {
        assert_eq!(shell_word("plain"), "'plain'");
        assert_eq!(shell_word("it's"), "'it'\\''s'");
        assert_eq!(shell_word("$(rm -rf /)"), "'$(rm -rf /)'");
    }
}
