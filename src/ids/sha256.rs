//! SHA-256, as every part of the product computes it (the journal's chain, content digests, ids).
//!
//! The `sha2` crate does the work, except where the CPU has the SHA extensions and the C library
//! already says so: then the compression runs here, with those instructions. The reason is the
//! hook's start: `sha2` asks the CPU itself (`cpuid`) in every process, and in a virtual machine
//! each `cpuid` traps to the hypervisor (~8 µs measured, two per process), while glibc has
//! asked already at start-up and keeps the answer (`__x86_get_cpuid_feature_leaf`, glibc ≥
//! 2.33; `build.rs` sets `glibc_cpu_features` where the build links against such a glibc).
//!
//! The compression function below is the `sha2` crate's own x86 backend (`sha2` 0.10,
//! `src/sha256/x86.rs`, MIT OR Apache-2.0), unchanged but for names; a test checks every length
//! from 0 to 1,100 bytes and larger inputs against `sha2`.

/// An incremental SHA-256.
#[derive(Clone)]
pub struct Sha256(Inner);

#[derive(Clone)]
enum Inner {
    Soft(sha2::Sha256),
    #[cfg(all(target_arch = "x86_64", glibc_cpu_features))]
    Ni(ni::State),
}

impl Default for Sha256 {
    fn default() -> Self {
        Sha256::new()
    }
}

impl Sha256 {
    pub fn new() -> Sha256 {
        #[cfg(all(target_arch = "x86_64", glibc_cpu_features))]
        if ni::available() {
            return Sha256(Inner::Ni(ni::State::new()));
        }
        Sha256(Inner::Soft(<sha2::Sha256 as sha2::Digest>::new()))
    }

    pub fn update(&mut self, data: impl AsRef<[u8]>) {
        match &mut self.0 {
            Inner::Soft(h) => sha2::Digest::update(h, data.as_ref()),
            #[cfg(all(target_arch = "x86_64", glibc_cpu_features))]
            Inner::Ni(s) => s.update(data.as_ref()),
        }
    }

    pub fn finalize(self) -> [u8; 32] {
        match self.0 {
            Inner::Soft(h) => sha2::Digest::finalize(h).into(),
            #[cfg(all(target_arch = "x86_64", glibc_cpu_features))]
            Inner::Ni(s) => s.finalize(),
        }
    }

    /// The digest of `data`.
    pub fn digest(data: impl AsRef<[u8]>) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(data);
        h.finalize()
    }
}

#[cfg(all(target_arch = "x86_64", glibc_cpu_features))]
mod ni {
    use core::arch::x86_64::*;

    /// glibc's `struct cpuid_feature` (`<sys/platform/x86.h>`): the registers `cpuid` returned
    /// for one leaf, and which of their features are usable.
    #[repr(C)]
    struct CpuidFeature {
        cpuid: [u32; 4],
        active: [u32; 4],
    }

    extern "C" {
        fn __x86_get_cpuid_feature_leaf(leaf: u32) -> *const CpuidFeature;
    }

    /// glibc's `CPUID_INDEX_1`, `CPUID_INDEX_7`; registers eax, ebx, ecx, edx are 0..4.
    const INDEX_1: u32 = 0;
    const INDEX_7: u32 = 1;
    const ECX: usize = 2;
    const EDX: usize = 3;
    const EBX: usize = 1;

    /// SHA, SSE2, SSSE3 and SSE4.1 are usable (what [`compress`] needs), as glibc found at start.
    pub(super) fn available() -> bool {
        // SAFETY: glibc returns a pointer to its static table for every index below its
        // CPUID_INDEX_MAX (or to a zeroed one past it); both indexes here are below.
        let (one, seven) =
            unsafe { (&*__x86_get_cpuid_feature_leaf(INDEX_1), &*__x86_get_cpuid_feature_leaf(INDEX_7)) };
        let bit = |r: u32, b: u32| r & (1 << b) != 0;
        bit(one.active[EDX], 26) // SSE2
            && bit(one.active[ECX], 9) // SSSE3
            && bit(one.active[ECX], 19) // SSE4.1
            && bit(seven.active[EBX], 29) // SHA
    }

