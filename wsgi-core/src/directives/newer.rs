//! Values of the directives mod_wsgi 6.x added, which 6.0.5's
//! `mod_wsgi-express setup-server` writes: WSGISwitchInterval (and the
//! daemon option switch-interval=), WSGISlowRequests, WSGITelemetryService
//! and WSGITelemetryOptions.

use std::time::Duration;

use crate::directives::DirectiveError;
use crate::directives::words::words;

/// A positive number of seconds as `sys.setswitchinterval()` takes it.
pub fn switch_interval(directive: &str, value: &str) -> Result<Duration, DirectiveError> {
    let seconds: f64 = value
        .parse()
        .map_err(|_| crate::refuse!("{directive}: '{value}' is not a number of seconds"))?;
    if !seconds.is_finite() || seconds <= 0.0 || seconds > 3600.0 {
        return Err(crate::refuse!(
            "{directive}: '{value}' must be a positive number of seconds (at most 3600)"
        ));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// WSGISlowRequests: a threshold in seconds, zero or more.
pub fn slow_requests(directive: &str, value: &str) -> Result<Duration, DirectiveError> {
    let seconds: f64 = value
        .parse()
        .map_err(|_| crate::refuse!("{directive}: '{value}' is not a number of seconds"))?;
    if !seconds.is_finite() || !(0.0..=1e9).contains(&seconds) {
        return Err(crate::refuse!(
            "{directive}: '{value}' must be zero or a positive number of seconds"
        ));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// WSGITelemetryService `unix:/path [interval=SECONDS]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelemetryService {
    pub socket: String,
    pub interval: Duration,
}

pub fn telemetry_service(directive: &str, args: &str) -> Result<TelemetryService, DirectiveError> {
    let mut parts = words(args).into_iter();
    let target = parts
        .next()
        .ok_or_else(|| crate::refuse!("{directive} needs unix:/path of the ingester's socket"))?;
    let socket = target
        .strip_prefix("unix:")
        .filter(|path| path.starts_with('/'))
        .ok_or_else(|| {
            crate::refuse!("{directive}: '{target}' must be unix: followed by an absolute path")
        })?
        .to_string();
    let mut interval = Duration::from_secs(1);
    for option in parts {
        let Some(value) = option.strip_prefix("interval=") else {
            return Err(crate::refuse!(
                "{directive}: unknown option '{option}' (expected interval=SECONDS)"
            ));
        };
        interval = switch_interval(&format!("{directive} interval="), value)?;
    }
    Ok(TelemetryService { socket, interval })
}

/// The capture flags WSGITelemetryOptions knows.
pub const TELEMETRY_FLAGS: [&str; 1] = ["CaptureUserAgent"];

/// Applies one WSGITelemetryOptions line to the flags set so far:
/// `+Flag`/`-Flag` tokens, or `None` / `All` alone.
pub fn telemetry_options(
    directive: &str,
    args: &str,
    mut flags: Vec<String>,
) -> Result<Vec<String>, DirectiveError> {
    let tokens = words(args);
    if tokens.is_empty() {
        return Err(crate::refuse!(
            "{directive} needs +Flag, -Flag, None or All"
        ));
    }
    if tokens.len() == 1 && (tokens[0] == "None" || tokens[0] == "All") {
        return Ok(if tokens[0] == "All" {
            TELEMETRY_FLAGS.iter().map(|f| f.to_string()).collect()
        } else {
            Vec::new()
        });
    }
    for token in tokens {
        let (add, name) = match token.split_at_checked(1) {
            Some(("+", name)) => (true, name),
            Some(("-", name)) => (false, name),
            _ => {
                return Err(crate::refuse!(
                    "{directive}: '{token}' must be +Flag or -Flag (None and All stand alone)"
                ));
            }
        };
        if !TELEMETRY_FLAGS.contains(&name) {
            return Err(crate::refuse!(
                "{directive}: unknown flag '{name}' (known: {})",
                TELEMETRY_FLAGS.join(", ")
            ));
        }
        flags.retain(|f| f != name);
        if add {
            flags.push(name.to_string());
        }
    }
    Ok(flags)
}

/// Whether the Python `have` (`major.minor`) is at least `need`.
pub fn python_at_least(have: &str, need: (u32, u32)) -> bool {
    let mut parts = have.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let version = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    version >= need
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switch_intervals() {
        assert_eq!(
            switch_interval("WSGISwitchInterval", "0.002").unwrap(),
            Duration::from_micros(2000)
        );
        for bad in ["", "0", "-1", "fast", "inf", "NaN", "4000"] {
            let err = switch_interval("WSGISwitchInterval", bad).unwrap_err();
            assert!(err.starts_with("WSGISwitchInterval"), "{bad}: {err}");
        }
    }

    #[test]
    fn slow_request_thresholds() {
        assert_eq!(
            slow_requests("WSGISlowRequests", "0").unwrap(),
            Duration::ZERO
        );
        assert_eq!(
            slow_requests("WSGISlowRequests", "2.5").unwrap(),
            Duration::from_millis(2500)
        );
        assert!(slow_requests("WSGISlowRequests", "-1").is_err());
        assert!(slow_requests("WSGISlowRequests", "").is_err());
    }

    #[test]
    fn telemetry_services() {
        let service =
            telemetry_service("WSGITelemetryService", "unix:/run/t.sock interval=5").unwrap();
        assert_eq!(service.socket, "/run/t.sock");
        assert_eq!(service.interval, Duration::from_secs(5));
        for bad in [
            "",
            "tcp:1.2.3.4",
            "unix:relative",
            "unix:/x colour=red",
            "unix:/x interval=0",
        ] {
            assert!(
                telemetry_service("WSGITelemetryService", bad).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn telemetry_flags_layer_like_options() {
        let d = "WSGITelemetryOptions";
        let on = telemetry_options(d, "+CaptureUserAgent", Vec::new()).unwrap();
        assert_eq!(on, ["CaptureUserAgent"]);
        assert!(
            telemetry_options(d, "-CaptureUserAgent", on.clone())
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            telemetry_options(d, "All", Vec::new()).unwrap(),
            ["CaptureUserAgent"]
        );
        assert!(telemetry_options(d, "None", on).unwrap().is_empty());
        for bad in ["", "CaptureUserAgent", "+Nope", "None +CaptureUserAgent"] {
            assert!(telemetry_options(d, bad, Vec::new()).is_err(), "{bad}");
        }
    }

    #[test]
    fn python_versions_compare() {
        assert!(python_at_least("3.11", (3, 11)));
        assert!(!python_at_least("3.11", (3, 12)));
        assert!(python_at_least("3.13", (3, 12)));
        assert!(python_at_least("4.0", (3, 13)));
    }
}
