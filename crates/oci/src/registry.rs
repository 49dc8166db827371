//! The distribution-spec v2 endpoints signet needs: manifests (resolve,
//! get, put), blobs (exists, get, monolithic upload), tags and referrers.
//! Every body is bounded and every content-addressed body is checked
//! against its digest.

use std::collections::HashSet;
use std::sync::Mutex;

use reqwest::Method;

use crate::manifest::{Descriptor, Index, ACCEPTED_MANIFESTS, MAX_MANIFEST_BYTES, OCI_INDEX};
use crate::transport::{Request, Response, Transport};
use crate::{Digest, OciError, Reference, RegistryOptions};

/// Largest blob signet downloads (signature payloads, bundles, configs).
pub const MAX_BLOB_BYTES: u64 = signet_model::MAX_DOCUMENT_BYTES as u64;
/// Bound on a tag list (pages × entries).
const MAX_TAG_PAGES: usize = 100;

/// A manifest as the registry served it.
#[derive(Debug, Clone)]
pub struct FetchedManifest {
    pub bytes: Vec<u8>,
    pub media_type: String,
    pub digest: Digest,
}

/// What a registry said about a manifest it stored.
#[derive(Debug, Clone)]
pub struct PutManifest {
    pub digest: Digest,
    /// The registry answered `OCI-Subject`: it indexes referrers itself.
    pub indexes_subject: bool,
}

/// A client of OCI registries. Cheap to share between threads.
pub struct Registry {
    transport: Transport,
    /// `host/repository`s whose registry answered that it has no
    /// referrers API (as oras-go remembers it per repository): later
    /// listings go straight to the referrers tag schema instead of asking
    /// again for every image.
    no_referrers_api: Mutex<HashSet<String>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Registry")
    }
}

fn pull(repo: &Reference) -> String {
    format!("repository:{}:pull", repo.repository)
}

fn push(repo: &Reference) -> String {
    format!("repository:{}:pull,push", repo.repository)
}

fn unexpected(repo: &Reference, what: &str, r: &Response) -> OciError {
    OciError::Status {
        registry: repo.registry.clone(),
        what: what.to_string(),
        status: r.status,
        message: r.error_message(),
    }
}

impl Registry {
    pub fn new(options: RegistryOptions) -> Result<Self, OciError> {
        Ok(Registry {
            transport: Transport::new(options)?,
            no_referrers_api: Mutex::new(HashSet::new()),
        })
    }

    fn send(&self, repo: &Reference, request: Request<'_>) -> Result<Response, OciError> {
        self.transport.send(repo.api_host(), &request)
    }

    /// The descriptor (digest, media type, size) a reference names now. A
    /// pinned digest is kept as is, once the registry confirms it exists.
    pub fn resolve(&self, reference: &Reference) -> Result<Descriptor, OciError> {
        let target = reference.manifest_reference();
        let what = format!("manifest {reference}");
        let r = self.send(
            reference,
            Request {
                method: Method::HEAD,
                target: format!("/v2/{}/manifests/{target}", reference.repository),
                headers: vec![("Accept", ACCEPTED_MANIFESTS.join(", "))],
                body: None,
                what: &what,
                scope: pull(reference),
                limit: 0,
            },
        )?;
        match r.status {
            200 => {
                let header_digest = r
                    .header("Docker-Content-Digest")
                    .and_then(|d| Digest::parse(d).ok());
                let media_type = r
                    .header("Content-Type")
                    .map(|t| t.split(';').next().unwrap_or(t).trim().to_string())
                    .unwrap_or_default();
                let size = r
                    .header("Content-Length")
                    .and_then(|l| l.parse::<u64>().ok());
                let digest = match (&reference.digest, header_digest) {
                    (Some(pinned), Some(d)) if *pinned != d => {
                        return Err(OciError::DigestMismatch {
                            what,
                            expected: pinned.to_string(),
                            actual: d.to_string(),
                        })
                    }
                    (Some(pinned), _) => Some(pinned.clone()),
                    (None, d) => d,
                };
                if let (Some(digest), Some(size), false) = (digest, size, media_type.is_empty()) {
                    return Ok(Descriptor {
                        media_type,
                        digest,
                        size,
                        artifact_type: None,
                        annotations: Default::default(),
                        extra: Default::default(),
                    });
                }
            }
            404 => return Err(OciError::NotFound(what)),
            // Some registries refuse HEAD; fall through to GET.
            _ => {}
        }
        let m = self.get_manifest(reference, &target)?;
        Ok(Descriptor {
            size: m.bytes.len() as u64,
            media_type: m.media_type,
            digest: m.digest,
            artifact_type: None,
            annotations: Default::default(),
            extra: Default::default(),
        })
    }