    const H0: [u32; 8] =
        [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

    #[derive(Clone)]
    pub(super) struct State {
        h: [u32; 8],
        buf: [u8; 64],
        filled: usize,
        /// Bytes hashed so far.
        len: u64,
    }

    impl State {
        pub(super) fn new() -> State {
            State { h: H0, buf: [0; 64], filled: 0, len: 0 }
        }

        pub(super) fn update(&mut self, mut data: &[u8]) {
            self.len += data.len() as u64;
            if self.filled > 0 {
                let take = (64 - self.filled).min(data.len());
                self.buf[self.filled..self.filled + take].copy_from_slice(&data[..take]);
                self.filled += take;
                data = &data[take..];
                if self.filled < 64 {
                    return;
                }
                let block = self.buf;
                self.blocks(&block);
                self.filled = 0;
            }
            let whole = data.len() / 64 * 64;
            self.blocks(&data[..whole]);
            let rest = &data[whole..];
            self.buf[..rest.len()].copy_from_slice(rest);
            self.filled = rest.len();
        }

        pub(super) fn finalize(mut self) -> [u8; 32] {
            let bits = self.len.wrapping_mul(8);
            let mut tail = [0u8; 128];
            tail[..self.filled].copy_from_slice(&self.buf[..self.filled]);
            tail[self.filled] = 0x80;
            let n = if self.filled < 56 { 64 } else { 128 };
            tail[n - 8..n].copy_from_slice(&bits.to_be_bytes());
            self.blocks(&tail[..n]);
            let mut out = [0u8; 32];
            for (o, w) in out.chunks_exact_mut(4).zip(self.h) {
                o.copy_from_slice(&w.to_be_bytes());
            }
            out
        }

        /// `data`: whole 64-byte blocks.
        fn blocks(&mut self, data: &[u8]) {
            debug_assert_eq!(data.len() % 64, 0);
            if !data.is_empty() {
                // SAFETY: `available()` said the CPU has every feature `compress` enables (a
                // `State` is only made after it did).
                unsafe { compress(&mut self.h, data) }
            }
        }
    }

    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
        0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
        0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
        0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
        0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
        0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
        0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];

    #[inline(always)]
    unsafe fn schedule(v0: __m128i, v1: __m128i, v2: __m128i, v3: __m128i) -> __m128i {
        let t1 = _mm_sha256msg1_epu32(v0, v1);
        let t2 = _mm_alignr_epi8(v3, v2, 4);
        let t3 = _mm_add_epi32(t1, t2);
        _mm_sha256msg2_epu32(t3, v3)
    }

    macro_rules! rounds4 {
        ($abef:ident, $cdgh:ident, $rest:expr, $i:expr) => {{
            let k = &K[$i * 4..$i * 4 + 4];
            let kv = _mm_set_epi32(k[3] as i32, k[2] as i32, k[1] as i32, k[0] as i32);
            let t1 = _mm_add_epi32($rest, kv);
            $cdgh = _mm_sha256rnds2_epu32($cdgh, $abef, t1);
            let t2 = _mm_shuffle_epi32(t1, 0x0E);
            $abef = _mm_sha256rnds2_epu32($abef, $cdgh, t2);
        }};
    }

    macro_rules! schedule_rounds4 {
        ($abef:ident, $cdgh:ident, $w0:expr, $w1:expr, $w2:expr, $w3:expr, $w4:expr, $i:expr) => {{
            $w4 = schedule($w0, $w1, $w2, $w3);
            rounds4!($abef, $cdgh, $w4, $i);
        }};
    }

