//! PostgreSQL: the same commands against a real server. HETBENCH_TEST_PG is
//! the URL of a role that may create databases (`.ci/run` starts one on
//! loopback with scripts/start-test-postgres.sh); each test makes its own
//! database. Without it the tests skip, unless HETBENCH_REQUIRE_POSTGRES=1.
use super::*;

/// A fresh database's URL, or `None` (printed) when no server is given.
fn fresh_pg() -> Option<String> {
    let Ok(admin) = std::env::var("HETBENCH_TEST_PG") else {
        assert!(
            std::env::var("HETBENCH_REQUIRE_POSTGRES").as_deref() != Ok("1"),
            "HETBENCH_REQUIRE_POSTGRES=1 but HETBENCH_TEST_PG is not set"
        );
        println!("skipped: HETBENCH_TEST_PG is not set (scripts/start-test-postgres.sh)");
        return None;
    };
    let mut client = postgres::Client::connect(&admin, postgres::NoTls)
        .unwrap_or_else(|e| panic!("HETBENCH_TEST_PG is set but unreachable: {e}"));
    let name = format!("hb_{}", uuid::Uuid::new_v4().simple());
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap();
    let base = admin.rsplit_once('/').unwrap().0;
    Some(format!("{base}/{name}"))
}

fn results_at(s: &Scratch, db: &str) -> Vec<Value> {
    let out = s
        .hb()
        .args(["--db", db, "results", "--json"])
        .assert()
        .success();
    serde_json::from_slice::<Value>(&out.get_output().stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// `n` results of a new run, built from a real record.
fn synthetic_run(template: &Value, n: usize) -> Value {
    let run_id = uuid::Uuid::new_v4().to_string();
    let mut file = template.clone();
    file["run"]["run_id"] = run_id.clone().into();
    let record = template["results"][0].clone();
    let results: Vec<Value> = (0..n)
        .map(|i| {
            let mut r = record.clone();
            r["run_id"] = run_id.clone().into();
            r["size"] = format!("s{i}").into();
            r
        })
        .collect();
    file["results"] = results.into();
    file
}

#[test]
fn run_import_score_and_report_work_on_postgres_as_on_sqlite() {
    let Some(pg) = fresh_pg() else { return };
    let s = Scratch::new();
    s.hb()
        .args([
            "--db",
            &pg,
            "run",
            "--quick",
            "-b",
            "cpu",
            "-k",
            CORE,
            "--idle-seconds",
            "0",
        ])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "3 results stored in 'postgres://hetbench:***@",
        ));
    let on_pg = results_at(&s, &pg);
    assert_eq!(on_pg.len(), 3);
    // Import the same run file into SQLite: identical records.
    let file = std::fs::read_dir(s.path("results/runs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let lite = s.path("lite.db").display().to_string();
    s.hb()
        .args(["--db", &lite, "import"])
        .arg(&file)
        .assert()
        .success();
    assert_eq!(results_at(&s, &lite), on_pg);
    // Importing into PostgreSQL again changes nothing.
    s.hb()
        .args(["--db", &pg, "import"])
        .arg(&file)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "0 results imported, 3 already present",
        ));
    // Reports read PostgreSQL like SQLite.
    let score = |db: &str| {
        let out = s
            .hb()
            .args(["--db", db, "score", "--json"])
            .assert()
            .success();
        serde_json::from_slice::<Value>(&out.get_output().stdout).unwrap()
    };
    assert_eq!(score(&pg), score(&lite));
    let out = s.path("report");
    s.hb()
        .args(["--db", &pg, "report", "--out"])
        .arg(&out)
        .assert()
        .success();
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        !html.contains("hetbench:hetbench@"),
        "password leaked into the report"
    );
    assert!(html.contains("<svg"));
}

#[test]
fn sixteen_concurrent_pushers_land_every_result_exactly_once() {
    let Some(pg) = fresh_pg() else { return };
    let s = Scratch::new();
    let template: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/run.json"),
        )
        .unwrap(),
    )
    .unwrap();
    // Every pusher pushes its own run and the one shared by all.
    let shared = s.path("shared.json");
    std::fs::write(&shared, synthetic_run(&template, 200).to_string()).unwrap();
    let pushers: Vec<_> = (0..16)
        .map(|i| {
            let own = s.path(&format!("node{i}.json"));
            std::fs::write(&own, synthetic_run(&template, 200).to_string()).unwrap();
            std::process::Command::new(assert_cmd::cargo::cargo_bin("hetbench"))
                .args(["push", "--to", &pg])
                .arg(&own)
                .arg(&shared)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for p in pushers {
        let out = p.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut client = postgres::Client::connect(&pg, postgres::NoTls).unwrap();
    let mut count = |q: &str| client.query_one(q, &[]).unwrap().get::<_, i64>(0);
    assert_eq!(count("SELECT COUNT(*) FROM runs"), 17);
    assert_eq!(count("SELECT COUNT(*) FROM results"), 17 * 200);
    assert_eq!(
        count("SELECT COUNT(DISTINCT (run_id, size)) FROM results"),
        17 * 200
    );
}

/// A TCP proxy to `target` that drops both connections once `budget`
/// bytes have gone from client to server.
fn dropping_proxy(target: &str, budget: usize) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let target = target.to_string();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { return };
            let Ok(mut server) = std::net::TcpStream::connect(&target) else {
                return;
            };
            let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = s2.read(&mut buf) {
                    if n == 0 || c2.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
            let mut sent = 0;
            let mut buf = [0u8; 4096];
            while let Ok(n) = client.read(&mut buf) {
                if n == 0 || sent + n > budget {
                    break;
                }
                if server.write_all(&buf[..n]).is_err() {
                    break;
                }
                sent += n;
            }
            let _ = client.shutdown(std::net::Shutdown::Both);
            let _ = server.shutdown(std::net::Shutdown::Both);
        }
    });
    format!("127.0.0.1:{port}")
}

