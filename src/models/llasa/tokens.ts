/**
 * Llasa's token layout: a Llama-3 vocabulary (128256 ids) extended by the training script
 * (HKUSTAudio LLaSA_training/train_tts.py, `tokenizer.add_tokens(...)`) with 8 task markers
 * and one token `<|s_N|>` per XCodec2 code; ../shared/REFERENCE.md, Llasa.
 *
 *   128256..128263  <|TEXT_GENERATION_START|> ... <|SPEECH_UNDERSTANDING_END|> (order below)
 *   128264 + N      <|s_N|>, N = 0..65535 (one XCodec2 code per 20 ms at 16 kHz)
 *   193800          vocabulary size
 *
 * A fixture or tiny model may use a smaller speech codebook at other ids: code that needs
 * the ids reads a `LlasaTokenLayout` from the tokenizer (`llasaLayoutFromTokenizer`), and
 * `LLASA_LAYOUT` is the real checkpoints' layout.
 */

/** Ids of the Llama-3 tokenizer the markers and speech tokens follow. */
export const LLAMA3_VOCAB_SIZE = 128256;
/** The 8 markers in the order the training script adds them (id = 128256 + index). */
export const LLASA_MARKERS = [
  'TEXT_GENERATION_START', 'TEXT_GENERATION_END', 'TEXT_UNDERSTANDING_START', 'TEXT_UNDERSTANDING_END',
  'SPEECH_GENERATION_START', 'SPEECH_GENERATION_END', 'SPEECH_UNDERSTANDING_START', 'SPEECH_UNDERSTANDING_END',
] as const;
export type LlasaMarker = (typeof LLASA_MARKERS)[number];
/** XCodec2's single codebook: 2^16 codes (FSQ levels [4, 4, 4, 4, 4, 4, 4, 4]). */
export const XCODEC2_CODEBOOK_SIZE = 65536;
/** Id of `<|s_0|>` in the real checkpoints (the training code's `base_num = 128256 + 8`). */
export const LLASA_SPEECH_TOKEN_START = LLAMA3_VOCAB_SIZE + LLASA_MARKERS.length; // 128264
/** Rows of the Llasa-1B/3B/8B embedding. */
export const LLASA_VOCAB_SIZE = LLASA_SPEECH_TOKEN_START + XCODEC2_CODEBOOK_SIZE; // 193800

/** The token text of a marker: `<|SPEECH_GENERATION_START|>`. */
export function markerToken(marker: LlasaMarker): string {
  return `<|${marker}|>`;
}

/** The token text of speech code `code`: `<|s_123|>`. */
export function speechTokenText(code: number): string {
  return `<|s_${code}|>`;
}

/** Where a tokenizer puts the markers and speech tokens. */
export interface LlasaTokenLayout {
  /** Id of each marker. */
  markers: Readonly<Record<LlasaMarker, number>>;
  /** Id of `<|s_0|>`; `<|s_N|>` = speechTokenStart + N. */
  speechTokenStart: number;
  /** Speech codes the vocabulary holds (65536 for the real checkpoints). */
  numSpeechTokens: number;
}

/** The layout of HKUSTAudio/Llasa-1B, -3B and -8B. */
export const LLASA_LAYOUT: LlasaTokenLayout = Object.freeze({
  markers: Object.freeze(Object.fromEntries(LLASA_MARKERS.map((m, i) => [m, LLAMA3_VOCAB_SIZE + i])) as Record<LlasaMarker, number>),
  speechTokenStart: LLASA_SPEECH_TOKEN_START,
  numSpeechTokens: XCODEC2_CODEBOOK_SIZE,
});

/** What the layout reader needs of a tokenizer (TextTokenizer has it). */
export interface TokenLookup {
  tokenToId(token: string): number | undefined;
}

/**
 * Reads the layout from a tokenizer: every marker must exist, `<|s_0|>` must exist, and
 * `<|s_N|>` must sit at `<|s_0|>` + N for every N up to the first one missing. Throws naming
 * the token and the id found.
 */
