//! A search is never restarted by unrelated writes (#15 point 1): while a no-match `/` search
//! runs over a store big enough to take longer than the gap between writes, writes land every
//! 100 ms and each raises a change notice; the console lets the running search answer — once —
//! shows how far it has got meanwhile instead of a fake "0 matches", then refreshes after it.
//! Through the console's real store thread and a second writer on the same SQLite file.

use crate::console_fixtures;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use console_fixtures::*;
use triage::console::msg::{Cmd, Msg, StoreCmd};
use triage::console::{View, update, worker};
use triage::domain::*;
use triage::store::{Store, SyncBatch};

const LETTERS: usize = 200_000;

fn batch(at: Timestamp, dead_letters: Vec<DeadLetter>) -> SyncBatch {
    SyncBatch {
        upstream: "demo".into(),
        at,
        connectors: None,
        incidents: vec![],
        dead_letters,
        cursors: vec![],
        state: ConnectionState::Live { last_ok: at },
    }
}

fn seed(path: &std::path::Path) {
    let mut store = Store::open(path).unwrap();
    let body = "lorem ipsum dolor sit amet consectetur ".repeat(40);
    for chunk in 0..LETTERS / 5_000 {
        let letters = (0..5_000)
            .map(|i| {
                let n = chunk * 5_000 + i;
                let mut dl = dead_letter(&format!("dl-{n:06}"), body.as_bytes());
                dl.last_failed_at = now() - chrono::Duration::seconds(n as i64);
                dl
            })
            .collect();
        store.write_sync_batch(&batch(now(), letters)).unwrap();
    }
}

/// The console's store thread on `path`: commands in, messages out.
fn start_worker(
    path: &std::path::Path,
) -> (
    mpsc::Sender<StoreCmd>,
    tokio::sync::mpsc::UnboundedReceiver<Msg>,
    std::thread::JoinHandle<()>,
) {
    let (cmd_tx, cmd_rx) = mpsc::channel();
    let (msg_tx, msg_rx) = tokio::sync::mpsc::unbounded_channel();
    let path = path.to_path_buf();
    let worker = std::thread::spawn(move || worker::run(path, cmd_rx, msg_tx));
    (cmd_tx, msg_rx, worker)
}

