//! Compression using every core while writing one standard stream per layer.
//!
//! gzip: the input is cut into fixed blocks, each compressed on its own
//! thread as raw deflate primed with the previous block's last 32 KiB as a
//! dictionary and ended with a sync flush (as pigz does), then the blocks are
//! written in order inside one gzip member whose CRC is combined from the
//! blocks'. The output depends only on the block size and level, never on
//! the number of threads. The header has MTIME 0, no name and OS 255.
//!
//! zstd: libzstd's own multithreading (`nbWorkers` >= 1 always, so the bytes
//! do not depend on how many cores the build machine has).

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use flate2::{Compress, Compression as Level, FlushCompress, Status};
use sha2::{Digest, Sha256};

use crate::spec::Compression;

/// Input bytes per gzip block.
pub const GZIP_BLOCK: usize = 128 * 1024;
const DICT: usize = 32 * 1024;

/// What produced a blob, recorded in the image's history so a digest change
/// after a compressor update can be explained.
pub fn describe(c: Compression, level: i32) -> String {
    match c {
        Compression::Gzip => format!(
            "gzip level {level}, {} KiB blocks, deflate by zlib-rs (flate2 1.1), softap-build {}",
            GZIP_BLOCK / 1024,
            env!("CARGO_PKG_VERSION")
        ),
        Compression::Zstd => format!(
            "zstd level {level}, libzstd {} multithreaded, softap-build {}",
            zstd::zstd_safe::version_string(),
            env!("CARGO_PKG_VERSION")
        ),
    }
}

/// gzip level 6: on a Debian rootfs zlib-rs at 6 uses half of zlib's CPU
/// time for an output 1.8 % larger than pigz -6; its levels 7-9 switch to the
/// slow strategy (level 8 cost 4x the CPU for 1 % less). See BENCHMARKS.md.
pub fn default_level(c: Compression) -> i32 {
    match c {
        Compression::Gzip => 6,
        Compression::Zstd => 3,
    }
}

pub fn media_type(c: Compression) -> &'static str {
    match c {
        Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
        Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
    }
}

fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Counts and hashes what passes through.
pub struct HashWriter<W> {
    pub inner: W,
    hasher: Sha256,
    pub count: u64,
}

