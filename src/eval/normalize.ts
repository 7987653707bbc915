/**
 * The English text normaliser that WER is computed on: both the text a TTS model was asked
 * to say and what Whisper heard pass through it, so differences of case, punctuation and
 * number writing are not counted as errors. In the spirit of Whisper's
 * EnglishTextNormalizer, simplified; unlike it, numbers become words (Whisper writes
 * digits, prompts often spell numbers out, and words are what was spoken), and there is no
 * British -> American spelling map, no contraction expansion, no filler-word removal.
 * https://github.com/openai/whisper/blob/main/whisper/normalizers/english.py
 *
 * The steps, in order (test/fixtures/make_wer_fixtures.py holds a line-by-line Python port;
 * keep the two in step):
 *  1. Unicode NFKD, combining marks dropped ("café" -> "cafe"), lower case.
 *  2. Curly quotes to straight ones; text in `<...>` (emotion tags such as `<laugh>`) and
 *     `[...]` (non-speech annotations) removed.
 *  3. "&" -> "and".
 *  4. Currency: "$3.50" -> "three dollars and fifty cents", "£1" -> "one pound",
 *     "$1,000,000" -> "one million dollars" ($, €, £; cents / pence from two decimals,
 *     other decimals read as "point ...").
 *  5. Thousands separators removed ("1,200" -> "1200").
 *  6. "%" -> "percent".
 *  7. Ordinals: "21st" -> "twenty first", "3rd" -> "third".
 *  8. Decimals: "3.14" -> "three point one four", ".5" -> "point five".
 *  9. Other digit runs: years 1100-1999 and 2010-2099 as spoken ("1998" -> "nineteen
 *     ninety eight", "1905" -> "nineteen oh five", "1900" -> "nineteen hundred"),
 *     else cardinals without "and" ("104" -> "one hundred four", "2003" -> "two thousand
 *     three"); a leading zero or more than 15 digits is read digit by digit ("007" ->
 *     "zero zero seven").
 * 10. Every character that is not a letter, a digit or an apostrophe becomes a space
 *     (hyphens too: "twenty-one" -> "twenty one"); apostrophes at the ends of words are
 *     dropped (quotes), inside words kept ("don't"); words joined by single spaces.
 */

const ONES = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten',
  'eleven', 'twelve', 'thirteen', 'fourteen', 'fifteen', 'sixteen', 'seventeen', 'eighteen', 'nineteen'];
const TENS = ['', '', 'twenty', 'thirty', 'forty', 'fifty', 'sixty', 'seventy', 'eighty', 'ninety'];
const SCALES: [number, string][] = [[1e12, 'trillion'], [1e9, 'billion'], [1e6, 'million'], [1e3, 'thousand']];
/** Longer digit runs are read digit by digit (and stay exact in a double). */
const MAX_CARDINAL_DIGITS = 15;
const ORDINAL_IRREGULAR: Record<string, string> = {
  one: 'first', two: 'second', three: 'third', five: 'fifth', eight: 'eighth', nine: 'ninth', twelve: 'twelfth',
};
/** Symbol -> [unit, units, sub-unit, sub-units]. */
const CURRENCIES: Record<string, [string, string, string, string]> = {
  '$': ['dollar', 'dollars', 'cent', 'cents'],
  '€': ['euro', 'euros', 'cent', 'cents'],
  '£': ['pound', 'pounds', 'penny', 'pence'],
};
/** An integer with or without thousands separators. */
const NUM = '(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)';

function belowThousand(n: number): string[] {
  const words: string[] = [];
  if (n >= 100) {
    words.push(ONES[Math.floor(n / 100)]!, 'hundred');
    n %= 100;
  }
  if (n >= 20) {
    words.push(TENS[Math.floor(n / 10)]!);
    n %= 10;
    if (n) words.push(ONES[n]!);
  } else if (n || words.length === 0) {
    words.push(ONES[n]!);
  }
  return words;
}

function digitByDigit(digits: string): string {
  return [...digits].map((d) => ONES[Number(d)]!).join(' ');
}

