//! WSGIDaemonProcess: the name of a process group and its options, parsed
//! as mod_wsgi does (`name=value` words), with every value checked.

use crate::directives::DirectiveError;
use std::path::PathBuf;
use std::time::Duration;

use crate::directives::values;
use crate::directives::words::{next_option, next_word};

/// A user or group given by name or as `#number`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Account {
    Name(String),
    Id(u32),
}

impl Account {
    fn parse(directive: &str, option: &str, value: &str) -> Result<Account, DirectiveError> {
        if value.is_empty() {
            return Err(crate::refuse!("{directive}: {option}= needs a name or #id"));
        }
        match value.strip_prefix('#') {
            Some(id) => id
                .parse()
                .map(Account::Id)
                .map_err(|_| crate::refuse!("{directive}: {option}='{value}' is not a valid #id")),
            None => Ok(Account::Name(value.to_string())),
        }
    }
}

/// Request bodies up to this size are read by the Apache child before the
/// request goes to a daemon process (body-buffer-size=).
pub const DEFAULT_BODY_BUFFER_SIZE: usize = 256 << 10;
/// The largest body-buffer-size= (memory per Apache thread at most).
pub const MAX_BODY_BUFFER_SIZE: usize = 64 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonOptions {
    pub name: String,
    pub processes: u32,
    /// `processes=` was given (then `wsgi.multiprocess` is True, as in
    /// mod_wsgi, even for one process).
    pub processes_given: bool,
    pub threads: u32,
    pub user: Option<Account>,
    pub group: Option<Account>,
    pub supplementary_groups: Vec<String>,
    pub umask: Option<u32>,
    pub home: Option<PathBuf>,
    pub chroot: Option<PathBuf>,
    pub python_home: Option<PathBuf>,
    pub python_path: Vec<PathBuf>,
    pub python_eggs: Option<PathBuf>,
    /// newrelic-config-file= and newrelic-environment=: the New Relic
    /// agent's settings for this group's interpreters.
    pub newrelic_config_file: Option<PathBuf>,
    pub newrelic_environment: Option<String>,
    /// switch-interval= (mod_wsgi 6): `sys.setswitchinterval()` at start.
    pub switch_interval: Option<Duration>,
    /// response-flush-delay= (mod_wsgi 6, milliseconds): how long the
    /// Apache child waits for more of the response before passing on what
    /// it has. Zero (the default here) passes it on at once.
    pub response_flush_delay: Duration,
    pub display_name: Option<String>,
    pub lang: Option<String>,
    pub locale: Option<String>,
    pub maximum_requests: u64,
    pub restart_interval: Option<Duration>,
    pub inactivity_timeout: Option<Duration>,
    pub request_timeout: Option<Duration>,
    /// interrupt-timeout= (mod_wsgi 6): with request-timeout, first raise
    /// `mod_wsgi.RequestTimeout` in the request's thread and give it this
    /// long to unwind.
    pub interrupt_timeout: Option<Duration>,
    pub graceful_timeout: Option<Duration>,
    pub eviction_timeout: Option<Duration>,
    pub shutdown_timeout: Duration,
    pub startup_timeout: Option<Duration>,
    /// None: deadlock detection off (deadlock-timeout=0).
    pub deadlock_timeout: Option<Duration>,
    /// None: Apache's Timeout.
    pub socket_timeout: Option<Duration>,
    pub connect_timeout: Duration,
    pub queue_timeout: Option<Duration>,
    pub response_socket_timeout: Option<Duration>,
    pub listen_backlog: u32,
    pub cpu_time_limit: Option<Duration>,
    pub cpu_priority: i32,
    pub memory_limit: Option<u64>,
    pub virtual_memory_limit: Option<u64>,
    pub stack_size: Option<usize>,
    pub send_buffer_size: Option<u32>,
    pub receive_buffer_size: Option<u32>,
    /// body-buffer-size= (this module's): request bodies up to this size
    /// are read by the Apache child before the request goes to a daemon
    /// process.
    pub body_buffer_size: usize,
    pub header_buffer_size: u32,
    pub response_buffer_size: u32,
    pub socket_user: Option<Account>,
    pub script_user: Option<Account>,
    pub script_group: Option<Account>,
    pub server_metrics: bool,
}

