//! One 64-byte block of JSON text classified at a time, as simdjson's first stage does:
//! bitmasks of quotes, backslashes and brackets (with AVX2 and PCLMULQDQ where the CPU has them,
//! SSE2 or SWAR otherwise), the bytes inside strings from a prefix-xor of the unescaped quotes,
//! and from those the brackets outside strings that the splitter's `Walker` walks.

/// What carries over from one block to the next: whether the block ended inside a string, and
/// whether its last byte was an escaping backslash.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct State {
    /// All ones when the previous block ended inside a string.
    pub(super) in_string: u64,
    /// 1 when the previous block ended with an unpaired backslash.
    escaped: u64,
}

/// Bitmasks of one 64-byte block: bit i is set when byte i is the character named.
struct Masks {
    quote: u64,
    backslash: u64,
    open: u64,
    close: u64,
}

/// The brackets of one block that lie outside strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Classified {
    pub(super) brackets: u64,
    /// Which of `brackets` open.
    pub(super) opens: u64,
    /// How many open and close (counted here, where the CPU's popcount is enabled).
    pub(super) n_open: u32,
    pub(super) n_close: u32,
}

impl Classified {
    #[inline(always)]
    fn new((brackets, opens): (u64, u64)) -> Classified {
        let n_open = opens.count_ones();
        Classified {
            brackets,
            opens,
            n_open,
            n_close: brackets.count_ones() - n_open,
        }
    }
}

/// Returns the brackets outside strings and, among them, the opening ones.
pub(super) fn classify(block: &[u8; 64], state: &mut State, fast: bool) -> Classified {
    #[cfg(target_arch = "x86_64")]
    if fast {
        // SAFETY: `fast` is only true when the CPU reported AVX2, PCLMULQDQ and POPCNT support
        // (see `fast_path_available`).
        #[allow(unsafe_code)]
        return unsafe { classify_avx2(block, state) };
    }
    let _ = fast;
    Classified::new(finish(masks(block), state, prefix_xor))
}

/// Turns raw masks into brackets outside strings, given a prefix-xor implementation.
#[inline(always)]
fn finish(m: Masks, state: &mut State, prefix_xor: impl Fn(u64) -> u64) -> (u64, u64) {
    let quotes = if m.backslash == 0 && state.escaped == 0 {
        m.quote
    } else {
        m.quote & !escaped_bits(m.backslash, &mut state.escaped)
    };
    let in_string = prefix_xor(quotes) ^ state.in_string;
    state.in_string = ((in_string as i64) >> 63) as u64;
    ((m.open | m.close) & !in_string, m.open & !in_string)
}

/// Marks the characters escaped by a backslash (the odd-length backslash run rule).
fn escaped_bits(backslash: u64, prev_escaped: &mut u64) -> u64 {
    const EVEN: u64 = 0x5555_5555_5555_5555;
    let backslash = backslash & !*prev_escaped;
    let follows_escape = (backslash << 1) | *prev_escaped;
    let odd_starts = backslash & !EVEN & !follows_escape;
    let (even_seq, overflow) = odd_starts.overflowing_add(backslash);
    *prev_escaped = overflow as u64;
    (EVEN ^ (even_seq << 1)) & follows_escape
}

/// Bit i of the result is the parity of bits 0..=i of `x`: set inside strings.
fn prefix_xor(mut x: u64) -> u64 {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    x
}

