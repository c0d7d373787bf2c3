//! Lambda's log controls, without tracing-subscriber's env-filter (and the regex
//! engine it brings, about 0.6 MB of every cold start's zip).

use std::str::FromStr;

use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::MakeWriter;

/// `AWS_LAMBDA_LOG_LEVEL` (Lambda's advanced logging controls), else `RUST_LOG` as a
/// plain level, else INFO; JSON lines when `AWS_LAMBDA_LOG_FORMAT` is `JSON`.
pub fn init<W>(writer: W)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|raw| level(&raw))
        .unwrap_or(LevelFilter::INFO);
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_max_level(level)
        .with_writer(writer);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Lambda's level names; `FATAL` has no tracing equivalent and means errors only.
fn level(raw: &str) -> Option<LevelFilter> {
    let raw = raw.trim();
    if raw.eq_ignore_ascii_case("fatal") {
        return Some(LevelFilter::ERROR);
    }
    LevelFilter::from_str(raw).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_level_names() {
        assert_eq!(level("DEBUG"), Some(LevelFilter::DEBUG));
        assert_eq!(level("warn"), Some(LevelFilter::WARN));
        assert_eq!(level("FATAL"), Some(LevelFilter::ERROR));
        assert_eq!(level("authorizer=debug"), None);
    }
}
