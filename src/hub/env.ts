/**
 * Hugging Face Hub settings from the environment, resolved as Python's
 * huggingface_hub does (huggingface_hub/constants.py), so both share one cache and
 * one login.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { getHFHubCachePath } from '@huggingface/hub';

export const DEFAULT_ENDPOINT = 'https://huggingface.co';

/** `HF_HOME`, else `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`. */
export function hfHome(): string {
  return process.env.HF_HOME || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'huggingface');
}

/** `HF_HUB_CACHE`, else `HUGGINGFACE_HUB_CACHE`, else `$HF_HOME/hub` (same order as Python and @huggingface/hub). */
export function hubCacheDir(): string {
  return getHFHubCachePath();
}

/** Python's `_is_true`: "1", "ON", "YES", "TRUE" in any case. */
function isTrue(v: string | undefined): boolean {
  return v !== undefined && ['1', 'ON', 'YES', 'TRUE'].includes(v.toUpperCase());
}

/** `HF_HUB_OFFLINE` (or the older `TRANSFORMERS_OFFLINE`): serve from the cache, never touch the network. */
export function isOffline(): boolean {
  return isTrue(process.env.HF_HUB_OFFLINE || process.env.TRANSFORMERS_OFFLINE);
}

/** `HF_ENDPOINT` (a mirror, or a loopback server in tests), without a trailing slash. */
export function hubEndpoint(): string {
  return (process.env.HF_ENDPOINT || DEFAULT_ENDPOINT).replace(/\/+$/, '');
}

/** `HF_TOKEN_PATH`, else `$HF_HOME/token` (where `huggingface-cli login` / `hf auth login` writes). */
export function tokenPath(): string {
  return process.env.HF_TOKEN_PATH || join(hfHome(), 'token');
}

/** Tokens seen by this process, so every error and log line can be scrubbed of them. */
const knownTokens = new Set<string>();

/**
 * The token to send: an explicit one (false = anonymous), else `HF_TOKEN`, else
 * `HUGGING_FACE_HUB_TOKEN`, else the token file. Every token returned is remembered
 * for `redact`.
 */
export function resolveToken(explicit?: string | false): string | undefined {
  if (explicit === false) return undefined;
  let token = explicit;
  if (!token) token = process.env.HF_TOKEN || process.env.HUGGING_FACE_HUB_TOKEN;
  if (!token) {
    try {
      token = readFileSync(tokenPath(), 'utf8');
    } catch {
      token = undefined;
    }
  }
  token = token?.trim();
  if (!token) return undefined;
  knownTokens.add(token);
  return token;
}

/**
 * Removes tokens from text meant for a log or an error: every token this process
 * resolved, anything shaped like a Hub token (`hf_` + 20 or more characters), and
 * `Bearer <anything>`.
 */
export function redact(text: string): string {
  let out = text;
  for (const t of knownTokens) if (t.length >= 4) out = out.split(t).join('hf_***');
  return out.replace(/\bhf_[A-Za-z0-9]{20,}/g, 'hf_***').replace(/(Bearer\s+)[^\s"',;]+/gi, '$1***');
}