    /// `GET /v2/<name>/manifests/<reference>`; a digest reference is checked
    /// against the content.
    pub fn get_manifest(
        &self,
        repo: &Reference,
        reference: &str,
    ) -> Result<FetchedManifest, OciError> {
        let what = format!("manifest {}/{}:{reference}", repo.registry, repo.repository);
        let r = self.send(
            repo,
            Request {
                method: Method::GET,
                target: format!("/v2/{}/manifests/{reference}", repo.repository),
                headers: vec![("Accept", ACCEPTED_MANIFESTS.join(", "))],
                body: None,
                what: &what,
                scope: pull(repo),
                limit: MAX_MANIFEST_BYTES,
            },
        )?;
        match r.status {
            200 => {}
            404 => return Err(OciError::NotFound(what)),
            _ => return Err(unexpected(repo, &what, &r)),
        }
        let digest = Digest::of(&r.body);
        if reference.starts_with("sha256:") {
            Digest::parse(reference)?.check(&r.body, &what)?;
        }
        let media_type = r
            .header("Content-Type")
            .map(|t| t.split(';').next().unwrap_or(t).trim().to_string())
            .filter(|t| !t.is_empty())
            .or_else(|| media_type_member(&r.body))
            .unwrap_or_default();
        Ok(FetchedManifest {
            bytes: r.body,
            media_type,
            digest,
        })
    }

