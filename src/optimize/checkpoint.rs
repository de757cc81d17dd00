//! The loop's state between two iterations, written to a file and read back to go on from it
//! (`formwerk run --resume`), so that the resumed run computes bit for bit what the
//! uninterrupted one would have.
//!
//! Saved is what the next iteration reads and cannot rebuild: the design variables; each load
//! case's displacement and adjoint, which warm-start the next solves (CG's iterates, and so the
//! result to its tolerance, depend on the starting vector); the update's memory (OC's last
//! multiplier, MMA's asymptotes and its last two designs, Svanberg 1987 §3); the projection's
//! continuation (β, when it was raised) and volume scale; the first compliance (MMA's objective
//! scale); the history and the solver statistics. The physical density is rebuilt by applying
//! the filter chain to the design again, the same deterministic arithmetic on the same bits; a
//! digest of it is stored and compared, so a resume that would not reproduce it is refused. The
//! stiffness and the multigrid hierarchy are rebuilt from the physical density every iteration
//! anyway.
//!
//! Layout (little-endian): the line `FORMWERK-CHECKPOINT`, a u64 byte count and the JSON
//! [`Header`], the arrays it lists as raw f64 one after another, and a u64 FNV-1a digest of all
//! bytes before it, so that a damaged or truncated file is refused instead of resumed from.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use serde::{Deserialize, Serialize};

use super::{IterationRecord, SolverStats, Timings};
use crate::filters::projection::Continuation;

const MAGIC: &[u8] = b"FORMWERK-CHECKPOINT\n";
/// Raised whenever the layout or the meaning of a field changes.
const FORMAT: u32 = 1;
/// A header larger than this is not one formwerk wrote (the history of a million iterations
/// is about 200 MB): refused before allocating.
const MAX_HEADER_BYTES: u64 = 1 << 30;

/// Why a checkpoint cannot be written or used.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// Reading or writing failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Not a checkpoint, damaged, or from another format version.
    #[error("{0}")]
    Unreadable(String),
    /// A checkpoint of another problem (other sizes, optimizer or load cases).
    #[error("it does not fit this problem: {0}")]
    Mismatch(String),
}

fn unreadable(message: impl Into<String>) -> CheckpointError {
    CheckpointError::Unreadable(message.into())
}

/// The update's memory besides its arrays.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateMemory {
    /// OC: the multiplier its next bisection starts from, when it keeps one.
    Oc {
        /// λ of the last update.
        lambda_hint: Option<f64>,
    },
    /// MMA: updates done (the asymptotes' rule differs in the first two); the asymptotes and
    /// last designs are the arrays `mma.low`, `mma.upp`, `mma.xold1`, `mma.xold2`.
    Mma {
        /// Updates done.
        updates: usize,
    },
}

/// The robust projection's memory.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ProjectionMemory {
    /// β and its schedule.
    pub continuation: Continuation,
    /// Blueprint volume over dilated volume.
    pub volume_scale: f64,
}

/// Everything of a checkpoint but its arrays.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// Layout version.
    pub format: u32,
    /// Who wrote it and for what, as the caller records it (a run: its design and binary).
    pub identity: serde_json::Value,
    /// Design iterations done.
    pub iterations_done: usize,
    /// The value the objective is scaled by, from the first iteration: its weighted compliance
    /// (N·mm), or for `min_stress` its aggregate stress (MPa).
    pub first_compliance: Option<f64>,
    /// The iterations done.
    pub history: Vec<IterationRecord>,
    /// Solver statistics so far.
    pub solver: SolverStats,
    /// Time per stage so far.
    pub timings: Timings,
    /// The update's memory.
    pub update: UpdateMemory,
    /// The projection's memory, with a minimum member size.
    pub projection: Option<ProjectionMemory>,
    /// [`digest_f64`] of the physical density the next iteration analyses.
    pub physical_digest: u64,
    /// Name and length of each array, in file order.
    pub arrays: Vec<(String, usize)>,
}

/// A checkpoint read back: its header and its arrays by name.
#[derive(Debug, Clone, PartialEq)]
pub struct LoopState {
    /// The header.
    pub header: Header,
    arrays: BTreeMap<String, Vec<f64>>,
}

