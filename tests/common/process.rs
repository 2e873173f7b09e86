//! Facts about processes the tests start, from `/proc`.

/// Peak resident set size (`VmHWM`) of a process, in KiB.
pub fn peak_rss_kib(pid: impl Into<i64>) -> u64 {
    let pid = pid.into();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|err| panic!("cannot read /proc/{pid}/status: {err}"));
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmHWM in /proc/{pid}/status"))
}

/// Whether `pid` is a running process: it exists and is neither a zombie
/// waiting to be reaped nor dead (state `Z` or `X`).
pub fn is_running(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        let state = stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.chars().next());
        !matches!(state, Some('Z' | 'X') | None)
    })
}

/// `argv[0]` of a process as `ps` shows it.
pub fn argv0(pid: i32) -> Option<String> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let first = cmdline.split(|&b| b == 0).next().unwrap_or_default();
    Some(String::from_utf8_lossy(first).into_owned())
}

/// Whether `pid` is a daemon process whose group sets a display-name of
/// `%{GROUP}` (it shows as `(wsgi:NAME)`).
pub fn is_named_daemon(pid: i32) -> bool {
    argv0(pid).is_some_and(|name| name.starts_with("(wsgi:"))
}