    /// `PUT /v2/<name>/manifests/<reference>` (a tag or the digest).
    pub fn put_manifest(
        &self,
        repo: &Reference,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<PutManifest, OciError> {
        let what = format!(
            "upload of manifest {}/{}:{reference}",
            repo.registry, repo.repository
        );
        let r = self.send(
            repo,
            Request {
                method: Method::PUT,
                target: format!("/v2/{}/manifests/{reference}", repo.repository),
                headers: vec![("Content-Type", media_type.to_string())],
                body: Some(bytes.to_vec()),
                what: &what,
                scope: push(repo),
                limit: 64 * 1024,
            },
        )?;
        if !(200..300).contains(&r.status) {
            return Err(unexpected(repo, &what, &r));
        }
        let digest = Digest::of(bytes);
        if let Some(d) = r
            .header("Docker-Content-Digest")
            .and_then(|d| Digest::parse(d).ok())
        {
            if d != digest {
                return Err(OciError::DigestMismatch {
                    what,
                    expected: digest.to_string(),
                    actual: d.to_string(),
                });
            }
        }
        Ok(PutManifest {
            digest,
            indexes_subject: r.header("OCI-Subject").is_some(),
        })
    }

    pub fn blob_exists(&self, repo: &Reference, digest: &Digest) -> Result<bool, OciError> {
        let what = format!("blob {digest}");
        let r = self.send(
            repo,
            Request {
                method: Method::HEAD,
                target: format!("/v2/{}/blobs/{digest}", repo.repository),
                headers: Vec::new(),
                body: None,
                what: &what,
                scope: pull(repo),
                limit: 0,
            },
        )?;
        match r.status {
            200 => Ok(true),
            404 => Ok(false),
            _ => Err(unexpected(repo, &what, &r)),
        }
    }

    /// Downloads a blob (at most `limit` bytes) and checks its digest.
    pub fn get_blob(
        &self,
        repo: &Reference,
        digest: &Digest,
        limit: u64,
    ) -> Result<Vec<u8>, OciError> {
        let what = format!("blob {}/{}@{digest}", repo.registry, repo.repository);
        let r = self.send(
            repo,
            Request {
                method: Method::GET,
                target: format!("/v2/{}/blobs/{digest}", repo.repository),
                headers: Vec::new(),
                body: None,
                what: &what,
                scope: pull(repo),
                limit: limit.min(MAX_BLOB_BYTES),
            },
        )?;
        match r.status {
            200 => {}
            404 => return Err(OciError::NotFound(what)),
            _ => return Err(unexpected(repo, &what, &r)),
        }
        digest.check(&r.body, &what)?;
        Ok(r.body)
    }

    /// Uploads `bytes` as a blob (monolithic: POST then PUT), unless the
    /// registry has it already.
    pub fn put_blob(&self, repo: &Reference, bytes: &[u8]) -> Result<Digest, OciError> {
        let digest = Digest::of(bytes);
        if self.blob_exists(repo, &digest)? {
            return Ok(digest);
        }
        let what = format!(
            "upload of blob {digest} to {}/{}",
            repo.registry, repo.repository
        );
        let r = self.send(
            repo,
            Request {
                method: Method::POST,
                target: format!("/v2/{}/blobs/uploads/", repo.repository),
                headers: vec![("Content-Length", "0".into())],
                body: None,
                what: &what,
                scope: push(repo),
                limit: 64 * 1024,
            },
        )?;
        if r.status != 202 {
            return Err(unexpected(repo, &what, &r));
        }
        let location = r
            .header("Location")
            .ok_or_else(|| OciError::malformed(what.clone(), "no Location for the upload"))?;
        let base = self.transport.base_url(repo.api_host());
        let mut url = url::Url::parse(&format!("{base}/"))
            .and_then(|b| b.join(location))
            .map_err(|e| OciError::malformed(what.clone(), format!("upload location: {e}")))?;
        let same_origin = url::Url::parse(&base)
            .map(|b| b.origin() == url.origin())
            .unwrap_or(false);
        if !same_origin {
            return Err(OciError::malformed(
                what,
                "the upload location is on another host; signet only uploads to the registry itself",
            ));
        }
        url.query_pairs_mut()
            .append_pair("digest", &digest.to_string());
        let r = self.send(
            repo,
            Request {
                method: Method::PUT,
                target: url.to_string(),
                headers: vec![("Content-Type", "application/octet-stream".into())],
                body: Some(bytes.to_vec()),
                what: &what,
                scope: push(repo),
                limit: 64 * 1024,
            },
        )?;
        if r.status != 201 && !(200..300).contains(&r.status) {
            return Err(unexpected(repo, &what, &r));
        }
        Ok(digest)
    }

    /// `GET target` and the pages it links to (`Link: <…>; rel="next"`,
    /// same registry, at most [`MAX_TAG_PAGES`]), each answer handed to
    /// `page` until it returns `false`.
    fn paged(
        &self,
        repo: &Reference,
        mut target: String,
        headers: Vec<(&'static str, String)>,
        what: &str,
        mut page: impl FnMut(&Response) -> Result<bool, OciError>,
    ) -> Result<(), OciError> {
        for _ in 0..MAX_TAG_PAGES {
            let r = self.send(
                repo,
                Request {
                    method: Method::GET,
                    target,
                    headers: headers.clone(),
                    body: None,
                    what,
                    scope: pull(repo),
                    limit: MAX_MANIFEST_BYTES,
                },
            )?;
            if !page(&r)? {
                return Ok(());
            }
            match next_page(&r) {
                Some(next) => target = next,
                None => return Ok(()),
            }
        }
        Ok(())
    }

    /// `GET /v2/<name>/tags/list`, all pages.
    pub fn list_tags(&self, repo: &Reference) -> Result<Vec<String>, OciError> {
        #[derive(serde::Deserialize)]
        struct Tags {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let what = format!("tags of {}/{}", repo.registry, repo.repository);
        let mut all = Vec::new();
        let first = format!("/v2/{}/tags/list?n=1000", repo.repository);
        self.paged(repo, first, Vec::new(), &what, |r| match r.status {
            200 => {
                let page: Tags = signet_model::from_json_slice(&r.body)
                    .map_err(|e| OciError::malformed(what.clone(), e))?;
                all.extend(page.tags.unwrap_or_default());
                Ok(true)
            }
            404 => Ok(false),
            _ => Err(unexpected(repo, &what, r)),
        })?;
        Ok(all)
    }

    /// The referrers API, all pages (a signature on a later page is a
    /// signature): `Ok(None)` when the registry does not offer it (404),
    /// so that the caller falls back to the referrers tag schema. The
    /// answer is remembered for the repository: a registry that offers the
    /// API must not answer 404 for a repository that exists (OCI
    /// distribution spec 1.1), so one such answer settles it for this
    /// client.
    pub fn referrers_api(
        &self,
        repo: &Reference,
        subject: &Digest,
    ) -> Result<Option<Index>, OciError> {
        let key = format!("{}/{}", repo.api_host(), repo.repository);
        let absent_set = || {
            self.no_referrers_api
                .lock()
                .unwrap_or_else(|p| p.into_inner())
        };
        if absent_set().contains(&key) {
            return Ok(None);
        }
        let what = format!(
            "referrers of {}/{}@{subject}",
            repo.registry, repo.repository
        );
        let mut all: Option<Index> = None;
        let first = format!("/v2/{}/referrers/{subject}", repo.repository);
        let accept = vec![("Accept", OCI_INDEX.to_string())];
        self.paged(repo, first, accept, &what, |r| {
            let page = match r.status {
                // Some registries answer HTML or an error document with
                // 200: that is not the referrers API either.
                200 if r
                    .header("Content-Type")
                    .is_some_and(|t| t.starts_with(OCI_INDEX)) =>
                {
                    Index::from_json(&r.body)?
                }
                // Not an index: no (more) referrers from this API; a 404
                // (400, 405) on the first page: no API at all.
                200 => return Ok(false),
                404 | 400 | 405 if all.is_none() => return Ok(false),
                _ => return Err(unexpected(repo, &what, r)),
            };
            match &mut all {
                None => all = Some(page),
                Some(index) => index.manifests.extend(page.manifests),
            }
            Ok(true)
        })?;
        if all.is_none() {
            absent_set().insert(key);
        }
        Ok(all)
    }
}

/// The next page a listing points to (`Link: </v2/…>; rel="next"`); only
/// paths on the same registry are followed.
fn next_page(r: &Response) -> Option<String> {
    let link = r.header("Link")?;
    let (target, params) = link.split_once(';').unwrap_or((link, ""));
    if !params.contains("rel=\"next\"") && !params.contains("rel=next") {
        return None;
    }
    let target = target.trim().trim_start_matches('<').trim_end_matches('>');
    target.starts_with("/v2/").then(|| target.to_string())
}

fn media_type_member(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
    }
    serde_json::from_slice::<Probe>(body).ok()?.media_type
}
