//! Issue 16: a hostile or careless user. Locations that are what they look
//! like, bounded waits, read commands that create nothing, safe output,
//! exit codes, failures that leave a way back, process lifetimes.
use super::*;
use std::time::{Duration, Instant};

fn corpus_run() -> Value {
    serde_json::from_slice(
        &std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/run.json"))
            .unwrap(),
    )
    .unwrap()
}

/// The names in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    v.sort();
    v
}

fn stderr_of(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr).to_string()
}

/// A local TCP port that accepts connections and never says a word.
fn silent_server() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in listener.incoming() {
            held.push(c);
        }
    });
    port
}

/// Whether process `pid` is gone (or a zombie waiting to be reaped).
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

/// The children of process `pid`.
fn children(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(pid) && !gone(child) {
            found.push(child);
        }
    }
    found
}

fn wait_for(what: &str, secs: u64, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {secs} s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `hetbench run` in the background (for signals), on the CPU.
fn spawn_run(s: &Scratch, extra: &[&str]) -> std::process::Child {
    std::process::Command::new(assert_cmd::cargo::cargo_bin("hetbench"))
        .env_remove("HETBENCH_REQUIRE_BACKENDS")
        .env_remove("HETBENCH_DB")
        .arg("--results-dir")
        .arg(s.path("results"))
        .arg("--kernels-dir")
        .arg(s.path("kernels"))
        .args(["run", "-b", "cpu", "--idle-seconds", "0"])
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// The id of the only run in `s`, once its file is written.
fn only_run_id(s: &Scratch) -> String {
    let runs = s.path("results/runs");
    let mut id = String::new();
    wait_for("the run file", 60, || {
        let names = std::fs::read_dir(&runs)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().to_string())
                    .filter(|n| n.ends_with(".json") && !n.starts_with('.'))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        if let [one] = names.as_slice() {
            id = one.trim_end_matches(".json").to_string();
        }
        !id.is_empty()
    });
    id
}

fn run_status(s: &Scratch, run_id: &str) -> String {
    let conn = rusqlite::Connection::open(s.db()).unwrap();
    conn.query_row("SELECT status FROM runs WHERE run_id = ?1", [run_id], |r| {
        r.get(0)
    })
    .unwrap()
}

#[test]
fn a_foreign_url_is_refused_masked_and_never_becomes_a_file() {
    let s = Scratch::new();
    let work = s.path("work");
    std::fs::create_dir_all(&work).unwrap();
    let run = s.path("run.json");
    std::fs::write(&run, corpus_run().to_string()).unwrap();
    for url in [
        "postgress://bench:PW@host/db",
        "mysql://bench:PW@host/db",
        "sqlite://hetbench.db",
    ] {
        let shown = url.replace(":PW@", ":***@");
        let a = s
            .hb()
            .current_dir(&work)
            .args(["push", "--to", url])
            .arg(&run)
            .assert()
            .code(2);
        let err = stderr_of(&a);
        assert!(err.contains(&format!("'{shown}'")), "{err}");
        assert!(
            err.contains("cannot store results in") && !err.contains("PW"),
            "{err}"
        );
        s.hb()
            .current_dir(&work)
            .args(["--db", url, "results"])
            .assert()
            .code(2)
            .stderr(predicate::str::contains(shown.as_str()));
        s.hb()
            .current_dir(&work)
            .args(["--db", url, "import"])
            .arg(&run)
            .assert()
            .code(2);
    }
    assert!(listing(&work).is_empty(), "{:?}", listing(&work));

    // A libpq key=value string is PostgreSQL: it is connected to, not
    // created as a file, and its password is masked.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conninfo = format!("host=127.0.0.1 port={closed} dbname=hb user=u password=PW");
    let a = s
        .hb()
        .current_dir(&work)
        .args(["push", "--to", &conninfo])
        .arg(&run)
        .assert()
        .code(1);
    let err = stderr_of(&a);
    assert!(err.contains("password=***") && !err.contains("PW"), "{err}");
    assert!(listing(&work).is_empty(), "{:?}", listing(&work));
}

#[test]
fn passwords_and_odd_bytes_in_arguments_are_stored_masked_without_a_panic() {
    use std::os::unix::ffi::OsStrExt;
    let s = Scratch::new();
    // Not UTF-8: clap takes it as a path; recording the command must
    // not panic (it did, exit 101).
    let odd = s
        .dir
        .path()
        .join(std::ffi::OsStr::from_bytes(b"results-\xff"));
    let mut c = Command::cargo_bin("hetbench").unwrap();
    c.env_remove("HETBENCH_DB")
        .env_remove("HETBENCH_REQUIRE_BACKENDS")
        .arg("--results-dir")
        .arg(&odd)
        .arg("--kernels-dir")
        .arg(s.path("kernels"))
        .args([
            "run",
            "--quick",
            "-b",
            "cpu",
            "-k",
            "stream_triad",
            "--idle-seconds",
            "0",
        ])
        .args(["--label", "mysql://bench:PW@db/x"])
        .assert()
        .success();
    let runs = odd.join("runs");
    let file = std::fs::read_dir(&runs)
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().ends_with(".json"))
        .unwrap()
        .path();
    let v: Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
    let command = v["run"]["command"].as_str().unwrap();
    assert!(command.contains("mysql://bench:***@db/x"), "{command}");
    assert!(!command.contains("PW"), "{command}");
    assert!(command.contains("results-\u{fffd}"), "{command}");
}

