//! Image references: `[REGISTRY[:PORT]/]REPOSITORY[:TAG][@DIGEST]`, with
//! Docker's defaults (`docker.io`, `library/`, `latest`).

use std::fmt;

use crate::{Digest, OciError};

/// The registry Docker Hub references name, and the host serving its API.
pub const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_API: &str = "registry-1.docker.io";
/// Other names of Docker Hub in references.
pub const DOCKER_HUB_ALIASES: [&str; 2] = ["index.docker.io", "registry-1.docker.io"];

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `host[:port]` as written (`docker.io` for Docker Hub).
    pub registry: String,
    /// `path/to/repo`.
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

fn bad(input: &str, why: impl Into<String>) -> OciError {
    OciError::Reference {
        input: input.to_string(),
        why: why.into(),
    }
}

fn valid_component(c: &str) -> bool {
    // [a-z0-9]+ separated by `.`, `_`, `__` or `-`+ (the distribution grammar,
    // checked loosely: no leading or trailing separators).
    !c.is_empty()
        && c.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        && c.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && c.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric())
}

fn valid_tag(t: &str) -> bool {
    (1..=128).contains(&t.len())
        && t.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

fn valid_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 255
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
}

impl Reference {
    pub fn parse(input: &str) -> Result<Self, OciError> {
        if input.is_empty() || input.len() > 4096 {
            return Err(bad(input, "empty or too long"));
        }
        let (rest, digest) = match input.split_once('@') {
            Some((rest, d)) => (
                rest,
                Some(Digest::parse(d).map_err(|e| bad(input, e.to_string()))?),
            ),
            None => (input, None),
        };
        // The registry is the first component if it looks like a host.
        let (registry, path) = match rest.split_once('/') {
            Some((first, path))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_string(), path)
            }
            _ => (DOCKER_HUB.to_string(), rest),
        };
        if !valid_host(&registry) {
            return Err(bad(input, format!("invalid registry {registry:?}")));
        }
        // Docker Hub under its other names is Docker Hub (as containerd
        // and go-containerregistry read them): `index.docker.io/nginx` is
        // `docker.io/library/nginx`, whatever a policy says about it.
        let registry = if DOCKER_HUB_ALIASES.contains(&registry.to_ascii_lowercase().as_str()) {
            DOCKER_HUB.to_string()
        } else {
            registry
        };
        // A tag is after the last ':' of the path (the registry's port is
        // already split off).
        let (repository, tag) = match path.rsplit_once(':') {
            Some((repo, tag)) => (repo.to_string(), Some(tag.to_string())),
            None => (path.to_string(), None),
        };
        if let Some(t) = &tag {
            if !valid_tag(t) {
                return Err(bad(input, format!("invalid tag {t:?}")));
            }
        }
        if repository.is_empty() || repository.len() > 255 {
            return Err(bad(input, "empty or too long repository"));
        }
        if !repository.split('/').all(valid_component) {
            return Err(bad(
                input,
                format!("invalid repository {repository:?} (lowercase letters, digits, '.', '_', '-' and '/')"),
            ));
        }
        let repository = if registry == DOCKER_HUB && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        let tag = match (&tag, &digest) {
            (None, None) => Some("latest".to_string()),
            _ => tag,
        };
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// The host (and port) the registry API is served on.
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            &self.registry
        }
    }

    /// `registry/repository`, the identity cosign's simple-signing payloads
    /// claim (`critical.identity.docker-reference`).
    pub fn repository_name(&self) -> String {
        let registry = if self.registry == DOCKER_HUB {
            "index.docker.io"
        } else {
            &self.registry
        };
        format!("{registry}/{}", self.repository)
    }

    /// What to ask the registry for: the digest if pinned, else the tag.
    pub fn manifest_reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".to_string(),
        }
    }

    /// The same repository at `digest`.
    pub fn at_digest(&self, digest: &Digest) -> Reference {
        Reference {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            tag: None,
            digest: Some(digest.clone()),
        }
    }

    /// The same repository at `tag`.
    pub fn at_tag(&self, tag: &str) -> Reference {
        Reference {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            tag: Some(tag.to_string()),
            digest: None,
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_aliases_are_docker_hub() {
        for input in [
            "index.docker.io/nginx",
            "registry-1.docker.io/nginx",
            "INDEX.docker.io/nginx",
        ] {
            let r = Reference::parse(input).unwrap();
            assert_eq!(r.registry, "docker.io", "{input}");
            assert_eq!(r.repository, "library/nginx", "{input}");
            assert_eq!(r.api_host(), "registry-1.docker.io");
        }
    }

    #[test]
    fn docker_defaults() {
        let r = Reference::parse("ubuntu").unwrap();
        assert_eq!(r.registry, "docker.io");
        assert_eq!(r.repository, "library/ubuntu");
        assert_eq!(r.tag.as_deref(), Some("latest"));
        assert_eq!(r.api_host(), "registry-1.docker.io");
        assert_eq!(r.repository_name(), "index.docker.io/library/ubuntu");
    }

    #[test]
    fn registry_port_tag_digest() {
        let d = Digest::of(b"x");
        let r = Reference::parse(&format!("127.0.0.1:5000/a/b:v1@{d}")).unwrap();
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "a/b");
        assert_eq!(r.tag.as_deref(), Some("v1"));
        assert_eq!(r.digest, Some(d.clone()));
        assert_eq!(r.manifest_reference(), d.to_string());
        let r = Reference::parse("localhost:5000/app").unwrap();
        assert_eq!(r.registry, "localhost:5000");
        assert_eq!(r.tag.as_deref(), Some("latest"));
        assert_eq!(r.to_string(), "localhost:5000/app:latest");
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "UPPER/case",
            "a//b",
            "reg.io/a:bad tag",
            "a@sha256:00",
            "reg.io/-a",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad}");
        }
    }
}
