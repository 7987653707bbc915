/**
 * Text tokenizers from Hugging Face `tokenizer.json` files (through
 * @huggingface/tokenizers, the tokenizer of transformers.js) with special tokens and
 * the chat template from `tokenizer_config.json` (rendered with @huggingface/jinja).
 *
 * "Text" tokenizer because a TTS pipeline also has audio tokenizers (codecs); this
 * one turns text into the ids of the Llama backbone's vocabulary.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { isLocalDir, snapshot } from '../hub';
import type { SnapshotOptions } from '../hub';

// Both libraries are ES modules with CommonJS builds. TypeScript (node16 resolution)
// types them as ESM, which a CommonJS file cannot import statically, and the
// `resolution-mode` escape hatch needs a newer compiler than the one `npx tsc`
// finds here (tslab's 5.0). So load the CommonJS builds with require and type the
// small surface used here by hand; the tests exercise every member.
interface HfTokenizer {
  encode(text: string, options?: { add_special_tokens?: boolean }): { ids: number[]; tokens: string[] };
  tokenize(text: string, options?: { add_special_tokens?: boolean }): string[];
  decode(ids: number[], options?: { skip_special_tokens?: boolean; clean_up_tokenization_spaces?: boolean | null }): string;
  get_vocab(withAddedTokens?: boolean): Map<string, number>;
}
interface Template {
  render(items?: Record<string, unknown>): string;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { Tokenizer: HfTokenizer } = require('@huggingface/tokenizers') as { Tokenizer: new (json: object, config: object) => HfTokenizer };
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { Template } = require('@huggingface/jinja') as { Template: new (source: string) => Template };

/** Files a tokenizer may need from a model repo (what `fromPretrained` downloads). */
export const TOKENIZER_FILES = [
  'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'chat_template.jinja', 'chat_template.json',
];

/** An error loading or using a tokenizer; messages name the file or token at fault. */
export class TokenizerError extends Error {
  override name = 'TokenizerError';
}

/** One chat message, as transformers' `apply_chat_template` takes it. */
export interface ChatMessage {
  role: string;
  /** A string, or a list of content blocks (`{type: 'text', text}`) for templates that take them. */
  content: unknown;
  [key: string]: unknown;
}

export interface TokenizerEncodeOptions {
  /** Add the post-processor's special tokens (e.g. `<|begin_of_text|>` for Llama 3). Default true, as in transformers. */
  addSpecialTokens?: boolean;
}

export interface TokenizerDecodeOptions {
  /** Drop special tokens (bos, eos, headers); non-special added tokens stay. Default false. */
  skipSpecialTokens?: boolean;
  /**
   * Apply transformers' `clean_up_tokenization_spaces` (" ." -> "." and the like).
   * Default: the tokenizer config's value, false if it has none (transformers' default),
   * and false for BPE models whatever the config says (as transformers 5 does).
   */
  cleanUpTokenizationSpaces?: boolean;
}

export interface ChatTemplateOptions {
  /** Append the header that starts the assistant's turn. Default false. */
  addGenerationPrompt?: boolean;
  /** Which named template to use when the config has several (default: "default"). */
  templateName?: string;
  /** Tool definitions, passed to the template as `tools`. */
  tools?: unknown[];
  /** Documents for retrieval templates, passed as `documents`. */
  documents?: unknown[];
  /** Further variables for the template (e.g. `date_string`). */
  extra?: Record<string, unknown>;
}

type Json = Record<string, unknown>;

/** Special token entries may be strings or AddedToken objects (`{content, lstrip, ...}`). */
function tokenContent(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as Json).content === 'string') return (v as Json).content as string;
  return undefined;
}

async function readJson(file: string, required: boolean): Promise<Json | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if (!required && (e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new TokenizerError(`${file}: cannot read: ${(e as Error).message}`);
  }
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not a JSON object');
    return v as Json;
  } catch (e) {
    throw new TokenizerError(`${file}: invalid JSON: ${(e as Error).message}`);
  }
}

export class TextTokenizer {
  private readonly tok: HfTokenizer;
  private readonly vocab: Map<string, number>;
  private readonly idToTokenMap: Map<number, string>;
  private readonly templates: Map<string, string>;
  private readonly compiled = new Map<string, Template>();
  /** Special token strings by role (`bos_token`, `eos_token`, ...), for templates and callers. */
  readonly specialTokensMap: Record<string, string | string[]>;
  /** Ids of all special tokens (added tokens marked special). */
  readonly specialIds: ReadonlySet<number>;
  readonly cleanUpTokenizationSpaces: boolean;