#[test]
fn a_database_that_accepts_and_never_answers_fails_within_the_bound() {
    let s = Scratch::new();
    let port = silent_server();
    let url = format!("postgres://bench:PW@127.0.0.1:{port}/hb");
    for args in [vec!["results"], vec!["score"]] {
        let start = Instant::now();
        let a = s
            .hb()
            .env("HETBENCH_PG_CONNECT_TIMEOUT", "2")
            .args(["--db", &url])
            .args(&args)
            .timeout(Duration::from_secs(30))
            .assert()
            .code(1);
        let took = start.elapsed();
        let err = stderr_of(&a);
        assert!(
            took < Duration::from_secs(8),
            "{args:?} took {took:?}: {err}"
        );
        assert!(err.contains("no answer within 2 s"), "{err}");
        assert!(
            err.contains("bench:***@127.0.0.1") && !err.contains("PW"),
            "{err}"
        );
    }
    s.hb()
        .env("HETBENCH_PG_CONNECT_TIMEOUT", "soon")
        .args(["--db", &url, "results"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("HETBENCH_PG_CONNECT_TIMEOUT"));
}

#[test]
fn an_ipmi_command_that_keeps_its_output_open_is_bounded_and_killed() {
    let s = Scratch::new();
    let bin = s.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let pid_file = s.path("grandchild.pid");
    let script = bin.join("ipmitool");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho 'Instantaneous power reading: 250 Watts'\nsleep 60 &\necho $! > {}\n",
            pid_file.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let start = Instant::now();
    let out = s
        .hb()
        .env("PATH", path)
        .env("HETBENCH_SYSFS_ROOT", s.path("no-sysfs"))
        .args(["info", "--json"])
        .timeout(Duration::from_secs(40))
        .assert()
        .success();
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "{:?}",
        start.elapsed()
    );
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let ipmi = v["energy_meters_missing"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["meter"] == "ipmi")
        .unwrap_or_else(|| panic!("ipmi not missing: {v}"));
    assert!(
        ipmi["reason"]
            .as_str()
            .unwrap()
            .contains("did not answer within 5s"),
        "{ipmi}"
    );
    let pid: u32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    wait_for("the grandchild's end", 2, || gone(pid));
}

