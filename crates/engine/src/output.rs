//! The single write path of a run: every output chunk, status change and step result goes
//! through one [`Writer`] task per run, which masks secrets, numbers the events in order,
//! stores them and only then tells live viewers. Step results are written in the same order
//! as the output before them, so a viewer never sees a step finish before its last line.

use std::sync::Arc;

use opsconductor_core::Core;
use opsconductor_core::store::runs::{self as store, NewEvent, StepUpdate};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::redact::{Redactor, StreamRedactor};

/// The longest text one stored chunk holds; longer output is split.
const MAX_CHUNK_BYTES: usize = 64 * 1024;
/// How much of each stream a step row keeps as its tail.
const TAIL_BYTES: usize = 64 * 1024;
/// Output of one step on one target beyond this is counted but not stored.
pub const MAX_STORED_OUTPUT: usize = 16 * 1024 * 1024;
/// Events written per database transaction at most.
const MAX_BATCH: usize = 512;

enum Msg {
    Events(Vec<NewEvent>),
    Step(Box<StepMsg>),
    Flush(oneshot::Sender<anyhow::Result<()>>),
}

struct StepMsg {
    step_id: i64,
    update: StepUpdate,
    event: NewEvent,
    done: oneshot::Sender<anyhow::Result<()>>,
}

/// Cheap handle to a run's writer task.
#[derive(Clone)]
pub struct Writer {
    run_id: i64,
    tx: mpsc::Sender<Msg>,
    redactor: Arc<Redactor>,
}

impl Writer {
    /// Starts the writer task of run `run_id`; it ends when every handle is dropped.
    pub fn start(core: &Core, run_id: i64, redactor: Arc<Redactor>) -> Self {
        let (tx, rx) = mpsc::channel(256);
        tokio::spawn(write_loop(core.clone(), run_id, rx));
        Self {
            run_id,
            tx,
            redactor,
        }
    }

    /// Masks `text` with the run's secrets.
    pub fn mask(&self, text: &str) -> String {
        self.redactor.redact(text).into_owned()
    }

    async fn send(&self, msg: Msg) -> anyhow::Result<()> {
        self.tx
            .send(msg)
            .await
            .map_err(|_| anyhow::anyhow!("the log writer of run {} has stopped", self.run_id))
    }

    /// A run status event (`{"status": ...}` and details), masked.
    pub async fn status(&self, data: Value) -> anyhow::Result<()> {
        let body = self.mask(&data.to_string());
        self.send(Msg::Events(vec![NewEvent {
            kind: "status",
            step_idx: None,
            target_id: None,
            stream: None,
            body,
        }]))
        .await
    }

    /// An engine line (`system` stream) about a step on a target, or about the run.
    pub async fn system(
        &self,
        step: Option<i64>,
        target: Option<i64>,
        text: &str,
    ) -> anyhow::Result<()> {
        let mut text = self.mask(text);
        if !text.ends_with('\n') {
            text.push('\n');
        }
        self.send(Msg::Events(vec![NewEvent {
            kind: "log",
            step_idx: step,
            target_id: target,
            stream: Some("system"),
            body: text,
        }]))
        .await
    }

    /// Records a step row's change and its event after all output sent before it; resolves
    /// once both are stored.
    pub async fn step(
        &self,
        step_id: i64,
        update: StepUpdate,
        data: Value,
        idx: i64,
        target: Option<i64>,
    ) -> anyhow::Result<()> {
        let mut update = update;
        // Errors and metrics can carry rendered text (a URL with a token in it): mask them too.
        update.error = update.error.map(|e| self.mask(&e));
        update.metrics = update.metrics.map(|m| self.mask(&m));
        let (done, wait) = oneshot::channel();
        let event = NewEvent {
            kind: "step",
            step_idx: Some(idx),
            target_id: target,
            stream: None,
            body: self.mask(&data.to_string()),
        };
        self.send(Msg::Step(Box::new(StepMsg {
            step_id,
            update,
            event,
            done,
        })))
        .await?;
        wait.await
            .map_err(|_| anyhow::anyhow!("the log writer of run {} has stopped", self.run_id))?
    }

    /// Resolves once everything sent before is stored.
    pub async fn flush(&self) -> anyhow::Result<()> {
        let (done, wait) = oneshot::channel();
        self.send(Msg::Flush(done)).await?;
        wait.await
            .map_err(|_| anyhow::anyhow!("the log writer of run {} has stopped", self.run_id))?
    }

    /// The output sink of one step on one target.
    pub fn output(&self, step: i64, target: Option<i64>) -> Output {
        Output {
            writer: self.clone(),
            step,
            target,
            stdout: StreamState::new(self.redactor.clone()),
            stderr: StreamState::new(self.redactor.clone()),
        }
    }
}

struct StreamState {
    redactor: StreamRedactor,
    tail: String,
    stored: usize,
    dropped: usize,
}

impl StreamState {
    fn new(redactor: Arc<Redactor>) -> Self {
        Self {
            redactor: redactor.stream(),
            tail: String::new(),
            stored: 0,
            dropped: 0,
        }
    }

