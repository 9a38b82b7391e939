//! Fetching artifacts from a local stand-in for the npm registry: success, offline reuse, repair
//! of a damaged cache, and every failure leaving the cache as it was.

use polyrun_packaging::{Artifact, Cache, Fetched, PackagingError, Source};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

const PAYLOAD: &[u8] = b"\0asm\x01\0\0\0 pretend this is a big language runtime";

fn tarball(path: &str, content: &[u8]) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    let mut header = tar::Header::new_gnu();
    header.set_size(7);
    header.set_mode(0o644);
    header.set_cksum();
    builder
        .append_data(&mut header, "package/README.md", &b"readme\n"[..])
        .unwrap();
    let mut header = tar::Header::new_gnu();
    header.set_size(content.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    builder.append_data(&mut header, path, content).unwrap();
    builder.into_inner().unwrap().finish().unwrap()
}

/// Serves `body` for every request; `claim` is the Content-Length announced. Counts requests.
fn serve(body: Vec<u8>, claim: usize) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { break };
            h.fetch_add(1, Ordering::SeqCst);
            let mut req = [0u8; 4096];
            let _ = s.read(&mut req);
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Length: {claim}\r\nConnection: close\r\n\r\n"
            );
            let _ = s.write_all(&body);
        }
    });
    (format!("http://{addr}"), hits)
}

fn sha(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

fn artifact(content: &[u8]) -> Artifact {
    Artifact {
        name: "toy".into(),
        description: "a toy runtime".into(),
        version: "1.0".into(),
        file: "toy.wasm".into(),
        size: content.len() as u64,
        sha256: sha(content),
        source: Source {
            registry: "npm".into(),
            package: "@polyrun-test/toy".into(),
            version: "1.0.0".into(),
            path: "package/dist/toy.wasm".into(),
        },
        group: None,
    }
}

fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p.display().to_string());
            }
        }
    }
    out
}

#[test]
fn fetches_verifies_then_works_offline_and_repairs_damage() {
    let dir = tempfile::tempdir().unwrap();
    let (url, hits) = serve(
        tarball("package/dist/toy.wasm", PAYLOAD),
        tarball("package/dist/toy.wasm", PAYLOAD).len(),
    );
    let cache = Cache::at(dir.path()).with_npm_registry(&url);
    let a = artifact(PAYLOAD);
    assert_eq!(cache.cached(&a), None);

    let mut events = Vec::new();
    let (path, what) = cache.ensure(&a, &mut |p| events.push(p)).unwrap();
    assert_eq!(what, Fetched::Downloaded);
    assert_eq!(std::fs::read(&path).unwrap(), PAYLOAD);
    assert_eq!(cache.cached(&a), Some(path.clone()));
    assert!(events.iter().any(|e| matches!(e, polyrun_packaging::Progress::Downloading { done, total: Some(t) } if done == t)));
    assert_eq!(hits.load(Ordering::SeqCst), 1);

    // Second call: verified in place, no request.
    let (_, what) = cache.ensure(&a, &mut |_| {}).unwrap();
    assert_eq!(what, Fetched::AlreadyCached);
    assert_eq!(hits.load(Ordering::SeqCst), 1);

    // A damaged file of the same size is detected and fetched again.
    let mut damaged = PAYLOAD.to_vec();
    damaged[10] ^= 0xff;
    std::fs::write(&path, &damaged).unwrap();
    let (_, what) = cache.ensure(&a, &mut |_| {}).unwrap();
    assert_eq!(what, Fetched::Repaired);
    assert_eq!(std::fs::read(&path).unwrap(), PAYLOAD);
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    assert!(files_under(&dir.path().join("tmp")).is_empty());
}

#[test]
fn a_wrong_checksum_leaves_nothing_in_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let body = tarball("package/dist/toy.wasm", b"something else entirely");
    let (url, _) = serve(body.clone(), body.len());
    let cache = Cache::at(dir.path()).with_npm_registry(&url);
    let err = cache.ensure(&artifact(PAYLOAD), &mut |_| {}).unwrap_err();
    assert!(matches!(err, PackagingError::Checksum { .. }), "{err}");
    assert!(err.to_string().contains("checksum mismatch for toy"));
    assert_eq!(files_under(dir.path()), Vec::<String>::new());
}