#[test]
fn inputs_far_too_large_are_refused_at_once_naming_the_file() {
    let s = Scratch::new();
    let start = Instant::now();
    s.hb()
        .args(["import", "/dev/zero"])
        .timeout(Duration::from_secs(30))
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "/dev/zero: larger than the 128 MiB",
        ));
    assert!(start.elapsed() < Duration::from_secs(10));
    assert!(!s.db().exists());
    s.hb()
        .args(["--config", "/dev/zero", "info"])
        .timeout(Duration::from_secs(30))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("/dev/zero: larger than the 4 MiB"));
    let manifest = s.path("kernels/nbody/kernel.toml");
    std::fs::remove_file(&manifest).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &manifest).unwrap();
    s.hb()
        .arg("list")
        .timeout(Duration::from_secs(30))
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!(
            "{}: larger than",
            manifest.display()
        )));
}

#[test]
fn read_commands_on_a_missing_database_say_so_and_create_nothing() {
    let s = Scratch::new();
    let db = s.path("typo/none.db");
    let out = s.path("out");
    let site = s.path("site.db");
    let commands: [Vec<&str>; 8] = [
        vec!["results"],
        vec!["results", "--json"],
        vec!["export", "--format", "csv", "--out", out.to_str().unwrap()],
        vec!["score"],
        vec!["compare", "--baseline", "node01"],
        vec!["plot", "--out", out.to_str().unwrap()],
        vec!["report", "--out", out.to_str().unwrap()],
        vec!["push", "--to", site.to_str().unwrap()],
    ];
    for args in commands {
        s.hb()
            .arg("--db")
            .arg(&db)
            .args(&args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(format!(
                "no results database at '{}'",
                db.display()
            )));
        for made in [
            s.path("typo"),
            out.clone(),
            s.path("site.db"),
            s.path("results"),
        ] {
            assert!(!made.exists(), "{args:?} created {}", made.display());
        }
    }
    s.hb()
        .args(["run", "--resume", "some-run"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no results database at"));
    assert!(!s.path("results").exists());
}

#[test]
fn imported_names_are_neutralised_in_csv_and_escaped_everywhere() {
    let s = Scratch::new();
    let mut file = corpus_run();
    let r = &mut file["results"][0];
    r["hostname"] = "=cmd|' /C calc'!A0".into();
    r["device_name"] = "\u{1b}]0;pwned\u{7}\u{1b}[2J EPYC\u{9b}".into();
    r["message"] = "=HYPERLINK(\"http://evil\",\"x\")".into();
    let path = s.path("hostile.json");
    std::fs::write(&path, file.to_string()).unwrap();
    s.hb().arg("import").arg(&path).assert().success();

    let stdout = |args: &[&str]| {
        let out = s.hb().args(args).assert().success();
        String::from_utf8(out.get_output().stdout.clone()).unwrap()
    };
    let raw = |text: &str| {
        text.chars()
            .any(|c| c == '\u{1b}' || c == '\u{9b}' || c == '\u{7}')
    };
    let csv = stdout(&["export", "--format", "csv"]);
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let row = csv.lines().nth(1).unwrap();
    assert!(row.contains(",'=cmd|' /C calc'!A0,"), "{row}");
    assert!(
        row.contains("\"'=HYPERLINK(\"\"http://evil\"\",\"\"x\"\")\""),
        "{row}"
    );
    assert!(
        row.contains("\\u001b]0;pwned\\u0007\\u001b[2J EPYC\\u009b"),
        "{row}"
    );
    // Numbers are written as numbers, never prefixed.
    let col = header.iter().position(|h| *h == "median_s").unwrap();
    let median = file["results"][0]["timing"]["summary"]["median"].as_f64();
    let cell = row.split(',').nth(col).unwrap();
    assert_eq!(cell.parse::<f64>().ok(), median, "{row}");
    for args in [
        vec!["export", "--format", "csv"],
        vec!["export", "--format", "markdown"],
        vec!["export", "--format", "json"],
        vec!["results"],
        vec!["results", "--json"],
    ] {
        let text = stdout(&args);
        assert!(
            !raw(&text),
            "{args:?} wrote a raw control character: {text:?}"
        );
        assert!(text.contains("pwned"), "{args:?}: {text}");
    }
    let json = stdout(&["export", "--format", "json"]);
    let v: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        v[0]["device_name"], "\u{1b}]0;pwned\u{7}\u{1b}[2J EPYC\u{9b}",
        "JSON keeps the value, escaped"
    );
}

#[test]
fn a_damaged_schema_version_or_missing_table_is_not_a_hetbench_database() {
    let s = Scratch::new();
    let run = s.path("run.json");
    std::fs::write(&run, corpus_run().to_string()).unwrap();
    s.hb().arg("import").arg(&run).assert().success();
    let fresh = std::fs::read(s.db()).unwrap();
    for damage in [
        "UPDATE schema_version SET version = 'three'",
        "DELETE FROM schema_version",
        "DROP TABLE results",
    ] {
        std::fs::write(s.db(), &fresh).unwrap();
        rusqlite::Connection::open(s.db())
            .unwrap()
            .execute_batch(damage)
            .unwrap();
        for args in [vec!["results"], vec!["import", run.to_str().unwrap()]] {
            s.hb()
                .args(&args)
                .assert()
                .code(2)
                .stderr(predicate::str::contains(
                    "is not a hetbench results database",
                ));
        }
    }
}

#[test]
fn a_storage_failure_mid_run_marks_it_interrupted_and_prints_a_resume_that_works() {
    let s = Scratch::new();
    let child = spawn_run(&s, &["-k", CORE, "--time-budget", "1.5"]);
    let run_id = only_run_id(&s);
    let file = s.path(&format!("results/runs/{run_id}.json"));
    wait_for("the first result", 60, || {
        std::fs::read(&file)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .is_some_and(|v| v["results"].as_array().is_some_and(|a| !a.is_empty()))
    });
    // The run file's place becomes a folder: the next write fails.
    std::fs::remove_file(&file).unwrap();
    std::fs::create_dir_all(file.join("blocker")).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("run {run_id} stopped")),
        "{stderr}"
    );
    assert_eq!(run_status(&s, &run_id), "interrupted");
    // The measurement in flight is kept in the store that worked.
    assert_eq!(s.results_json(&["--run", &run_id]).len(), 2, "{stderr}");
    let printed = stderr
        .lines()
        .find_map(|l| l.split_once("finish it with: ").map(|(_, c)| c.to_string()))
        .unwrap_or_else(|| panic!("no resume command: {stderr}"));
    assert!(
        printed.contains(&format!("--results-dir {}", s.path("results").display())),
        "{printed}"
    );
    std::fs::remove_dir_all(&file).unwrap();
    // The command works as printed.
    let bin_dir = assert_cmd::cargo::cargo_bin("hetbench")
        .parent()
        .unwrap()
        .to_path_buf();
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(&printed)
        .env(
            "PATH",
            format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap()),
        )
        .env_remove("HETBENCH_REQUIRE_BACKENDS")
        .env_remove("HETBENCH_DB")
        .env_remove("HETBENCH_RESULTS_DIR")
        .current_dir(s.dir.path())
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert_eq!(run_status(&s, &run_id), "finished");
    assert_eq!(s.results_json(&["--run", &run_id]).len(), 3);
}

