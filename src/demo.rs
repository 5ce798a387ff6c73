//! Live simulated traffic for `tierwatch demo`: every few seconds, the records a real
//! account would have logged since the last tick, parsed, priced and stored through the
//! same path as real logs (so the dashboard moves while a newcomer watches it).

use std::sync::Arc;
use std::time::Duration;

use crate::ingest::record::ParseOptions;
use crate::ingest::{BatchBuilder, BatchWriter};
use crate::pricing::PriceTable;
use crate::simulate::{SimulationSpec, Simulator};
use crate::store::Store;

/// How live traffic is generated.
#[derive(Debug, Clone)]
pub struct LiveTraffic {
    pub store: Store,
    pub options: Arc<ParseOptions>,
    pub prices: Arc<PriceTable>,
    /// Seed of the first tick; each tick uses the next one.
    pub seed: u64,
    /// Records per second.
    pub rate: f64,
    pub tick: Duration,
    /// Regions of the simulated traffic (the demo keeps to priced ones).
    pub regions: Vec<String>,
}

impl LiveTraffic {
    /// Adds traffic until `stop` turns true; returns the records stored.
    pub async fn run(self, mut stop: tokio::sync::watch::Receiver<bool>) -> u64 {
        let mut writer = BatchWriter::new(self.store.clone(), "demo");
        let source: Arc<str> = Arc::from("live simulated traffic");
        let mut last_ms = chrono::Utc::now().timestamp_millis();
        let mut stored = 0;
        let mut tick: u64 = 0;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(self.tick) => {}
                _ = stop.wait_for(|stopped| *stopped) => return stored,
            }
            let now_ms = chrono::Utc::now().timestamp_millis();
            tick += 1;
            match self
                .tick_once(&mut writer, &source, last_ms, now_ms, tick)
                .await
            {
                Ok(count) => stored += count,
                Err(error) => tracing::warn!(%error, "demo traffic: a tick failed"),
            }
            last_ms = now_ms;
        }
    }

    async fn tick_once(
        &self,
        writer: &mut BatchWriter,
        source: &Arc<str>,
        start_ms: i64,
        end_ms: i64,
        tick: u64,
    ) -> anyhow::Result<u64> {
        let seconds = (end_ms - start_ms) as f64 / 1000.0;
        let records = (self.rate * seconds).round() as u64;
        if records == 0 || end_ms <= start_ms {
            return Ok(0);
        }
        let spec = SimulationSpec {
            seed: self.seed.wrapping_add(tick),
            start_ms,
            end_ms,
            records,
            regions: self.regions.clone(),
            bad_record_rate: 0.002,
            duplicate_rate: 0.0,
            ..SimulationSpec::month(2025, 11, records, self.seed)
        };
        let simulator = Simulator::new(&spec)?;
        let mut builder = BatchBuilder::new(Arc::clone(&self.options), Arc::clone(&self.prices));
        for (index, record) in simulator.enumerate() {
            let location = format!("tick {tick} record {index}");
            builder.add_record(record.line.as_bytes(), source, &location);
        }
        let outcome = writer.write(builder.take(), None).await?;
        Ok(outcome.inserted)
    }
}
