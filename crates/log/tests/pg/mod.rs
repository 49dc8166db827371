//! A private PostgreSQL cluster for tests: `initdb` in a temp dir, served
//! on 127.0.0.1 and an ephemeral port, stopped and removed on drop.
//!
//! The binaries come from `$SIGNET_PG_BIN`, else the newest
//! `/usr/lib/postgresql/*/bin` (Debian's `postgresql` package), else `PATH`.
//! Without them the test fails with an install hint, unless
//! `SIGNET_SKIP_PEERS=1`. As root, the server runs as `nobody` (PostgreSQL
//! refuses to run as root).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    as_user: Option<&'static str>,
    pub port: u16,
}

fn bin_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("SIGNET_PG_BIN") {
        let dir = PathBuf::from(dir);
        if dir.join("initdb").exists() {
            return Some(dir);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .find(|p| p.join("initdb").exists() && p.join("pg_ctl").exists())
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl Cluster {
    /// Starts a cluster, or `None` when PostgreSQL is missing and
    /// `SIGNET_SKIP_PEERS=1`.
    pub fn start() -> Option<Cluster> {
        let Some(bin) = bin_dir() else {
            if std::env::var("SIGNET_SKIP_PEERS").as_deref() == Ok("1") {
                eprintln!("PostgreSQL not installed; skipped (SIGNET_SKIP_PEERS=1)");
                return None;
            }
            panic!(
                "PostgreSQL is not installed: `apt-get update && apt-get install -y postgresql` \
                 (or set SIGNET_PG_BIN to the directory of initdb and pg_ctl; \
                 SIGNET_SKIP_PEERS=1 skips this test)"
            );
        };
        let dir = tempfile::Builder::new()
            .prefix("signet-pg-")
            .tempdir()
            .expect("temp dir");
        let as_user = is_root().then_some("nobody");
        if let Some(user) = as_user {
            let ok = Command::new("chown")
                .arg(format!("{user}:"))
                .arg(dir.path())
                .status()
                .expect("chown")
                .success();
            assert!(ok, "chown {user} {}", dir.path().display());
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("ephemeral port")
            .port();
        let mut cluster = Cluster {
            dir,
            bin,
            as_user,
            port,
        };
        let data = cluster.data();
        cluster.run(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "signet",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        let opts = format!(
            "-h 127.0.0.1 -p {port} -k {} -c max_connections=200",
            cluster.dir.path().display()
        );
        let log = cluster.dir.path().join("server.log");
        for attempt in 0..3 {
            let ok = cluster.try_run(
                "pg_ctl",
                &[
                    "-D",
                    data.to_str().unwrap(),
                    "-l",
                    log.to_str().unwrap(),
                    "-o",
                    &opts,
                    "-w",
                    "-t",
                    "60",
                    "start",
                ],
            );
            if ok {
                return Some(cluster);
            }
            // The ephemeral port may have been taken meanwhile.
            cluster.port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("ephemeral port")
                .port();
            eprintln!("pg_ctl start failed (attempt {attempt}); retrying");
        }
        panic!(
            "PostgreSQL did not start: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn command(&self, tool: &str, args: &[&str]) -> Command {
        let exe = self.bin.join(tool);
        let mut cmd = match self.as_user {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(exe);
                c
            }
            None => Command::new(exe),
        };
        cmd.args(args).current_dir(self.dir.path());
        cmd
    }

    fn try_run(&self, tool: &str, args: &[&str]) -> bool {
        let out = self.command(tool, args).output().expect(tool);
        if !out.status.success() {
            eprintln!(
                "{tool} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        out.status.success()
    }

    fn run(&self, tool: &str, args: &[&str]) {
        assert!(self.try_run(tool, args), "{tool} failed");
    }

    /// Creates a database and returns its URL.
    pub fn database(&self, name: &str) -> String {
        self.run(
            "createdb",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "signet",
                name,
            ],
        );
        self.url(name)
    }

    pub fn url(&self, db: &str) -> String {
        format!("postgres://signet@127.0.0.1:{}/{db}", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.data();
        let _ = self
            .command(
                "pg_ctl",
                &[
                    "-D",
                    data.to_str().unwrap_or(""),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                ],
            )
            .output();
    }
}