#[test]
fn workers_die_with_the_run_and_a_second_resume_is_refused_naming_the_holder() {
    let s = Scratch::new();
    let hang = [
        "--quick",
        "-k",
        "nbody",
        "--inject-fault",
        "nbody=hang",
        "--timeout",
        "120",
    ];
    let mut run = spawn_run(&s, &hang);
    let run_id = only_run_id(&s);
    let mut worker = Vec::new();
    wait_for("the worker", 60, || {
        worker = children(run.id());
        !worker.is_empty()
    });
    // kill -9 of the run (the OOM killer, Slurm): its worker goes too.
    run.kill().unwrap();
    run.wait().unwrap();
    wait_for("the orphaned worker's end", 5, || gone(worker[0]));

    // One resume at a time: the second is refused and says who holds it.
    let mut first = std::process::Command::new(assert_cmd::cargo::cargo_bin("hetbench"))
        .env_remove("HETBENCH_REQUIRE_BACKENDS")
        .env_remove("HETBENCH_DB")
        .arg("--results-dir")
        .arg(s.path("results"))
        .args(["run", "--resume", &run_id])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the resumed worker", 60, || {
        !children(first.id()).is_empty()
    });
    s.hb()
        .args(["run", "--resume", &run_id])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!(
            "run {run_id} is being measured by another hetbench (pid {} on",
            first.id()
        )));
    // SIGHUP (an ssh session dropping) interrupts as Ctrl-C does.
    let status = std::process::Command::new("kill")
        .args(["-HUP", &first.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let code = first.wait().unwrap().code();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut first.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(code, Some(130), "{stderr}");
    assert!(stderr.contains(&format!("--resume {run_id}")), "{stderr}");
    assert_eq!(run_status(&s, &run_id), "interrupted");
}

#[test]
fn an_unknown_device_or_a_bad_card_is_bad_input_and_a_bad_card_hides_no_other() {
    let s = Scratch::new();
    // --device that no planned backend has: exit 2 with the devices there are.
    let a = s
        .hb()
        .args(["run", "--quick", "-k", "gemm", "-s", "tiny", "-b", "cpu"])
        .args(["--device", "nosuch"])
        .assert()
        .code(2);
    let err = stderr_of(&a);
    assert!(
        err.contains("no device 'nosuch'") && err.contains("cpu0 (cpu)"),
        "{err}"
    );
    assert!(!err.contains("HETBENCH_REQUIRE_BACKENDS"), "{err}");
    if s.db().exists() {
        s.assert_empty(&s.db());
    }
    // A card with a field out of place: the run is refused naming the
    // file and the field; `info` lists it beside the cards that load.
    let cards = s.path("cards");
    std::fs::create_dir_all(&cards).unwrap();
    std::fs::write(cards.join("broken.toml"), "id = \"x\"\n[clock]\nmhz = 0\n").unwrap();
    let a = s
        .hb()
        .env("HETBENCH_FPGA_CARDS", &cards)
        .args([
            "run", "--quick", "-k", "gemm", "-s", "tiny", "-b", "fpga-emu",
        ])
        .assert()
        .code(2);
    let err = stderr_of(&a);
    assert!(
        err.contains("broken.toml") && err.contains("unknown field `clock`"),
        "{err}"
    );
    assert!(!err.contains("HETBENCH_REQUIRE_BACKENDS"), "{err}");
    let out = s
        .hb()
        .env("HETBENCH_FPGA_CARDS", &cards)
        .arg("info")
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        text.contains("fpga0") && text.contains("AMD Alveo U250"),
        "{text}"
    );
    assert!(
        text.contains("not loaded: ") && text.contains("broken.toml"),
        "{text}"
    );
}

#[test]
fn a_missing_ipmi_meter_is_probed_once_per_run_not_per_job() {
    let s = Scratch::new();
    let count = s.path("probes");
    let config = s.path("config.toml");
    std::fs::write(
        &config,
        format!(
            "[power]\nipmi_command = [\"sh\", \"-c\", \"echo probe >> '{}'; exit 1\"]\n",
            count.display()
        ),
    )
    .unwrap();
    s.hb()
        .arg("--config")
        .arg(&config)
        .args([
            "run",
            "--quick",
            "-k",
            "gemm,stream_triad",
            "-s",
            "tiny",
            "-b",
            "cpu",
        ])
        .args(["--idle-seconds", "0"])
        .assert()
        .success();
    // Two jobs in two workers; the parent's probe is the only one.
    let probes = std::fs::read_to_string(&count).unwrap();
    assert_eq!(probes.lines().count(), 1, "{probes}");
    assert_eq!(s.results_json(&[]).len(), 2);
}