  /**
   * @param tokenizerJson parsed `tokenizer.json`
   * @param config parsed `tokenizer_config.json` (special tokens, chat_template), may be empty
   * @param source where it came from, for error messages
   */
  constructor(tokenizerJson: Json, config: Json = {}, readonly source = '<memory>') {
    // transformers >= 5 ignores `clean_up_tokenization_spaces: true` for BPE tokenizers
    // (Llama 3 and the TTS models built on it ship it set): the clean-up is meant for
    // WordPiece and deletes real spaces before punctuation in BPE output. Checked against
    // transformers 5.17 by test/fixtures/make_tokenizer_fixture.py.
    const model = (tokenizerJson as { model?: { type?: string } }).model;
    const cleanUp = config.clean_up_tokenization_spaces === true && model?.type !== 'BPE';
    try {
      // tokenizers.js defaults clean-up to true when the key is absent; transformers to false.
      this.tok = new HfTokenizer(tokenizerJson, { ...config, clean_up_tokenization_spaces: cleanUp });
    } catch (e) {
      throw new TokenizerError(`${source}: cannot build tokenizer: ${(e as Error).message}`);
    }
    this.cleanUpTokenizationSpaces = cleanUp;
    this.vocab = this.tok.get_vocab(true);
    this.idToTokenMap = new Map([...this.vocab].map(([t, i]) => [i, t]));

    const special = new Set<number>();
    for (const t of (tokenizerJson.added_tokens ?? []) as Json[]) {
      if (t.special === true && typeof t.id === 'number') special.add(t.id);
    }
    const map: Record<string, string | string[]> = {};
    for (const key of ['bos_token', 'eos_token', 'unk_token', 'pad_token', 'sep_token', 'cls_token', 'mask_token']) {
      const v = tokenContent(config[key]);
      if (v !== undefined) map[key] = v;
    }
    if (Array.isArray(config.additional_special_tokens)) {
      map.additional_special_tokens = config.additional_special_tokens.map(tokenContent).filter((s): s is string => !!s);
    }
    for (const v of Object.values(map).flat()) {
      const id = this.vocab.get(v);
      if (id !== undefined) special.add(id);
    }
    this.specialTokensMap = map;
    this.specialIds = special;

    // chat_template is a string, or a list of {name, template} (transformers' named templates).
    this.templates = new Map();
    const ct = config.chat_template;
    if (typeof ct === 'string') this.templates.set('default', ct);
    else if (Array.isArray(ct)) {
      for (const t of ct as Json[]) {
        if (typeof t?.name === 'string' && typeof t?.template === 'string') this.templates.set(t.name, t.template);
      }
    }
  }

  /**
   * Loads `tokenizer.json` and, when present, `tokenizer_config.json`,
   * `special_tokens_map.json` (fallback for special tokens) and `chat_template.jinja`
   * (newer transformers save the template there) from a directory.
   */
  static async fromDir(dir: string): Promise<TextTokenizer> {
    const tokenizerJson = await readJson(join(dir, 'tokenizer.json'), true);
    const config = (await readJson(join(dir, 'tokenizer_config.json'), false)) ?? {};
    const specialMap = await readJson(join(dir, 'special_tokens_map.json'), false);
    for (const [k, v] of Object.entries(specialMap ?? {})) if (config[k] === undefined) config[k] = v;
    try {
      config.chat_template = await readFile(join(dir, 'chat_template.jinja'), 'utf8');
    } catch {
      const processorTemplate = await readJson(join(dir, 'chat_template.json'), false);
      if (config.chat_template === undefined && typeof processorTemplate?.chat_template === 'string') {
        config.chat_template = processorTemplate.chat_template;
      }
    }
    return new TextTokenizer(tokenizerJson!, config, dir);
  }

  /** Loads from a local directory or a Hub repo id (only the tokenizer files are downloaded). */
  static async fromPretrained(repoOrDir: string, options: SnapshotOptions = {}): Promise<TextTokenizer> {
    if (await isLocalDir(repoOrDir)) return TextTokenizer.fromDir(repoOrDir);
    const dir = await snapshot(repoOrDir, { ...options, allowPatterns: TOKENIZER_FILES });
    return TextTokenizer.fromDir(dir);
  }

  /** Number of ids, added tokens included (the embedding needs at least this many rows). */
  get vocabSize(): number {
    let max = -1;
    for (const id of this.idToTokenMap.keys()) max = Math.max(max, id);
    return max + 1;
  }

