//! The compact encodings Redis stores inside RDB strings ("blobs"): listpack (7.0),
//! ziplist (before 7.0), intset and zipmap (before 2.6). Each decoder validates the
//! whole blob against its own header before trusting any length in it, and never
//! reads outside the blob; each encoder writes what Redis 7.0 writes.

pub mod intset;
pub mod listpack;
pub mod ziplist;
pub mod zipmap;

/// An element of a compact encoding: Redis stores integers that round-trip as
/// numbers, everything else as bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Elem {
    Int(i64),
    Bytes(Vec<u8>),
}

impl Elem {
    /// The element as a string (integers in decimal, as Redis returns them).
    pub fn into_bytes(self) -> Vec<u8> {
        match self {
            Elem::Int(i) => i.to_string().into_bytes(),
            Elem::Bytes(b) => b,
        }
    }
}

/// Field-value pairs, as read from a hash's blob.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// Why a blob was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobError(pub &'static str);

impl std::fmt::Display for BlobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// Reads `N` bytes at `at`, or fails with `what`.
fn bytes_at<const N: usize>(blob: &[u8], at: usize, what: &'static str) -> Result<[u8; N], BlobError> {
    blob.get(at..at.checked_add(N).ok_or(BlobError(what))?).and_then(|s| s.try_into().ok()).ok_or(BlobError(what))
}