/** "104" -> "one hundred four" (no "and"); leading zeros or > 15 digits digit by digit. */
export function cardinalWords(digits: string): string {
  if (!/^[0-9]+$/.test(digits)) throw new Error(`cardinalWords expects digits, got ${JSON.stringify(digits)}`);
  if (digits.length > MAX_CARDINAL_DIGITS || (digits.length > 1 && digits[0] === '0')) return digitByDigit(digits);
  let n = Number(digits);
  if (n === 0) return 'zero';
  const words: string[] = [];
  for (const [value, name] of SCALES) {
    if (n >= value) {
      words.push(...belowThousand(Math.floor(n / value)), name);
      n %= value;
    }
  }
  if (n) words.push(...belowThousand(n));
  return words.join(' ');
}

function yearOrCardinal(digits: string): string {
  const n = Number(digits);
  if (digits.length === 4 && ((n >= 1100 && n <= 1999) || (n >= 2010 && n <= 2099))) {
    const hi = Math.floor(n / 100);
    const lo = n % 100;
    if (lo === 0) return `${cardinalWords(String(hi))} hundred`;
    if (lo < 10) return `${cardinalWords(String(hi))} oh ${cardinalWords(String(lo))}`;
    return `${cardinalWords(String(hi))} ${cardinalWords(String(lo))}`;
  }
  return cardinalWords(digits);
}

function ordinalWords(digits: string): string {
  const words = cardinalWords(String(Number(digits))).split(' ');
  const last = words[words.length - 1]!;
  if (ORDINAL_IRREGULAR[last]) words[words.length - 1] = ORDINAL_IRREGULAR[last]!;
  else if (last.endsWith('y')) words[words.length - 1] = `${last.slice(0, -1)}ieth`;
  else words[words.length - 1] = `${last}th`;
  return words.join(' ');
}

function currencyWords(symbol: string, amount: string, frac: string | undefined): string {
  const [one, many, subOne, subMany] = CURRENCIES[symbol]!;
  const whole = amount.replace(/,/g, '');
  let words = [cardinalWords(whole), Number(whole) === 1 ? one : many];
  if (frac !== undefined && frac.length === 2) {
    const sub = Number(frac);
    if (sub) words.push('and', cardinalWords(String(sub)), sub === 1 ? subOne : subMany);
  } else if (frac !== undefined) {
    words = [cardinalWords(whole), 'point', digitByDigit(frac), many];
  }
  return ` ${words.join(' ')} `;
}

/** Normalises English text for WER (the steps are listed at the top of this file). */
export function normalizeEnglish(text: string): string {
  let s = text.normalize('NFKD').replace(/\p{M}/gu, '').toLowerCase();
  s = s.replace(/[\u2018\u2019]/g, "'").replace(/[\u201c\u201d]/g, '"');
  s = s.replace(/<[^>]*>/g, ' ').replace(/\[[^\]]*\]/g, ' ');
  s = s.replace(/&/g, ' and ');
  s = s.replace(new RegExp(`([$€£])\\s*(${NUM})(?:\\.([0-9]+))?(?![0-9])`, 'g'), (_m, sym: string, amount: string, frac: string | undefined) => currencyWords(sym, amount, frac));
  s = s.replace(/(?<![0-9])([0-9]{1,3}(?:,[0-9]{3})+)(?![0-9])/g, (_m, n: string) => n.replace(/,/g, ''));
  s = s.replace(/%/g, ' percent ');
  s = s.replace(/(?<![0-9])([0-9]+)(?:st|nd|rd|th)(?![a-z])/g, (_m, n: string) => ` ${ordinalWords(n)} `);
  s = s.replace(/(?<![0-9])([0-9]*)\.([0-9]+)/g, (_m, whole: string, frac: string) => ` ${whole ? `${cardinalWords(whole)} ` : ''}point ${digitByDigit(frac)} `);
  s = s.replace(/[0-9]+/g, (n) => ` ${yearOrCardinal(n)} `);
  s = s.replace(/[^\p{L}\p{N}'\s]/gu, ' ');
  return s.split(/\s+/).map((w) => w.replace(/^'+|'+$/g, '')).filter((w) => w.length > 0).join(' ');
}
