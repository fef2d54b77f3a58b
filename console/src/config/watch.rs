//! A profile's guard and probe: `[profiles.X.guard]` and `[profiles.X.probe]`. Every error
//! names the file, line and column.
//!
//! ```toml
//! [profiles.prod.guard]
//! mode = "rollback"          # or "warn" (show and journal, never write), or "off"
//! interval = "5s"            # 1 s to 5 min
//!
//! [profiles.prod.probe]
//! rate = 3                   # requests per second, 0 to 50; 0 turns it off
//! paths = ["/health", "/"]   # the smoke checks' paths when not given
//! url = "http://blog-123.eu-west-1.elb.amazonaws.com/"   # locally the proxy's by default
//! ```

use serde::Deserialize;
use toml::Spanned;

use super::ConfigError;
use super::plans::RawDuration;
use super::raw::Lines;
use crate::rollout::SmokeCheck;
use crate::rollout::gate::GateConfig;
use crate::rollout::watch::{
    GuardConfig, GuardMode, MAX_INTERVAL_SECS, ProbeConfig, WatchSettings,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGuard {
    mode: Option<Spanned<String>>,
    interval: Option<Spanned<RawDuration>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProbe {
    rate: Option<Spanned<f64>>,
    paths: Option<Spanned<Vec<String>>>,
    url: Option<Spanned<String>>,
}

/// The profile's watch settings: its guard and probe as written (defaults for what is not),
/// with its gates and, for the probe's paths, its smoke checks' paths.
pub(super) fn settings(
    lines: &Lines,
    profile: &str,
    guard: Option<Spanned<RawGuard>>,
    probe: Option<Spanned<RawProbe>>,
    gates: &GateConfig,
    smoke: &[SmokeCheck],
) -> Result<WatchSettings, ConfigError> {
    let err = |span: std::ops::Range<usize>, m: String| {
        lines.error(span, format!("profile `{profile}`: {m}"))
    };
    let mut g = GuardConfig::default();
    if let Some(raw) = guard.map(Spanned::into_inner) {
        if let Some(mode) = raw.mode {
            g.mode = match mode.get_ref().as_str() {
                "rollback" => GuardMode::Rollback,
                "warn" => GuardMode::Warn,
                "off" => GuardMode::Off,
                other => {
                    return Err(err(
                        mode.span(),
                        format!(
                            "guard.mode `{other}` is unknown; use \"rollback\" (the default), \"warn\" (show and journal, never write) or \"off\""
                        ),
                    ));
                }
            };
        }
        if let Some(interval) = raw.interval {
            let span = interval.span();
            g.interval_secs = interval
                .get_ref()
                .secs(MAX_INTERVAL_SECS)
                .map_err(|m| err(span.clone(), format!("guard.interval: {m}")))?;
            g.validate().map_err(|m| err(span, m))?;
        }
    }
    let mut p = ProbeConfig {
        paths: smoke.iter().map(|c| c.path.clone()).collect(),
        ..ProbeConfig::default()
    };
    if let Some(raw) = probe {
        let mut span = raw.span();
        let raw = raw.into_inner();
        if let Some(rate) = raw.rate {
            span = rate.span();
            p.rate = rate.into_inner();
            p.validate().map_err(|m| err(span.clone(), m))?;
        }
        if let Some(paths) = raw.paths {
            span = paths.span();
            p.paths = paths.into_inner();
            if p.paths.is_empty() {
                return Err(err(
                    span,
                    "probe.paths is empty; list at least one path, or turn the probe off with rate = 0".into(),
                ));
            }
            p.validate().map_err(|m| err(span.clone(), m))?;
        }
        if let Some(url) = raw.url {
            span = url.span();
            p.url = Some(url.into_inner());
        }
        p.validate().map_err(|m| err(span, m))?;
    }
    Ok(WatchSettings {
        guard: g,
        gates: gates.clone(),
        probe: p,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::ConfigFile;
    use crate::rollout::watch::{GuardMode, WatchSettings};

    const LOCAL: &str = "[profiles.dev]\nplatform = \"local\"\n";

    fn parse(extra: &str) -> Result<WatchSettings, String> {
        let text = format!("{LOCAL}{extra}");
        ConfigFile::parse(Path::new("bluegreen.toml"), &text)
            .map(|f| f.profiles[0].watch.clone())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_profile_without_them_is_guarded_by_default_and_probes_its_smoke_paths() {
        let w = parse("").expect("valid");
        assert_eq!(w.guard.mode, GuardMode::Rollback);
        assert_eq!(w.guard.interval_secs, 5);
        assert_eq!(w.probe.paths, ["/health", "/"]);
        assert!(w.probe.enabled());
        let w = parse("smoke = [{ path = \"/posts\" }]\n").expect("valid");
        assert_eq!(w.probe.paths, ["/posts"]);
    }

    #[test]
    fn guard_and_probe_keys_are_read() {
        let w = parse(
            "[profiles.dev.guard]\nmode = \"warn\"\ninterval = \"2s\"\n[profiles.dev.probe]\nrate = 0.5\npaths = [\"/a\"]\nurl = \"http://127.0.0.1:9/\"\n[profiles.dev.gates]\nmax_error_rate = 5\n",
        )
        .expect("valid");
        assert_eq!(w.guard.mode, GuardMode::Warn);
        assert_eq!(w.guard.interval_secs, 2);
        assert_eq!(w.probe.rate, 0.5);
        assert_eq!(w.probe.paths, ["/a"]);
        assert_eq!(w.probe.url.as_deref(), Some("http://127.0.0.1:9/"));
        assert_eq!(w.gates.max_error_rate, 5.0);
        let w = parse("[profiles.dev.guard]\nmode = \"off\"\ninterval = 60\n").expect("valid");
        assert_eq!((w.guard.mode, w.guard.interval_secs), (GuardMode::Off, 60));
    }

    #[test]
    fn bad_values_name_the_line_the_key_and_the_way_out() {
        let cases = [
            (
                "[profiles.dev.guard]\nmode = \"loud\"\n",
                "bluegreen.toml:4:8:",
                "guard.mode `loud` is unknown",
            ),
            (
                "[profiles.dev.guard]\ninterval = 0\n",
                "bluegreen.toml:4:12:",
                "guard.interval must be 1 to 300",
            ),
            (
                "[profiles.dev.guard]\ninterval = \"1h\"\n",
                "bluegreen.toml:4:12:",
                "guard.interval",
            ),
            (
                "[profiles.dev.guard]\nperiod = 3\n",
                "bluegreen.toml:4:",
                "unknown field `period`",
            ),
            (
                "[profiles.dev.probe]\nrate = 500\n",
                "bluegreen.toml:4:8:",
                "probe.rate must be 0 (off) to 50",
            ),
            (
                "[profiles.dev.probe]\nrate = -1\n",
                "bluegreen.toml:4:8:",
                "probe.rate",
            ),
            (
                "[profiles.dev.probe]\npaths = []\n",
                "bluegreen.toml:4:9:",
                "rate = 0",
            ),
            (
                "[profiles.dev.probe]\npaths = [\"x y\"]\n",
                "bluegreen.toml:4:9:",
                "probe.paths",
            ),
            (
                "[profiles.dev.probe]\nurl = \"blog:80\"\n",
                "bluegreen.toml:4:7:",
                "probe.url must be an http://",
            ),
        ];
        for (extra, at, what) in cases {
            let e = parse(extra).expect_err(extra);
            assert!(e.starts_with(at), "{extra}: {e}");
            assert!(e.contains(what), "{extra}: {e}");
        }
    }
}
