//! Output sinks: a capped stdout buffer, and a stderr tail that also logs each line as it arrives
//! (within a byte budget, secrets masked).

/// What a secret value is replaced with.
pub const MASK: &str = "******";

/// Secret values (of one run's payload), masked in what the runner logs and in what the server
/// keeps for users: the one masking rule of the project. `Debug` shows only how many there are.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secrets(Vec<String>);

impl Secrets {
    /// The values to mask; empty ones are ignored, longer ones are masked first.
    pub fn new(values: impl IntoIterator<Item = String>) -> Secrets {
        let mut secrets = Secrets::default();
        for v in values {
            secrets.add(v);
        }
        secrets
    }

    /// One more value to mask (kept longest first, so a secret containing another is masked
    /// whole).
    pub fn add(&mut self, value: String) {
        if value.is_empty() || self.0.contains(&value) {
            return;
        }
        let at = self.0.partition_point(|s| s.len() >= value.len());
        self.0.insert(at, value);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `text` with every secret value replaced by [`MASK`].
    pub fn mask<'t>(&self, text: &'t str) -> std::borrow::Cow<'t, str> {
        let mut out = std::borrow::Cow::Borrowed(text);
        for secret in &self.0 {
            if out.contains(secret.as_str()) {
                out = std::borrow::Cow::Owned(out.replace(secret.as_str(), MASK));
            }
        }
        out
    }
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secrets({} values)", self.0.len())
    }
}

/// Keeps the first `cap` bytes; the rest is counted as truncated and dropped.
#[derive(Debug)]
pub(crate) struct CappedBuffer {
    data: Vec<u8>,
    cap: usize,
    truncated: bool,
}

impl CappedBuffer {
    pub(crate) fn new(cap: usize) -> CappedBuffer {
        CappedBuffer {
            data: Vec::new(),
            cap,
            truncated: false,
        }
    }

    pub(crate) fn push(&mut self, chunk: &[u8]) {
        let room = self.cap - self.data.len();
        if chunk.len() <= room {
            self.data.extend_from_slice(chunk);
        } else {
            self.data.extend_from_slice(&chunk[..room]);
            self.truncated = true;
        }
    }

    pub(crate) fn into_parts(self) -> (Vec<u8>, bool) {
        (self.data, self.truncated)
    }
}

/// Longest stderr line logged as one event; longer lines are logged in pieces.
const MAX_LOG_LINE: usize = 16 * 1024;

/// Keeps the last `cap` bytes of stderr and logs every line through `tracing` (target
/// `trellis::extension`), up to a per-run byte budget; what is over the budget is counted and
/// summarised in one line when the run ends. Each logged line has the run's secret values masked.
/// stderr is for humans: it is never parsed.
#[derive(Debug)]
pub(crate) struct StderrSink<'a> {
    tail: Vec<u8>,
    cap: usize,
    line: Vec<u8>,
    extension: &'a str,
    action: &'a str,
    secrets: &'a Secrets,
    budget: usize,
    logged: usize,
    dropped_bytes: usize,
    dropped_lines: usize,
}

