//! Plays a case's events against a fresh ledger in a temporary directory.

use std::sync::{Arc, Barrier};
use std::thread;

use clickledger::log::RecoveryReport;
use clickledger::{
    ClickId, ClickKind, Io, Ledger, Options, Outcome, ProgramSettings, SimulatedDisk, Timestamp,
};
use tempfile::TempDir;

use crate::case::{Case, Event, PostbackEvent};
use crate::crash::{self, AfterCrash, CrashKind};
use crate::template;

/// The programs every case assumes: sales, payment and revenue share off, 30 days.
const PROGRAMS: [(&str, &str); 2] = [("p1", "pk1"), ("p2", "pk2")];

/// What the caller of one postback got.
#[allow(
    clippy::large_enum_variant,
    reason = "a few replies per case; boxing the outcome would only add noise"
)]
pub enum Reply {
    /// The ledger answered.
    Outcome(Outcome),
    /// The process died before answering.
    NoAnswer,
    /// `convert_query` returned an error (I/O), or its thread panicked.
    Failed(String),
}

/// Everything a case left, for the checks.
pub struct Played {
    /// The ledger as the case ends.
    pub ledger: Ledger,
    /// Minted IDs: `$c0` is index 0.
    pub clicks: Vec<ClickId>,
    /// Replies: `pb1` is index 0.
    pub replies: Vec<Reply>,
    /// What the last restart reported, if the case restarted.
    pub restart: Option<RecoveryReport>,
    /// Declared last so it is removed after the ledger is closed.
    _dir: TempDir,
}

impl Played {
    /// A case played by another runner (the claim-sequence harness of `tests/model`),
    /// so that the same checks judge it. `dir` is removed after the ledger is closed.
    #[allow(
        dead_code,
        reason = "used by tests/claim_sequence.rs, not by field_cases.rs"
    )]
    pub fn from_parts(
        ledger: Ledger,
        clicks: Vec<ClickId>,
        replies: Vec<Reply>,
        restart: Option<RecoveryReport>,
        dir: TempDir,
    ) -> Played {
        Played {
            ledger,
            clicks,
            replies,
            restart,
            _dir: dir,
        }
    }
}

/// How playing a case ended.
pub enum Play {
    /// Boxed: a ledger is large and the other variants are a line of text.
    Done(Box<Played>),
    Pending(String),
    Failed(String),
}

/// Plays every event of `case`, stopping at the first that cannot be played.
pub fn play(case: &Case) -> Play {
    let mut runner = match Runner::start() {
        Ok(runner) => runner,
        Err(reason) => return Play::Failed(reason),
    };
    for (index, event) in case.events.iter().enumerate() {
        match runner.apply(event) {
            Ok(Step::Next) => {}
            Ok(Step::Pending(reason)) => return Play::Pending(reason),
            Err(reason) => return Play::Failed(format!("event {index}: {reason}")),
        }
    }
    runner
        .finish()
        .map_or_else(Play::Failed, |played| Play::Done(Box::new(played)))
}

enum Step {
    Next,
    Pending(String),
}

struct Runner {
    /// `None` between a crash and the restart.
    ledger: Option<Ledger>,
    clicks: Vec<ClickId>,
    replies: Vec<Reply>,
    restart: Option<RecoveryReport>,
    /// The simulated disk under the running ledger: a `power_loss` cuts its power.
    disk: Arc<SimulatedDisk>,
    /// Seeds each new disk's torn-write model.
    opens: u64,
    dir: TempDir,
}

impl Runner {
    fn start() -> Result<Runner, String> {
        let dir = tempfile::tempdir().map_err(|error| format!("temporary directory: {error}"))?;
        let disk = SimulatedDisk::new(0);
        let ledger = open(&dir, &disk)?;
        for (name, key) in PROGRAMS {
            ledger
                .register_program_with_key(ProgramSettings::new(name), key)
                .map_err(|error| format!("register {name}: {error}"))?;
        }
        Ok(Runner {
            ledger: Some(ledger),
            clicks: Vec::new(),
            replies: Vec::new(),
            restart: None,
            disk,
            opens: 1,
            dir,
        })
    }

    fn apply(&mut self, event: &Event) -> Result<Step, String> {
        match event {
            Event::Click {
                program,
                partner,
                at,
            } => self.click(program, partner, *at)?,
            Event::Postback(postback) => {
                let reply = self.postback(postback)?;
                self.replies.push(reply);
            }
            Event::Concurrent(postbacks) => {
                let replies = self.concurrent(postbacks)?;
                self.replies.extend(replies);
            }
            Event::Crash(kind) => return self.crash(*kind),
            Event::Restart => self.restart()?,
        }
        Ok(Step::Next)
    }

