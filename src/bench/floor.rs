//! The cryptographic floor: what the server cannot avoid doing per request, timed in-process
//! with the same libraries the server uses — one ECDSA P-256 or RSA-2048 signature
//! verification (aws-lc-rs; it includes hashing the message) for CreateSession, one
//! HMAC-SHA256 (hmac + sha2) over a string to sign for the SigV4-authenticated STS calls.
//!
//! A shared machine changes speed from one second to the next (other tenants, frequency), so
//! a [`Sampler`] measures the floor in short bursts *throughout* the load window, in CPU time
//! of its own thread: the floor and the server's CPU time are taken under the same conditions.

use std::hint::black_box;
use std::time::{Duration, Instant};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair, ParsedPublicKey, RsaKeyPair, VerificationAlgorithm};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// A string to sign as long as a typical AWS4-X509 / SigV4 one (algorithm, date, scope and a
/// hex SHA-256 of the canonical request).
pub const MESSAGE: &[u8] = b"AWS4-X509-ECDSA-SHA256\n20260101T000000Z\n20260101/us-east-1/rolesanywhere/aws4_request\n\
3f1b7e0c5a9d2b4e6f8a0c1e3d5b7f9a1c3e5d7b9f1a3c5e7d9b1f3a5c7e9d1b";

/// One floor operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum FloorOp {
    EcdsaP256Verify,
    Rsa2048Verify,
    HmacSha256,
}

impl FloorOp {
    pub(super) fn label(self) -> &'static str {
        match self {
            Self::EcdsaP256Verify => "ECDSA P-256 verify (aws-lc-rs)",
            Self::Rsa2048Verify => "RSA-2048 PKCS#1 verify (aws-lc-rs)",
            Self::HmacSha256 => "HMAC-SHA256 (hmac+sha2)",
        }
    }
}

/// Measures the floor in bursts on a thread of its own until [`Sampler::finish`].
pub(super) struct Sampler {
    stop: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<(Duration, u64)>,
}

/// CPU time of one burst.
const BURST: Duration = Duration::from_millis(20);
/// Pause between bursts (the sampler takes about a tenth of one core).
const PAUSE: Duration = Duration::from_millis(180);

impl Sampler {
    /// Prepares `op` now (a key to generate) and measures it from `from` on: a first burst
    /// then, then one every [`PAUSE`].
    pub(super) fn start_at(op: FloorOp, from: Instant) -> Result<Sampler, String> {
        let mut run = operation(op)?;
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("bench-floor".to_owned())
            .spawn(move || {
                if let Some(wait) = from.checked_duration_since(Instant::now())
                    && stopped.recv_timeout(wait).is_ok()
                {
                    return (Duration::ZERO, 0);
                }
                let (mut cpu, mut calls) = (Duration::ZERO, 0u64);
                loop {
                    let (c, n) = time_cpu(&mut *run, BURST);
                    cpu += c;
                    calls += n;
                    match stopped.recv_timeout(PAUSE) {
                        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                        _ => return (cpu, calls),
                    }
                }
            })
            .map_err(|e| format!("cannot start the floor thread: {e}"))?;
        Ok(Sampler { stop, thread })
    }

    /// Stops sampling; the mean time of one operation over every burst, in microseconds.
    pub(super) fn finish(self) -> Result<f64, String> {
        let _ = self.stop.send(());
        let (cpu, calls) = self.thread.join().map_err(|_| "the floor thread panicked".to_owned())?;
        Ok(cpu.as_secs_f64() * 1e6 / calls.max(1) as f64)
    }
}

/// One floor operation, ready to run repeatedly.
fn operation(op: FloorOp) -> Result<Box<dyn FnMut() + Send>, String> {
    Ok(match op {
        FloorOp::EcdsaP256Verify => verify_with_parsed_key(&signature::ECDSA_P256_SHA256_ASN1, ecdsa_p256_fixture()?)?,
        FloorOp::Rsa2048Verify => verify_with_parsed_key(&signature::RSA_PKCS1_2048_8192_SHA256, rsa_2048_fixture()?)?,
        FloorOp::HmacSha256 => {
            let key = [7u8; 32];
            Box::new(move || {
                #[expect(clippy::expect_used, reason = "invariant: HMAC accepts keys of any length")]
                let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("any key length");
                mac.update(black_box(MESSAGE));
                black_box(mac.finalize().into_bytes());
            })
        }
    })
}

