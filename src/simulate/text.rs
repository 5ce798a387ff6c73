//! Prompt and answer text made from a small word list, and the controller that sizes it so
//! the average line comes out at the requested number of bytes.

use super::sample::{SimRng, chance, index, mean_one_noise};

/// Plain words, most of the text.
const WORDS: &[&str] = &[
    "the",
    "a",
    "to",
    "of",
    "and",
    "in",
    "is",
    "for",
    "on",
    "with",
    "that",
    "this",
    "it",
    "as",
    "be",
    "by",
    "from",
    "we",
    "you",
    "can",
    "should",
    "will",
    "not",
    "or",
    "are",
    "our",
    "your",
    "customer",
    "order",
    "invoice",
    "refund",
    "account",
    "ticket",
    "request",
    "response",
    "error",
    "latency",
    "service",
    "model",
    "prompt",
    "token",
    "tier",
    "cost",
    "budget",
    "report",
    "summary",
    "document",
    "table",
    "query",
    "search",
    "result",
    "ranking",
    "score",
    "test",
    "eval",
    "dataset",
    "batch",
    "pipeline",
    "job",
    "schedule",
    "retry",
    "timeout",
    "function",
    "method",
    "class",
    "module",
    "variable",
    "value",
    "list",
    "map",
    "string",
    "number",
    "date",
    "region",
    "bucket",
    "file",
    "log",
    "record",
    "field",
    "schema",
    "version",
    "release",
    "deploy",
    "build",
    "review",
    "change",
    "update",
    "issue",
    "bug",
    "fix",
    "feature",
    "user",
    "team",
    "product",
    "price",
    "plan",
    "usage",
    "monthly",
    "weekly",
    "daily",
    "average",
    "total",
    "increase",
    "decrease",
    "compare",
    "explain",
    "describe",
    "translate",
    "classify",
    "extract",
    "generate",
    "rewrite",
    "shorten",
    "check",
    "verify",
    "answer",
    "question",
    "context",
    "policy",
    "guideline",
    "example",
    "step",
    "first",
    "next",
    "then",
    "finally",
    "because",
    "however",
    "therefore",
    "also",
    "only",
    "each",
    "every",
    "all",
    "some",
    "many",
    "few",
    "more",
    "less",
    "new",
    "old",
    "fast",
    "slow",
    "clear",
    "short",
    "long",
    "simple",
    "important",
    "possible",
    "correct",
    "wrong",
    "missing",
    "available",
    "pending",
    "shipped",
    "delivered",
    "cancelled",
    "approved",
    "rejected",
    "customer's",
    "team's",
    "it's",
];

/// Rarer pieces that exercise escaping and UTF-8: quotes, backslashes, tabs, accents, CJK, emoji.
const SPICE: &[&str] = &[
    "\"quoted\"",
    "C:\\temp\\out.json",
    "naïve",
    "café",
    "Zürich",
    "déjà vu",
    "東京",
    "データ",
    "–",
    "✓",
    "🚀",
    "{\"key\": \"value\"}",
    "a\tb",
    "€42.50",
];

/// Appends roughly `target_bytes` bytes of sentence-like text to `out`.
pub(super) fn fill_text(rng: &mut SimRng, out: &mut String, target_bytes: usize) {
    let goal = out.len() + target_bytes;
    let mut sentence_words = 0;
    while out.len() < goal {
        let word = if chance(rng, 0.02) {
            SPICE[index(rng, SPICE.len())]
        } else {
            WORDS[index(rng, WORDS.len())]
        };
        if sentence_words == 0 {
            push_capitalized(out, word);
        } else {
            out.push(' ');
            out.push_str(word);
        }
        sentence_words += 1;
        if sentence_words >= 6 && chance(rng, 0.12) {
            out.push('.');
            sentence_words = 0;
            if chance(rng, 0.15) {
                out.push('\n');
            } else if out.len() < goal {
                out.push(' ');
            }
        }
    }
    if sentence_words > 0 {
        out.push('.');
    }
}

fn push_capitalized(out: &mut String, word: &str) {
    let mut chars = word.chars();
    if let Some(first) = chars.next() {
        out.extend(first.to_uppercase());
        out.push_str(chars.as_str());
    }
}

/// Steers the amount of text per record so that the average line length over everything
/// emitted so far (good, bad and duplicate lines, with and without bodies) tracks the target.
///
/// Each record with bodies asks for a text budget. The budget is the target line length, minus
/// the measured average cost of the JSON around the text, plus a share of the running deficit
/// (lines without bodies and error records are short, so the others run long to compensate),
/// times noise so sizes vary realistically.
#[derive(Debug)]
pub(super) struct SizeController {
    target_line_bytes: f64,
    lines: u64,
    bytes: u64,
    /// Running average of line bytes that are not generated text (envelope, keys, numbers).
    overhead_estimate: f64,
}

/// The smallest text budget: a few words in each body.
const MIN_TEXT_BYTES: f64 = 48.0;

impl SizeController {
    pub fn new(target_line_bytes: usize) -> SizeController {
        SizeController {
            target_line_bytes: target_line_bytes as f64,
            lines: 0,
            bytes: 0,
            overhead_estimate: 900.0,
        }
    }

    /// Text bytes for the next record that carries bodies.
    pub fn text_budget(&self, rng: &mut SimRng) -> usize {
        let target = self.target_line_bytes;
        let deficit =
            (target * self.lines as f64 - self.bytes as f64).clamp(-8.0 * target, 8.0 * target);
        let wanted_line = target + deficit / 16.0;
        let text = (wanted_line - self.overhead_estimate).max(MIN_TEXT_BYTES);
        (text * mean_one_noise(rng, 0.45)).max(MIN_TEXT_BYTES) as usize
    }

    /// Accounts for a line that was emitted.
    pub fn record_line(&mut self, line_bytes: usize) {
        self.lines += 1;
        self.bytes += line_bytes as u64;
    }

    /// Learns the non-text cost from a line that carried `text_bytes` of generated text.
    pub fn record_overhead(&mut self, line_bytes: usize, text_bytes: usize) {
        let overhead = line_bytes.saturating_sub(text_bytes) as f64;
        self.overhead_estimate += (overhead - self.overhead_estimate) * 0.02;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn text_reaches_its_target_and_is_sentence_like() {
        let mut rng = SimRng::seed_from_u64(11);
        let mut text = String::new();
        fill_text(&mut rng, &mut text, 500);
        assert!((500..560).contains(&text.len()), "{}", text.len());
        assert!(text.ends_with('.'));
        assert!(text.chars().next().unwrap().is_uppercase());
    }

    #[test]
    fn controller_converges_on_the_target_average() {
        let mut rng = SimRng::seed_from_u64(12);
        let mut controller = SizeController::new(2_000);
        let mut total = 0usize;
        for i in 0..5_000 {
            // Every tenth line is a short line without text, the others cost 700 bytes + text.
            let line = if i % 10 == 0 {
                450
            } else {
                let text = controller.text_budget(&mut rng);
                controller.record_overhead(700 + text, text);
                700 + text
            };
            controller.record_line(line);
            total += line;
        }
        let average = total as f64 / 5_000.0;
        assert!((1_900.0..2_100.0).contains(&average), "{average}");
    }
}