impl DaemonOptions {
    pub fn new(name: &str) -> DaemonOptions {
        DaemonOptions {
            name: name.to_string(),
            processes: 1,
            processes_given: false,
            threads: 15,
            user: None,
            group: None,
            supplementary_groups: Vec::new(),
            umask: None,
            home: None,
            chroot: None,
            python_home: None,
            python_path: Vec::new(),
            python_eggs: None,
            newrelic_config_file: None,
            newrelic_environment: None,
            switch_interval: None,
            response_flush_delay: Duration::ZERO,
            display_name: None,
            lang: None,
            locale: None,
            maximum_requests: 0,
            restart_interval: None,
            inactivity_timeout: None,
            request_timeout: None,
            interrupt_timeout: None,
            graceful_timeout: Some(Duration::from_secs(15)),
            eviction_timeout: None,
            shutdown_timeout: Duration::from_secs(5),
            startup_timeout: None,
            deadlock_timeout: Some(Duration::from_secs(300)),
            socket_timeout: None,
            connect_timeout: Duration::from_secs(15),
            queue_timeout: None,
            response_socket_timeout: None,
            listen_backlog: 100,
            cpu_time_limit: None,
            cpu_priority: 0,
            memory_limit: None,
            virtual_memory_limit: None,
            stack_size: None,
            send_buffer_size: None,
            receive_buffer_size: None,
            body_buffer_size: DEFAULT_BODY_BUFFER_SIZE,
            header_buffer_size: 32768,
            response_buffer_size: 65536,
            socket_user: None,
            script_user: None,
            script_group: None,
            server_metrics: false,
        }
    }

    /// What `ps` shows for the processes: `%{GROUP}` is `(wsgi:name)`.
    pub fn display_name(&self) -> Option<String> {
        self.display_name
            .as_ref()
            .map(|name| name.replace("%{GROUP}", &format!("(wsgi:{})", self.name)))
    }
}

fn number<T: std::str::FromStr>(
    directive: &str,
    option: &str,
    value: &str,
) -> Result<T, DirectiveError> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(crate::refuse!(
            "{directive}: {option}='{value}' must be a non-negative integer"
        ));
    }
    value
        .parse()
        .map_err(|_| crate::refuse!("{directive}: {option}='{value}' is out of range"))
}

/// Seconds; 0 means "not set" for the optional timeouts.
fn seconds(directive: &str, option: &str, value: &str) -> Result<Option<Duration>, DirectiveError> {
    let secs: u64 = number(directive, option, value)?;
    Ok((secs > 0).then(|| Duration::from_secs(secs)))
}

fn absolute(directive: &str, option: &str, value: &str) -> Result<PathBuf, DirectiveError> {
    if !value.starts_with('/') {
        return Err(crate::refuse!(
            "{directive}: {option}='{value}' must be an absolute path"
        ));
    }
    Ok(PathBuf::from(value))
}

fn buffer_size(directive: &str, option: &str, value: &str) -> Result<Option<u32>, DirectiveError> {
    let size: u32 = number(directive, option, value)?;
    if size != 0 && size < 512 {
        return Err(crate::refuse!(
            "{directive}: {option} must be at least 512 bytes, or 0 for the system default"
        ));
    }
    Ok((size > 0).then_some(size))
}