/// One signature verification with a key parsed beforehand, as the server verifies a request
/// (it parses a certificate's key once, into a [`ParsedPublicKey`]); parsing the key is not
/// part of the floor.
fn verify_with_parsed_key(
    algorithm: &'static dyn VerificationAlgorithm,
    (public, sig): (Vec<u8>, Vec<u8>),
) -> Result<Box<dyn FnMut() + Send>, String> {
    let key = ParsedPublicKey::new(algorithm, &public).map_err(|e| e.to_string())?;
    Ok(Box::new(move || {
        let _ = black_box(key.verify_sig(black_box(MESSAGE), &sig));
    }))
}

/// An ECDSA P-256 public key (uncompressed point) and a signature of [`MESSAGE`].
pub fn ecdsa_p256_fixture() -> Result<(Vec<u8>, Vec<u8>), String> {
    let rng = SystemRandom::new();
    let alg = &signature::ECDSA_P256_SHA256_ASN1_SIGNING;
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).map_err(|e| e.to_string())?;
    let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref()).map_err(|e| e.to_string())?;
    let sig = pair.sign(&rng, MESSAGE).map_err(|e| e.to_string())?;
    Ok((pair.public_key().as_ref().to_vec(), sig.as_ref().to_vec()))
}

/// An RSA-2048 public key (RSAPublicKey DER) and a PKCS#1 v1.5 SHA-256 signature of [`MESSAGE`].
pub fn rsa_2048_fixture() -> Result<(Vec<u8>, Vec<u8>), String> {
    let pair = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).map_err(|e| e.to_string())?;
    let mut sig = vec![0u8; pair.public_modulus_len()];
    pair.sign(&signature::RSA_PKCS1_SHA256, &SystemRandom::new(), MESSAGE, &mut sig)
        .map_err(|e| e.to_string())?;
    Ok((pair.public_key().as_ref().to_vec(), sig))
}

/// Runs `f` in batches until this thread has used `budget` of CPU time: the CPU time used
/// and the number of calls. CPU time, not wall time, so that other processes sharing the
/// machine (the server, the load workers) do not inflate the floor; a burst starved of CPU
/// for long ends with the CPU time it got.
fn time_cpu(f: &mut dyn FnMut(), budget: Duration) -> (Duration, u64) {
    for _ in 0..4 {
        f();
    }
    let budget_ns = u64::try_from(budget.as_nanos()).unwrap_or(u64::MAX);
    let wall = Instant::now();
    let cpu_start = super::procfs::thread_cpu_nanos();
    let mut calls: u64 = 0;
    // Batches of at least a millisecond keep the procfs reads out of the measurement.
    let mut batch: u64 = 4;
    loop {
        let batch_start = Instant::now();
        for _ in 0..batch {
            f();
        }
        calls += batch;
        if batch_start.elapsed() < Duration::from_millis(1) {
            batch *= 2;
        }
        let used = super::procfs::thread_cpu_nanos().saturating_sub(cpu_start);
        if used >= budget_ns || wall.elapsed() >= budget * 20 {
            return (Duration::from_nanos(used), calls);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixtures_verify() {
        let (public, sig) = ecdsa_p256_fixture().unwrap();
        let key = ParsedPublicKey::new(&signature::ECDSA_P256_SHA256_ASN1, &public).unwrap();
        assert!(key.verify_sig(MESSAGE, &sig).is_ok());
        assert!(key.verify_sig(b"other", &sig).is_err());
        let (public, sig) = rsa_2048_fixture().unwrap();
        let key = ParsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, &public).unwrap();
        assert!(key.verify_sig(MESSAGE, &sig).is_ok());
    }

    #[test]
    fn sampler_measures_until_finished() {
        let sampler = Sampler::start_at(FloorOp::HmacSha256, Instant::now()).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let us = sampler.finish().unwrap();
        assert!(us > 0.0 && us.is_finite());
    }
}