export function llasaLayoutFromTokenizer(tokenizer: TokenLookup, source = 'tokenizer'): LlasaTokenLayout {
  const markers = {} as Record<LlasaMarker, number>;
  for (const m of LLASA_MARKERS) {
    const id = tokenizer.tokenToId(markerToken(m));
    if (id === undefined) throw new Error(`${source}: no Llasa marker ${markerToken(m)} in the vocabulary (is this a Llasa tokenizer?)`);
    markers[m] = id;
  }
  const start = tokenizer.tokenToId(speechTokenText(0));
  if (start === undefined) throw new Error(`${source}: no speech token ${speechTokenText(0)} in the vocabulary`);
  let n = 1;
  for (;; n++) {
    const id = tokenizer.tokenToId(speechTokenText(n));
    if (id === undefined) break;
    if (id !== start + n) throw new Error(`${source}: ${speechTokenText(n)} has id ${id}, expected ${start + n} (<|s_0|> = ${start} + ${n})`);
  }
  const speechIds = [start, start + n - 1];
  for (const m of LLASA_MARKERS) {
    if (markers[m] >= speechIds[0] && markers[m] <= speechIds[1]) throw new Error(`${source}: marker ${markerToken(m)} id ${markers[m]} lies inside the speech tokens [${speechIds[0]}, ${speechIds[1]}]`);
  }
  return { markers, speechTokenStart: start, numSpeechTokens: n };
}

/** Speech codes -> token ids; throws naming the index and value of a code outside the codebook. */
export function codesToSpeechTokens(codes: ArrayLike<number>, layout: LlasaTokenLayout = LLASA_LAYOUT): number[] {
  const out = new Array<number>(codes.length);
  for (let i = 0; i < codes.length; i++) {
    const c = codes[i];
    if (!(Number.isInteger(c) && c >= 0 && c < layout.numSpeechTokens)) {
      throw new Error(`speech code ${i} is ${c}, expected an integer in [0, ${layout.numSpeechTokens})`);
    }
    out[i] = layout.speechTokenStart + c;
  }
  return out;
}

/** A generated token that is not speech: where it is and what it is. */
export interface TokenIssue {
  /** Index in the token list given to the parser. */
  position: number;
  /** The token id found. */
  value: number;
  reason: string;
}

export interface ParsedLlasaSpeech {
  /** The speech codes, in order (0..numSpeechTokens-1). */
  codes: number[];
  /** Non-speech tokens dropped under `onInvalid: 'skip'` (empty otherwise). */
  invalid: TokenIssue[];
  /** Whether <|SPEECH_GENERATION_END|> was seen; tokens after it are ignored. */
  ended: boolean;
}

export interface ParseOptions {
  /** A token that is not `<|s_N|>`: 'throw' (default; the error names position and value) or 'skip' (drop it, report it). */
  onInvalid?: 'throw' | 'skip';
}

/**
 * Generated tokens -> XCodec2 codes. Speech starts after the last
 * <|SPEECH_GENERATION_START|> if there is one (else at index 0) and ends at
 * <|SPEECH_GENERATION_END|> (the stop token). Every token in between must be a speech
 * token; the reference (`extract_speech_ids` of the model card) prints and drops others,
 * ttslab throws by default so a broken model is noticed.
 */
export function parseSpeechTokens(tokens: ArrayLike<number>, layout: LlasaTokenLayout = LLASA_LAYOUT, options: ParseOptions = {}): ParsedLlasaSpeech {
  const list = Array.from(tokens);
  const onInvalid = options.onInvalid ?? 'throw';
  const start = list.lastIndexOf(layout.markers.SPEECH_GENERATION_START) + 1; // 0 when absent
  let end = list.indexOf(layout.markers.SPEECH_GENERATION_END, start);
  const ended = end >= 0;
  if (!ended) end = list.length;
  const lo = layout.speechTokenStart;
  const hi = lo + layout.numSpeechTokens;
  const codes: number[] = [];
  const invalid: TokenIssue[] = [];
  for (let i = start; i < end; i++) {
    const v = list[i];
    if (Number.isInteger(v) && v >= lo && v < hi) {
      codes.push(v - lo);
      continue;
    }
    const issue = { position: i, value: v, reason: `expected a speech token id in [${lo}, ${hi}) (<|s_0|>..<|s_${layout.numSpeechTokens - 1}|>)` };
    if (onInvalid === 'throw') throw new Error(`Llasa speech tokens: token ${v} at position ${i} is not speech: ${issue.reason}`);
    invalid.push(issue);
  }
  return { codes, invalid, ended };
}