/// A refused login says why (the server's message and SQLSTATE), and
/// a missing password where it may come from, never the password.
#[test]
fn database_errors_show_the_servers_cause_never_the_password() {
    let Some(pg) = fresh_pg() else { return };
    let s = Scratch::new();
    let (user, rest) = pg.split_once('@').unwrap();
    let user = user.rsplit_once(':').unwrap().0;
    let wrong = format!("{user}:Sup3rSecretPw@{rest}");
    let out = s.hb().args(["--db", &wrong, "results"]).assert().code(1);
    let err = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    assert!(
        err.contains("password authentication failed") && err.contains("SQLSTATE 28P01"),
        "{err}"
    );
    assert!(!err.contains("Sup3rSecretPw"), "{err}");
    let none = format!("{user}@{rest}");
    let out = s
        .hb()
        .env_remove("PGPASSWORD")
        .env("PGPASSFILE", s.path("no-such-pgpass"))
        .args(["--db", &none, "results"])
        .assert()
        .code(1);
    let err = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    assert!(
        err.contains("password missing") && err.contains("PGPASSFILE"),
        "{err}"
    );
}

/// A run pushed while interrupted and pushed again once resumed takes
/// the finished status and its new results, in PostgreSQL and in
/// SQLite alike; an older copy pushed after it changes nothing.
#[test]
fn a_resumed_run_pushed_again_updates_its_status_not_the_reverse() {
    let Some(pg) = fresh_pg() else { return };
    let s = Scratch::new();
    let mut run: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/run.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let all = run["results"].as_array().unwrap().len();
    assert!(all >= 2);
    let mut cut = run.clone();
    cut["run"]["status"] = "interrupted".into();
    cut["run"]["finished_at"] = Value::Null;
    cut["results"] = serde_json::json!([run["results"][0].clone()]);
    run["run"]["status"] = "finished".into();
    let (early, late) = (s.path("interrupted.json"), s.path("finished.json"));
    std::fs::write(&early, cut.to_string()).unwrap();
    std::fs::write(&late, run.to_string()).unwrap();
    let site = s.path("site.db").display().to_string();
    for target in [pg.as_str(), site.as_str()] {
        let push = |file: &Path| {
            let out = s
                .hb()
                .args(["push", "--to", target])
                .arg(file)
                .assert()
                .success();
            String::from_utf8(out.get_output().stdout.clone()).unwrap()
        };
        push(&early);
        let out = push(&late);
        assert!(
            out.contains(&format!(
                "0 new, 1 with their status brought up to date, {} results stored, 1 already there",
                all - 1
            )),
            "{out}"
        );
        // The stale copy again: nothing changes.
        let out = push(&early);
        assert!(
            out.contains("0 new, 0 with their status brought up to date, 0 results stored"),
            "{out}"
        );
    }
    let mut client = postgres::Client::connect(&pg, postgres::NoTls).unwrap();
    let row = client
        .query_one("SELECT status, finished_at FROM runs", &[])
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "finished");
    assert!(row.get::<_, Option<String>>(1).is_some());
    let db = rusqlite::Connection::open(&site).unwrap();
    let status: String = db
        .query_row("SELECT status FROM runs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(status, "finished");
}

#[test]
fn a_push_cut_mid_way_leaves_no_partial_run_and_succeeds_when_retried() {
    let Some(pg) = fresh_pg() else { return };
    let s = Scratch::new();
    let template: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/run.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let file = s.path("big.json");
    std::fs::write(&file, synthetic_run(&template, 200).to_string()).unwrap();
    // Create the schema first, so that the cut falls inside the push.
    s.hb().args(["--db", &pg, "results"]).assert().success();
    let (prefix, rest) = pg.split_once('@').unwrap();
    let (host, db) = rest.split_once('/').unwrap();
    let cut = format!("{prefix}@{}/{db}", dropping_proxy(host, 60_000));
    s.hb()
        .args(["push", "--to", &cut])
        .arg(&file)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "nothing of it was stored; push again",
        ))
        .stderr(predicate::str::contains("hetbench:***@"));
    let mut client = postgres::Client::connect(&pg, postgres::NoTls).unwrap();
    let count = |c: &mut postgres::Client, q: &str| c.query_one(q, &[]).unwrap().get::<_, i64>(0);
    assert_eq!(count(&mut client, "SELECT COUNT(*) FROM runs"), 0);
    assert_eq!(count(&mut client, "SELECT COUNT(*) FROM results"), 0);
    s.hb()
        .args(["push", "--to", &pg])
        .arg(&file)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "1 new, 0 with their status brought up to date, 200 results stored, 0 already there",
        ));
    assert_eq!(count(&mut client, "SELECT COUNT(*) FROM results"), 200);
}

