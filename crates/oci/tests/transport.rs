//! The registry client's HTTP behaviour against a scripted loopback
//! server: retries with backoff on 503/429 and a clear give-up message,
//! the bearer-token flow (challenge → token endpoint with basic
//! credentials → retried request), bounded bodies, and digest checks.
//! (The real-registry tests are in crates/cli/tests/oci.rs; no token-auth
//! registry can be installed here, hence this script for the Bearer path.)

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use signet_oci::{
    Credential, CredentialSource, Digest, OciError, Reference, Registry, RegistryOptions,
};

struct Seen {
    method: String,
    path: String,
    authorization: Option<String>,
}

type Handler = dyn Fn(&Seen, usize) -> (u16, Vec<(String, String)>, Vec<u8>) + Send + Sync;

/// Serves `handler` on 127.0.0.1:<port> until the process ends; returns
/// the host and the log of requests.
fn serve(handler: Arc<Handler>) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let log = Arc::new(Mutex::new(Vec::new()));
    let log2 = log.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let handler = handler.clone();
            let log2 = log2.clone();
            std::thread::spawn(move || connection(stream, &*handler, &log2));
        }
    });
    (host, log)
}

fn connection(mut stream: std::net::TcpStream, handler: &Handler, log2: &Mutex<Vec<Seen>>) {
    // A TLS ClientHello: hang up, as a plain-HTTP server would answer it
    // with an error.
    let mut first = [0u8; 1];
    if stream.peek(&mut first).is_err() || first[0] == 0x16 {
        return;
    }
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_string();
        let path = parts.next().unwrap_or_default().to_string();
        let mut authorization = None;
        let mut length = 0usize;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).is_err() {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let Some((k, v)) = h.split_once(':') else {
                return;
            };
            match k.to_ascii_lowercase().as_str() {
                "authorization" => authorization = Some(v.trim().to_string()),
                "content-length" => length = v.trim().parse().unwrap(),
                _ => {}
            }
        }
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body).unwrap();
        if path == "/v2/" {
            // The client's plain-HTTP probe: not part of any script.
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
            continue;
        }
        let seen = Seen {
            method,
            path,
            authorization,
        };
        let n = log2.lock().unwrap().len();
        let (status, headers, body) = handler(&seen, n);
        log2.lock().unwrap().push(seen);
        let mut out = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\n", body.len());
        for (k, v) in headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str("\r\n");
        let _ = stream.write_all(out.as_bytes());
        let _ = stream.write_all(&body);
    }
}

fn options() -> RegistryOptions {
    RegistryOptions {
        credentials: CredentialSource::None,
        max_attempts: 3,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
        ..RegistryOptions::default()
    }
}

const MANIFEST: &[u8] = br#"{"schemaVersion":2}"#;

fn manifest_headers() -> Vec<(String, String)> {
    vec![(
        "Content-Type".into(),
        "application/vnd.oci.image.manifest.v1+json".into(),
    )]
}