    fn ledger(&self) -> Result<&Ledger, String> {
        self.ledger
            .as_ref()
            .ok_or_else(|| "the ledger crashed and was not restarted".to_owned())
    }

    fn click(&mut self, program: &str, partner: &str, at: Timestamp) -> Result<(), String> {
        let ledger = self.ledger()?;
        let program_id = ledger
            .program_id(program)
            .ok_or_else(|| format!("the ledger knows no program {program:?}"))?;
        let id = ledger
            .record_click(program_id, partner, ClickKind::Click, at)
            .map_err(|error| format!("record_click for $c{}: {error}", self.clicks.len()))?;
        // Answered after its sync (the default level); the flush changes nothing then.
        ledger
            .flush()
            .map_err(|error| format!("flush after $c{}: {error}", self.clicks.len()))?;
        self.clicks.push(id);
        Ok(())
    }

    /// Answers a postback as the server would: only after its record is durable.
    fn postback(&self, postback: &PostbackEvent) -> Result<Reply, String> {
        let query = template::substitute(&postback.query, &self.clicks)?;
        let ledger = self.ledger()?;
        Ok(reply(ledger.convert_query(&query, postback.at).and_then(
            |outcome| {
                ledger.sync()?;
                Ok(outcome)
            },
        )))
    }

    /// Starts every postback on its own thread, released together by a barrier.
    fn concurrent(&self, postbacks: &[PostbackEvent]) -> Result<Vec<Reply>, String> {
        let ledger = self.ledger()?;
        let queries = postbacks
            .iter()
            .map(|postback| {
                Ok((
                    template::substitute(&postback.query, &self.clicks)?,
                    postback.at,
                ))
            })
            .collect::<Result<Vec<(String, Timestamp)>, String>>()?;
        let barrier = Barrier::new(queries.len());
        let replies = thread::scope(|scope| {
            let threads: Vec<_> = queries
                .iter()
                .map(|(query, at)| {
                    let barrier = &barrier;
                    scope.spawn(move || {
                        barrier.wait();
                        let outcome = ledger.convert_query(query, *at)?;
                        ledger.sync()?;
                        Ok(outcome)
                    })
                })
                .collect();
            let joined = threads.into_iter().map(|thread| thread.join());
            joined
                .map(|result| result.map_or_else(|panic| Reply::Failed(panicked(&*panic)), reply))
                .collect()
        });
        Ok(replies)
    }

    fn crash(&mut self, kind: CrashKind) -> Result<Step, String> {
        let ledger = self
            .ledger
            .take()
            .ok_or("crash while the ledger is already down")?;
        match crash::crash(kind, self.dir.path(), ledger, &self.disk) {
            AfterCrash::Pending(reason) => Ok(Step::Pending(reason)),
            AfterCrash::Crashed {
                last_postback_unanswered,
            } => {
                if last_postback_unanswered {
                    let last = self
                        .replies
                        .last_mut()
                        .ok_or("torn tail without a postback")?;
                    *last = Reply::NoAnswer;
                }
                Ok(Step::Next)
            }
        }
    }

    /// Opens the directory again, as a restarted process would.
    fn restart(&mut self) -> Result<(), String> {
        drop(self.ledger.take());
        // A restarted machine has its power back: a new disk.
        self.disk = SimulatedDisk::new(self.opens);
        self.opens += 1;
        let ledger = open(&self.dir, &self.disk).map_err(|error| format!("restart: {error}"))?;
        self.restart = Some(ledger.recovery().clone());
        self.ledger = Some(ledger);
        Ok(())
    }

    fn finish(self) -> Result<Played, String> {
        let ledger = self.ledger.ok_or("the case ends with the ledger crashed")?;
        Ok(Played {
            ledger,
            clicks: self.clicks,
            replies: self.replies,
            restart: self.restart,
            _dir: self.dir,
        })
    }
}

fn open(dir: &TempDir, disk: &Arc<SimulatedDisk>) -> Result<Ledger, String> {
    let options = Options {
        io: Io::Simulated(Arc::clone(disk)),
        ..Options::default()
    };
    Ledger::open(dir.path(), options).map_err(|error| format!("open: {error}"))
}

fn reply(result: Result<Outcome, clickledger::LedgerError>) -> Reply {
    match result {
        Ok(outcome) => Reply::Outcome(outcome),
        Err(error) => Reply::Failed(error.to_string()),
    }
}

/// The message of a panic payload.
pub fn panicked(payload: &(dyn std::any::Any + Send)) -> String {
    let message = payload
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-text payload".to_owned());
    format!("panicked: {message}")
}
