// exp and log to within about half a float32 ulp, as WGSL functions kernels include.
//
// WGSL only promises (3 + 2|x|) ulp for its builtin exp and an absolute 2^-21 for log on
// [0.5, 2], and lavapipe takes that room: its exp(x) is exp2 of the rounded product x·log2 e,
// which at |x| = 80 puts the result off by 3.9e-6 of itself, and its log near 1 is off by up to
// 1e-7 absolute (5 % of log x at x = 1 − 1.7e-6).
// These are range-reduced forms with error-free first steps:
//
//   exp_acc  x = k·ln2/8 + r (Cody-Waite: ln2/8 = L1 + L2 with L1 of 12 significant bits, so
//            k·L1 and x − k·L1 are exact), e^x = 2^(k div 8)·2^((k mod 8)/8)·e^r with the
//            middle factor a float32 pair hi + lo picked by selects, e^r − 1 = p by Taylor to r⁵
//            (|r| ≤ 0.0434: truncation 9e-12) and hi + (hi·p + lo) rounded once at the end:
//            about 0.53 ulp. No step relies on an exact cancellation or on how a sum with a
//            constant is grouped: lavapipe's compiler folds (1 − (1 + x)) + x to 0 and regroups
//            1 + (r + q), so Fast2Sum corrections and a final 1 + (…) each cost up to an ulp.
//            Nor on a float-to-int conversion (on lavapipe it costs more than the rest) or an
//            indexed table (a 32-entry array made the function 2× slower there). The power of
//            two goes on as two exact factors: overflow gives +∞ (x ≥ 88.73), underflow 0 or a
//            subnormal, NaN stays NaN.
//   log_acc  x = 2^k·m with m ∈ [√½, √2), f = m − 1 (exact), log(1 + f) from s = f/(2 + f) by
//            the fdlibm/musl logf polynomial (error < 2^-34 of it), k·ln2 added in two parts:
//            under 1 ulp. Zero gives −∞; negatives, subnormals, ∞ and NaN get the builtin log.
//
// Both are written for a float type F (f32, or vec4<f32> — the elementwise kernels' vec4 path),
// componentwise; `mathWgsl` returns the functions an expression calls, for that type. On
// lavapipe exp_acc costs about 1.5× the builtin exp and log_acc about 1.4× the builtin log.

/** The integer types going with a float type (f32 → i32/u32, vec4<f32> → vec4<i32>/vec4<u32>). */
function intTypes(F: string): { I: string; U: string } {
  const m = /^vec(\d)<f32>$/.exec(F);
  if (F === 'f32') return { I: 'i32', U: 'u32' };
  if (m) return { I: `vec${m[1]}<i32>`, U: `vec${m[1]}<u32>` };
  throw new Error(`mathWgsl: no integer types for '${F}' (f32 or vecN<f32>)`);
}

/** A float as a WGSL f32 literal (always with a point or an exponent). */
const lit = (v: number): string => (/[.e]/.test(String(v)) ? String(v) : `${v}.0`);

/** 2^(j/8), j = 0…7, each as the nearest float32 [0] and the float32 nearest the rest [1]. */
const EXP2_8 = Array.from({ length: 8 }, (_, j) => {
  const t = 2 ** (j / 8), hi = Math.fround(t);
  return [hi, Math.fround(t - hi)];
});

/** WGSL picking EXP2_8[j][part] by the bits b0, b1, b2 of j: a tree of selects, no array. */
function pickPower(part: 0 | 1, F: string): string {
  const v = (j: number): string => `${F}(${lit(EXP2_8[j][part])})`;
  const s = (a: string, b: string, bit: string): string => `select(${a}, ${b}, ${bit})`;
  return s(s(s(v(0), v(1), 'b0'), s(v(2), v(3), 'b0'), 'b1'), s(s(v(4), v(5), 'b0'), s(v(6), v(7), 'b0'), 'b1'), 'b2');
}

function expAcc(F: string): string {
  const { I, U } = intTypes(F);
  return `
fn exp_acc(x0: ${F}) -> ${F} {
  // past the ends the result is 0 or +inf (x >= 88.73 overflows below); NaN stays NaN
  let x = select(select(x0, ${F}(-105.0), x0 < ${F}(-105.0)), ${F}(89.0), x0 > ${F}(89.0));
  let kf = round(x * 11.541560327111707);                              // k = round(x·8/ln2)
  let r = (x - kf * 0.086639404296875) - kf * 3.993273118160778e-6;   // x − k·ln2/8, |r| <= 0.0434
  let p = r + r * r * (0.5 + r * (0.16666666666666666 + r * (0.041666666666666664 + r * 8.333333333333333e-3)));
  // k's bits without a float-to-int conversion: k + 1.5·2^23 holds k in its low mantissa bits
  let kb = bitcast<${U}>(kf + 12582912.0);
  let b0 = (kb & ${U}(1u)) != ${U}(0u);
  let b1 = (kb & ${U}(2u)) != ${U}(0u);
  let b2 = (kb & ${U}(4u)) != ${U}(0u);
  let hi = ${pickPower(0, F)};
  let lo = ${pickPower(1, F)};
  let n = bitcast<${I}>(kb - ${U}(0x4b400000u)) >> ${U}(3u);     // floor(k/8) in [-152, 128]
  let n1 = n >> ${U}(1u);
  return (hi + (hi * p + lo)) * bitcast<${F}>((n1 + ${I}(127)) << ${U}(23u)) * bitcast<${F}>((n - n1 + ${I}(127)) << ${U}(23u));
}`;
}