impl<W: Write> HashWriter<W> {
    pub fn new(inner: W) -> Self {
        HashWriter {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }
    pub fn finish(self) -> (W, [u8; 32], u64) {
        (self.inner, self.hasher.finalize().into(), self.count)
    }
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A compressing writer; `finish` ends the stream and returns the sink.
pub enum Encoder<W: Write + Send + 'static> {
    Gzip(ParGzip<W>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

impl<W: Write + Send + 'static> Encoder<W> {
    pub fn new(c: Compression, level: i32, out: W) -> io::Result<Self> {
        Ok(match c {
            Compression::Gzip => Encoder::Gzip(ParGzip::new(out, level as u32, threads())),
            Compression::Zstd => {
                let mut e = zstd::stream::write::Encoder::new(out, level)?;
                e.multithread(threads().max(1) as u32)?;
                // Each worker buffers a job (default 4 windows, 8 MiB at level
                // 3); 4 MiB jobs halve that for ~1 % more output.
                e.set_parameter(zstd::stream::raw::CParameter::JobSize(4 << 20))?;
                e.include_checksum(false)?;
                Encoder::Zstd(e)
            }
        })
    }

    pub fn finish(self) -> io::Result<W> {
        match self {
            Encoder::Gzip(g) => g.finish(),
            Encoder::Zstd(z) => z.finish(),
        }
    }
}

impl<W: Write + Send + 'static> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::Gzip(g) => g.write(buf),
            Encoder::Zstd(z) => z.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

struct Job {
    seq: u64,
    dict: Option<Arc<Vec<u8>>>,
    data: Arc<Vec<u8>>,
    last: bool,
}

struct Done {
    seq: u64,
    bytes: io::Result<Vec<u8>>,
    crc: u32,
    len: u64,
    last: bool,
}

/// Parallel gzip writer (see the module comment).
pub struct ParGzip<W: Write + Send + 'static> {
    buf: Vec<u8>,
    prev: Option<Arc<Vec<u8>>>,
    seq: u64,
    jobs: Option<SyncSender<Job>>,
    credits: Receiver<()>,
    workers: Vec<JoinHandle<()>>,
    writer: Option<JoinHandle<io::Result<W>>>,
}

impl<W: Write + Send + 'static> ParGzip<W> {
    pub fn new(out: W, level: u32, threads: usize) -> Self {
        let threads = threads.max(1);
        let in_flight = threads * 8;
        let (job_tx, job_rx) = mpsc::sync_channel::<Job>(threads);
        let job_rx = Arc::new(Mutex::new(job_rx));
        let (done_tx, done_rx) = mpsc::channel::<Done>();
        let (credit_tx, credit_rx) = mpsc::sync_channel::<()>(in_flight);
        for _ in 0..in_flight {
            // Cannot fail: the channel has room for every credit.
            let _ = credit_tx.send(());
        }
        let workers = (0..threads)
            .map(|_| {
                let rx = job_rx.clone();
                let tx = done_tx.clone();
                std::thread::spawn(move || loop {
                    let job = match rx.lock() {
                        Ok(g) => g.recv(),
                        Err(_) => return,
                    };
                    let Ok(job) = job else { return };
                    let mut crc = crc32fast::Hasher::new();
                    crc.update(&job.data);
                    let bytes = deflate_block(&job.data, job.dict.as_deref(), level, job.last);
                    let done = Done {
                        seq: job.seq,
                        bytes,
                        crc: crc.finalize(),
                        len: job.data.len() as u64,
                        last: job.last,
                    };
                    if tx.send(done).is_err() {
                        return;
                    }
                })
            })
            .collect();
        drop(done_tx);
        let writer = std::thread::spawn(move || write_blocks(out, done_rx, credit_tx, level));
        ParGzip {
            buf: Vec::with_capacity(GZIP_BLOCK),
            prev: None,
            seq: 0,
            jobs: Some(job_tx),
            credits: credit_rx,
            workers,
            writer: Some(writer),
        }
    }

    fn dispatch(&mut self, last: bool) -> io::Result<()> {
        let data = Arc::new(std::mem::replace(
            &mut self.buf,
            Vec::with_capacity(GZIP_BLOCK),
        ));
        if self.credits.recv().is_err() {
            return Err(self.writer_error());
        }
        let job = Job {
            seq: self.seq,
            dict: self.prev.take(),
            data: data.clone(),
            last,
        };
        self.seq += 1;
        let sent = self.jobs.as_ref().map(|j| j.send(job));
        if !matches!(sent, Some(Ok(()))) {
            return Err(self.writer_error());
        }
        let tail = data.len().saturating_sub(DICT);
        self.prev = Some(Arc::new(data[tail..].to_vec()));
        Ok(())
    }

    /// The writer thread stopped early: return its error.
    fn writer_error(&mut self) -> io::Error {
        self.jobs = None;
        match self.writer.take().map(|w| w.join()) {
            Some(Ok(Err(e))) => e,
            _ => io::Error::other("gzip writer thread stopped"),
        }
    }

    pub fn finish(mut self) -> io::Result<W> {
        self.dispatch(true)?;
        self.jobs = None;
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
        match self.writer.take().map(|w| w.join()) {
            Some(Ok(r)) => r,
            _ => Err(io::Error::other("gzip writer thread panicked")),
        }
    }
}

