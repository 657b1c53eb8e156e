//! Throwaway `redis-server` processes for integration tests.
//!
//! [`RedisServer::start`] runs `redis-server` from `PATH` on a free loopback
//! port, with persistence off and its working directory in a temporary
//! directory, and waits until it answers. Dropping the value kills the
//! process and reaps it. Fault tests can [`stop`](RedisServer::stop) and
//! [`restart`](RedisServer::restart) it in place, on the same port,
//! [`freeze`](RedisServer::freeze) and [`thaw`](RedisServer::thaw) it, and
//! talk to it out of band with [`cli`](RedisServer::cli).
//!
//! ```no_run
//! use cache_tests::redis_server::RedisServer;
//!
//! let server = RedisServer::start();
//! let url = server.url(); // redis://127.0.0.1:<port>/0
//! server.cli(&["SET", "k", "v"]);
//! assert_eq!(server.cli(&["GET", "k"]), "v");
//! ```
//!
//! The helpers below (binary lookup, free ports, readiness checks) are
//! shared by the cluster and sentinel harnesses
//! ([`redis_cluster`](crate::redis_cluster), [`redis_sentinel`](crate::redis_sentinel)),
//! which start their processes in a linked mode: under a small shell
//! watchdog that kills the server when the test process exits, however it
//! exits, so that servers kept in a `static` (never dropped) do not outlive
//! the tests.

use std::ffi::OsStr;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// How long a server may take to answer after it was spawned.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// How many times a start is retried when the chosen port was taken in
/// the meantime by another process.
const PORT_ATTEMPTS: usize = 20;

/// A `redis-server` process owned by a test.
///
/// It listens on `127.0.0.1:<port>` only, saves nothing (`--save ""
/// --appendonly no`), keeps its files in a temporary directory, and allows
/// `DEBUG` from loopback (for `DEBUG SLEEP` in timeout tests). It is killed
/// (`SIGKILL`) and reaped when dropped.
///
/// ```no_run
/// use cache_tests::redis_server::RedisServer;
///
/// let mut server = RedisServer::start();
/// server.stop(); // clients now get "connection refused"
/// server.restart(); // same port, empty data set
/// ```
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    args: Vec<String>,
    tls: bool,
    mode: Mode,
    /// Spawned under a watchdog that kills it when this process exits.
    linked: bool,
    /// The cluster bus port of a cluster node.
    bus_port: u16,
    dir: TempDir,
    child: Option<Child>,
}

/// What kind of `redis-server` process to run.
#[derive(Debug, Clone)]
pub(crate) enum Mode {
    /// A plain server (`--save "" --appendonly no`).
    Standalone,
    /// A cluster node: `--cluster-enabled yes`, its `nodes.conf` and a
    /// cluster bus port of its own.
    ClusterNode,
    /// A sentinel (`redis-server sentinel.conf --sentinel`), with this
    /// configuration (written to its directory before each start).
    Sentinel { config: String },
}

/// Runs `redis-server` (`$0`, with the arguments `$@`) so that it dies
/// with the test process: a reader holds the read end of a pipe whose
/// write end only the test process has (the child's stdin); when the test
/// process exits, however it exits, the pipe reaches end-of-file and the
/// reader kills the server. The shell itself waits for the server and
/// exits with its status, so it can be waited on like the server.
const WATCHDOG: &str = r#"exec 3<&0 0</dev/null
"$0" "$@" 3<&- &
server=$!
{ read -r _ <&3; kill -9 "$server" 2>/dev/null; } &
reader=$!
exec 3<&-
wait "$server"
status=$?
kill "$reader" 2>/dev/null
exit "$status""#;

impl RedisServer {
    /// Starts a server on a free loopback port and waits until it answers.
    ///
    /// # Panics
    ///
    /// If `redis-server` is not on `PATH` (the message says how to install
    /// it), or if the server does not come up within 10 seconds (the message
    /// includes its log).
    ///
    /// ```no_run
    /// let server = cache_tests::redis_server::RedisServer::start();
    /// assert!(server.port() > 0);
    /// ```
    pub fn start() -> Self {
        Self::start_with_args(&[])
    }