#[test]
fn a_truncated_download_leaves_nothing_in_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let body = tarball("package/dist/toy.wasm", PAYLOAD);
    let half = body[..body.len() / 2].to_vec();
    let (url, _) = serve(half, body.len());
    let cache = Cache::at(dir.path()).with_npm_registry(&url);
    let err = cache.ensure(&artifact(PAYLOAD), &mut |_| {}).unwrap_err();
    assert!(
        matches!(
            err,
            PackagingError::Truncated { .. } | PackagingError::Network { .. }
        ),
        "{err}"
    );
    assert_eq!(files_under(dir.path()), Vec::<String>::new());
}

#[test]
fn a_package_without_the_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let body = tarball("package/dist/other.wasm", PAYLOAD);
    let (url, _) = serve(body.clone(), body.len());
    let cache = Cache::at(dir.path()).with_npm_registry(&url);
    let err = cache.ensure(&artifact(PAYLOAD), &mut |_| {}).unwrap_err();
    assert!(matches!(err, PackagingError::BadPackage { .. }), "{err}");
    assert!(err.to_string().contains("package/dist/toy.wasm"));
    assert_eq!(files_under(dir.path()), Vec::<String>::new());
}

#[test]
fn an_unreachable_registry_is_a_network_error() {
    let dir = tempfile::tempdir().unwrap();
    // Bind then drop: nothing listens on this port.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cache = Cache::at(dir.path()).with_npm_registry(format!("http://127.0.0.1:{port}"));
    let err = cache.ensure(&artifact(PAYLOAD), &mut |_| {}).unwrap_err();
    assert!(matches!(err, PackagingError::Network { .. }), "{err}");
    assert_eq!(files_under(dir.path()), Vec::<String>::new());
}

/// Serves the two pages of a stand-in Python package index: the project's JSON listing (PEP
/// 691) at `/simple/toy/` and the wheel it lists, with `wheel` as the file's bytes.
fn serve_index(wheel: Vec<u8>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { break };
            let mut req = [0u8; 4096];
            let n = s.read(&mut req).unwrap_or(0);
            let head = String::from_utf8_lossy(&req[..n]).to_string();
            let body = if head.starts_with("GET /simple/toy/ ") {
                assert!(
                    head.contains("application/vnd.pypi.simple.v1+json"),
                    "{head}"
                );
                format!(
                    r#"{{"files": [{{"filename": "toy-0.9-py3-none-any.whl", "url": "http://{addr}/nope"}},
                       {{"filename": "toy-1.0-py3-none-any.whl", "url": "http://{addr}/files/toy.whl"}}]}}"#
                )
                .into_bytes()
            } else if head.starts_with("GET /files/toy.whl ") {
                wheel.clone()
            } else {
                let _ = write!(s, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
                continue;
            };
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(&body);
        }
    });
    format!("http://{addr}/simple")
}

#[test]
fn a_wheel_comes_from_the_python_index_that_lists_it() {
    let wheel = b"PK\x03\x04 pretend this is a wheel".to_vec();
    let index = serve_index(wheel.clone());
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::at(dir.path()).with_pypi_index(&index);
    let mut a = artifact(&wheel);
    a.file = "toy-1.0-py3-none-any.whl".into();
    a.source = Source {
        registry: "pypi".into(),
        package: "toy".into(),
        version: "1.0".into(),
        path: "toy-1.0-py3-none-any.whl".into(),
    };
    let (path, fetched) = cache.ensure(&a, &mut |_| {}).unwrap();
    assert_eq!(fetched, Fetched::Downloaded);
    assert_eq!(std::fs::read(&path).unwrap(), wheel);
    // A file the index does not list, and a wheel with another checksum: clear errors, nothing
    // kept.
    let mut missing = a.clone();
    missing.name = "missing".into();
    missing.source.path = "toy-2.0-py3-none-any.whl".into();
    let err = cache.ensure(&missing, &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("not listed on"), "{err}");
    let mut wrong = a.clone();
    wrong.name = "wrong".into();
    wrong.sha256 = sha(b"something else");
    let err = cache.ensure(&wrong, &mut |_| {}).unwrap_err();
    assert!(matches!(err, PackagingError::Checksum { .. }), "{err}");
    assert_eq!(
        files_under(dir.path()).len(),
        1,
        "{:?}",
        files_under(dir.path())
    );
}
