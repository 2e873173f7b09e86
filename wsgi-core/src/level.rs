//! The log levels of Apache's error log that this module writes at.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Python's CRITICAL (`mod_wsgi.LogHandler`).
    Critical,
    Error,
    Warning,
    Info,
    Debug,
}

impl Level {
    /// The level a Python `logging` record of `levelno` is logged at:
    /// CRITICAL, ERROR, WARNING, INFO, and DEBUG (or below) for the rest,
    /// a custom level taking the standard one at or below it.
    pub fn of_python(levelno: i64) -> Level {
        match levelno {
            n if n >= 50 => Level::Critical,
            n if n >= 40 => Level::Error,
            n if n >= 30 => Level::Warning,
            n if n >= 20 => Level::Info,
            _ => Level::Debug,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Level;

    #[test]
    fn python_levels() {
        assert_eq!(Level::of_python(50), Level::Critical);
        assert_eq!(Level::of_python(45), Level::Error);
        assert_eq!(Level::of_python(40), Level::Error);
        assert_eq!(Level::of_python(30), Level::Warning);
        assert_eq!(Level::of_python(25), Level::Info);
        assert_eq!(Level::of_python(10), Level::Debug);
        assert_eq!(Level::of_python(0), Level::Debug);
        assert_eq!(Level::of_python(-5), Level::Debug);
    }
}