impl<W: Write + Send + 'static> Write for ParGzip<W> {
    fn write(&mut self, mut buf: &[u8]) -> io::Result<usize> {
        let total = buf.len();
        while !buf.is_empty() {
            let room = GZIP_BLOCK - self.buf.len();
            let n = room.min(buf.len());
            self.buf.extend_from_slice(&buf[..n]);
            buf = &buf[n..];
            if self.buf.len() == GZIP_BLOCK {
                self.dispatch(false)?;
            }
        }
        Ok(total)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn deflate_block(
    data: &[u8],
    dict: Option<&Vec<u8>>,
    level: u32,
    last: bool,
) -> io::Result<Vec<u8>> {
    let mut c = Compress::new(Level::new(level), false);
    if let Some(d) = dict {
        c.set_dictionary(d).map_err(io::Error::other)?;
    }
    let mut out = Vec::with_capacity(data.len() / 2 + 1024);
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    loop {
        if out.capacity() - out.len() < 1024 {
            out.reserve(out.capacity().max(64 * 1024));
        }
        let consumed = c.total_in() as usize;
        let st = c
            .compress_vec(&data[consumed..], &mut out, flush)
            .map_err(io::Error::other)?;
        let all_in = c.total_in() as usize == data.len();
        match st {
            Status::StreamEnd => return Ok(out),
            // A sync flush is complete once all input is in and the output
            // buffer was not filled up.
            _ if !last && all_in && out.len() < out.capacity() => return Ok(out),
            _ => {}
        }
    }
}

fn write_blocks<W: Write>(
    mut out: W,
    done: Receiver<Done>,
    credits: SyncSender<()>,
    level: u32,
) -> io::Result<W> {
    // XFL: 2 = best compression, 4 = fastest (RFC 1952), as gzip writes it.
    let xfl = match level {
        9 => 2,
        1 => 4,
        _ => 0,
    };
    out.write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 255])?;
    let mut pending: BTreeMap<u64, Done> = BTreeMap::new();
    let mut next = 0u64;
    let mut crc = crc32fast::Hasher::new();
    let mut total: u64 = 0;
    for d in done.iter() {
        pending.insert(d.seq, d);
        while let Some(d) = pending.remove(&next) {
            out.write_all(&d.bytes?)?;
            crc.combine(&crc32fast::Hasher::new_with_initial_len(d.crc, d.len));
            total = total.wrapping_add(d.len);
            next += 1;
            let _ = credits.send(());
            if d.last {
                out.write_all(&crc.clone().finalize().to_le_bytes())?;
                out.write_all(&(total as u32).to_le_bytes())?;
                out.flush()?;
                return Ok(out);
            }
        }
    }
    Err(io::Error::other("gzip stream ended before its last block"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn gz(data: &[u8], threads: usize, level: u32) -> Vec<u8> {
        let mut w = ParGzip::new(Vec::new(), level, threads);
        for chunk in data.chunks(7919) {
            w.write_all(chunk).unwrap();
        }
        w.finish().unwrap()
    }

    fn sample(n: usize) -> Vec<u8> {
        let mut x: u32 = 1;
        (0..n)
            .map(|i| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                if i % 3 == 0 {
                    (x >> 24) as u8
                } else {
                    b"softap access point "[i % 20]
                }
            })
            .collect()
    }

    #[test]
    fn round_trips_and_ignores_thread_count() {
        for n in [0, 1, GZIP_BLOCK - 1, GZIP_BLOCK, 3 * GZIP_BLOCK + 17] {
            let data = sample(n);
            let one = gz(&data, 1, 6);
            let four = gz(&data, 4, 6);
            assert_eq!(one, four, "size {n}");
            let mut back = Vec::new();
            flate2::read::GzDecoder::new(&one[..])
                .read_to_end(&mut back)
                .unwrap();
            assert_eq!(back, data, "size {n}");
            // One member: a multi-member reader would hide a second one.
            let mut single = Vec::new();
            flate2::read::GzDecoder::new(&one[..])
                .read_to_end(&mut single)
                .unwrap();
            assert_eq!(&one[..4], &[0x1f, 0x8b, 8, 0]);
            assert_eq!(&one[4..8], &[0, 0, 0, 0], "MTIME must be 0");
        }
    }

    #[test]
    fn zstd_round_trips() {
        let data = sample(GZIP_BLOCK * 2);
        let mut e = Encoder::new(Compression::Zstd, 3, Vec::new()).unwrap();
        e.write_all(&data).unwrap();
        let out = e.finish().unwrap();
        assert_eq!(zstd::decode_all(&out[..]).unwrap(), data);
    }
}
