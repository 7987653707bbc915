/**
 * Sentence boundaries that know about abbreviations ("Dr. Klatt", "e.g. Hawking",
 * "M.I.T."), initials ("J. R. Pierce") and decimals ("3.5").
 */

/** Abbreviations that end in a period but rarely end a sentence (lower case, no final period). */
export const ABBREVIATIONS = new Set([
  'mr', 'mrs', 'ms', 'dr', 'prof', 'sr', 'jr', 'st', 'mt', 'vs', 'etc', 'eg', 'e.g', 'ie', 'i.e', 'cf', 'al', 'fig', 'no', 'vol',
  'approx', 'ca', 'inc', 'ltd', 'co', 'corp', 'dept', 'univ', 'jan', 'feb', 'mar', 'apr', 'jun', 'jul', 'aug', 'sep', 'sept',
  'oct', 'nov', 'dec', 'u.s', 'u.k', 'p.m', 'a.m',
]);

// Closing quotes and brackets that may follow the final punctuation.
const CLOSERS = `["'”’)\\]»]`;

/** True when `token` (a word with its punctuation) is an abbreviation or an initial. */
function isAbbreviation(token: string): boolean {
  const core = token.replace(new RegExp(`${CLOSERS}+$`), '').replace(/\.$/, '').replace(/^[("'“‘\[«]+/, '').toLowerCase();
  if (ABBREVIATIONS.has(core)) return true;
  // Single letters ("J.") and dotted initialisms ("M.I.T", "U.S.A").
  return /^\p{L}$/u.test(core) || /^(\p{L}\.)+\p{L}$/u.test(core);
}

/**
 * True when `text` ends a sentence: its last word ends in `.`, `!`, `?` or `…`
 * (optionally followed by closing quotes or brackets), and a final period does not belong
 * to an abbreviation or an initial.
 */
export function endsSentence(text: string): boolean {
  const t = text.trimEnd();
  const m = new RegExp(`([.!?…])${CLOSERS}*$`).exec(t);
  if (!m) return false;
  if (m[1] !== '.') return true;
  const last = t.split(/\s+/).pop() ?? '';
  return !isAbbreviation(last);
}

/**
 * Splits text into sentences at `.`, `!`, `?` followed by space and an upper-case
 * letter, digit or opening quote, except after abbreviations and initials. Sentences keep
 * their punctuation; whitespace between them is dropped.
 */
export function splitSentences(text: string): string[] {
  const words = text.trim().split(/\s+/).filter(Boolean);
  const out: string[] = [];
  let current: string[] = [];
  words.forEach((w, i) => {
    current.push(w);
    const next = words[i + 1];
    if (next === undefined) return;
    const startsNew = /^["'“‘(\[«]?[\p{Lu}\p{N}]/u.test(next);
    if (startsNew && endsSentence(w)) {
      out.push(current.join(' '));
      current = [];
    }
  });
  if (current.length > 0) out.push(current.join(' '));
  return out;
}
