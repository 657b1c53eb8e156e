//! Two processes sharing one cache: run this next to another process (or
//! a second copy of itself) on the same Redis and prefix, and each sees the
//! entries the other memoized and the invalidations it made.
//!
//! It is also a helper of `tests/tests/memoize_redis.rs`, which runs it as the
//! second process. Both call [`cache_examples::shared_fns::profile_name`]:
//! the same function, so the same key.
//!
//! ```text
//! redis-server --port 6379 --save "" --appendonly no &
//! cargo run --example memoize_peer -- redis://127.0.0.1:6379/0 demo: get 7
//! #   value: user 7, loaded by process 4242
//! #   body ran: yes
//! cargo run --example memoize_peer -- redis://127.0.0.1:6379/0 demo: get 7
//! #   value: user 7, loaded by process 4242   <- the first process's entry
//! #   body ran: no
//! cargo run --example memoize_peer -- redis://127.0.0.1:6379/0 demo: invalidate 7
//! #   removed: yes
//! ```
//!
//! Usage: `memoize_peer <redis-url> <key-prefix> (get | invalidate) <id>`.
//! The output is one `name: value` pair per line; the exit status is 2 on
//! bad arguments and 1 when the cache fails.

use std::process::ExitCode;

use cache_core::Cache;
use cache_examples::shared_fns::{profile_name, profile_name_invalidate, profile_name_runs};

const USAGE: &str = "usage: memoize_peer <redis-url> <key-prefix> (get | invalidate) <id>";

#[derive(Clone, Copy)]
enum Command {
    Get(u64),
    Invalidate(u64),
}

fn parse(args: &[String]) -> Option<(&str, &str, Command)> {
    let [url, prefix, command, id] = args else {
        return None;
    };
    let id = id.parse().ok()?;
    let command = match command.as_str() {
        "get" => Command::Get(id),
        "invalidate" => Command::Invalidate(id),
        _ => return None,
    };
    Some((url, prefix, command))
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

fn run(url: &str, prefix: &str, command: Command) -> cache_core::Result<()> {
    // What every process of the application does at start-up: point the
    // process-wide cache, which the memoized functions use, at the store.
    cache_core::init(Cache::builder().url(url).key_prefix(prefix).build()?)?;
    cache_core::global().blocking().ping()?;
    match command {
        Command::Get(id) => {
            let value = profile_name(id);
            println!("value: {value}");
            println!("body ran: {}", yes_no(profile_name_runs() > 0));
        }
        Command::Invalidate(id) => {
            println!("removed: {}", yes_no(profile_name_invalidate(id)?));
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((url, prefix, command)) = parse(&args) else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    match run(url, prefix, command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("memoize_peer: {e}");
            ExitCode::FAILURE
        }
    }
}