#[test]
fn a_long_search_answers_once_while_writes_land_every_100_ms() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("triage.db");
    seed(&path);
    let (cmd_tx, mut msg_rx, worker) = start_worker(&path);
    // Writes every 100 ms from another connection, as a sync in another process would.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (path, stop) = (path.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut store = Store::open(&path).unwrap();
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let mut dl = dead_letter(&format!("fresh-{n}"), b"{}");
                dl.last_failed_at = now();
                store.write_sync_batch(&batch(now(), vec![dl])).unwrap();
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };

    let mut app = app_with(false);
    app.view = View::DeadLetters;
    // The store thread is ready (its answer would reload the view) before the operator types.
    let ready = Instant::now();
    loop {
        match msg_rx.try_recv() {
            Ok(Msg::StoreReady) => break,
            Ok(_) => {}
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
        assert!(ready.elapsed() < Duration::from_secs(10), "no StoreReady");
    }
    let send = |cmds: Vec<Cmd>, searches: &mut usize| {
        for cmd in cmds {
            if let Cmd::Store(cmd) = cmd {
                if matches!(&cmd, StoreCmd::LoadDeadLetters { request, .. } if !request.filter.is_empty())
                {
                    *searches += 1;
                }
                cmd_tx.send(cmd).unwrap();
            }
        }
    };
    let mut searches = 0;
    let cmds = triage::console::filter::set_filter(&mut app, "re:payload=zzz-nowhere");
    send(cmds, &mut searches);
    assert_eq!(searches, 1);
    let started = Instant::now();
    let mut answers = 0;
    let mut searches_before_answer = 0;
    let mut progress = Vec::new();
    let mut titles = Vec::new();
    let mut last_change = Instant::now();
    let deadline = started + Duration::from_secs(60);
    while answers == 0 {
        assert!(Instant::now() < deadline, "the search never answered");
        // Every write is a change notice (data_version) for the console.
        if last_change.elapsed() >= Duration::from_millis(100) {
            last_change = Instant::now();
            let cmds = update(&mut app, Msg::ExternalChange);
            send(cmds, &mut searches);
        }
        while let Ok(msg) = msg_rx.try_recv() {
            match &msg {
                Msg::DeadLetters { request, .. }
                    if request.filter == app.dead_letters.list.filter =>
                {
                    answers += 1;
                    searches_before_answer = searches;
                }
                Msg::SearchProgress { examined, .. } => progress.push(*examined),
                _ => {}
            }
            let cmds = update(&mut app, msg);
            send(cmds, &mut searches);
            titles.push(draw(&app, 100, 20).backend().to_string());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let took = started.elapsed();
    assert_eq!(
        searches_before_answer, 1,
        "the search was restarted by writes"
    );
    assert!(
        took > Duration::from_millis(250),
        "the store must be big enough for the search to outlast the writes: {took:?}"
    );
    let screen = draw(&app, 100, 20).backend().to_string();
    assert!(
        screen.contains("no dead letter matches the filter"),
        "{screen}"
    );
    // While it ran: how far it had got, never a count that looks like a result.
    assert!(
        !progress.is_empty(),
        "no progress while searching for {took:?}"
    );
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "{progress:?}");
    let during: Vec<&String> = titles.iter().filter(|t| t.contains("searching…")).collect();
    assert!(
        during.iter().any(|t| t.contains(" of ")),
        "no 'searching… N of M' shown: {:?}",
        titles.first()
    );
    assert!(
        titles
            .iter()
            .take_while(|t| !t.contains("no dead letter matches"))
            .all(|t| !t.contains("0 matches")),
        "a fake '0 matches' was shown while searching"
    );
    // The changes that came meanwhile refresh the result once, right after it answered.
    assert_eq!(searches, 2, "one refresh after the answer");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    drop(cmd_tx);
    worker.join().unwrap();
}

/// Typing a filter over a big store: each keystroke is a newer search of the same list, and the
/// running one gives way at once (SQLite's progress handler interrupts it) instead of reading
/// the whole store for a text nobody waits for; only the last text is answered.
#[test]
fn a_newer_search_interrupts_the_running_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("triage.db");
    seed(&path);
    let (cmd_tx, mut msg_rx, worker) = start_worker(&path);
    let mut app = app_with(false);
    app.view = View::DeadLetters;
    let ready = Instant::now();
    while !matches!(msg_rx.try_recv(), Ok(Msg::StoreReady)) {
        assert!(ready.elapsed() < Duration::from_secs(10), "no StoreReady");
        std::thread::sleep(Duration::from_millis(10));
    }
    // One search alone, for the time it takes.
    let started = Instant::now();
    for cmd in triage::console::filter::set_filter(&mut app, "re:payload=zzz-alone") {
        if let Cmd::Store(cmd) = cmd {
            cmd_tx.send(cmd).unwrap();
        }
    }
    loop {
        match msg_rx.try_recv() {
            Ok(msg @ Msg::DeadLetters { .. }) => {
                update(&mut app, msg);
                break;
            }
            Ok(_) => {}
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    let one = started.elapsed();
    // Six keystrokes, 30 ms apart: six searches, each superseding the one before.
    let typed = [
        "re:payload=zz",
        "re:payload=zzz",
        "re:payload=zzz-",
        "re:payload=zzz-n",
        "re:payload=zzz-no",
        "re:payload=zzz-now",
    ];
    let started = Instant::now();
    for text in typed {
        for cmd in triage::console::filter::set_filter(&mut app, text) {
            if let Cmd::Store(cmd) = cmd {
                cmd_tx.send(cmd).unwrap();
            }
        }
        std::thread::sleep(Duration::from_millis(30));
    }
    let mut answered = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !answered.contains(&typed[5].to_string()) {
        assert!(
            Instant::now() < deadline,
            "never answered; got {answered:?}"
        );
        match msg_rx.try_recv() {
            Ok(Msg::DeadLetters { request, .. }) => answered.push(request.filter.clone()),
            Ok(Msg::StoreError { what, error }) => panic!("{what}: {error}"),
            Ok(_) => {}
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    // The first keystroke's search was running when the second came (a search here takes
    // {one:?}): it gave way without an answer; the ones queued behind it were replaced.
    assert_eq!(
        answered,
        [typed[5].to_string()],
        "a superseded search ran to the end (one search takes {one:?}, all took {:?})",
        started.elapsed()
    );
    drop(cmd_tx);
    worker.join().unwrap();
}