#[test]
fn retries_then_succeeds_and_gives_up_clearly() {
    let (host, log) = serve(Arc::new(|seen: &Seen, n: usize| {
        if seen.path.contains("/flaky/") && n < 2 {
            return (503, vec![], b"busy".to_vec());
        }
        if seen.path.contains("/down/") {
            return (
                429,
                vec![("Retry-After".into(), "0".into())],
                b"{\"errors\":[{\"code\":\"TOOMANYREQUESTS\",\"message\":\"slow down\"}]}".to_vec(),
            );
        }
        (200, manifest_headers(), MANIFEST.to_vec())
    }));
    let registry = Registry::new(options()).unwrap();
    let flaky = Reference::parse(&format!("{host}/flaky:v1")).unwrap();
    let m = registry.get_manifest(&flaky, "v1").unwrap();
    assert_eq!(m.bytes, MANIFEST);
    assert_eq!(m.digest, Digest::of(MANIFEST));
    assert_eq!(log.lock().unwrap().len(), 3);

    let down = Reference::parse(&format!("{host}/down:v1")).unwrap();
    let err = registry.get_manifest(&down, "v1").unwrap_err();
    assert!(matches!(err, OciError::GaveUp { attempts: 3, .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("gave up after 3 attempts") && text.contains("slow down"),
        "{text}"
    );

    // A digest reference whose content does not hash to it is refused.
    let wrong = Digest::of(b"something else");
    let err = registry
        .get_manifest(&flaky, &wrong.to_string())
        .unwrap_err();
    assert!(matches!(err, OciError::DigestMismatch { .. }), "{err}");
}

#[test]
fn bearer_token_flow_with_basic_credentials() {
    // A self-contained server whose challenge names its own address.
    let listener_host = Arc::new(Mutex::new(String::new()));
    let lh = listener_host.clone();
    let (host, log) = serve(Arc::new(move |seen: &Seen, _n: usize| {
        let me = lh.lock().unwrap().clone();
        if seen.path.starts_with("/token") {
            if seen.authorization.as_deref() == Some("Basic YWxpY2U6cHc=")
                && seen.path.contains("scope=repository%3Apriv%3Apull")
                && seen.path.contains("service=reg")
            {
                return (200, vec![], br#"{"token":"tok-123"}"#.to_vec());
            }
            return (401, vec![], b"bad credentials".to_vec());
        }
        if seen.authorization.as_deref() == Some("Bearer tok-123") {
            return (200, manifest_headers(), MANIFEST.to_vec());
        }
        (
            401,
            vec![(
                "WWW-Authenticate".into(),
                format!("Bearer realm=\"http://{me}/token\",service=\"reg\",scope=\"repository:priv:pull\""),
            )],
            b"{}".to_vec(),
        )
    }));
    *listener_host.lock().unwrap() = host.clone();

    let with_creds = Registry::new(RegistryOptions {
        credentials: CredentialSource::Explicit(Credential::new("alice", "pw")),
        ..options()
    })
    .unwrap();
    let r = Reference::parse(&format!("{host}/priv:v1")).unwrap();
    let m = with_creds.get_manifest(&r, "v1").unwrap();
    assert_eq!(m.bytes, MANIFEST);
    // Challenge, token, retried request; then the token is reused.
    with_creds.get_manifest(&r, "v1").unwrap();
    let paths: Vec<String> = log
        .lock()
        .unwrap()
        .iter()
        .map(|s| format!("{} {}", s.method, s.path))
        .collect();
    assert_eq!(paths.len(), 4, "{paths:?}");
    assert!(paths[1].starts_with("GET /token?"), "{paths:?}");

    // Wrong password: denied, and the password is not in the message.
    let wrong = Registry::new(RegistryOptions {
        credentials: CredentialSource::Explicit(Credential::new("alice", "hunter2")),
        ..options()
    })
    .unwrap();
    let err = wrong.get_manifest(&r, "v1").unwrap_err();
    assert!(matches!(err, OciError::Denied { .. }), "{err}");
    assert!(!err.to_string().contains("hunter2"));
}

#[test]
fn oversized_bodies_are_refused() {
    let (host, _log) = serve(Arc::new(|_: &Seen, _| {
        (200, manifest_headers(), vec![b' '; 5 * 1024 * 1024])
    }));
    let registry = Registry::new(options()).unwrap();
    let r = Reference::parse(&format!("{host}/big:v1")).unwrap();
    let err = registry.get_manifest(&r, "v1").unwrap_err();
    assert!(matches!(err, OciError::TooLarge { .. }), "{err}");
}

/// A `.sig` manifest with more layers than cosign reads (1000) is refused
/// before any layer is downloaded: pushing one cannot make every verifier
/// fetch thousands of blobs.
#[test]
fn too_many_attachments_are_refused_before_any_download() {
    use signet_oci::layout::legacy;
    let image = Digest::of(b"an image manifest");
    let layer = serde_json::json!({
        "mediaType": legacy::SIMPLE_SIGNING_MEDIA_TYPE,
        "digest": Digest::of(b"payload").to_string(),
        "size": 7,
    });
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": Digest::of(b"{}").to_string(), "size": 2},
        "layers": vec![layer; signet_oci::layout::MAX_ATTACHMENTS + 1],
    }))
    .unwrap();
    let (host, log) = serve(Arc::new(move |seen: &Seen, _| {
        if seen.path.contains("/manifests/") {
            (200, manifest_headers(), manifest.clone())
        } else {
            (200, vec![], b"payload".to_vec())
        }
    }));
    let registry = Registry::new(options()).unwrap();
    let repo = Reference::parse(&format!("{host}/app:v1")).unwrap();
    let err = legacy::read(&registry, &repo, &image).unwrap_err();
    assert!(err.to_string().contains("attachments"), "{err}");
    let fetched_blobs = log
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.path.contains("/blobs/"))
        .count();
    assert_eq!(fetched_blobs, 0);
}

