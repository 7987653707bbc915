/**
 * HKUSTAudio/xcodec2's own checkpoint layout (the xcodec2 pip package / X-Codec-2.0 training
 * code: `semantic_model.*`, `SemanticEncoder_module.*`, `CodecEnc.*` with weight-normalised
 * convs, `fc_prior`, `fc_post_a`, `generator.*` with a fused `c_attn`) read under transformers
 * 5.17's `Xcodec2Model` names, the layout this port loads. The renaming follows transformers'
 * `models/xcodec2/convert_xcodec2_checkpoint.py` (STATE_DICT_MAPPING), re-targeted at 5.17's
 * decoder names (`acoustic_decoder.prior_net.0`, `.norm`, `.head.linear`), and:
 *
 * - weight norm folded: w = g * v / ||v|| (norm over all axes but the first), from
 *   `weight_g` / `weight_v` or `parametrizations.weight.original0` / `original1`;
 * - `c_attn` [3 * hidden, hidden] split into q, k, v rows. transformers' script also permutes
 *   the q and k rows for its rotate-half RoPE; the original applies torchtune's RoPE over the
 *   head axis (one angle per head, the same on q and k), so q.k, and the attention, are the
 *   same either way and this port (identity RoPE, see modeling.ts) needs no permutation;
 * - buffers dropped (alias-free filters, the ISTFT window, FSQ's levels / basis / codebook).
 *
 * A key the mapping does not know is an error naming it, so a layout change cannot go silent.
 * Checked here on a layout built from the tiny fixture by the inverse of these rules; not on
 * the real HKUSTAudio/xcodec2 file (no Hub access where this was written).
 */
import type { TensorInfo, WeightSource } from '../../weights/types';

/** Key roots of the original layout. */
export const XCODEC2_ORIGINAL_ROOTS = ['semantic_model', 'SemanticEncoder_module', 'CodecEnc', 'fc_prior', 'fc_post_a', 'generator'] as const;

/** True when `source` (after `prefix`) holds keys of the original package's layout. */
export function isOriginalXcodec2Layout(source: WeightSource, prefix = ''): boolean {
  return source.keys().some((k) => k.startsWith(prefix) && XCODEC2_ORIGINAL_ROOTS.some((r) => k.slice(prefix.length).startsWith(`${r}.`)));
}

const DROP = /(\.upsample\.filter|\.downsample\.lowpass\.filter|\.downsample\.filter|^generator\.head\.istft\.window)$/;

/** Original key (weight norm already folded to `.weight`) -> 5.17 key, or null to drop; undefined when unknown. */
function rename(k: string): string | null | undefined {
  if (DROP.test(k)) return null;
  let m: RegExpExecArray | null;
  if (k.startsWith('semantic_model.')) return `semantic_encoder.${k.slice('semantic_model.'.length)}`;
  if ((m = /^SemanticEncoder_module\.(initial_conv|final_conv|residual_blocks\.1|residual_blocks\.3)\.(weight|bias)$/.exec(k))) {
    const to = { initial_conv: 'conv1', 'residual_blocks.1': 'conv2', 'residual_blocks.3': 'conv3', final_conv: 'conv4' }[m[1]!];
    return `semantic_adapter.${to}.${m[2]}`;
  }
  if ((m = /^CodecEnc\.conv_blocks\.0\.(.+)$/.exec(k))) return `acoustic_encoder.conv1.${m[1]}`;
  if ((m = /^CodecEnc\.conv_final_block\.([01])\.(.+)$/.exec(k))) return `acoustic_encoder.${m[1] === '0' ? 'snake1' : 'conv2'}.${m[2]}`;
  if ((m = /^CodecEnc\.conv_blocks\.(\d+)\.block\.(\d)\.(.+)$/.exec(k))) {
    const block = `acoustic_encoder.block.${Number(m[1]) - 1}`;
    const inner = Number(m[2]);
    if (inner === 3) return `${block}.snake1.${m[3]}`;
    if (inner === 4) return `${block}.conv1.${m[3]}`;
    const unit = /^block\.([0-3])\.(.+)$/.exec(m[3]!);
    if (inner <= 2 && unit) return `${block}.res_unit${inner + 1}.${['snake1', 'conv1', 'snake2', 'conv2'][Number(unit[1])]}.${unit[2]}`;
    return undefined;
  }
  if ((m = /^fc_prior\.(weight|bias)$/.exec(k))) return `fc_encoder.${m[1]}`;
  if ((m = /^fc_post_a\.(weight|bias)$/.exec(k))) return `acoustic_decoder.fc.${m[1]}`;
  if ((m = /^generator\.quantizer\.(project_in|project_out)\.(weight|bias)$/.exec(k))) return `quantizer.${m[1]}.${m[2]}`;
  if (k.startsWith('generator.quantizer.')) return null; // FSQ buffers (levels, basis, implicit codebook, scales)
  if ((m = /^generator\.backbone\.(embed|prior_net\.\d+|post_net\.\d+)\.(.+)$/.exec(k))) return `acoustic_decoder.${m[1]}.${m[2]}`;
  if ((m = /^generator\.backbone\.final_layer_norm\.(weight|bias)$/.exec(k))) return `acoustic_decoder.norm.${m[1]}`;
  if ((m = /^generator\.head\.out\.(weight|bias)$/.exec(k))) return `acoustic_decoder.head.linear.${m[1]}`;
  if ((m = /^generator\.backbone\.transformers\.(\d+)\.(.+)$/.exec(k))) {
    const p = `acoustic_decoder.layers.${m[1]}`;
    const rest = m[2]!;
    const map: Record<string, string> = {
      'att_norm.weight': 'input_layernorm.weight', 'ffn_norm.weight': 'post_attention_layernorm.weight',
      'att.c_proj.weight': 'self_attn.o_proj.weight', 'mlp.fc1.weight': 'mlp.fc1.weight', 'mlp.fc2.weight': 'mlp.fc2.weight',
    };
    return map[rest] === undefined ? undefined : `${p}.${map[rest]}`;
  }
  return undefined;
}

