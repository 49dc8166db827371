//! Image and namespace patterns.
//!
//! An image pattern is `REGISTRY/PATH` with globs: `*` matches within one
//! path component (no `/`), `**` matches across components, `?` matches
//! one character other than `/`; everything else is literal. Patterns and
//! images are compared in a normal form: the registry lowercased, Docker
//! Hub's aliases (`index.docker.io`, `registry-1.docker.io`) as
//! `docker.io`, and Docker Hub short names expanded (`nginx` is
//! `docker.io/library/nginx`), as [`signet_oci::Reference`] parses them.
//!
//! Rules match repositories only; exemptions may add `:TAG` and `@DIGEST`
//! globs. An image without a tag matches a tag pattern only if it is `*`.

use regex::Regex;
use signet_oci::reference::{DOCKER_HUB, DOCKER_HUB_ALIASES};
use signet_oci::Reference;

/// Longest pattern accepted.
pub const MAX_PATTERN_LEN: usize = 512;

/// An image in the form patterns are matched against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageName {
    /// `registry/path`, normalized.
    pub repository: String,
    pub tag: Option<String>,
    /// `sha256:<hex>`.
    pub digest: Option<String>,
}

impl ImageName {
    /// Parses an image reference as given (`nginx`, `reg:5000/a/b:v1@sha256:…`).
    pub fn parse(image: &str) -> Result<ImageName, String> {
        let r = Reference::parse(image).map_err(|e| e.to_string())?;
        Ok(ImageName {
            repository: format!("{}/{}", normal_registry(&r.registry), r.repository),
            tag: r.tag,
            digest: r.digest.map(|d| d.to_string()),
        })
    }
}

fn normal_registry(registry: &str) -> String {
    let lower = registry.to_ascii_lowercase();
    if DOCKER_HUB_ALIASES.contains(&lower.as_str()) {
        DOCKER_HUB.to_string()
    } else {
        lower
    }
}

/// Translates a glob to an anchored regular expression; `slash` says
/// whether `**` (crossing `/`) is allowed.
fn glob_regex(glob: &str, slash: bool) -> Result<Regex, String> {
    let mut re = String::from("^");
    let chars: Vec<char> = glob.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '*' => {
                let run = chars[i..].iter().take_while(|c| **c == '*').count();
                match run {
                    1 => re.push_str("[^/]*"),
                    2 if slash => re.push_str(".*"),
                    2 => return Err("`**` is not allowed here".into()),
                    _ => return Err(format!("{run} `*` in a row")),
                }
                i += run;
                continue;
            }
            '?' => re.push_str("[^/]"),
            c => re.push_str(&regex::escape(&c.to_string())),
        }
        i += 1;
    }
    re.push('$');
    regex::RegexBuilder::new(&re)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| e.to_string())
}

fn has_wildcard(s: &str) -> bool {
    s.contains('*') || s.contains('?')
}

/// A compiled image pattern.
#[derive(Debug, Clone)]
pub struct ImagePattern {
    /// The pattern as written.
    pub text: String,
    /// The repository part, normalized.
    repository: String,
    repo_re: Regex,
    tag_re: Option<Regex>,
    tag_is_star: bool,
    digest_re: Option<Regex>,
}