function logAcc(F: string): string {
  const { I, U } = intTypes(F);
  return `
fn log_acc(x: ${F}) -> ${F} {
  // x = 2^k·m, m in [sqrt(1/2), sqrt(2)): shift the exponent field so the split falls at sqrt(2)
  let ix = bitcast<${U}>(x) + ${U}(0x3f800000u - 0x3f3504f3u);
  let k = ${I}(ix >> ${U}(23u)) - ${I}(127);
  let f = bitcast<${F}>((ix & ${U}(0x007fffffu)) + ${U}(0x3f3504f3u)) - 1.0;
  let s = f / (2.0 + f);
  let z = s * s;
  let w = z * z;
  let R = z * (0.66666662693 + w * 0.28498786688) + w * (0.40000972152 + w * 0.24279078841);
  let hfsq = 0.5 * f * f;
  let dk = ${F}(k);
  let y = s * (hfsq + R) + dk * 9.0580006145e-6 - hfsq + f + dk * 0.69313812256;
  let bits = bitcast<${U}>(x);
  // log 0 = −∞ spelled out: SwiftShader's builtin gives −88.03 (the log of the smallest normal);
  // the bits come from x at run time because WGSL refuses an infinite constant
  let mag = bits & ${U}(0x7fffffffu);
  let edge = select(log(x), bitcast<${F}>(mag | ${U}(0xff800000u)), mag == ${U}(0u));
  return select(edge, y, (bits >= ${U}(0x00800000u)) & (bits <= ${U}(0x7f7fffffu))); // positive, normal, finite
}`;
}

/**
 * (cos 2πu, sin 2πu) for u in [0, 1] (Box-Muller's angle), f32 only. WGSL allows sin and cos an
 * absolute error of 2^-11 on [−π, π], and SwiftShader's are that coarse: its normal draws were
 * off by 2.3e-4 from the float64 twin (lavapipe's by < 1e-6). The quadrant comes from u itself:
 * q = round(4u) and f = u − q/4 ∈ [−1/8, 1/8] are exact (u is a multiple of 2^-24), so the
 * reduced angle 2πf ∈ [−π/4, π/4] carries only its product's rounding; sin and cos there by
 * Taylor polynomials to r¹¹ and r¹² (truncation < 1e-11), then rotated by the quadrant with
 * selects: a few ulps in all.
 */
function sincos2piAcc(F: string): string {
  if (F !== 'f32') throw new Error(`mathWgsl: sincos2pi_acc is written for f32, not '${F}'`);
  return `
fn sincos2pi_acc(u: f32) -> vec2<f32> {
  let q = round(4.0 * u);
  let r = (u - 0.25 * q) * 6.283185307179586;
  let z = r * r;
  let s = r + r * z * (-0.16666666666666666 + z * (8.333333333333333e-3 + z * (-1.984126984126984e-4 + z * (2.7557319223985893e-6 + z * -2.505210838544172e-8))));
  let c = 1.0 + z * (-0.5 + z * (0.041666666666666664 + z * (-1.388888888888889e-3 + z * (2.48015873015873e-5 + z * (-2.755731922398589e-7 + z * 2.08767569878681e-9)))));
  let m = q - 4.0 * floor(0.25 * q); // the quadrant, 0..3 (u = 1 is quadrant 4 = 0)
  return select(select(select(vec2<f32>(c, s), vec2<f32>(-s, c), m == 1.0), vec2<f32>(-c, -s), m == 2.0), vec2<f32>(s, -c), m == 3.0);
}`;
}

const FUNCTIONS: Record<string, (F: string) => string> = { exp_acc: expAcc, log_acc: logAcc, sincos2pi_acc: sincos2piAcc };

/** The WGSL of every accurate function (exp_acc, log_acc, sincos2pi_acc) that `code` calls, for float type F. */
export function mathWgsl(code: string, F = 'f32'): string {
  return Object.entries(FUNCTIONS).filter(([name]) => new RegExp(`\\b${name}\\(`).test(code)).map(([, f]) => f(F)).join('\n');
}
