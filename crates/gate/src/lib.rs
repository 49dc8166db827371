//! signet's gates over Kubernetes workloads.
//!
//! - [`workload`] / [`yaml`]: every container image in Kubernetes objects
//!   (all workload kinds, `List`s, multi-document YAML, JSON) with where
//!   it is written, and pinning them to digests in place.
//! - [`engine`]: one image's decision under a policy (tag resolution and
//!   decision caches, a deadline, fail-closed), shared by the gates.
//! - [`admission`]: the Kubernetes admission webhook (AdmissionReview v1
//!   over TLS, `/validate` and `/mutate`, hot policy reload, metrics).
//! - [`audit`]: images running in a cluster (through a kubeconfig) and the
//!   alerts and gauges about them.

pub mod admission;
pub mod audit;
pub mod cache;
pub mod engine;
pub mod kube_exec;
pub use signet_metrics as metrics;
pub mod workload;
pub mod yaml;

/// Whether `name` matches the shell-style `pattern` (`*` any run, `?` one
/// character).
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    // Iterative wildcard matching with one backtrack point: linear-ish,
    // no recursion.
    let (mut pi, mut ni) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Whether `name` matches any of `patterns`.
pub fn glob_any(patterns: &[String], name: &str) -> bool {
    patterns.iter().any(|p| glob_match(p, name))
}

/// Comma-separated patterns, trimmed, empty ones dropped.
pub fn split_globs(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// `500ms`, `8s`, `5m`, `1h`, or a bare number of seconds; `0` is zero.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (500ms, 8s, 5m, 1h)"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("{text:?}: unknown unit {unit:?} (ms, s, m, h)")),
    };
    if !secs.is_finite() || !(0.0..=7.0 * 86400.0).contains(&secs) {
        return Err(format!("{text:?} is out of range"));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("prod*", "production"));
        assert!(glob_match("*", ""));
        assert!(glob_match("kube-?ystem", "kube-system"));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(!glob_match("prod*", "staging"));
        assert!(!glob_match("kube-system", "kube-system2"));
        assert_eq!(parse_duration("5m").unwrap().as_secs(), 300);
        assert_eq!(parse_duration("500ms").unwrap().as_millis(), 500);
        assert_eq!(parse_duration("0").unwrap().as_secs(), 0);
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("-1s").is_err());
        assert_eq!(
            split_globs(" prod*, ,production* "),
            vec!["prod*", "production*"]
        );
    }
}