/// Parses the raw arguments of WSGIDaemonProcess.
pub fn parse(directive: &str, args: &str) -> Result<DaemonOptions, DirectiveError> {
    let (name, mut rest) = next_word(args)
        .filter(|(name, _)| !name.is_empty())
        .ok_or_else(|| crate::refuse!("{directive} needs the name of the process group"))?;
    if name.contains('=') {
        return Err(crate::refuse!(
            "{directive}: the first argument must be the group name, not '{name}'"
        ));
    }
    let mut o = DaemonOptions::new(&name);
    while let Some(option) = next_option(rest) {
        let (option, value, after) =
            option.map_err(|bad| format!("{directive}: '{bad}' is not a name=value option"))?;
        rest = after;
        let v = value.as_str();
        let d = directive;
        match option.as_str() {
            "processes" => {
                o.processes = number(d, &option, v)?;
                if o.processes < 1 {
                    return Err(crate::refuse!("{d}: processes must be at least 1"));
                }
                o.processes_given = true;
            }
            "threads" => {
                o.threads = number(d, &option, v)?;
                if o.threads > 1000 {
                    return Err(crate::refuse!("{d}: threads={v} is more than 1000"));
                }
            }
            "user" => o.user = Some(Account::parse(d, &option, v)?),
            "group" => o.group = Some(Account::parse(d, &option, v)?),
            "supplementary-groups" => {
                o.supplementary_groups = v
                    .split(',')
                    .filter(|g| !g.is_empty())
                    .map(str::to_string)
                    .collect();
                if o.supplementary_groups.is_empty() {
                    return Err(crate::refuse!(
                        "{d}: supplementary-groups= needs group names"
                    ));
                }
            }
            "umask" => {
                o.umask = Some(
                    u32::from_str_radix(v, 8)
                        .ok()
                        .filter(|m| *m <= 0o777)
                        .ok_or_else(|| {
                            format!("{d}: umask='{v}' must be an octal number such as 0022")
                        })?,
                )
            }
            "home" => o.home = Some(absolute(d, &option, v)?),
            "chroot" => o.chroot = Some(absolute(d, &option, v)?),
            "python-home" => o.python_home = Some(absolute(d, &option, v)?),
            "python-path" => o.python_path = values::python_path(&format!("{d} python-path="), v)?,
            "python-eggs" => o.python_eggs = Some(absolute(d, &option, v)?),
            "display-name" => {
                if v.is_empty() {
                    return Err(crate::refuse!("{d}: display-name= needs a name"));
                }
                o.display_name = Some(v.to_string())
            }
            "lang" => o.lang = Some(v.to_string()),
            "locale" => o.locale = Some(v.to_string()),
            "maximum-requests" => o.maximum_requests = number(d, &option, v)?,
            "restart-interval" => o.restart_interval = seconds(d, &option, v)?,
            "inactivity-timeout" => o.inactivity_timeout = seconds(d, &option, v)?,
            "request-timeout" => o.request_timeout = seconds(d, &option, v)?,
            "interrupt-timeout" => o.interrupt_timeout = seconds(d, &option, v)?,
            "graceful-timeout" => o.graceful_timeout = seconds(d, &option, v)?,
            "eviction-timeout" => o.eviction_timeout = seconds(d, &option, v)?,
            "shutdown-timeout" => o.shutdown_timeout = Duration::from_secs(number(d, &option, v)?),
            "startup-timeout" => o.startup_timeout = seconds(d, &option, v)?,
            "deadlock-timeout" => o.deadlock_timeout = seconds(d, &option, v)?,
            "socket-timeout" => o.socket_timeout = seconds(d, &option, v)?,
            "connect-timeout" => o.connect_timeout = Duration::from_secs(number(d, &option, v)?),
            "queue-timeout" => o.queue_timeout = seconds(d, &option, v)?,
            "response-socket-timeout" => o.response_socket_timeout = seconds(d, &option, v)?,
            "listen-backlog" => o.listen_backlog = number(d, &option, v)?,
            "cpu-time-limit" => o.cpu_time_limit = seconds(d, &option, v)?,
            "cpu-priority" => {
                o.cpu_priority = v
                    .parse()
                    .ok()
                    .filter(|p| (-20..=20).contains(p))
                    .ok_or_else(|| {
                        crate::refuse!("{d}: cpu-priority='{v}' must be between -20 and 20")
                    })?
            }
            "memory-limit" => {
                let limit: u64 = number(d, &option, v)?;
                o.memory_limit = (limit > 0).then_some(limit)
            }
            "virtual-memory-limit" => {
                let limit: u64 = number(d, &option, v)?;
                o.virtual_memory_limit = (limit > 0).then_some(limit)
            }
            "stack-size" => {
                let size: usize = number(d, &option, v)?;
                if size != 0 && size < 16384 {
                    return Err(crate::refuse!(
                        "{d}: stack-size must be at least 16384 bytes"
                    ));
                }
                o.stack_size = (size > 0).then_some(size)
            }
            "send-buffer-size" => o.send_buffer_size = buffer_size(d, &option, v)?,
            "body-buffer-size" => {
                o.body_buffer_size = number(d, &option, v)?;
                if o.body_buffer_size > MAX_BODY_BUFFER_SIZE {
                    return Err(crate::refuse!(
                        "{d}: body-buffer-size={} is more than {MAX_BODY_BUFFER_SIZE}",
                        o.body_buffer_size
                    ));
                }
            }
            "receive-buffer-size" => o.receive_buffer_size = buffer_size(d, &option, v)?,
            "header-buffer-size" => {
                o.header_buffer_size = number(d, &option, v)?;
                if o.header_buffer_size == 0 {
                    o.header_buffer_size = 32768;
                } else if o.header_buffer_size < 8192 {
                    return Err(crate::refuse!(
                        "{d}: header-buffer-size must be at least 8192 bytes"
                    ));
                }
            }
            "response-buffer-size" => {
                o.response_buffer_size = number(d, &option, v)?;
                if o.response_buffer_size < 65536 && o.response_buffer_size != 0 {
                    return Err(crate::refuse!(
                        "{d}: response-buffer-size must be at least 65536 bytes"
                    ));
                }
            }
            "socket-user" => o.socket_user = Some(Account::parse(d, &option, v)?),
            "script-user" => o.script_user = Some(Account::parse(d, &option, v)?),
            "script-group" => o.script_group = Some(Account::parse(d, &option, v)?),
            "server-metrics" => {
                o.server_metrics = values::on_off(&format!("{d} server-metrics="), v)?
            }
            "switch-interval" => {
                o.switch_interval = Some(crate::directives::newer::switch_interval(
                    &format!("{d} switch-interval="),
                    v,
                )?)
            }
            "response-flush-delay" => {
                let millis: u64 = number(d, &option, v)?;
                if millis > 60_000 {
                    return Err(crate::refuse!(
                        "{d}: response-flush-delay='{v}' is more than 60000 milliseconds"
                    ));
                }
                o.response_flush_delay = Duration::from_millis(millis);
            }
            "newrelic-config-file" => o.newrelic_config_file = Some(PathBuf::from(v)),
            "newrelic-environment" => o.newrelic_environment = Some(v.to_string()),
            _ => return Err(crate::refuse!("{d}: unknown option '{option}'")),
        }
    }
    if o.script_user.is_some() && o.script_group.is_some() {
        return Err(crate::refuse!(
            "{directive}: only one of script-user and script-group may be given"
        ));
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_mod_wsgis() {
        let o = parse("WSGIDaemonProcess", "web").unwrap();
        assert_eq!(o.name, "web");
        assert_eq!((o.processes, o.processes_given, o.threads), (1, false, 15));
        assert_eq!(o.shutdown_timeout, Duration::from_secs(5));
        assert_eq!(o.connect_timeout, Duration::from_secs(15));
        assert_eq!(o.deadlock_timeout, Some(Duration::from_secs(300)));
        assert_eq!(o.graceful_timeout, Some(Duration::from_secs(15)));
        assert_eq!(o.listen_backlog, 100);
        assert_eq!(
            (o.request_timeout, o.queue_timeout, o.socket_timeout),
            (None, None, None)
        );
        assert_eq!(o.display_name(), None);
        assert_eq!(o.interrupt_timeout, None);
        assert_eq!(o.body_buffer_size, 256 << 10);
    }

    #[test]
    fn interrupt_timeout_and_body_buffer_size() {
        let o = parse(
            "WSGIDaemonProcess",
            "app request-timeout=5 interrupt-timeout=10 body-buffer-size=0",
        )
        .unwrap();
        assert_eq!(o.interrupt_timeout, Some(Duration::from_secs(10)));
        assert_eq!(o.body_buffer_size, 0);
        let o = parse("WSGIDaemonProcess", "app interrupt-timeout=0").unwrap();
        assert_eq!(o.interrupt_timeout, None);
        assert!(
            parse("WSGIDaemonProcess", "app body-buffer-size=67108865")
                .unwrap_err()
                .contains("body-buffer-size=67108865 is more than 67108864")
        );
    }

    #[test]
    fn every_listed_option() {
        let o = parse(
            "WSGIDaemonProcess",
            "app processes=3 threads=4 user=nobody group=#65534 supplementary-groups=adm,staff \
             umask=0027 home=/srv python-home=/opt/venv python-path=/a:/b display-name=%{GROUP} \
             lang=en_US.UTF-8 locale=C.UTF-8 maximum-requests=100 restart-interval=3600 \
             inactivity-timeout=60 request-timeout=30 graceful-timeout=10 shutdown-timeout=7 \
             startup-timeout=15 deadlock-timeout=60 socket-timeout=20 connect-timeout=5 \
             queue-timeout=45 listen-backlog=50",
        )
        .unwrap();
        assert_eq!((o.processes, o.processes_given, o.threads), (3, true, 4));
        assert_eq!(o.user, Some(Account::Name("nobody".into())));
        assert_eq!(o.group, Some(Account::Id(65534)));
        assert_eq!(o.supplementary_groups, ["adm", "staff"]);
        assert_eq!(o.umask, Some(0o027));
        assert_eq!(o.home, Some(PathBuf::from("/srv")));
        assert_eq!(o.python_path, [PathBuf::from("/a"), PathBuf::from("/b")]);
        assert_eq!(o.display_name().as_deref(), Some("(wsgi:app)"));
        assert_eq!(o.maximum_requests, 100);
        assert_eq!(o.request_timeout, Some(Duration::from_secs(30)));
        assert_eq!(o.shutdown_timeout, Duration::from_secs(7));
        assert_eq!(o.queue_timeout, Some(Duration::from_secs(45)));
        assert_eq!(o.listen_backlog, 50);
    }

    #[test]
    fn zero_values_mean_unset_or_default() {
        let o = parse(
            "D",
            "x request-timeout=0 inactivity-timeout=0 deadlock-timeout=0 graceful-timeout=0 \
             header-buffer-size=0 listen-backlog=0",
        )
        .unwrap();
        assert_eq!((o.request_timeout, o.inactivity_timeout), (None, None));
        assert_eq!((o.deadlock_timeout, o.graceful_timeout), (None, None));
        assert_eq!((o.header_buffer_size, o.listen_backlog), (32768, 0));
    }

    #[test]
    fn express_writes_an_empty_python_path_and_6x_options() {
        let o = parse(
            "WSGIDaemonProcess",
            "x python-path='' switch-interval=0.002 response-flush-delay=5",
        )
        .unwrap();
        assert!(o.python_path.is_empty());
        assert_eq!(o.switch_interval, Some(Duration::from_micros(2000)));
        assert_eq!(o.response_flush_delay, Duration::from_millis(5));
    }

    #[test]
    fn bad_values_name_the_directive_and_option() {
        for (args, needle) in [
            ("", "needs the name"),
            ("processes=2", "must be the group name"),
            ("x colour=red", "unknown option 'colour'"),
            ("x processes=0", "processes must be at least 1"),
            ("x processes=two", "processes='two'"),
            ("x threads=-1", "threads='-1'"),
            ("x umask=999", "umask"),
            (
                "x home=relative",
                "home='relative' must be an absolute path",
            ),
            ("x request-timeout=1.5", "request-timeout='1.5'"),
            ("x user=", "user= needs"),
            ("x user=#abc", "user='#abc'"),
            ("x cpu-priority=30", "cpu-priority"),
            ("x send-buffer-size=100", "send-buffer-size"),
            ("x script-user=a script-group=b", "only one of"),
            ("x deadlock-timeout=x", "deadlock-timeout"),
            ("x bogus", "'bogus' is not a name=value option"),
        ] {
            let err = parse("WSGIDaemonProcess", args).unwrap_err();
            assert!(err.starts_with("WSGIDaemonProcess"), "{args}: {err}");
            assert!(err.contains(needle), "{args}: {err}");
        }
    }
}