    fn keep_tail(&mut self, text: &str) {
        self.tail.push_str(text);
        if self.tail.len() > TAIL_BYTES * 2 {
            let mut cut = self.tail.len() - TAIL_BYTES;
            while !self.tail.is_char_boundary(cut) {
                cut += 1;
            }
            self.tail.drain(..cut);
        }
    }

    fn tail(&self) -> String {
        let mut cut = self.tail.len().saturating_sub(TAIL_BYTES);
        while !self.tail.is_char_boundary(cut) {
            cut += 1;
        }
        self.tail[cut..].to_string()
    }
}

/// Where a step's output on one target goes: masked, stored in order, tails kept.
pub struct Output {
    writer: Writer,
    step: i64,
    target: Option<i64>,
    stdout: StreamState,
    stderr: StreamState,
}

/// Which output stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Output {
    /// Takes raw output bytes of `stream`.
    pub async fn push(&mut self, stream: Stream, bytes: &[u8]) -> anyhow::Result<()> {
        let state = self.state(stream);
        let text = state.redactor.push(bytes);
        self.emit(stream, text).await
    }

    /// Writes what the redactors still hold (call once the command has ended).
    pub async fn finish(&mut self) -> anyhow::Result<()> {
        for stream in [Stream::Stdout, Stream::Stderr] {
            let text = self.state(stream).redactor.finish();
            self.emit(stream, text).await?;
            let dropped = self.state(stream).dropped;
            if dropped > 0 {
                let name = stream_name(stream);
                self.writer
                    .system(
                        Some(self.step),
                        self.target,
                        &format!("{dropped} more bytes of {name} were not stored (limit {MAX_STORED_OUTPUT} bytes)"),
                    )
                    .await?;
            }
        }
        Ok(())
    }

    /// An engine line about this step on this target.
    pub async fn system(&self, text: &str) -> anyhow::Result<()> {
        self.writer.system(Some(self.step), self.target, text).await
    }

    /// The last 64 KiB of masked stdout and stderr.
    pub fn tails(&self) -> (String, String) {
        (self.stdout.tail(), self.stderr.tail())
    }

    fn state(&mut self, stream: Stream) -> &mut StreamState {
        match stream {
            Stream::Stdout => &mut self.stdout,
            Stream::Stderr => &mut self.stderr,
        }
    }

    async fn emit(&mut self, stream: Stream, text: String) -> anyhow::Result<()> {
        if text.is_empty() {
            return Ok(());
        }
        let (step, target) = (self.step, self.target);
        let state = self.state(stream);
        state.keep_tail(&text);
        let room = MAX_STORED_OUTPUT.saturating_sub(state.stored);
        let keep = floor_char_boundary(&text, room.min(text.len()));
        state.stored += keep;
        state.dropped += text.len() - keep;
        let events: Vec<NewEvent> = split_chunks(&text[..keep])
            .map(|chunk| NewEvent {
                kind: "log",
                step_idx: Some(step),
                target_id: target,
                stream: Some(stream_name(stream)),
                body: chunk.to_string(),
            })
            .collect();
        if events.is_empty() {
            return Ok(());
        }
        self.writer.send(Msg::Events(events)).await
    }
}

fn stream_name(stream: Stream) -> &'static str {
    match stream {
        Stream::Stdout => "stdout",
        Stream::Stderr => "stderr",
    }
}

fn floor_char_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// Splits text into pieces of at most [`MAX_CHUNK_BYTES`], on character boundaries.
fn split_chunks(mut text: &str) -> impl Iterator<Item = &str> {
    std::iter::from_fn(move || {
        if text.is_empty() {
            return None;
        }
        let mut cut = floor_char_boundary(text, text.len().min(MAX_CHUNK_BYTES));
        if cut == 0 {
            cut = text.len();
        }
        let (head, rest) = text.split_at(cut);
        text = rest;
        Some(head)
    })
}

async fn write_loop(core: Core, run_id: i64, mut rx: mpsc::Receiver<Msg>) {
    let mut pending: Vec<NewEvent> = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        // Take everything already waiting, so a burst of output is one transaction.
        while let Some(msg) = next.take() {
            match msg {
                Msg::Events(events) => pending.extend(events),
                Msg::Step(step) => {
                    let StepMsg {
                        step_id,
                        update,
                        event,
                        done,
                    } = *step;
                    let result = async {
                        store_events(&core, run_id, &mut pending).await?;
                        store::update_step(&core.db, run_id, step_id, &update, &[event]).await?;
                        anyhow::Ok(())
                    }
                    .await;
                    core.signals.progressed(run_id);
                    let _ = done.send(result);
                }
                Msg::Flush(done) => {
                    let result = store_events(&core, run_id, &mut pending).await;
                    let _ = done.send(result);
                }
            }
            if pending.len() >= MAX_BATCH {
                break;
            }
            next = rx.try_recv().ok();
        }
        if let Err(e) = store_events(&core, run_id, &mut pending).await {
            tracing::error!(run_id, error = %e, "cannot store run output");
        }
    }
}

async fn store_events(core: &Core, run_id: i64, pending: &mut Vec<NewEvent>) -> anyhow::Result<()> {
    if pending.is_empty() {
        return Ok(());
    }
    let batch = std::mem::take(pending);
    store::append_events(&core.db, run_id, &batch).await?;
    core.signals.progressed(run_id);
    Ok(())
}