  get bosToken(): string | undefined { return this.specialTokensMap.bos_token as string | undefined; }
  get eosToken(): string | undefined { return this.specialTokensMap.eos_token as string | undefined; }
  get padToken(): string | undefined { return this.specialTokensMap.pad_token as string | undefined; }
  get bosTokenId(): number | undefined { return this.bosToken === undefined ? undefined : this.vocab.get(this.bosToken); }
  get eosTokenId(): number | undefined { return this.eosToken === undefined ? undefined : this.vocab.get(this.eosToken); }
  get padTokenId(): number | undefined { return this.padToken === undefined ? undefined : this.vocab.get(this.padToken); }

  encode(text: string, options: TokenizerEncodeOptions = {}): number[] {
    if (typeof text !== 'string') throw new TokenizerError(`${this.source}: encode expects a string, got ${typeof text}`);
    return this.tok.encode(text, { add_special_tokens: options.addSpecialTokens ?? true }).ids;
  }

  /** Token strings (byte-level symbols for BPE, e.g. `Ġworld`) without special tokens. */
  tokenize(text: string): string[] {
    return this.tok.tokenize(text);
  }

  decode(ids: ArrayLike<number | bigint>, options: TokenizerDecodeOptions = {}): string {
    const list = Array.from(ids, Number);
    for (const id of list) {
      if (!this.idToTokenMap.has(id)) {
        throw new TokenizerError(`${this.source}: decode: id ${id} is not in the vocabulary (size ${this.vocabSize})`);
      }
    }
    if (list.length === 0) return '';
    const skip = options.skipSpecialTokens ?? false;
    const kept = skip ? list.filter((id) => !this.specialIds.has(id)) : list;
    if (kept.length === 0) return '';
    return this.tok.decode(kept, {
      skip_special_tokens: false,
      clean_up_tokenization_spaces: options.cleanUpTokenizationSpaces ?? this.cleanUpTokenizationSpaces,
    });
  }

  tokenToId(token: string): number | undefined {
    return this.vocab.get(token);
  }

  idToToken(id: number): string | undefined {
    return this.idToTokenMap.get(id);
  }

  /** Like `tokenToId`, but a missing token is an error naming it (for required markers like `<|eot_id|>`). */
  requireTokenId(token: string): number {
    const id = this.vocab.get(token);
    if (id === undefined) throw new TokenizerError(`${this.source}: token ${JSON.stringify(token)} is not in the vocabulary`);
    return id;
  }

  /** Names of the chat templates the config defines ("default" for a single one). */
  chatTemplateNames(): string[] {
    return [...this.templates.keys()];
  }

  /**
   * Renders messages with the tokenizer's chat template, as transformers'
   * `apply_chat_template(..., tokenize=False)`: the template sees `messages`,
   * `add_generation_prompt`, `tools`, `documents`, the special tokens (`bos_token`, ...)
   * and `extra`.
   */
  applyChatTemplate(messages: ChatMessage[], options: ChatTemplateOptions = {}): string {
    const name = options.templateName ?? 'default';
    const source = this.templates.get(name);
    if (source === undefined) {
      const have = this.chatTemplateNames();
      throw new TokenizerError(
        `${this.source}: no chat template ${JSON.stringify(name)} (have ${have.length ? have.join(', ') : 'none'}); ` +
          'set chat_template in tokenizer_config.json or pass a template');
    }
    if (!Array.isArray(messages)) throw new TokenizerError(`${this.source}: messages must be an array`);
    messages.forEach((m, i) => {
      if (!m || typeof m.role !== 'string') throw new TokenizerError(`${this.source}: messages[${i}] has no string role`);
    });
    let template = this.compiled.get(name);
    if (!template) {
      try {
        template = new Template(source);
      } catch (e) {
        throw new TokenizerError(`${this.source}: chat template ${JSON.stringify(name)} does not parse: ${(e as Error).message}`);
      }
      this.compiled.set(name, template);
    }
    try {
      return template.render({
        ...this.specialTokensMap,
        ...options.extra,
        messages,
        add_generation_prompt: options.addGenerationPrompt ?? false,
        ...(options.tools ? { tools: options.tools } : {}),
        ...(options.documents ? { documents: options.documents } : {}),
      });
    } catch (e) {
      throw new TokenizerError(`${this.source}: chat template ${JSON.stringify(name)} failed: ${(e as Error).message}`);
    }
  }

  /** The chat rendered and encoded; like transformers, no special tokens are added on top of the template's own. */
  encodeChat(messages: ChatMessage[], options: ChatTemplateOptions = {}): number[] {
    return this.encode(this.applyChatTemplate(messages, options), { addSpecialTokens: false });
  }
}
