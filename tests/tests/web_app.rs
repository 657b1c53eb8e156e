//! `examples/web_app.rs` over real HTTP: the app runs as its own process
//! (built once with `cargo build --example web_app`), against a real
//! `redis-server` from the shared harness, and the tests talk to it with
//! an HTTP client, as a user would with `curl`.
//!
//! Caching is observed through `/stats`, which counts how many times the
//! slow paths ran (a cached answer runs none), never through timing.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cache_tests::redis_server::RedisServer;
use reqwest::blocking::{Client, RequestBuilder};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// How long the app may take to print the address it listens on.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `web_app` process, listening on a free port; killed when dropped.
struct WebApp {
    child: Child,
    base: String,
    client: Client,
    /// Everything it printed, stdout and stderr (its logs).
    output: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

impl WebApp {
    /// Starts the app with `CACHE_URL=cache_url`, or with its default
    /// store (`memory://`) when `None`.
    fn start(cache_url: Option<&str>) -> Self {
        let mut command = Command::new(cache_tests::examples::build_example("web_app"));
        command
            .env("BIND", "127.0.0.1:0")
            .env("RUST_LOG", "info")
            .env_remove("CACHE_KEY_PREFIX")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        match cache_url {
            Some(url) => command.env("CACHE_URL", url),
            None => command.env_remove("CACHE_URL"),
        };
        let mut child = command.spawn().expect("cannot start the web_app example");

        let output = Arc::new(Mutex::new(String::new()));
        let (first_line, first_line_rx) = mpsc::channel();
        let readers = vec![
            read_into(child.stdout.take().unwrap(), &output, Some(first_line)),
            read_into(child.stderr.take().unwrap(), &output, None),
        ];
        let Ok(line) = first_line_rx.recv_timeout(START_TIMEOUT) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "web_app printed no address within {START_TIMEOUT:?}; its output:\n{}",
                output.lock().unwrap()
            );
        };
        let base = line
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from web_app: {line:?}"))
            .to_owned();
        Self {
            child,
            base,
            client: Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("cannot build the HTTP client"),
            output,
            readers,
        }
    }

    fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    fn get_text(&self, path: &str) -> String {
        ok_body(self.client.get(format!("{}{path}", self.base)))
    }

    fn get(&self, path: &str) -> Value {
        json(&self.get_text(path))
    }

    fn post(&self, path: &str, body: &Value) -> Value {
        json(&ok_body(
            self.client.post(format!("{}{path}", self.base)).json(body),
        ))
    }

    fn status_of_get(&self, path: &str) -> StatusCode {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .expect("the app must answer")
            .status()
    }

    /// How many times the "database" loaded user `id` (its slow path ran).
    fn profile_loads(&self, id: u64) -> u64 {
        self.get("/stats")["slow_paths"]["profile_loads"][id.to_string()]
            .as_u64()
            .unwrap_or(0)
    }

    fn home_renders(&self) -> u64 {
        self.get("/stats")["slow_paths"]["home_renders"]
            .as_u64()
            .unwrap()
    }

    /// Kills the app and returns everything it printed.
    fn stop(mut self) -> String {
        self.kill();
        for reader in std::mem::take(&mut self.readers) {
            reader.join().expect("output reader panicked");
        }
        self.output()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for WebApp {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Copies `stream` line by line into `output`, sending the first line to `first`.
fn read_into(
    stream: impl Read + Send + 'static,
    output: &Arc<Mutex<String>>,
    mut first: Option<mpsc::Sender<String>>,
) -> JoinHandle<()> {
    let output = Arc::clone(output);
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if let Some(first) = first.take() {
                let _ = first.send(line.clone());
            }
            let mut output = output.lock().unwrap();
            output.push_str(&line);
            output.push('\n');
        }
    })
}