type Entry =
  | { kind: 'plain'; key: string }
  | { kind: 'weightNorm'; g: string; v: string }
  | { kind: 'qkv'; key: string; part: 0 | 1 | 2 };

/**
 * `source` (original layout, keys after `prefix`) read under transformers 5.17's names (no
 * prefix), with weight norm folded and `c_attn` split; w2v-BERT layers from `semanticLayers` on
 * (the original keeps all 24 of facebook/w2v-bert-2.0, XCodec2 reads 16) are dropped.
 * Throws naming any key it cannot place.
 */
export function xcodec2FromOriginal(source: WeightSource, prefix = '', semanticLayers = Infinity): WeightSource {
  const entries = new Map<string, Entry>();
  const add = (name: string, e: Entry, from: string) => {
    if (entries.has(name)) throw new Error(`XCodec2 original checkpoint: ${from} maps to ${name}, which another key already gives`);
    entries.set(name, e);
  };
  const keys = source.keys();
  const all = new Set(keys);
  const unknown: string[] = [];
  for (const full of keys) {
    if (!full.startsWith(prefix)) continue;
    const k = full.slice(prefix.length);
    // Weight norm: g and v -> one weight (handled once, at g).
    let wn = /^(.+)\.(weight_g|parametrizations\.weight\.original0)$/.exec(k);
    if (wn) {
      const vKey = wn[2] === 'weight_g' ? `${wn[1]}.weight_v` : `${wn[1]}.parametrizations.weight.original1`;
      if (!all.has(prefix + vKey)) throw new Error(`XCodec2 original checkpoint: ${full} has no matching ${prefix}${vKey}`);
      const name = rename(`${wn[1]}.weight`);
      if (name === undefined) unknown.push(full);
      else if (name !== null) add(name, { kind: 'weightNorm', g: full, v: prefix + vKey }, full);
      continue;
    }
    wn = /^(.+)\.(weight_v|parametrizations\.weight\.original1)$/.exec(k);
    if (wn) {
      const gKey = wn[2] === 'weight_v' ? `${wn[1]}.weight_g` : `${wn[1]}.parametrizations.weight.original0`;
      if (!all.has(prefix + gKey)) throw new Error(`XCodec2 original checkpoint: ${full} has no matching ${prefix}${gKey}`);
      continue;
    }
    const qkv = /^generator\.backbone\.transformers\.(\d+)\.att\.c_attn\.weight$/.exec(k);
    if (qkv) {
      (['q_proj', 'k_proj', 'v_proj'] as const).forEach((p, part) => add(`acoustic_decoder.layers.${qkv[1]}.self_attn.${p}.weight`, { kind: 'qkv', key: full, part: part as 0 | 1 | 2 }, full));
      continue;
    }
    const layer = /^semantic_model\.encoder\.layers\.(\d+)\./.exec(k);
    if (layer && Number(layer[1]) >= semanticLayers) continue;
    const name = rename(k);
    if (name === undefined) unknown.push(full);
    else if (name !== null) add(name, { kind: 'plain', key: full }, full);
  }
  if (unknown.length) {
    throw new Error(`XCodec2 original checkpoint has keys this port cannot place: ${unknown.slice(0, 5).join(', ')}${unknown.length > 5 ? ` (+${unknown.length - 5})` : ''}`);
  }
  const entry = (name: string): Entry => {
    const e = entries.get(name);
    if (!e) throw new Error(`XCodec2 checkpoint has no tensor ${name}`);
    return e;
  };
  const info = (name: string): TensorInfo => {
    const e = entry(name);
    if (e.kind === 'plain') return { ...source.info(e.key), name };
    if (e.kind === 'weightNorm') return { ...source.info(e.v), name, dtype: 'F32' };
    const base = source.info(e.key);
    return { ...base, name, shape: [base.shape[0]! / 3, ...base.shape.slice(1)] };
  };
  return {
    keys: () => [...entries.keys()].sort(),
    has: (name) => entries.has(name),
    info,
    async getF32(name) {
      const e = entry(name);
      if (e.kind === 'plain') return source.getF32(e.key);
      if (e.kind === 'qkv') {
        const { shape, data } = await source.getF32(e.key);
        if (shape.length !== 2 || shape[0]! % 3 !== 0) throw new Error(`XCodec2 original checkpoint: ${e.key} has shape [${shape}], expected [3 * hidden, hidden]`);
        const rows = shape[0]! / 3;
        return { shape: [rows, shape[1]!], data: data.slice(e.part * rows * shape[1]!, (e.part + 1) * rows * shape[1]!) };
      }
      const g = await source.getF32(e.g);
      const v = await source.getF32(e.v);
      const out = v.shape[0]!;
      const per = v.data.length / out;
      if (g.data.length !== out) throw new Error(`XCodec2 original checkpoint: ${e.g} has ${g.data.length} values, ${e.v} has ${out} output channels`);
      const w = new Float32Array(v.data.length);
      for (let o = 0; o < out; o++) {
        let sq = 0;
        for (let i = 0; i < per; i++) sq += v.data[o * per + i]! ** 2;
        const scale = g.data[o]! / Math.sqrt(sq);
        for (let i = 0; i < per; i++) w[o * per + i] = v.data[o * per + i]! * scale;
      }
      return { shape: v.shape, data: w };
    },
  };
}
