//! Masking floor: distinct messages of each batch masked with Rust `regex` (the engine polars
//! uses), rules applied in order as drain3 applies them, on one thread.
//!
//! Usage: mask_floor MESSAGES_FILE [--batch LINES] PATTERN...
//! MESSAGES_FILE holds one message per line (e.g. the Content column of a log); every match of
//! a pattern becomes `<*>`. Prints lines, distinct messages and the seconds spent deduplicating
//! and masking, so the time can be set against the 20x budget of `bench_templates.py`.
use regex::{NoExpand, Regex};
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: mask_floor MESSAGES_FILE [--batch LINES] PATTERN...");
    let mut batch = 81_000usize;
    let mut patterns = Vec::new();
    while let Some(arg) = args.next() {
        if arg == "--batch" {
            batch = args.next().and_then(|v| v.parse().ok()).expect("--batch needs a number of lines");
        } else {
            patterns.push(Regex::new(&arg).unwrap_or_else(|e| panic!("pattern {arg:?}: {e}")));
        }
    }
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let lines: Vec<&str> = text.lines().collect();
    let (mut distinct_total, mut masked_bytes) = (0usize, 0usize);
    let (mut dedup_s, mut mask_s) = (0.0f64, 0.0f64);
    for part in lines.chunks(batch.max(1)) {
        let started = Instant::now();
        let mut seen: hashbrown::HashSet<&str> = hashbrown::HashSet::with_capacity(part.len());
        let distinct: Vec<&str> = part.iter().copied().filter(|line| seen.insert(*line)).collect();
        dedup_s += started.elapsed().as_secs_f64();
        let started = Instant::now();
        for message in &distinct {
            let mut masked = message.to_string();
            for pattern in &patterns {
                if let std::borrow::Cow::Owned(replaced) = pattern.replace_all(&masked, NoExpand("<*>")) {
                    masked = replaced;
                }
            }
            masked_bytes += masked.len();
        }
        mask_s += started.elapsed().as_secs_f64();
        distinct_total += distinct.len();
    }
    println!(
        "{{\"lines\": {}, \"distinct\": {}, \"dedup_s\": {:.3}, \"mask_s\": {:.3}, \"masked_bytes\": {}}}",
        lines.len(), distinct_total, dedup_s, mask_s, masked_bytes
    );
}
