//! Storage faults under a stream of writes, against the real binary: a SQLite file on a
//! size-limited tmpfs that fills up and frees, a SQLite WAL file made unwritable and
//! writable again, and a PostgreSQL server of the test's own whose connections are
//! terminated and which is restarted (a crash: immediate shutdown). Each write is one
//! request of three activities, so a write half there would show.
//!
//! After the faults the server is stopped and started again, and every acknowledged
//! write must be there in full, and every write that got an error there in full or not
//! at all. While a fault lasts, writes must answer 503 (never 500, never 2xx-and-lost),
//! `/readyz` must say not ready, and once it is over the service must recover by itself.
//! The counts are printed (`cargo test --test it faults -- --nocapture`).
//!
//! Mounting a tmpfs and `chattr` need root, the PostgreSQL test needs the server's
//! binaries (`/usr/lib/postgresql/*/bin`); without them the tests say so and pass, unless
//! `NEXTBEST_REQUIRE_FAULTS=1` (as in CI) makes that a failure.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{binary_key_with, spawn_server};

const TENANT: &str = "faults";
const PLAN: &str = "plan-f";
const PER_WRITE: usize = 3;
const WRITERS: usize = 4;

/// Whether this machine lets the test inject `what`; a missing capability skips the
/// test with a notice, or fails it where `NEXTBEST_REQUIRE_FAULTS=1`.
fn can_inject(test: &str, what: &str, available: bool) -> bool {
    if available {
        return true;
    }
    let required = std::env::var("NEXTBEST_REQUIRE_FAULTS").is_ok_and(|v| v == "1");
    assert!(
        !required,
        "{test}: NEXTBEST_REQUIRE_FAULTS=1 but {what} is not available"
    );
    eprintln!("skipping {test}: {what} is not available");
    false
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn run(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What happened to every write sent.
#[derive(Debug, Default)]
struct Ledger {
    sent: usize,
    acked: Vec<String>,
    /// Writes answered with an error status, with it.
    refused: Vec<(String, u16)>,
    /// Writes whose answer never came (the connection broke).
    lost_answer: Vec<String>,
}

impl Ledger {
    fn acked_since(&self, n: usize) -> usize {
        self.acked.len().saturating_sub(n)
    }
}

/// The activity ids of write `id`.
fn activity_ids(id: &str) -> Vec<String> {
    (0..PER_WRITE).map(|j| format!("{id}-a{j}")).collect()
}

fn write_body(id: &str) -> Value {
    Value::Array(
        activity_ids(id)
            .into_iter()
            .map(|a| json!({"activity_id": a, "kind": "qbr", "date": "2026-09-01", "quantity": 1}))
            .collect(),
    )
}

/// Writers sending writes until `stop`, each one after the other's answer.
struct Stream {
    ledger: Arc<Mutex<Ledger>>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Stream {
    fn start(client: &reqwest::Client, base: &str, key: &str, tag: &str) -> Self {
        let ledger: Arc<Mutex<Ledger>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = (0..WRITERS)
            .map(|w| {
                let (client, base, key) = (client.clone(), base.to_owned(), key.to_owned());
                let (ledger, stop, tag) = (Arc::clone(&ledger), Arc::clone(&stop), tag.to_owned());
                tokio::spawn(async move {
                    let mut i = 0;
                    while !stop.load(Ordering::Relaxed) {
                        let id = format!("{tag}-w{w}-{i}");
                        i += 1;
                        ledger.lock().unwrap().sent += 1;
                        let answer = client
                            .post(format!("{base}/v1/plans/{PLAN}/activities"))
                            .bearer_auth(&key)
                            .json(&write_body(&id))
                            .timeout(Duration::from_secs(40))
                            .send()
                            .await;
                        {
                            let mut ledger = ledger.lock().unwrap();
                            match answer {
                                Ok(r) if r.status().is_success() => ledger.acked.push(id),
                                Ok(r) => ledger.refused.push((id, r.status().as_u16())),
                                Err(_) => ledger.lost_answer.push(id),
                            }
                        }
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                })
            })
            .collect();
        Self {
            ledger,
            stop,
            tasks,
        }
    }

    fn acked(&self) -> usize {
        self.ledger.lock().unwrap().acked.len()
    }

    fn refused(&self) -> usize {
        self.ledger.lock().unwrap().refused.len()
    }

    /// Waits until `done` holds of the ledger, or fails with `what` after `limit`.
    async fn wait_for(&self, what: &str, limit: Duration, done: impl Fn(&Ledger) -> bool) {
        let start = Instant::now();
        loop {
            if done(&self.ledger.lock().unwrap()) {
                return;
            }
            assert!(
                start.elapsed() < limit,
                "{what} did not happen within {limit:?}: {:?}",
                summary(&self.ledger.lock().unwrap())
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn finish(self) -> Ledger {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            task.await.unwrap();
        }
        Arc::try_unwrap(self.ledger).unwrap().into_inner().unwrap()
    }
}

fn summary(ledger: &Ledger) -> String {
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    for (_, status) in &ledger.refused {
        *statuses.entry(*status).or_default() += 1;
    }
    format!(
        "sent {}, acknowledged {}, errors {} {statuses:?}, no answer {}",
        ledger.sent,
        ledger.acked.len(),
        ledger.refused.len(),
        ledger.lost_answer.len()
    )
}

async fn status(client: &reqwest::Client, url: String, key: Option<&str>) -> StatusCode {
    let mut request = client.get(url).timeout(Duration::from_secs(20));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    request
        .send()
        .await
        .map_or(StatusCode::BAD_GATEWAY, |r| r.status())
}

/// Waits until `/readyz` answers `expected`.
async fn readiness_becomes(client: &reqwest::Client, base: &str, expected: StatusCode) {
    let start = Instant::now();
    loop {
        let got = status(client, format!("{base}/readyz"), None).await;
        if got == expected {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "/readyz answered {got}, not {expected}, for 15 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A partner and an active plan for the writes to go to.
async fn seed(client: &reqwest::Client, base: &str, key: &str) {
    let put = |path: String, body: Value| {
        let request = client
            .put(format!("{base}{path}"))
            .bearer_auth(key)
            .json(&body);
        async move {
            let r = request.send().await.unwrap();
            assert!(r.status().is_success(), "{}", r.text().await.unwrap());
        }
    };
    put(
        "/v1/partners/partner-f".into(),
        json!({"name": "Fault Partner", "tier": "gold"}),
    )
    .await;
    put(
        format!("/v1/plans/{PLAN}"),
        json!({
            "partner_id": "partner-f", "start_date": "2026-07-01", "end_date": "2026-12-31",
            "status": "active", "template": "growth",
            "key_results": [{"kr_id": "kr-f", "metric": "revenue", "target": 1000, "unit": "EUR"}],
        }),
    )
    .await;
}

/// Every activity id of the plan, as the server answers them.
async fn stored_activities(client: &reqwest::Client, base: &str, key: &str) -> HashSet<String> {
    let mut ids = HashSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{base}/v1/plans/{PLAN}/activities?limit=1000");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page: Value = client
            .get(url)
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for item in page["items"].as_array().unwrap() {
            ids.insert(item["activity_id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return ids,
        }
    }
}

/// Restarts the server on the same store and checks the ledger against what is stored:
/// returns (missing acknowledged writes, half-written writes).
async fn audit(
    data: &Path,
    extra: &[&str],
    key: &str,
    ledger: &Ledger,
) -> (Vec<String>, Vec<String>) {
    let (mut child, base) = spawn_server(data, TENANT, extra).await;
    let client = reqwest::Client::new();
    let stored = stored_activities(&client, &base, key).await;
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let present = |id: &str| {
        activity_ids(id)
            .iter()
            .filter(|a| stored.contains(*a))
            .count()
    };
    let missing = ledger
        .acked
        .iter()
        .filter(|id| present(id) != PER_WRITE)
        .cloned()
        .collect();
    let half = ledger
        .refused
        .iter()
        .map(|(id, _)| id)
        .chain(&ledger.lost_answer)
        .filter(|id| !matches!(present(id), 0 | PER_WRITE))
        .cloned()
        .collect();
    (missing, half)
}

/// SIGTERM, as an orchestrator stops a server.
async fn stop(mut child: tokio::process::Child) {
    if let Some(pid) = child.id() {
        run("kill", &["-TERM", &pid.to_string()]);
    }
    tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("the server did not stop within 30 s of SIGTERM")
        .unwrap();
}

/// Prints the counts and asserts the guarantees.
fn report(name: &str, ledger: &Ledger, missing: &[String], half: &[String]) {
    println!(
        "faults: {name}: {}, missing {}, half-written {}",
        summary(ledger),
        missing.len(),
        half.len()
    );
    assert!(
        ledger.refused.iter().all(|(_, s)| *s == 503),
        "{name}: a storage fault must answer 503: {}",
        summary(ledger)
    );
    assert!(
        missing.is_empty(),
        "{name}: {} acknowledged writes missing: {missing:?}",
        missing.len()
    );
    assert!(half.is_empty(), "{name}: writes half there: {half:?}");
}

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(path: &Path, size: &str) -> Self {
        std::fs::create_dir_all(path).unwrap();
        run(
            "mount",
            &[
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size}"),
                "tmpfs",
                path.to_str().unwrap(),
            ],
        );
        Self(path.to_owned())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Writes zeros to `path` until the file system is full.
fn fill(path: &Path) -> u64 {
    use std::io::Write;
    let mut file = std::fs::File::create(path).unwrap();
    let chunk = vec![0_u8; 64 << 10];
    let mut written = 0;
    loop {
        match file.write(&chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => written += n as u64,
        }
    }
    let _ = file.sync_all();
    written
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_loses_no_acknowledged_write_while_the_disk_fills_and_frees() {
    if !can_inject("disk full", "mounting a tmpfs (root)", is_root()) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mount = Tmpfs::mount(&dir.path().join("disk"), "24m");
    let data = mount.0.join("data");
    let key = binary_key_with(&data, TENANT, &[]);
    let (child, base) = spawn_server(&data, TENANT, &[]).await;
    let client = reqwest::Client::new();
    seed(&client, &base, &key).await;

    let stream = Stream::start(&client, &base, &key, "full");
    stream
        .wait_for("writes before the fault", Duration::from_secs(20), |l| {
            l.acked.len() >= 50
        })
        .await;
    let filler = mount.0.join("filler");
    let filled = fill(&filler);
    assert!(filled > 0);
    let before = stream.refused();
    stream
        .wait_for(
            "writes refused on the full disk",
            Duration::from_secs(30),
            |l| l.refused.len() >= before + 10,
        )
        .await;
    readiness_becomes(&client, &base, StatusCode::SERVICE_UNAVAILABLE).await;
    // Reads go on while nothing can be written.
    assert_eq!(
        status(&client, format!("{base}/v1/plans/{PLAN}"), Some(&key)).await,
        StatusCode::OK
    );

    std::fs::remove_file(&filler).unwrap();
    let freed = Instant::now();
    let acked = stream.acked();
    stream
        .wait_for(
            "writes after the disk was freed",
            Duration::from_secs(10),
            |l| l.acked_since(acked) >= 20,
        )
        .await;
    let recovered = freed.elapsed();
    readiness_becomes(&client, &base, StatusCode::OK).await;
    let ledger = stream.finish().await;
    stop(child).await;

    let (missing, half) = audit(&data, &[], &key, &ledger).await;
    println!(
        "faults: disk full: writes acknowledged again {recovered:.1?} after the disk was freed"
    );
    report("sqlite, disk full and freed", &ledger, &missing, &half);
    drop(mount);
}

/// `chattr` on `path`.
fn chattr(flag: &str, path: &Path) {
    run("chattr", &[flag, path.to_str().unwrap()]);
}

/// Makes `path` writable again when dropped, so a failed test leaves no file that its
/// temp dir cannot remove.
struct Immutable<'a>(&'a Path);

impl Drop for Immutable<'_> {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").arg(self.0).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_loses_no_acknowledged_write_while_the_wal_cannot_be_written() {
    if !can_inject("WAL unwritable", "chattr (root)", is_root()) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let key = binary_key_with(&data, TENANT, &[]);
    let (child, base) = spawn_server(&data, TENANT, &[]).await;
    let client = reqwest::Client::new();
    seed(&client, &base, &key).await;
    let wal = data.join("nextbest.db-wal");

    let stream = Stream::start(&client, &base, &key, "wal");
    let mut recoveries = Vec::new();
    for round in 0..3 {
        let acked = stream.acked();
        stream
            .wait_for("writes before the fault", Duration::from_secs(20), |l| {
                l.acked_since(acked) >= 30
            })
            .await;
        let refused = stream.refused();
        chattr("+i", &wal);
        let guard = Immutable(&wal);
        stream
            .wait_for(
                "writes refused while the WAL is immutable",
                Duration::from_secs(20),
                |l| l.refused.len() >= refused + 3,
            )
            .await;
        readiness_becomes(&client, &base, StatusCode::SERVICE_UNAVAILABLE).await;
        chattr("-i", &wal);
        drop(guard);
        let cleared = Instant::now();
        let acked = stream.acked();
        stream
            .wait_for(
                &format!("writes after round {round}'s fault"),
                Duration::from_secs(10),
                |l| l.acked_since(acked) >= 20,
            )
            .await;
        recoveries.push(cleared.elapsed());
        readiness_becomes(&client, &base, StatusCode::OK).await;
    }
    let ledger = stream.finish().await;
    stop(child).await;

    let (missing, half) = audit(&data, &[], &key, &ledger).await;
    println!("faults: WAL: writes acknowledged again after {recoveries:.1?}");
    report(
        "sqlite, WAL immutable three times",
        &ledger,
        &missing,
        &half,
    );
}

/// A PostgreSQL server of the test's own, in a temp dir, on a free port: the test may
/// stop it, crash it and cut its connections without touching the machine's server.
struct Postgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    as_postgres: bool,
}

impl Postgres {
    fn bin_dir() -> Option<PathBuf> {
        let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|p| p.join("initdb").exists() && p.join("pg_ctl").exists())
            .collect();
        found.sort();
        found.pop()
    }

    /// Runs a server binary, as the `postgres` user when the test runs as root (the
    /// server refuses to run as root).
    fn pg(&self, program: &str, args: &[&str]) {
        let path = self.bin.join(program);
        let path = path.to_str().unwrap();
        if self.as_postgres {
            let mut all = vec!["-u", "postgres", "--", path];
            all.extend_from_slice(args);
            run("runuser", &all);
        } else {
            run(path, args);
        }
    }

    fn start_new(bin: PathBuf) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let as_postgres = is_root();
        if as_postgres {
            run("chown", &["-R", "postgres", dir.path().to_str().unwrap()]);
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let server = Self {
            bin,
            dir,
            port,
            as_postgres,
        };
        let pgdata = server.pgdata();
        server.pg(
            "initdb",
            &["-D", &pgdata, "-A", "trust", "-U", "postgres", "--no-sync"],
        );
        server.start();
        server
    }

    fn pgdata(&self) -> String {
        self.dir.path().join("pgdata").to_str().unwrap().to_owned()
    }

    fn start(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={}",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log");
        self.pg(
            "pg_ctl",
            &[
                "-D",
                &self.pgdata(),
                "-o",
                &options,
                "-l",
                log.to_str().unwrap(),
                "-w",
                "start",
            ],
        );
    }

    /// Immediate shutdown: no checkpoint, in-flight transactions cut, as in a crash.
    fn crash(&self) {
        self.pg(
            "pg_ctl",
            &["-D", &self.pgdata(), "-m", "immediate", "-w", "stop"],
        );
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Terminates every client connection but the one asking.
    fn terminate_connections(&self) {
        let port = self.port.to_string();
        run(
            "psql",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-qAt",
                "-c",
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'",
            ],
        );
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let path = self.bin.join("pg_ctl");
        let pgdata = self.pgdata();
        let args = ["-D", pgdata.as_str(), "-m", "immediate", "stop"];
        let _ = if self.as_postgres {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&path)
                .args(args)
                .output()
        } else {
            Command::new(&path).args(args).output()
        };
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_loses_no_acknowledged_write_when_connections_die_and_the_server_crashes() {
    let bin = Postgres::bin_dir();
    let psql = Command::new("psql").arg("--version").output().is_ok();
    if !can_inject(
        "PostgreSQL faults",
        "PostgreSQL's server binaries and psql",
        bin.is_some() && psql,
    ) {
        return;
    }
    let Some(bin) = bin else { return };
    let pg = Postgres::start_new(bin);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let url = pg.url();
    let extra = ["--database-url", url.as_str()];
    let key = binary_key_with(&data, TENANT, &extra);
    let (child, base) = spawn_server(&data, TENANT, &extra).await;
    let client = reqwest::Client::new();
    seed(&client, &base, &key).await;

    let stream = Stream::start(&client, &base, &key, "pg");
    for _ in 0..3 {
        let acked = stream.acked();
        stream
            .wait_for("writes before terminating", Duration::from_secs(20), |l| {
                l.acked_since(acked) >= 30
            })
            .await;
        pg.terminate_connections();
    }
    let acked = stream.acked();
    stream
        .wait_for(
            "writes after the terminations",
            Duration::from_secs(20),
            |l| l.acked_since(acked) >= 30,
        )
        .await;
    let refused = stream.refused();
    pg.crash();
    stream
        .wait_for(
            "writes refused while the database is down",
            Duration::from_secs(30),
            |l| l.refused.len() > refused,
        )
        .await;
    readiness_becomes(&client, &base, StatusCode::SERVICE_UNAVAILABLE).await;
    pg.start();
    let restarted = Instant::now();
    let acked = stream.acked();
    stream
        .wait_for(
            "writes after the database restarted",
            Duration::from_secs(20),
            |l| l.acked_since(acked) >= 20,
        )
        .await;
    let recovered = restarted.elapsed();
    readiness_becomes(&client, &base, StatusCode::OK).await;
    let ledger = stream.finish().await;
    stop(child).await;

    let (missing, half) = audit(&data, &extra, &key, &ledger).await;
    println!("faults: postgres: writes acknowledged again {recovered:.1?} after the restart");
    report(
        "postgres, 3 x connections terminated, then a crash and restart",
        &ledger,
        &missing,
        &half,
    );
}