/// The referrers API pages with `Link: <…>; rel="next"`: every page is read.
#[test]
fn referrer_pages_are_all_read() {
    let subject = Digest::of(b"an image manifest");
    let entry = |n: &str| {
        serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": Digest::of(n.as_bytes()).to_string(),
            "size": 10,
            "artifactType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        })
    };
    let page = |n: &str| {
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [entry(n)],
        }))
        .unwrap()
    };
    let (first, second) = (page("first"), page("second"));
    let index_headers = || {
        vec![(
            "Content-Type".to_string(),
            "application/vnd.oci.image.index.v1+json".to_string(),
        )]
    };
    let (host, log) = serve(Arc::new(move |seen: &Seen, _| {
        if seen.path.contains("page=2") {
            (200, index_headers(), second.clone())
        } else {
            let mut headers = index_headers();
            headers.push((
                "Link".into(),
                format!(
                    "<{}?page=2>; rel=\"next\"",
                    seen.path.split('?').next().unwrap()
                ),
            ));
            (200, headers, first.clone())
        }
    }));
    let registry = Registry::new(options()).unwrap();
    let repo = Reference::parse(&format!("{host}/app:v1")).unwrap();
    let index = registry.referrers_api(&repo, &subject).unwrap().unwrap();
    let digests: Vec<String> = index
        .manifests
        .iter()
        .map(|d| d.digest.to_string())
        .collect();
    assert_eq!(
        digests,
        [
            Digest::of(b"first").to_string(),
            Digest::of(b"second").to_string()
        ]
    );
    assert_eq!(log.lock().unwrap().len(), 2);
}

/// One unusable place (here a `.sig` tag whose manifest is garbage) is one
/// rejected candidate: the image's other places are still read, instead of
/// the whole collection failing (which would let one bad push hide every
/// good signature).
#[test]
fn an_unusable_sig_tag_is_one_rejection_not_a_failure() {
    use signet_oci::verify::{collect, Source};
    let image_manifest = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#.to_vec();
    let digest = Digest::of(&image_manifest);
    let (host, _) = serve(Arc::new(move |seen: &Seen, _| {
        let mut headers = manifest_headers();
        if seen.path.ends_with("/manifests/v1") {
            headers.push((
                "Docker-Content-Digest".into(),
                Digest::of(&image_manifest).to_string(),
            ));
            (200, headers, image_manifest.clone())
        } else if seen.path.ends_with(".sig") {
            (200, headers, b"this is not a manifest".to_vec())
        } else {
            (404, vec![], Vec::new())
        }
    }));
    let registry = Registry::new(options()).unwrap();
    let reference = Reference::parse(&format!("{host}/app:v1")).unwrap();
    let material = collect(&registry, &reference, "app:v1").unwrap();
    assert_eq!(material.digest, digest);
    assert_eq!(material.signatures.len(), 1);
    assert!(
        matches!(&material.signatures[0].source, Source::Place { what } if what.ends_with(".sig")),
        "{:?}",
        material.signatures[0].source
    );
}