impl LoopState {
    /// Takes the array `name`, which must have `len` values.
    pub(super) fn take(&mut self, name: &str, len: usize) -> Result<Vec<f64>, CheckpointError> {
        let values = self
            .arrays
            .remove(name)
            .ok_or_else(|| CheckpointError::Mismatch(format!("it has no array `{name}`")))?;
        if values.len() != len {
            return Err(CheckpointError::Mismatch(format!(
                "array `{name}` has {} values where this problem has {len}",
                values.len()
            )));
        }
        Ok(values)
    }

    /// The arrays by name, in name order (to write the state again).
    pub fn into_arrays(self) -> Vec<(String, Vec<f64>)> {
        self.arrays.into_iter().collect()
    }

    /// Reads a checkpoint written by [`write`].
    pub fn read(reader: impl Read) -> Result<Self, CheckpointError> {
        let mut reader = Fnv1a::new(reader);
        let mut magic = [0; MAGIC.len()];
        reader
            .read_exact(&mut magic)
            .map_err(|_| unreadable("not a formwerk checkpoint (too short)"))?;
        if magic != MAGIC {
            return Err(unreadable("not a formwerk checkpoint"));
        }
        let truncated = |_| unreadable("truncated (the file ends early)");
        let length = read_u64(&mut reader).map_err(truncated)?;
        if length > MAX_HEADER_BYTES {
            return Err(unreadable(format!("header of {length} bytes")));
        }
        let mut text = vec![0; length as usize];
        reader.read_exact(&mut text).map_err(truncated)?;
        let header: Header = serde_json::from_slice(&text)
            .map_err(|e| unreadable(format!("damaged header: {e}")))?;
        if header.format != FORMAT {
            return Err(unreadable(format!(
                "written in checkpoint format {}, this formwerk reads format {FORMAT}",
                header.format
            )));
        }
        let mut arrays = BTreeMap::new();
        for (name, len) in &header.arrays {
            // Grown as it is read, so that a header claiming too much fails at the file's end
            // instead of allocating what it claims.
            let mut values = Vec::new();
            let mut bytes = [0; 8];
            for _ in 0..*len {
                reader.read_exact(&mut bytes).map_err(truncated)?;
                values.push(f64::from_le_bytes(bytes));
            }
            arrays.insert(name.clone(), values);
        }
        let digest = reader.digest;
        let stored = read_u64(&mut reader.inner).map_err(truncated)?;
        if stored != digest {
            return Err(unreadable(
                "damaged (its digest does not match its contents)",
            ));
        }
        let mut rest = [0; 1];
        if reader.inner.read(&mut rest)? != 0 {
            return Err(unreadable("damaged (bytes after its end)"));
        }
        Ok(Self { header, arrays })
    }
}

/// Writes a checkpoint: `header` (whose `arrays` list is filled in here) and `arrays`.
pub fn write(
    writer: impl Write,
    header: &Header,
    arrays: &[(String, &[f64])],
) -> Result<(), CheckpointError> {
    let mut header = header.clone();
    header.format = FORMAT;
    header.arrays = arrays
        .iter()
        .map(|(name, values)| (name.clone(), values.len()))
        .collect();
    let text = serde_json::to_vec(&header).map_err(std::io::Error::other)?;
    let mut writer = Fnv1a::new(writer);
    writer.write_all(MAGIC)?;
    writer.write_all(&(text.len() as u64).to_le_bytes())?;
    writer.write_all(&text)?;
    for (_, values) in arrays {
        for value in values.iter() {
            writer.write_all(&value.to_le_bytes())?;
        }
    }
    let digest = writer.digest;
    writer.inner.write_all(&digest.to_le_bytes())?;
    writer.inner.flush()?;
    Ok(())
}

fn read_u64(reader: &mut impl Read) -> std::io::Result<u64> {
    let mut bytes = [0; 8];
    reader.read_exact(&mut bytes)?;
    Ok(u64::from_le_bytes(bytes))
}