    /// The compression of whole 64-byte blocks into `state`.
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    #[allow(clippy::cast_ptr_alignment)] // unaligned loads and stores only
    unsafe fn compress(state: &mut [u32; 8], data: &[u8]) {
        let mask: __m128i = _mm_set_epi64x(0x0C0D_0E0F_0809_0A0Bu64 as i64, 0x0405_0607_0001_0203u64 as i64);
        let state_ptr = state.as_ptr() as *const __m128i;
        let dcba = _mm_loadu_si128(state_ptr.add(0));
        let efgh = _mm_loadu_si128(state_ptr.add(1));
        let cdab = _mm_shuffle_epi32(dcba, 0xB1);
        let efgh = _mm_shuffle_epi32(efgh, 0x1B);
        let mut abef = _mm_alignr_epi8(cdab, efgh, 8);
        let mut cdgh = _mm_blend_epi16(efgh, cdab, 0xF0);

        for block in data.chunks_exact(64) {
            let abef_save = abef;
            let cdgh_save = cdgh;
            let p = block.as_ptr() as *const __m128i;
            let mut w0 = _mm_shuffle_epi8(_mm_loadu_si128(p.add(0)), mask);
            let mut w1 = _mm_shuffle_epi8(_mm_loadu_si128(p.add(1)), mask);
            let mut w2 = _mm_shuffle_epi8(_mm_loadu_si128(p.add(2)), mask);
            let mut w3 = _mm_shuffle_epi8(_mm_loadu_si128(p.add(3)), mask);
            let mut w4;

            rounds4!(abef, cdgh, w0, 0);
            rounds4!(abef, cdgh, w1, 1);
            rounds4!(abef, cdgh, w2, 2);
            rounds4!(abef, cdgh, w3, 3);
            schedule_rounds4!(abef, cdgh, w0, w1, w2, w3, w4, 4);
            schedule_rounds4!(abef, cdgh, w1, w2, w3, w4, w0, 5);
            schedule_rounds4!(abef, cdgh, w2, w3, w4, w0, w1, 6);
            schedule_rounds4!(abef, cdgh, w3, w4, w0, w1, w2, 7);
            schedule_rounds4!(abef, cdgh, w4, w0, w1, w2, w3, 8);
            schedule_rounds4!(abef, cdgh, w0, w1, w2, w3, w4, 9);
            schedule_rounds4!(abef, cdgh, w1, w2, w3, w4, w0, 10);
            schedule_rounds4!(abef, cdgh, w2, w3, w4, w0, w1, 11);
            schedule_rounds4!(abef, cdgh, w3, w4, w0, w1, w2, 12);
            schedule_rounds4!(abef, cdgh, w4, w0, w1, w2, w3, 13);
            schedule_rounds4!(abef, cdgh, w0, w1, w2, w3, w4, 14);
            schedule_rounds4!(abef, cdgh, w1, w2, w3, w4, w0, 15);

            abef = _mm_add_epi32(abef, abef_save);
            cdgh = _mm_add_epi32(cdgh, cdgh_save);
        }

        let feba = _mm_shuffle_epi32(abef, 0x1B);
        let dchg = _mm_shuffle_epi32(cdgh, 0xB1);
        let dcba = _mm_blend_epi16(feba, dchg, 0xF0);
        let hgef = _mm_alignr_epi8(dchg, feba, 8);
        let out = state.as_mut_ptr() as *mut __m128i;
        _mm_storeu_si128(out.add(0), dcba);
        _mm_storeu_si128(out.add(1), hgef);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(data: &[u8]) -> [u8; 32] {
        <sha2::Sha256 as sha2::Digest>::digest(data).into()
    }

    #[test]
    fn equals_sha2_for_every_length_and_any_split() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        for n in (0..=1100).chain([4095, 4096, 4097, 5000]) {
            let want = reference(&data[..n]);
            assert_eq!(Sha256::digest(&data[..n]), want, "length {n}");
            // Fed in pieces of every size up to 130 bytes.
            let step = 1 + n % 130;
            let mut h = Sha256::new();
            for piece in data[..n].chunks(step) {
                h.update(piece);
            }
            assert_eq!(h.finalize(), want, "length {n} in pieces of {step}");
        }
        assert_eq!(
            crate::ids::hex(&Sha256::digest(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    /// Where the build reads glibc's table, it agrees with what the CPU itself says (`cpuid`,
    /// through the standard library).
    #[test]
    #[cfg(all(target_arch = "x86_64", glibc_cpu_features))]
    fn glibcs_answer_is_the_cpus() {
        let cpu = std::arch::is_x86_feature_detected!("sha")
            && std::arch::is_x86_feature_detected!("sse4.1")
            && std::arch::is_x86_feature_detected!("ssse3");
        assert_eq!(ni::available(), cpu);
        assert_eq!(matches!(Sha256::new().0, Inner::Ni(_)), cpu);
    }
}