    /// Like [`start`](Self::start), with extra `redis-server` arguments,
    /// for example `["--requirepass", "s3cret"]`.
    ///
    /// # Panics
    ///
    /// As [`start`](Self::start).
    ///
    /// ```no_run
    /// let server = cache_tests::redis_server::RedisServer::start_with_args(&["--requirepass", "s3cret"]);
    /// ```
    pub fn start_with_args(args: &[&str]) -> Self {
        Self::launch(args, false, Mode::Standalone, false)
    }

    /// Like [`start`](Self::start), for a server kept in a `static`, which
    /// is never dropped (the benches'): it runs under a watchdog that
    /// kills it when this process exits, however it exits. It cannot be
    /// [frozen](Self::freeze).
    ///
    /// # Panics
    ///
    /// As [`start`](Self::start).
    ///
    /// ```no_run
    /// use std::sync::LazyLock;
    /// use cache_tests::redis_server::RedisServer;
    ///
    /// static SERVER: LazyLock<RedisServer> = LazyLock::new(RedisServer::start_for_process);
    /// assert!(SERVER.url().starts_with("redis://"));
    /// ```
    pub fn start_for_process() -> Self {
        Self::start_linked(Mode::Standalone, &[])
    }

    /// Starts a server that accepts only TLS connections, with a
    /// certificate for `127.0.0.1` and `localhost` signed by a fresh test
    /// CA (see [`tls_ca_pem`](Self::tls_ca_pem)). [`url`](Self::url) is then
    /// `rediss://…` and [`cli`](Self::cli) speaks TLS.
    ///
    /// # Panics
    ///
    /// As [`start`](Self::start), and if `openssl` is not on `PATH` or the
    /// installed `redis-server` was built without TLS.
    ///
    /// ```no_run
    /// let server = cache_tests::redis_server::RedisServer::start_tls();
    /// assert!(server.url().starts_with("rediss://"));
    /// let ca_pem: Vec<u8> = server.tls_ca_pem();
    /// ```
    pub fn start_tls() -> Self {
        Self::launch(&[], true, Mode::Standalone, false)
    }

    /// Starts a process of the given `mode` that dies with the test
    /// process (see [`WATCHDOG`]) even if it is never dropped, as servers
    /// kept in a `static` are not: for the cluster and sentinel harnesses.
    pub(crate) fn start_linked(mode: Mode, args: &[&str]) -> Self {
        Self::launch(args, false, mode, true)
    }