pub(super) fn fast_path_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("pclmulqdq")
            && std::arch::is_x86_feature_detected!("popcnt")
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,pclmulqdq,popcnt")]
fn classify_avx2(block: &[u8; 64], state: &mut State) -> Classified {
    use std::arch::x86_64::{
        _mm_clmulepi64_si128, _mm_cvtsi128_si64, _mm_set_epi64x, _mm_set1_epi8, _mm256_cmpeq_epi8,
        _mm256_movemask_epi8, _mm256_or_si256, _mm256_set_epi64x, _mm256_set1_epi8,
    };
    let quote = _mm256_set1_epi8(b'"' as i8);
    let backslash = _mm256_set1_epi8(b'\\' as i8);
    // '[' | 0x20 == '{' and ']' | 0x20 == '}', so one compare finds both kinds of bracket.
    let lower = _mm256_set1_epi8(0x20);
    let open = _mm256_set1_epi8(b'{' as i8);
    let close = _mm256_set1_epi8(b'}' as i8);
    let mut m = Masks {
        quote: 0,
        backslash: 0,
        open: 0,
        close: 0,
    };
    for (k, lane) in block.chunks_exact(32).enumerate() {
        let word = |i: usize| {
            let bytes: [u8; 8] = lane[i * 8..i * 8 + 8].try_into().unwrap_or_default();
            i64::from_le_bytes(bytes)
        };
        let v = _mm256_set_epi64x(word(3), word(2), word(1), word(0));
        let folded = _mm256_or_si256(v, lower);
        let bits = |x| u64::from(_mm256_movemask_epi8(x) as u32) << (k * 32);
        m.quote |= bits(_mm256_cmpeq_epi8(v, quote));
        m.backslash |= bits(_mm256_cmpeq_epi8(v, backslash));
        m.open |= bits(_mm256_cmpeq_epi8(folded, open));
        m.close |= bits(_mm256_cmpeq_epi8(folded, close));
    }
    // Carry-less multiplication by all ones is a prefix xor in one instruction.
    let clmul_prefix_xor = |x: u64| {
        let product = _mm_clmulepi64_si128(_mm_set_epi64x(0, x as i64), _mm_set1_epi8(-1), 0);
        _mm_cvtsi128_si64(product) as u64
    };
    Classified::new(finish(m, state, clmul_prefix_xor))
}

#[cfg(target_arch = "x86_64")]
fn masks(block: &[u8; 64]) -> Masks {
    // SAFETY: SSE2 is part of the x86_64 baseline: every x86_64 CPU has it.
    #[allow(unsafe_code)]
    unsafe {
        masks_sse2(block)
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
fn masks_sse2(block: &[u8; 64]) -> Masks {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_movemask_epi8, _mm_or_si128, _mm_set_epi64x, _mm_set1_epi8,
    };
    let quote = _mm_set1_epi8(b'"' as i8);
    let backslash = _mm_set1_epi8(b'\\' as i8);
    let lower = _mm_set1_epi8(0x20);
    let open = _mm_set1_epi8(b'{' as i8);
    let close = _mm_set1_epi8(b'}' as i8);
    let mut m = Masks {
        quote: 0,
        backslash: 0,
        open: 0,
        close: 0,
    };
    for (k, lane) in block.chunks_exact(16).enumerate() {
        let (lo, hi) = lane.split_at(8);
        let lo = u64::from_le_bytes(lo.try_into().unwrap_or_default());
        let hi = u64::from_le_bytes(hi.try_into().unwrap_or_default());
        let v = _mm_set_epi64x(hi as i64, lo as i64);
        let folded = _mm_or_si128(v, lower);
        let bits = |x| u64::from(_mm_movemask_epi8(x) as u16) << (k * 16);
        m.quote |= bits(_mm_cmpeq_epi8(v, quote));
        m.backslash |= bits(_mm_cmpeq_epi8(v, backslash));
        m.open |= bits(_mm_cmpeq_epi8(folded, open));
        m.close |= bits(_mm_cmpeq_epi8(folded, close));
    }
    m
}

/// Portable version: SWAR comparisons on 8-byte words.
#[cfg(not(target_arch = "x86_64"))]
fn masks(block: &[u8; 64]) -> Masks {
    let mut m = Masks {
        quote: 0,
        backslash: 0,
        open: 0,
        close: 0,
    };
    for (k, word) in block.chunks_exact(8).enumerate() {
        let w = u64::from_le_bytes(word.try_into().unwrap_or_default());
        let folded = w | 0x2020_2020_2020_2020;
        m.quote |= swar_eq(w, b'"') << (k * 8);
        m.backslash |= swar_eq(w, b'\\') << (k * 8);
        m.open |= swar_eq(folded, b'{') << (k * 8);
        m.close |= swar_eq(folded, b'}') << (k * 8);
    }
    m
}

#[cfg(any(not(target_arch = "x86_64"), test))]
pub(super) fn swar_eq(w: u64, c: u8) -> u64 {
    let x = w ^ (u64::from(c) * 0x0101_0101_0101_0101);
    let t = ((x & 0x7f7f_7f7f_7f7f_7f7f) + 0x7f7f_7f7f_7f7f_7f7f) | x;
    let high = !t & 0x8080_8080_8080_8080;
    ((high >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56
}