/// Sends the request; returns the body, asserting a 200.
fn ok_body(request: RequestBuilder) -> String {
    let response = request.send().expect("the app must answer");
    let status = response.status();
    let body = response.text().expect("a readable body");
    assert_eq!(status, StatusCode::OK, "body: {body}");
    body
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// Lines logged at WARN level.
fn warnings(output: &str) -> Vec<&str> {
    output.lines().filter(|l| l.contains(" WARN ")).collect()
}

/// Warnings about the store's health, leaving out the (expected) ones
/// about an update whose cache entry could not be invalidated.
fn outage_warnings(output: &str) -> Vec<&str> {
    warnings(output)
        .into_iter()
        .filter(|l| !l.contains("NOT invalidated"))
        .collect()
}

/// Our keys in the server, by `SCAN` (never `KEYS` in anything like production).
fn app_keys(redis: &RedisServer) -> Vec<String> {
    let keys = redis.cli(&["--scan", "--pattern", "web_app:*"]);
    keys.lines().map(str::to_owned).collect()
}

/// `POST /clear-cache` while Redis is unreachable: a page (not a failure)
/// that removed nothing and says the store did not answer.
fn assert_clear_reports_the_outage(app: &WebApp) {
    let cleared = app.post("/clear-cache", &json!({}));
    assert_eq!(cleared["removed"], 0, "{cleared}");
    assert!(
        cleared["error"]
            .as_str()
            .is_some_and(|e| e.contains("Redis")),
        "the page says the store did not answer: {cleared}"
    );
}

#[test]
fn repeated_gets_are_served_from_redis_and_run_the_slow_paths_once() {
    let redis = RedisServer::start();
    let app = WebApp::start(Some(&redis.url()));

    let first = app.get("/user/1");
    let again = app.get("/user/1");
    assert_eq!(first["name"], "Ada Lovelace");
    assert_eq!(again, first);
    assert_eq!(
        app.profile_loads(1),
        1,
        "the second GET /user/1 must come from the cache"
    );

    let page = app.get_text("/");
    assert!(page.contains("Welcome"), "{page}");
    assert_eq!(app.get_text("/"), page, "the cached page is the same page");
    assert_eq!(app.home_renders(), 1);

    let stats = app.get("/stats");
    assert_eq!(stats["cache"]["hits"], 2, "{stats}");
    assert_eq!(stats["cache"]["errors"], 0, "{stats}");
    assert_eq!(
        app_keys(&redis).len(),
        4,
        "the page's entry and its path's generation (what invalidating the path deletes), user 1's entry and its tag's index, under the app's prefix"
    );
}

#[test]
fn updating_user_5_changes_its_next_get_and_leaves_user_1_cached() {
    let redis = RedisServer::start();
    let app = WebApp::start(Some(&redis.url()));
    assert_eq!(app.get("/user/1")["name"], "Ada Lovelace");
    assert_eq!(app.get("/user/5")["name"], "Barbara Liskov");

    let updated = app.post("/user/5", &json!({ "name": "Barbara H. Liskov" }));
    assert_eq!(updated["name"], "Barbara H. Liskov");
    assert_eq!(
        updated["email"], "barbara@example.com",
        "fields not sent stay as they were"
    );

    assert_eq!(app.get("/user/5")["name"], "Barbara H. Liskov");
    assert_eq!(
        app.profile_loads(5),
        2,
        "user 5's entry was invalidated, so it was loaded again"
    );
    assert_eq!(app.get("/user/1")["name"], "Ada Lovelace");
    assert_eq!(
        app.profile_loads(1),
        1,
        "user 1's entry must survive user 5's update"
    );
}

#[test]
fn clear_cache_removes_this_apps_keys_and_leaves_other_prefixes_alone() {
    let redis = RedisServer::start();
    redis.cli(&["SET", "other_app:config", "keep me"]);
    let app = WebApp::start(Some(&redis.url()));
    app.get_text("/");
    app.get("/user/1");
    // The page's entry and its path's generation, user 1's entry and its
    // tag's index.
    assert_eq!(app_keys(&redis).len(), 4);

    assert_eq!(
        app.post("/clear-cache", &json!({})),
        json!({ "removed": 4 })
    );

    assert_eq!(app_keys(&redis), Vec::<String>::new());
    assert_eq!(redis.cli(&["GET", "other_app:config"]), "keep me");
    app.get("/user/1");
    assert_eq!(
        app.profile_loads(1),
        2,
        "after clear-cache the next GET loads again"
    );
}

#[test]
fn endpoints_answer_while_redis_is_down_and_caching_resumes_after_it_restarts() {
    let mut redis = RedisServer::start();
    let app = WebApp::start(Some(&redis.url()));
    app.get("/user/1");
    app.get("/user/1");
    assert_eq!(app.profile_loads(1), 1);

    redis.stop();

    assert!(app.get_text("/").contains("Welcome"));
    assert_eq!(app.get("/user/1")["name"], "Ada Lovelace");
    assert_eq!(
        app.profile_loads(1),
        2,
        "with Redis down the profile is loaded each time"
    );
    assert_eq!(
        app.post("/user/1", &json!({ "name": "Ada King" }))["name"],
        "Ada King"
    );
    assert_eq!(app.get("/user/1")["name"], "Ada King");
    assert_clear_reports_the_outage(&app);
    let stats = app.get("/stats");
    assert!(stats["cache"]["errors"].as_u64().unwrap() > 0, "{stats}");

    redis.restart();

    // The connection comes back on its own: poll until a GET is served from
    // the cache again (its slow path does not run).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert_eq!(app.get("/user/1")["name"], "Ada King");
        let loads = app.profile_loads(1);
        assert_eq!(app.get("/user/1")["name"], "Ada King");
        if app.profile_loads(1) == loads {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "caching did not resume within 10 s of Redis restarting"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        app_keys(&redis).len(),
        2,
        "user 1 is stored in Redis again, with its tag's index"
    );

    let output = app.stop();
    assert_eq!(
        outage_warnings(&output).len(),
        1,
        "one warning for the outage, not one per request:\n{output}"
    );
    assert!(
        output.contains("NOT invalidated"),
        "an update during the outage says its cache entry may be stale:\n{output}"
    );
    assert!(
        output.contains("answering again"),
        "the recovery is logged:\n{output}"
    );
}

#[test]
fn unreachable_redis_at_startup_serves_pages_and_logs_one_warning() {
    // Port 1 (tcpmux): nothing listens there, and unlike a port that was
    // free a moment ago, no other test's redis-server can be given it.
    let url = "redis://127.0.0.1:1/0";
    let app = WebApp::start(Some(url));

    for _ in 0..3 {
        assert!(app.get_text("/").contains("Welcome"));
        assert_eq!(app.get("/user/2")["name"], "Grace Hopper");
    }
    assert_eq!(
        app.post("/user/2", &json!({ "email": "grace@navy.mil" }))["email"],
        "grace@navy.mil"
    );
    assert_eq!(app.get("/user/2")["email"], "grace@navy.mil");
    assert_clear_reports_the_outage(&app);
    assert_eq!(
        app.home_renders(),
        3,
        "no cache: the page is rendered each time"
    );
    assert_eq!(app.profile_loads(2), 4);

    let output = app.stop();
    let warnings = outage_warnings(&output);
    assert_eq!(
        warnings.len(),
        1,
        "exactly one warning after many requests:\n{output}"
    );
    assert!(
        warnings[0].contains("unreachable") && warnings[0].contains(url),
        "the warning says the cache is unreachable, and where: {}",
        warnings[0]
    );
}

#[test]
fn default_memory_store_caches_and_invalidates_on_a_form_update() {
    let app = WebApp::start(None);
    assert_eq!(app.get("/user/3")["name"], "Alan Turing");
    assert_eq!(app.get("/user/3")["name"], "Alan Turing");
    assert_eq!(app.profile_loads(3), 1);

    // An HTML form, as a browser sends it.
    let form = app
        .client
        .post(format!("{}/user/3", app.base))
        .form(&[("name", "Alan M. Turing")]);
    assert_eq!(json(&ok_body(form))["name"], "Alan M. Turing");
    assert_eq!(app.get("/user/3")["name"], "Alan M. Turing");
    assert_eq!(app.profile_loads(3), 2);

    assert_eq!(app.status_of_get("/user/99"), StatusCode::NOT_FOUND);
    assert_eq!(app.status_of_get("/user/99"), StatusCode::NOT_FOUND);
    assert_eq!(
        app.profile_loads(99),
        2,
        "an unknown user is not cached, so creating it would show at once"
    );
    // User 3's entry and its tag's index.
    assert_eq!(
        app.post("/clear-cache", &json!({})),
        json!({ "removed": 2 })
    );
    assert!(warnings(&app.stop()).is_empty());
}

fn keyspace_hits(redis: &RedisServer) -> u64 {
    redis
        .cli(&["INFO", "stats"])
        .lines()
        .find_map(|l| l.strip_prefix("keyspace_hits:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("INFO stats has keyspace_hits")
}

#[test]
fn with_a_near_cache_hits_stay_in_process_and_another_instance_s_update_reaches_it() {
    let redis = RedisServer::start();
    let url = format!("{}?near_cache=8MiB", redis.url());
    let (a, b) = (WebApp::start(Some(&url)), WebApp::start(Some(&url)));
    assert_eq!(a.get("/user/5")["name"], "Barbara Liskov");
    // Reads until L1 holds the entry (the first read's own write evicts it).
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let before = keyspace_hits(&redis);
        for _ in 0..10 {
            assert_eq!(a.get("/user/5")["name"], "Barbara Liskov");
        }
        if keyspace_hits(&redis) == before {
            break; // ten GET /user/5 without a Redis read
        }
        assert!(
            std::time::Instant::now() < deadline,
            "GET /user/5 kept reading Redis with a near cache"
        );
    }
    assert_eq!(a.profile_loads(5), 1);

    // B's update invalidates the user's tag in Redis: A's L1 drops the
    // entry, and A loads the user again.
    b.post("/user/5", &json!({ "name": "Barbara H. Liskov" }));
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while a.profile_loads(5) < 2 {
        a.get("/user/5");
        assert!(
            std::time::Instant::now() < deadline,
            "A kept serving user 5 from its near cache after B's update"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The samples of a Prometheus text scrape: `name{labels}` (labels sorted,
/// as `k="v"` joined by `,`) to value, checked to be a number. Comment
/// lines are checked for form.
fn prometheus_samples(text: &str) -> std::collections::BTreeMap<String, String> {
    let mut samples = std::collections::BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if let Some(comment) = line.strip_prefix('#') {
            assert!(
                comment.starts_with(" HELP ") || comment.starts_with(" TYPE "),
                "{line}"
            );
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        value
            .parse::<f64>()
            .unwrap_or_else(|e| panic!("{line}: {e}"));
        let series = match series.split_once('{') {
            Some((name, labels)) => {
                let labels = labels.strip_suffix('}').unwrap_or_else(|| panic!("{line}"));
                let mut labels: Vec<&str> = labels.split(',').collect();
                labels.sort_unstable();
                format!("{name}{{{}}}", labels.join(","))
            }
            None => series.to_owned(),
        };
        samples.insert(series, value.to_owned());
    }
    samples
}

#[test]
fn metrics_endpoint_serves_the_cache_metrics_in_the_prometheus_format() {
    let redis = RedisServer::start();
    let app = WebApp::start(Some(&redis.url()));
    for _ in 0..3 {
        assert_eq!(app.get("/user/1")["id"], 1);
    }
    assert_eq!(app.get("/user/2")["id"], 2);

    let response = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .expect("the app must answer");
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()[reqwest::header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let text = response.text().unwrap();
    let samples = prometheus_samples(&text);
    let function = r#"cache_function="web_app::get_user_profile",cache_name="web_app""#;
    let sample = |series: &str| {
        samples
            .get(series)
            .cloned()
            .unwrap_or_else(|| panic!("no sample {series} in:\n{text}"))
    };
    let lookups = |outcome: &str| {
        sample(&format!(
            r#"cache_lookups_total{{{function},cache_outcome="{outcome}",cache_store="redis"}}"#
        ))
    };
    assert_eq!(lookups("hit"), "2");
    assert_eq!(lookups("miss"), "2");
    assert_eq!(
        sample(&format!(
            r#"cache_compute_duration_seconds_count{{{function},cache_store="redis"}}"#
        )),
        "2"
    );
    // Each computation takes the example's 300 ms slow path.
    assert!(
        sample(&format!(
            r#"cache_compute_duration_seconds_sum{{{function},cache_store="redis"}}"#
        ))
        .parse::<f64>()
        .unwrap()
            >= 0.6
    );
    let store_gets = sample(
        r#"cache_store_duration_seconds_count{cache_name="web_app",cache_operation="get",cache_store="redis"}"#,
    );
    assert!(store_gets.parse::<u64>().unwrap() >= 4, "{store_gets}");
    assert!(text.contains("# TYPE cache_store_duration_seconds histogram"));
    // The same counts in `/stats`, per function.
    let stats = app.get("/stats");
    assert_eq!(stats["get_user_profile"]["hits"], 2);
    assert_eq!(stats["functions"]["web_app::get_user_profile"]["misses"], 2);
    assert!(warnings(&app.stop()).is_empty());
}