    fn launch(args: &[&str], tls: bool, mode: Mode, linked: bool) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("redis-test-")
            .tempdir()
            .expect("cannot create a temporary directory for redis-server");
        if tls {
            make_test_certificates(dir.path());
        }
        let mut server = Self {
            port: 0,
            args: args.iter().map(|&a| a.to_owned()).collect(),
            tls,
            mode,
            linked,
            bus_port: 0,
            dir,
            child: None,
        };
        for _ in 0..PORT_ATTEMPTS {
            server.port = free_port();
            match server.spawn() {
                Ok(()) => return server,
                Err(Start::PortTaken) => {}
            }
        }
        panic!("redis-server: no free port found after {PORT_ATTEMPTS} attempts");
    }

    /// The port the server listens on (on 127.0.0.1).
    ///
    /// ```no_run
    /// let server = cache_tests::redis_server::RedisServer::start();
    /// println!("redis on port {}", server.port());
    /// ```
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>/0` (`rediss://` for a TLS server).
    ///
    /// ```no_run
    /// let server = cache_tests::redis_server::RedisServer::start();
    /// assert!(server.url().ends_with("/0"));
    /// ```
    pub fn url(&self) -> String {
        self.url_for_db(0)
    }

    /// A cache on this (plain, non-TLS) server under `prefix`, with the
    /// default settings otherwise.
    ///
    /// ```no_run
    /// let server = cache_tests::redis_server::RedisServer::start();
    /// let cache = server.cache("app");
    /// assert_eq!(cache.key_prefix(), "app");
    /// ```
    ///
    /// # Panics
    ///
    /// Never for a server of this harness: its URL always builds.
    pub fn cache(&self, prefix: &str) -> cache_core::Cache {
        cache_core::Cache::builder()
            .url(self.url())
            .key_prefix(prefix)
            .build()
            .expect("a redis URL from the harness builds")
    }

    /// `redis://127.0.0.1:<port>/<db>` (`rediss://` for a TLS server).
    ///
    /// ```no_run
    /// let server = cache_tests::redis_server::RedisServer::start();
    /// assert!(server.url_for_db(3).ends_with("/3"));
    /// ```
    pub fn url_for_db(&self, db: u32) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        format!("{scheme}://127.0.0.1:{}/{db}", self.port)
    }

    /// The PEM certificate of the CA that signed a TLS server's
    /// certificate: what a client must trust to connect.
    ///
    /// # Panics
    ///
    /// If the server was not started with [`start_tls`](Self::start_tls).
    ///
    /// ```no_run
    /// let server = cache_tests::redis_server::RedisServer::start_tls();
    /// assert!(String::from_utf8(server.tls_ca_pem()).unwrap().contains("BEGIN CERTIFICATE"));
    /// ```
    pub fn tls_ca_pem(&self) -> Vec<u8> {
        assert!(
            self.tls,
            "tls_ca_pem: this server was not started with start_tls()"
        );
        std::fs::read(self.dir.path().join("ca.crt")).expect("cannot read the test CA certificate")
    }

    /// The server's working directory (a temporary directory), where its
    /// log file `redis.log` is.
    ///
    /// ```no_run
    /// let server = cache_tests::redis_server::RedisServer::start();
    /// assert!(server.dir().join("redis.log").exists());
    /// ```
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Whether the process is running (started and not stopped or dead).
    ///
    /// ```no_run
    /// let mut server = cache_tests::redis_server::RedisServer::start();
    /// assert!(server.is_running());
    /// ```
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// Kills the server (`SIGKILL`, like a crash) and waits for it to exit.
    /// Open connections are closed; new ones are refused. Does nothing if
    /// it is already stopped.
    ///
    /// ```no_run
    /// let mut server = cache_tests::redis_server::RedisServer::start();
    /// server.stop();
    /// assert!(!server.is_running());
    /// ```
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill(&mut child, self.linked);
        }
    }

    /// Freezes the server (`SIGSTOP`) until [`thaw`](Self::thaw): its
    /// connections stay open and new ones are accepted by the kernel, but
    /// nothing is answered, as when a server hangs or its host stalls.
    /// Clients see timeouts, not errors. A frozen server is still killed
    /// when dropped.
    ///
    /// # Panics
    ///
    /// If the server is not running, or runs under a watchdog (cluster
    /// nodes, sentinel deployments), or `kill` cannot be run.
    ///
    /// ```no_run
    /// let server = cache_tests::redis_server::RedisServer::start();
    /// server.freeze();
    /// // … requests time out …
    /// server.thaw();
    /// assert_eq!(server.cli(&["PING"]), "PONG");
    /// ```
    pub fn freeze(&self) {
        self.signal("STOP");
    }

    /// Lets a [frozen](Self::freeze) server run again (`SIGCONT`): it
    /// answers what it received meanwhile.
    ///
    /// # Panics
    ///
    /// As [`freeze`](Self::freeze).
    ///
    /// ```no_run
    /// let server = cache_tests::redis_server::RedisServer::start();
    /// server.freeze();
    /// server.thaw();
    /// ```
    pub fn thaw(&self) {
        self.signal("CONT");
    }

    /// Sends `SIG<name>` to the server process.
    fn signal(&self, name: &str) {
        assert!(
            !self.linked,
            "only a server started on its own can be frozen, not one under a watchdog"
        );
        let pid = self
            .child
            .as_ref()
            .expect("the server is running")
            .id()
            .to_string();
        let status = Command::new("kill")
            .args([&format!("-{name}"), &pid])
            .status()
            .unwrap_or_else(|e| panic!("cannot run kill: {e}"));
        assert!(status.success(), "kill -{name} {pid} failed: {status}");
    }

    /// Stops the server if it runs, then starts a new one on the same port
    /// and waits until it answers. Its data set is empty.
    ///
    /// # Panics
    ///
    /// If the port stays taken by another process for 10 seconds, or the
    /// server does not come up.
    ///
    /// ```no_run
    /// let mut server = cache_tests::redis_server::RedisServer::start();
    /// let port = server.port();
    /// server.restart();
    /// assert_eq!(server.port(), port);
    /// ```
    pub fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match self.spawn() {
                Ok(()) => return,
                Err(Start::PortTaken) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(Start::PortTaken) => panic!(
                    "redis-server cannot restart: port {} is taken by another process",
                    self.port
                ),
            }
        }
    }

    /// Runs `redis-cli -h 127.0.0.1 -p <port> <args…>` and returns its
    /// output without the trailing newline. Replies are printed raw (as
    /// when piped): a missing key is an empty string, an error reply is
    /// its text (`ERR …`, `WRONGTYPE …`).
    ///
    /// # Panics
    ///
    /// If `redis-cli` is not on `PATH` or exits with a failure status.
    ///
    /// ```no_run
    /// let server = cache_tests::redis_server::RedisServer::start();
    /// assert_eq!(server.cli(&["PING"]), "PONG");
    /// assert_eq!(server.cli(&["-n", "2", "DBSIZE"]), "0");
    /// ```
    pub fn cli(&self, args: &[&str]) -> String {
        if self.tls {
            let ca = self.dir.path().join("ca.crt");
            let ca = ca.to_str().expect("temporary paths are UTF-8");
            let mut all = vec!["--tls", "--cacert", ca];
            all.extend_from_slice(args);
            redis_cli(self.port, &all)
        } else {
            redis_cli(self.port, args)
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs `redis-cli` against the server on `127.0.0.1:<port>`, for use from
/// another thread (for example a `DEBUG SLEEP` while a test waits). See
/// [`RedisServer::cli`].
///
/// # Panics
///
/// If `redis-cli` is not on `PATH` or exits with a failure status.
///
/// ```no_run
/// use cache_tests::redis_server::{redis_cli, RedisServer};
///
/// let server = RedisServer::start();
/// let port = server.port();
/// let sleeper = std::thread::spawn(move || redis_cli(port, &["DEBUG", "SLEEP", "1"]));
/// sleeper.join().unwrap();
/// ```
pub fn redis_cli(port: u16, args: &[&str]) -> String {
    let port = port.to_string();
    let output = Command::new(binary("redis-cli"))
        .args(["-h", "127.0.0.1", "-p", &port])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run redis-cli: {e}"));
    check_cli(&output, args);
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    if text.ends_with('\n') {
        text.pop();
    }
    text
}

fn check_cli(output: &Output, args: &[&str]) {
    assert!(
        output.status.success(),
        "redis-cli {args:?} failed ({}): {}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The path of `name` (`redis-server`, `redis-cli`, …) on `PATH`.
///
/// # Panics
///
/// If it is not there, with the commands that install it.
///
/// ```no_run
/// let path = cache_tests::redis_server::binary("redis-server");
/// ```
pub fn binary(name: &str) -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
        .unwrap_or_else(|| {
            let (package, apt, dnf, brew) = if name.starts_with("redis") {
                ("Redis", "redis-server", "redis", "redis")
            } else {
                (name, name, name, name)
            };
            panic!(
                "`{name}` is not on PATH; the Redis integration tests start their own servers and need it. \
                 Install {package} (Debian/Ubuntu: `sudo apt-get install {apt}`; \
                 Fedora: `sudo dnf install {dnf}`; macOS: `brew install {brew}`) and run the tests again"
            )
        })
}

/// A loopback port that was free a moment ago: the kernel's pick for a
/// socket bound to port 0. Another process may take it before the caller
/// binds it, so callers retry on "Address already in use".
///
/// ```
/// let port = cache_tests::redis_server::free_port();
/// assert!(port > 0);
/// ```
///
/// # Panics
///
/// If no loopback socket can be bound at all.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("cannot bind a loopback socket to find a free port")
}

enum Start {
    /// The port was taken between choosing it and binding it.
    PortTaken,
}

impl RedisServer {
    fn log_path(&self) -> PathBuf {
        self.dir.path().join("redis.log")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Spawns the process on `self.port` and waits until it answers.
    fn spawn(&mut self) -> Result<(), Start> {
        let log = self.log_path();
        // A log from a previous run would be mistaken for this one's.
        let _ = std::fs::remove_file(&log);
        let mut command = self.command(&log);
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run redis-server: {e}"));
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let stderr =
                    std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default();
                let log = self.log();
                if log.contains("Address already in use") {
                    return Err(Start::PortTaken);
                }
                panic!(
                    "redis-server on port {} exited during start-up ({status}):\n{stderr}{log}",
                    self.port
                );
            }
            // This process's own log (fresh for this run) says it listens:
            // the port answers as this process, not as a server another
            // test started on the same port a moment earlier. Unlike a
            // PING, this works with `--requirepass` too. A sentinel logs
            // its id where a server says it is ready.
            let ready = match self.mode {
                Mode::Sentinel { .. } => "Sentinel ID is",
                _ => "Ready to accept connections",
            };
            if self.log().contains(ready) && accepts(self.port) {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() > deadline {
                kill(&mut child, self.linked);
                panic!(
                    "redis-server on port {} did not answer within {START_TIMEOUT:?}:\n{}",
                    self.port,
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The command that runs the server as configured, logging to `log`.
    fn command(&mut self, log: &Path) -> Command {
        let port = self.port.to_string();
        let mut command = if self.linked {
            let mut command = Command::new("sh");
            command
                .arg("-c")
                .arg(WATCHDOG)
                .arg(binary("redis-server"))
                .stdin(Stdio::piped());
            command
        } else {
            let mut command = Command::new(binary("redis-server"));
            command.stdin(Stdio::null());
            command
        };
        match &self.mode {
            Mode::Standalone => {}
            Mode::ClusterNode => {
                // A node that finds a `nodes.conf` rejoins the cluster it
                // names: a restart starts afresh.
                let _ = std::fs::remove_file(self.dir.path().join("nodes.conf"));
                self.bus_port = free_port();
            }
            Mode::Sentinel { config } => {
                let path = self.dir.path().join("sentinel.conf");
                std::fs::write(&path, config).expect("cannot write the sentinel configuration");
                command.arg(path).arg("--sentinel");
            }
        }
        if self.tls {
            command
                .args([
                    "--port",
                    "0",
                    "--tls-port",
                    &port,
                    "--tls-auth-clients",
                    "no",
                ])
                .arg("--tls-cert-file")
                .arg(self.dir.path().join("server.crt"))
                .arg("--tls-key-file")
                .arg(self.dir.path().join("server.key"))
                .arg("--tls-ca-cert-file")
                .arg(self.dir.path().join("ca.crt"));
        } else {
            command.args(["--port", &port]);
        }
        command
            .args(["--bind", "127.0.0.1", "--daemonize", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(log);
        if !matches!(self.mode, Mode::Sentinel { .. }) {
            command
                .args(["--save", "", "--appendonly", "no"])
                .args(["--enable-debug-command", "local"]);
        }
        if matches!(self.mode, Mode::ClusterNode) {
            command
                .args(["--cluster-enabled", "yes"])
                .args(["--cluster-config-file", "nodes.conf"])
                .args(["--cluster-port", &self.bus_port.to_string()]);
        }
        command
            .args(self.args.iter().map(OsStr::new))
            .stdout(Stdio::null())
            .stderr(
                std::fs::File::create(self.dir.path().join("stderr.log"))
                    .map_or_else(|_| Stdio::null(), Stdio::from),
            );
        command
    }
}

/// Kills a server process (`SIGKILL`) and waits for it to exit. A
/// `linked` one is the watchdog shell: end-of-file on its pipe makes it
/// kill the server, then exit.
fn kill(child: &mut Child, linked: bool) {
    if linked {
        drop(child.stdin.take());
    } else {
        let _ = child.kill();
    }
    let _ = child.wait();
}

/// Writes a test CA (`ca.crt`) and a server certificate for `127.0.0.1`
/// and `localhost` signed by it (`server.crt`, `server.key`) into `dir`,
/// with the `openssl` command. ECDSA P-256 keys: quick to make.
fn make_test_certificates(dir: &Path) {
    let openssl = binary("openssl");
    let run = |args: &[&str]| {
        let output = Command::new(&openssl)
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run openssl: {e}"));
        assert!(
            output.status.success(),
            "openssl {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    run(&[
        &["req", "-x509"][..],
        &ec,
        &[
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=cache-suite test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    ]
    .concat());
    run(&[
        &["req"][..],
        &ec,
        &[
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
    ]
    .concat());
    std::fs::write(
        dir.join("server.ext"),
        "basicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature\n\
         extendedKeyUsage=serverAuth\n\
         subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .expect("cannot write the certificate extensions file");
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "server.ext",
    ]);
}

/// Whether something accepts TCP connections on `127.0.0.1:<port>`.
fn accepts(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}