#[test]
fn malformed_records_are_refused_with_file_and_record_named() {
    let s = Scratch::new();
    let mut v: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/run.json"),
        )
        .unwrap(),
    )
    .unwrap();
    v["results"][1]["status"] = "bogus".into();
    let file = s.path("bad.json");
    std::fs::write(&file, v.to_string()).unwrap();
    s.hb()
        .arg("import")
        .arg(&file)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!(
            "{}: invalid results[1]: unknown variant `bogus`",
            file.display()
        )));
    s.hb()
        .args(["push", "--to", &s.path("site.db").display().to_string()])
        .arg(&file)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("invalid results[1]"));
}

#[test]
fn push_from_the_local_database_to_another_is_idempotent() {
    let s = Scratch::new();
    s.quick_run();
    let site = s.path("site.db").display().to_string();
    s.hb()
        .args(["push", "--to", &site])
        .assert()
        .success()
        .stdout(predicate::str::contains("pushed 1 run(s)"))
        .stdout(predicate::str::contains(
            "1 new, 0 with their status brought up to date, 3 results stored, 0 already there",
        ));
    s.hb()
        .args(["push", "--to", &site])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "0 new, 0 with their status brought up to date, 0 results stored, 3 already there",
        ));
    assert_eq!(results_at(&s, &site), s.results_json(&[]));
}

/// The campaign job script, run as HTCondor runs it (a plain script):
/// a header in the log, the run file in the shared directory before the
/// push, exit 75 when only the push failed, 1 when there is no binary.
#[test]
fn the_campaign_job_keeps_the_run_file_and_says_when_the_push_failed() {
    let s = Scratch::new();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/batch/slurm-campaign.sbatch");
    let binary = assert_cmd::cargo::cargo_bin("hetbench");
    let shared = s.path("shared");
    let job = |db: &str, bin: &Path| {
        std::process::Command::new("bash")
            .arg(&script)
            .env("HETBENCH", bin)
            .env("HETBENCH_SHARED", &shared)
            .env("HETBENCH_SITE_DB", db)
            .env("HETBENCH_RUN_ARGS", "--quick -b cpu -k stream_triad,gemm")
            .env_remove("HETBENCH_DB")
            .env_remove("HETBENCH_RESULTS_DIR")
            .env_remove("HETBENCH_REQUIRE_BACKENDS")
            .output()
            .unwrap()
    };
    let site = s.path("site.db");
    let out = job(site.to_str().unwrap(), &binary);
    let log = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{log}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        log.contains("== hetbench campaign: job ") && log.contains("== binary "),
        "{log}"
    );
    assert!(
        log.contains("-k stream_triad,gemm"),
        "the comma list arrives whole: {log}"
    );
    let runs = |d: &Path| std::fs::read_dir(d).map(|r| r.count()).unwrap_or(0);
    assert_eq!(runs(&shared.join("runs")), 1);
    let pushed = s
        .hb()
        .arg("--db")
        .arg(&site)
        .args(["results", "--json"])
        .output()
        .unwrap();
    let pushed: Value = serde_json::from_slice(&pushed.stdout).unwrap();
    assert_eq!(pushed.as_array().unwrap().len(), 2);
    // The database cannot be reached: the run file is kept, exit 75.
    let out = job("postgres://bench@127.0.0.1:1/hetbench", &binary);
    assert_eq!(out.status.code(), Some(75));
    assert!(String::from_utf8_lossy(&out.stderr).contains("push them later with"));
    assert_eq!(runs(&shared.join("runs")), 2);
    // No binary: exit 1, and where to put one.
    let out = job(site.to_str().unwrap(), &s.path("no-such-hetbench"));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("set HETBENCH to the path"));
}

#[test]
fn batch_templates_are_valid_shell() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/batch");
    let status = std::process::Command::new("bash")
        .arg("-n")
        .arg(dir.join("slurm-campaign.sbatch"))
        .status()
        .unwrap();
    assert!(status.success(), "slurm-campaign.sbatch has a syntax error");
    let submit = std::fs::read_to_string(dir.join("htcondor-campaign.sub")).unwrap();
    for key in ["executable", "arguments", "request_cpus", "queue"] {
        assert!(
            submit.lines().any(|l| l.trim_start().starts_with(key)),
            "htcondor submit file lacks {key}"
        );
    }
}