impl<'a> StderrSink<'a> {
    pub(crate) fn new(
        cap: usize,
        budget: usize,
        extension: &'a str,
        action: &'a str,
        secrets: &'a Secrets,
    ) -> StderrSink<'a> {
        StderrSink {
            tail: Vec::new(),
            cap,
            line: Vec::new(),
            extension,
            action,
            secrets,
            budget,
            logged: 0,
            dropped_bytes: 0,
            dropped_lines: 0,
        }
    }

    pub(crate) fn push(&mut self, chunk: &[u8]) {
        if self.cap > 0 {
            self.tail.extend_from_slice(chunk);
            // Trim in batches so that a long stream costs amortised O(1) per byte.
            if self.tail.len() > self.cap.saturating_mul(2).max(8 * 1024) {
                let excess = self.tail.len() - self.cap;
                self.tail.drain(..excess);
            }
        }
        let mut rest = chunk;
        while let Some(newline) = rest.iter().position(|byte| *byte == b'\n') {
            self.line.extend_from_slice(&rest[..newline]);
            self.emit_line();
            rest = &rest[newline + 1..];
        }
        self.line.extend_from_slice(rest);
        while self.line.len() >= MAX_LOG_LINE {
            let piece: Vec<u8> = self.line.drain(..MAX_LOG_LINE).collect();
            self.emit(&piece);
        }
    }

    fn emit_line(&mut self) {
        let line = std::mem::take(&mut self.line);
        self.emit(&line);
        self.line = line;
        self.line.clear();
    }

    fn emit(&mut self, bytes: &[u8]) {
        if self.logged.saturating_add(bytes.len()) > self.budget {
            self.dropped_bytes += bytes.len();
            self.dropped_lines += 1;
            return;
        }
        self.logged += bytes.len();
        let text = String::from_utf8_lossy(bytes);
        let text = text.strip_suffix('\r').unwrap_or(&text);
        let text = self.secrets.mask(text);
        tracing::info!(target: "trellis::extension", extension = self.extension, action = self.action, "{text}");
    }

    /// Log the unterminated last line, if any, and return the tail.
    pub(crate) fn finish(mut self) -> String {
        if !self.line.is_empty() {
            self.emit_line();
        }
        if self.dropped_lines > 0 {
            tracing::warn!(
                target: "trellis::extension",
                extension = self.extension,
                action = self.action,
                dropped_bytes = self.dropped_bytes,
                dropped_lines = self.dropped_lines,
                budget = self.budget,
                "stderr over the per-run log budget was not logged"
            );
        }
        let start = self.tail.len().saturating_sub(self.cap);
        let mut tail = &self.tail[start..];
        // Do not start in the middle of a UTF-8 sequence.
        while let Some((first, rest)) = tail.split_first() {
            if *first & 0b1100_0000 == 0b1000_0000 {
                tail = rest;
            } else {
                break;
            }
        }
        String::from_utf8_lossy(tail).into_owned()
    }
}

/// stdout as text. A truncated stream may end inside a UTF-8 sequence: that partial character is
/// dropped. Anything else that is not UTF-8 is an error (the reason is returned).
pub(crate) fn stdout_text(bytes: Vec<u8>, truncated: bool) -> Result<String, String> {
    match String::from_utf8(bytes) {
        Ok(text) => Ok(text),
        Err(error) => {
            let utf8 = error.utf8_error();
            if truncated && utf8.error_len().is_none() {
                let valid = utf8.valid_up_to();
                let mut bytes = error.into_bytes();
                bytes.truncate(valid);
                // The prefix was validated above.
                Ok(String::from_utf8(bytes).unwrap_or_default())
            } else {
                Err(format!(
                    "stdout is not valid UTF-8 (invalid byte at offset {})",
                    utf8.valid_up_to()
                ))
            }
        }
    }
}

/// stdout as text for error reports: invalid bytes replaced.
pub(crate) fn stdout_lossy(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => String::from_utf8_lossy(error.as_bytes()).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_buffer_truncates() {
        let mut buffer = CappedBuffer::new(5);
        buffer.push(b"abc");
        buffer.push(b"defg");
        buffer.push(b"h");
        assert_eq!(buffer.into_parts(), (b"abcde".to_vec(), true));
    }

    #[test]
    fn stderr_tail_keeps_the_end() {
        let secrets = Secrets::default();
        let mut sink = StderrSink::new(10, usize::MAX, "x", "y", &secrets);
        for index in 0..10_000 {
            sink.push(format!("line {index}\n").as_bytes());
        }
        assert_eq!(sink.finish(), "line 9999\n");
    }

    #[test]
    fn stderr_tail_does_not_start_mid_character() {
        let secrets = Secrets::default();
        let mut sink = StderrSink::new(4, usize::MAX, "x", "y", &secrets);
        sink.push("aé€".as_bytes());
        assert_eq!(sink.finish(), "€");
    }

    #[test]
    fn secrets_are_masked_longest_first() {
        let secrets = Secrets::new(["abc".to_string(), "abcdef".to_string(), String::new()]);
        assert_eq!(secrets.mask("x abcdef y abc"), "x ****** y ******");
        assert_eq!(format!("{secrets:?}"), "Secrets(2 values)");
    }

    #[test]
    fn truncated_stdout_drops_a_partial_character() {
        let mut bytes = "ok é".as_bytes().to_vec();
        bytes.pop();
        assert_eq!(stdout_text(bytes.clone(), true).unwrap(), "ok ");
        assert!(stdout_text(bytes, false).is_err());
        assert!(stdout_text(vec![b'a', 0xff, b'b'], true).is_err());
    }
}