/// FNV-1a, 64 bits (Fowler, Noll, Vo; the offset basis and prime of the reference): a
/// checksum of the bits, not a cryptographic hash.
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv1a(mut digest: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        digest = (digest ^ u64::from(b)).wrapping_mul(FNV_PRIME);
    }
    digest
}

/// FNV-1a of the bytes of `bytes`.
pub fn digest_bytes(bytes: &[u8]) -> u64 {
    fnv1a(FNV_OFFSET, bytes)
}

/// FNV-1a of the little-endian bits of `values`.
pub fn digest_f64(values: &[f64]) -> u64 {
    values
        .iter()
        .fold(FNV_OFFSET, |d, v| fnv1a(d, &v.to_le_bytes()))
}

/// A reader or writer that digests what passes through it.
struct Fnv1a<T> {
    inner: T,
    digest: u64,
}

impl<T> Fnv1a<T> {
    fn new(inner: T) -> Self {
        Self {
            inner,
            digest: FNV_OFFSET,
        }
    }
}

impl<R: Read> Read for Fnv1a<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.digest = fnv1a(self.digest, &buf[..n]);
        Ok(n)
    }
}

impl<W: Write> Write for Fnv1a<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.digest = fnv1a(self.digest, &buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            format: 0,
            identity: serde_json::json!({"design": "x"}),
            iterations_done: 2,
            first_compliance: Some(1.25),
            history: Vec::new(),
            solver: SolverStats {
                kind: "multigrid".into(),
                levels: 3,
                tolerance: 1e-8,
                iterations_total: 10,
                solves: 2,
                max_relative_residual: 1e-9,
                unconverged_solves: 0,
            },
            timings: Timings::default(),
            update: UpdateMemory::Mma { updates: 2 },
            projection: None,
            physical_digest: 7,
            arrays: Vec::new(),
        }
    }

    fn written() -> Vec<u8> {
        let x = [0.1, 0.2, f64::MIN_POSITIVE, -0.0];
        let u = [1e300, -3.5];
        let mut bytes = Vec::new();
        write(
            &mut bytes,
            &header(),
            &[("x".into(), &x[..]), ("displacement.0".into(), &u[..])],
        )
        .unwrap();
        bytes
    }

    #[test]
    fn arrays_and_header_come_back_bit_for_bit() {
        let mut state = LoopState::read(&written()[..]).unwrap();
        assert_eq!(state.header.iterations_done, 2);
        assert_eq!(state.header.first_compliance, Some(1.25));
        let x = state.take("x", 4).unwrap();
        assert_eq!(x.map_bits(), [0.1, 0.2, f64::MIN_POSITIVE, -0.0].map_bits());
        assert!(matches!(
            state.take("displacement.0", 3),
            Err(CheckpointError::Mismatch(_))
        ));
        assert!(matches!(
            state.take("adjoint.0", 3),
            Err(CheckpointError::Mismatch(_))
        ));
    }

    trait Bits {
        fn map_bits(&self) -> Vec<u64>;
    }
    impl Bits for [f64] {
        fn map_bits(&self) -> Vec<u64> {
            self.iter().map(|v| v.to_bits()).collect()
        }
    }
    impl<const N: usize> Bits for [f64; N] {
        fn map_bits(&self) -> Vec<u64> {
            self[..].map_bits()
        }
    }

    #[test]
    fn damaged_truncated_and_foreign_files_are_refused() {
        let bytes = written();
        for cut in [0, 5, MAGIC.len() + 3, bytes.len() / 2, bytes.len() - 1] {
            let e = LoopState::read(&bytes[..cut]).unwrap_err();
            assert!(matches!(e, CheckpointError::Unreadable(_)), "{cut}: {e}");
        }
        // One bit flipped anywhere: in the header, an array or the digest.
        for at in [MAGIC.len() + 20, bytes.len() - 20, bytes.len() - 3] {
            let mut damaged = bytes.clone();
            damaged[at] ^= 4;
            assert!(LoopState::read(&damaged[..]).is_err(), "{at}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(LoopState::read(&longer[..]).is_err());
        assert!(LoopState::read(&b"solid part\n"[..]).is_err());
    }
}
