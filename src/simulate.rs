//! (temporary contract until the simulate branch lands)
pub struct SimulationSpec {
    pub bad_record_rate: f64,
    pub duplicate_rate: f64,
}
impl SimulationSpec {
    pub fn month(_y: i32, _m: u32, _r: u64, _s: u64) -> Self {
        Self {
            bad_record_rate: 0.0,
            duplicate_rate: 0.0,
        }
    }
}
pub struct Simulator;
impl Simulator {
    pub fn new(_s: SimulationSpec) -> Self {
        Simulator
    }
}
impl Iterator for Simulator {
    type Item = SimulatedRecord;
    fn next(&mut self) -> Option<SimulatedRecord> {
        None
    }
}
pub struct SimulatedRecord;
#[derive(Default)]
pub struct S3LayoutOptions {
    pub prefix: String,
    pub records_per_file: usize,
    pub gzip_level: u32,
}
pub struct LayoutSummary {
    pub files: u64,
    pub records: u64,
    pub uncompressed_bytes: u64,
    pub compressed_bytes: u64,
}
pub fn write_s3_layout(
    _r: impl Iterator<Item = SimulatedRecord>,
    _root: &std::path::Path,
    _o: &S3LayoutOptions,
) -> std::io::Result<LayoutSummary> {
    Err(std::io::Error::other("x"))
}