impl ImagePattern {
    /// Compiles `text`; `allow_tag` permits `:TAG` and `@DIGEST` parts
    /// (exemptions), which rules do not take.
    pub fn parse(text: &str, allow_tag: bool) -> Result<ImagePattern, String> {
        if text.is_empty() {
            return Err("empty image pattern".into());
        }
        if text.len() > MAX_PATTERN_LEN {
            return Err(format!("longer than {MAX_PATTERN_LEN} characters"));
        }
        if let Some(c) = text
            .chars()
            .find(|c| c.is_whitespace() || c.is_control() || "[]{}\\,".contains(*c))
        {
            return Err(format!(
                "character {c:?} is not allowed in an image pattern"
            ));
        }
        let (rest, digest) = match text.split_once('@') {
            Some((rest, d)) => (rest, Some(d)),
            None => (text, None),
        };
        let Some((first, path)) = rest.split_once('/') else {
            return Err(format!(
                "{text:?} does not start with a registry (write e.g. docker.io/library/{text} or registry.example.com/{text})"
            ));
        };
        if path.is_empty() {
            return Err(format!("{text:?} names no repository"));
        }
        // The tag is after the last ':' following the last '/'.
        let last_slash = path.rfind('/').map_or(0, |i| i + 1);
        let (path, tag) = match path[last_slash..].find(':') {
            Some(i) => (&path[..last_slash + i], Some(&path[last_slash + i + 1..])),
            None => (path, None),
        };
        if !allow_tag && (tag.is_some() || digest.is_some()) {
            return Err(format!(
                "{text:?}: rules match repositories (registry/path); a tag or digest here would be ignored, remove it"
            ));
        }
        let looks_like_host = first.contains('.')
            || first.contains(':')
            || first == "localhost"
            || has_wildcard(first);
        if !looks_like_host {
            return Err(format!(
                "{text:?} does not start with a registry host: write docker.io/{rest} for Docker Hub"
            ));
        }
        if first.is_empty()
            || !first
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-:*?".contains(c))
        {
            return Err(format!("invalid registry {first:?}"));
        }
        if let Some(c) = path
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || "._-/*?".contains(*c)))
        {
            return Err(format!(
                "repository part {path:?} has {c:?}: repositories are lowercase letters, digits, '.', '_', '-' and '/'"
            ));
        }
        if path.split('/').any(str::is_empty) {
            return Err(format!("repository part {path:?} has an empty component"));
        }
        let registry = normal_registry(first);
        let path = if registry == DOCKER_HUB && !path.contains('/') && !has_wildcard(path) {
            format!("library/{path}")
        } else {
            path.to_string()
        };
        let repository = format!("{registry}/{path}");
        let repo_re = glob_regex(&repository, true)?;
        let tag_re = match tag {
            None => None,
            Some("") => return Err(format!("{text:?} has an empty tag")),
            Some(t) => {
                if !t
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-*?".contains(c))
                {
                    return Err(format!("invalid tag pattern {t:?}"));
                }
                Some(glob_regex(t, false)?)
            }
        };
        let digest_re = match digest {
            None => None,
            Some(d) => {
                if !d
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ":*?".contains(c))
                {
                    return Err(format!("invalid digest pattern {d:?}"));
                }
                Some(glob_regex(d, false)?)
            }
        };
        Ok(ImagePattern {
            text: text.to_string(),
            repository,
            repo_re,
            tag_is_star: tag == Some("*"),
            tag_re,
            digest_re,
        })
    }

    pub fn matches(&self, image: &ImageName) -> bool {
        if !self.repo_re.is_match(&image.repository) {
            return false;
        }
        match (&self.tag_re, &image.tag) {
            (None, _) => {}
            (Some(re), Some(tag)) if re.is_match(tag) => {}
            (Some(_), None) if self.tag_is_star => {}
            _ => return false,
        }
        match (&self.digest_re, &image.digest) {
            // A runtime pulls `repo:tag@digest` by its digest alone: a
            // pattern naming particular tags says nothing about the digest,
            // so it does not match a reference that carries one (only a
            // tag pattern of `*` means "whatever the tag").
            (None, Some(_)) => self.tag_re.is_none() || self.tag_is_star,
            (None, None) => true,
            (Some(re), Some(d)) => re.is_match(d),
            (Some(_), None) => false,
        }
    }

    /// Whether every image `other` matches is matched by `self` (checked
    /// conservatively: `false` means "not shown", not "no").
    pub fn covers(&self, other: &ImagePattern) -> bool {
        if self.tag_re.is_some() || self.digest_re.is_some() {
            return self.text == other.text;
        }
        if self.repository == other.repository {
            return true;
        }
        if !has_wildcard(&other.repository) {
            return self.repo_re.is_match(&other.repository);
        }
        // `prefix/**` covers anything starting with `prefix/`.
        if let Some(prefix) = self.repository.strip_suffix("**") {
            if !has_wildcard(prefix) {
                return other.repository.starts_with(prefix)
                    && other.repository.len() > prefix.len();
            }
        }
        false
    }
}

/// A namespace pattern: `*` and `?` over a Kubernetes namespace name.
#[derive(Debug, Clone)]
pub struct NamePattern {
    pub text: String,
    re: Regex,
}

impl NamePattern {
    pub fn parse(text: &str) -> Result<NamePattern, String> {
        if text.is_empty() || text.len() > 253 {
            return Err(format!("namespace pattern {text:?}: empty or too long"));
        }
        if !text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-.*?".contains(c))
        {
            return Err(format!(
                "namespace pattern {text:?}: namespaces are lowercase letters, digits and '-' (globs '*' and '?')"
            ));
        }
        Ok(NamePattern {
            text: text.to_string(),
            re: glob_regex(text, false)?,
        })
    }

    pub fn matches(&self, name: &str) -> bool {
        self.re.is_match(name)
    }

