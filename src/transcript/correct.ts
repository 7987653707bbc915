/**
 * Transcript correction: find -> replace rules kept in a JSON file, and a glossary of
 * names and terms that proposes corrections for near misses (ASR output often spells a
 * name it has not seen by its sound: "Dudley" -> "Dudly").
 *
 * Rules file: `{"rules": [{"find": "Dudly", "replace": "Dudley"}, ...]}` (or a bare
 * array). A rule matches whole words, ignoring case, and keeps the case of what it
 * replaces; `"regex": true` makes `find` a JavaScript regular expression (flags `gu`, plus
 * `i` unless `"caseSensitive": true`) with `$1`-style replacements. Glossary file:
 * `{"terms": ["Homer Dudley", "Klatt", ...]}` (or a bare array).
 */
import { readFile } from 'node:fs/promises';
import { decodeUtf8 } from './read';
import { TranscriptError, type Segment, type Transcript } from './types';

export interface CorrectionRule {
  find: string;
  replace: string;
  /** `find` is a regular expression (default false: a literal, whole-word match). */
  regex?: boolean;
  /** Match case exactly (default false). */
  caseSensitive?: boolean;
  /** Why the rule exists, shown in the before/after table. */
  note?: string;
}

export interface Change {
  segmentId: number;
  start: number;
  end: number;
  before: string;
  after: string;
  /** The rules that changed this segment, as `find -> replace`. */
  rules: string[];
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
// Letters, digits, apostrophes inside words: "Klatt's" holds the word "Klatt".
const WORD_CHAR = "[\\p{L}\\p{N}_]";

/** The regular expression a rule matches with. */
export function ruleRegExp(rule: CorrectionRule): RegExp {
  const flags = rule.caseSensitive ? 'gu' : 'giu';
  if (rule.regex) return new RegExp(rule.find, flags);
  return new RegExp(`(?<!${WORD_CHAR})${escapeRegExp(rule.find)}(?!${WORD_CHAR})`, flags);
}

/**
 * `replacement` in the case of `matched`: ALL CAPS stays all caps; a capitalised match
 * capitalises the replacement; otherwise the replacement is used as written (so a rule's
 * proper-name capitals survive a lower-case match).
 */
export function matchCase(matched: string, replacement: string): string {
  const letters = matched.replace(/[^\p{L}]/gu, '');
  if (letters.length > 1 && letters === letters.toUpperCase() && letters !== letters.toLowerCase()) return replacement.toUpperCase();
  const first = letters[0];
  if (first && first === first.toUpperCase() && first !== first.toLowerCase()) {
    return replacement.charAt(0).toUpperCase() + replacement.slice(1);
  }
  return replacement;
}

/** Applies `rules` in order to `text`; returns the new text and the rules that changed it. */
export function applyRulesToText(text: string, rules: CorrectionRule[]): { text: string; applied: string[] } {
  const applied: string[] = [];
  for (const rule of rules) {
    const re = ruleRegExp(rule);
    const next = rule.regex ? text.replace(re, rule.replace) : text.replace(re, (m) => (rule.caseSensitive ? rule.replace : matchCase(m, rule.replace)));
    if (next !== text) applied.push(`${rule.find} -> ${rule.replace}`);
    text = next;
  }
  return { text, applied };
}

/**
 * Returns a corrected copy of the transcript (the input is not modified) and the list of
 * changed segments. Word timestamps of a changed segment are dropped when the number of
 * words changed (they would no longer line up), kept otherwise with the new spellings.
 */
export function applyRules(t: Transcript, rules: CorrectionRule[]): { transcript: Transcript; changes: Change[] } {
  const changes: Change[] = [];
  const segments = t.segments.map((s): Segment => {
    const { text, applied } = applyRulesToText(s.text, rules);
    if (applied.length === 0) return { ...s, words: s.words?.map((w) => ({ ...w })) };
    changes.push({ segmentId: s.id, start: s.start, end: s.end, before: s.text, after: text, rules: applied });
    const out: Segment = { ...s, text };
    if (s.words) {
      const newWords = text.trim().split(/\s+/);
      out.words = newWords.length === s.words.length ? s.words.map((w, i) => ({ ...w, word: (w.word.startsWith(' ') ? ' ' : '') + newWords[i]! })) : undefined;
      if (!out.words) delete out.words;
    }
    return out;
  });
  return { transcript: { ...t, segments, source: undefined }, changes };
}

async function readJson(file: string): Promise<unknown> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (e) {
    throw new TranscriptError(file, `cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    return JSON.parse(decodeUtf8(bytes, file));
  } catch (e) {
    if (e instanceof TranscriptError) throw e;
    throw new TranscriptError(file, `not valid JSON (${(e as Error).message})`);
  }
}

/** Checks a parsed rules document; errors name the file, the rule index and the field. */
export function parseRules(json: unknown, file = '<rules>'): CorrectionRule[] {
  const list = Array.isArray(json) ? json : (json as { rules?: unknown })?.rules;
  if (!Array.isArray(list)) throw new TranscriptError(file, 'expected {"rules": [...]} or an array of rules');
  return list.map((r: Record<string, unknown>, i): CorrectionRule => {
    for (const field of ['find', 'replace'] as const) {
      if (typeof r?.[field] !== 'string') throw new TranscriptError(file, `rules[${i}].${field} is ${JSON.stringify(r?.[field])}, not a string`);
    }
    if (r.find === '') throw new TranscriptError(file, `rules[${i}].find is empty`);
    for (const field of ['regex', 'caseSensitive'] as const) {
      if (r[field] !== undefined && typeof r[field] !== 'boolean') throw new TranscriptError(file, `rules[${i}].${field} is ${JSON.stringify(r[field])}, not true/false`);
    }
    const rule: CorrectionRule = { find: r.find as string, replace: r.replace as string };
    if (r.regex) rule.regex = true;
    if (r.caseSensitive) rule.caseSensitive = true;
    if (typeof r.note === 'string') rule.note = r.note;
    try {
      ruleRegExp(rule);
    } catch (e) {
      throw new TranscriptError(file, `rules[${i}].find ${JSON.stringify(r.find)} is not a valid regular expression (${(e as Error).message})`);
    }
    return rule;
  });
}

export async function loadRules(file: string): Promise<CorrectionRule[]> {
  return parseRules(await readJson(file), file);
}

export async function loadGlossary(file: string): Promise<string[]> {
  const json = await readJson(file);
  const list = Array.isArray(json) ? json : (json as { terms?: unknown })?.terms;
  if (!Array.isArray(list)) throw new TranscriptError(file, 'expected {"terms": [...]} or an array of terms');
  list.forEach((t, i) => {
    if (typeof t !== 'string' || t.trim() === '') throw new TranscriptError(file, `terms[${i}] is ${JSON.stringify(t)}, not a non-empty string`);
  });
  return list as string[];
}

// ---- glossary proposals -------------------------------------------------------------

/** Optimal string alignment distance (Levenshtein plus adjacent transpositions). */
export function editDistance(a: string, b: string): number {
  const m = a.length;
  const n = b.length;
  const d: number[][] = Array.from({ length: m + 1 }, (_, i) => Array.from({ length: n + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= m; i++) {
    for (let j = 1; j <= n; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[m]![n]!;
}

const SOUNDEX_CODES: Record<string, string> = {
  b: '1', f: '1', p: '1', v: '1',
  c: '2', g: '2', j: '2', k: '2', q: '2', s: '2', x: '2', z: '2',
  d: '3', t: '3', l: '4', m: '5', n: '5', r: '6',
};

/**
 * American Soundex of one word (the phonetic key of the US census: first letter, then
 * three digits; letters coded alike next to each other, or separated only by h/w, count
 * once). Letters outside a-z are ignored; an empty word gives ''.
 */
export function soundex(word: string): string {
  const s = word.toLowerCase().normalize('NFD').replace(/[^a-z]/g, '');
  if (!s) return '';
  let out = s[0]!.toUpperCase();
  let last = SOUNDEX_CODES[s[0]!] ?? '';
  for (let i = 1; i < s.length && out.length < 4; i++) {
    const ch = s[i]!;
    const code = SOUNDEX_CODES[ch];
    if (code) {
      if (code !== last) out += code;
      last = code;
    } else if (ch !== 'h' && ch !== 'w') {
      last = ''; // a vowel separates equal codes
    }
  }
  return out.padEnd(4, '0');
}

/** The phonetic key of a phrase: the Soundex of each word, joined by spaces. */
export const phoneticKey = (phrase: string) => phrase.split(/\s+/).filter(Boolean).map(soundex).join(' ');

export interface Proposal {
  segmentId: number;
  /** The text as transcribed. */
  found: string;
  /** The glossary term it is probably meant to be. */
  term: string;
  /** Edit distance between the two, ignoring case and punctuation. */
  distance: number;
  /** True when both sound alike (equal Soundex keys). */
  soundsAlike: boolean;
}

export interface ProposeOptions {
  /** Largest edit distance proposed, as a fraction of the term's length (default 0.34). */
  maxRelativeDistance?: number;
}

const normalise = (s: string) => s.toLowerCase().normalize('NFD').replace(/[^\p{L}\p{N} ]/gu, '').replace(/\s+/g, ' ').trim();

/**
 * Proposes glossary corrections: every run of as many words as a term that is not the
 * term but is within the edit-distance limit, or sounds alike and is within twice the
 * limit. Exact spellings are not proposed. One proposal per (found, term) pair, at the
 * first segment where it occurs; `proposalsToRules` turns accepted ones into rules.
 */
export function proposeCorrections(t: Transcript, glossary: string[], options: ProposeOptions = {}): Proposal[] {
  const maxRel = options.maxRelativeDistance ?? 0.34;
  const out: Proposal[] = [];
  const seen = new Set<string>();
  for (const term of glossary) {
    const termNorm = normalise(term);
    const n = termNorm.split(' ').length;
    const limit = Math.max(1, Math.floor(maxRel * termNorm.length));
    const termKey = phoneticKey(termNorm);
    for (const seg of t.segments) {
      // Words with their trailing punctuation stripped, so "Dudly," is found as "Dudly".
      const words = seg.text.split(/\s+/).filter(Boolean).map((w) => w.replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, ''));
      for (let i = 0; i + n <= words.length; i++) {
        const found = words.slice(i, i + n).join(' ');
        const foundNorm = normalise(found);
        if (!foundNorm || foundNorm === termNorm) continue;
        const distance = editDistance(foundNorm, termNorm);
        const soundsAlike = phoneticKey(foundNorm) === termKey;
        if (distance <= limit || (soundsAlike && distance <= 2 * limit)) {
          const key = `${found}\u0000${term}`;
          if (seen.has(key)) continue;
          seen.add(key);
          out.push({ segmentId: seg.id, found, term, distance, soundsAlike });
        }
      }
    }
  }
  return out;
}

/** Rules that apply accepted proposals. */
export function proposalsToRules(proposals: Proposal[]): CorrectionRule[] {
  return proposals.map((p) => ({ find: p.found, replace: p.term, caseSensitive: true, note: `glossary: ${p.term} (distance ${p.distance}${p.soundsAlike ? ', sounds alike' : ''})` }));
}