    /// Conservative: equal, `*`, or `self` matches `other` literally.
    pub fn covers(&self, other: &NamePattern) -> bool {
        self.text == other.text
            || self.text == "*"
            || (!has_wildcard(&other.text) && self.re.is_match(&other.text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn img(s: &str) -> ImageName {
        ImageName::parse(s).unwrap()
    }

    #[test]
    fn single_star_stays_in_one_component() {
        let p = ImagePattern::parse("registry.example.com/team/*", false).unwrap();
        assert!(p.matches(&img("registry.example.com/team/app:v1")));
        assert!(p.matches(&img("registry.example.com/team/app@sha256:0000000000000000000000000000000000000000000000000000000000000000")));
        assert!(!p.matches(&img("registry.example.com/team/app/sub:v1")));
        assert!(!p.matches(&img("registry.example.com/team:v1")));
        assert!(!p.matches(&img("registry.example.com/teamx/app")));
        assert!(!p.matches(&img("evil.com/registry.example.com/team/app")));
    }

    #[test]
    fn double_star_crosses_components() {
        let p = ImagePattern::parse("ghcr.io/myorg/**", false).unwrap();
        assert!(p.matches(&img("ghcr.io/myorg/a")));
        assert!(p.matches(&img("ghcr.io/myorg/a/b/c:1")));
        assert!(!p.matches(&img("ghcr.io/myorg")));
        assert!(!p.matches(&img("ghcr.io/myorgx/a")));
        assert!(!p.matches(&img("ghcr.io.evil.com/myorg/a")));
    }

    #[test]
    fn docker_hub_forms_are_one() {
        let p = ImagePattern::parse("docker.io/library/busybox", false).unwrap();
        assert!(p.matches(&img("busybox")));
        assert!(p.matches(&img("index.docker.io/library/busybox:1")));
        assert!(p.matches(&img("docker.io/busybox")));
        let short = ImagePattern::parse("index.docker.io/busybox", false).unwrap();
        assert!(short.matches(&img("busybox:latest")));
        // Images under Hub's other names are the same official images.
        let nginx = ImagePattern::parse("docker.io/library/nginx", false).unwrap();
        assert!(nginx.matches(&img("index.docker.io/nginx")));
        assert!(nginx.matches(&img("registry-1.docker.io/nginx:1.27")));
    }

    #[test]
    fn literal_dots_are_not_wildcards() {
        let p = ImagePattern::parse("reg.io/a.b", false).unwrap();
        assert!(p.matches(&img("reg.io/a.b")));
        assert!(!p.matches(&img("reg.io/axb")));
    }

    #[test]
    fn tags_and_digests_in_exemptions() {
        let p = ImagePattern::parse("docker.io/library/busybox:*", true).unwrap();
        assert!(p.matches(&img("busybox:1.36")));
        assert!(p.matches(&img("busybox")));
        let d = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
        assert!(p.matches(&img(&format!("busybox@{d}"))));
        let p = ImagePattern::parse("docker.io/library/busybox:1.*", true).unwrap();
        assert!(p.matches(&img("busybox:1.36")));
        assert!(!p.matches(&img("busybox:2.0")));
        assert!(!p.matches(&img(&format!("busybox@{d}"))));
        // The tag of `tag@digest` is not what runs: an exemption for the
        // tag does not reach whatever digest is written beside it.
        assert!(!p.matches(&img(&format!("busybox:1.36@{d}"))));
        let p = ImagePattern::parse(&format!("reg.io/app@{d}"), true).unwrap();
        assert!(p.matches(&img(&format!("reg.io/app:v1@{d}"))));
        assert!(!p.matches(&img("reg.io/app:v1")));
    }

    #[test]
    fn bad_patterns_are_refused() {
        for (bad, allow_tag) in [
            ("", true),
            ("nginx", true),
            ("library/nginx", true),
            ("reg.io/app:v1", false),
            ("reg.io/app@sha256:00", false),
            ("reg.io/App", true),
            ("reg.io/a b", true),
            ("reg.io/***", true),
            ("reg.io//a", true),
            ("reg.io/a:", true),
            ("reg.io/[ab]", true),
            ("reg.io/a:**", true),
        ] {
            assert!(
                ImagePattern::parse(bad, allow_tag).is_err(),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn coverage_is_conservative() {
        let p = |s| ImagePattern::parse(s, false).unwrap();
        assert!(p("ghcr.io/myorg/**").covers(&p("ghcr.io/myorg/team/*")));
        assert!(p("ghcr.io/myorg/*").covers(&p("ghcr.io/myorg/app")));
        assert!(p("ghcr.io/myorg/*").covers(&p("ghcr.io/myorg/*")));
        assert!(!p("ghcr.io/myorg/*").covers(&p("ghcr.io/myorg/**")));
        assert!(!p("ghcr.io/myorg/app").covers(&p("ghcr.io/myorg/*")));
        assert!(!p("ghcr.io/myorg/**").covers(&p("ghcr.io/other/*")));
    }

    #[test]
    fn namespaces() {
        let n = NamePattern::parse("prod-*").unwrap();
        assert!(n.matches("prod-eu"));
        assert!(!n.matches("staging"));
        assert!(!n.matches("xprod-eu"));
        assert!(NamePattern::parse("Prod").is_err());
        assert!(NamePattern::parse("a/b").is_err());
        assert!(NamePattern::parse("*").unwrap().covers(&n));
    }
}
