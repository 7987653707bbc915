/**
 * LoRA (Hu et al. 2021) as PEFT implements it for torch.nn.Linear
 * (peft/tuners/lora/layer.py): y = W x + s * B(A(dropout(x))), A `[r, in]` initialised
 * kaiming-uniform(a=sqrt(5)) = U(-1/sqrt(in), 1/sqrt(in)), B `[out, r]` zeros, so a fresh
 * adapter leaves the model unchanged; s = alpha / r, or alpha / sqrt(r) with rsLoRA.
 * The base weight stays a plain tensor (frozen); only A and B are tf.Variables.
 */
import * as tf from '@tensorflow/tfjs';
import { Linear } from '../models/common/linear';
import type { ApplyOptions, LinearLike } from '../models/common/linear';
import type { NamedLinear } from '../models/llama/modeling';
import { Rng } from '../generate/rng';

/** The attention and MLP projections of a Llama block: the workshop's targets. */
export const DEFAULT_TARGET_MODULES = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];

export interface LoraConfig {
  /** Rank of the update B A. */
  r: number;
  /** Scale numerator (PEFT `lora_alpha`): s = alpha / r, or alpha / sqrt(r) with rsLoRA. */
  alpha: number;
  /** Dropout on the LoRA branch's input during training (PEFT `lora_dropout`). */
  dropout: number;
  /**
   * Modules to wrap, as PEFT `target_modules`: a list matches a module whose path equals
   * an entry or ends with `.entry`; a string is a regular expression matched against the
   * whole path.
   */
  targetModules: string[] | string;
  /** Rank-stabilised scaling alpha / sqrt(r) (Kalajdzievski 2023), PEFT `use_rslora`. */
  useRslora: boolean;
  /** Seeds A's initialisation. */
  seed?: number;
}

/** The workshop's setup (REFERENCE.md): r 32, alpha 16, rsLoRA, all projections, no dropout. */
export const WORKSHOP_LORA: LoraConfig = { r: 32, alpha: 16, dropout: 0, targetModules: DEFAULT_TARGET_MODULES, useRslora: true };

/** The LoRA output scale s. */
export function loraScale(r: number, alpha: number, useRslora: boolean): number {
  return useRslora ? alpha / Math.sqrt(r) : alpha / r;
}

export function validateLoraConfig(c: LoraConfig): LoraConfig {
  if (!(Number.isInteger(c.r) && c.r >= 1)) throw new Error(`LoRA r must be an integer >= 1, got ${JSON.stringify(c.r)}`);
  if (!(Number.isFinite(c.alpha) && c.alpha > 0)) throw new Error(`LoRA alpha must be a number > 0, got ${JSON.stringify(c.alpha)}`);
  if (!(c.dropout >= 0 && c.dropout < 1)) throw new Error(`LoRA dropout must be in [0, 1), got ${JSON.stringify(c.dropout)}`);
  if (typeof c.targetModules !== 'string' && !(Array.isArray(c.targetModules) && c.targetModules.length > 0)) {
    throw new Error(`LoRA targetModules must be a non-empty list or a regular expression string, got ${JSON.stringify(c.targetModules)}`);
  }
  return c;
}

/** PEFT's check_target_module_exists for a list or a regex string. */
export function matchesTarget(path: string, target: string[] | string): boolean {
  if (typeof target === 'string') return new RegExp(`^(?:${target})$`).test(path);
  return target.some((t) => path === t || path.endsWith(`.${t}`));
}

/** tfjs variable names are global: each adapter gets its own prefix. */
let adapterCounter = 0;

/** A frozen Linear plus a trainable low-rank update. */
export class LoraLinear implements LinearLike {
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** `[r, in]` */
  readonly lora_A: tf.Variable<tf.Rank.R2>;
  /** `[out, r]` */
  readonly lora_B: tf.Variable<tf.Rank.R2>;

  /** Takes ownership of `a` and `b` (they become the variables' values). */
  constructor(
    readonly base: Linear,
    a: tf.Tensor2D,
    b: tf.Tensor2D,
    readonly scale: number,
    readonly dropout: number,
    name: string,
  ) {
    this.inFeatures = base.inFeatures;
    this.outFeatures = base.outFeatures;
    const r = a.shape[0];
    if (a.shape[1] !== base.inFeatures || b.shape[0] !== base.outFeatures || b.shape[1] !== r) {
      throw new Error(`${name}: LoRA A [${a.shape}] and B [${b.shape}] do not fit a Linear [${base.outFeatures}, ${base.inFeatures}]`);
    }
    this.lora_A = tf.variable(a, true, `${name}.lora_A`);
    this.lora_B = tf.variable(b, true, `${name}.lora_B`);
    a.dispose();
    b.dispose();
  }

  get r(): number {
    return this.lora_A.shape[0];
  }

  /** Wraps `base` with A kaiming-uniform (as PEFT) and B zero. */
  static fromLinear(base: Linear, c: { r: number; alpha: number; dropout: number; useRslora: boolean }, rng: Rng, name: string): LoraLinear {
    const bound = 1 / Math.sqrt(base.inFeatures); // kaiming_uniform_(a=sqrt(5)): gain sqrt(1/3) * sqrt(3 / fan_in)
    const a = tf.tensor2d(rng.uniformArray(c.r * base.inFeatures, -bound, bound), [c.r, base.inFeatures]);
    const b = tf.zeros([base.outFeatures, c.r]) as tf.Tensor2D;
    return new LoraLinear(base, a, b, loraScale(c.r, c.alpha, c.useRslora), c.dropout, name);
  }

  /** `[..., in]` -> `[..., out]` */
  apply(x: tf.Tensor, options: ApplyOptions = {}): tf.Tensor {
    return tf.tidy(() => {
      const y = this.base.apply(x); // [..., out]
      const lead = x.shape.slice(0, -1);
      let x2 = x.reshape([-1, this.inFeatures]); // [rows, in]
      if (options.training && this.dropout > 0) x2 = tf.dropout(x2, this.dropout);
      const down = tf.matMul(x2, this.lora_A, false, true); // [rows, r]
      const up = tf.matMul(down, this.lora_B, false, true).mul(this.scale); // [rows, out]
      return y.add(up.reshape([...lead, this.outFeatures]));
    });
  }

  /** W + s B A `[out, in]`, a new tensor the caller owns. */
  mergedWeight(): tf.Tensor2D {
    return tf.tidy(() => this.base.weight.add(tf.matMul(this.lora_B, this.lora_A).mul(this.scale)) as tf.Tensor2D);
  }

  /** Frees A and B only (the base goes back to the model on unload). */
  disposeAdapter(): void {
    this.lora_A.dispose();
    this.lora_B.dispose();
  }

  /** Frees A, B and the base (when the model that holds this module is disposed). */
  dispose(): void {
    this.disposeAdapter();
    this.base.dispose();
  }
}

/** Something whose linear modules can be found and replaced by path (LlamaForCausalLM). */
export interface HasNamedLinears {
  namedLinears(): NamedLinear[];
  numParameters(): number;
}

export interface TrainableReport {
  trainable: number;
  total: number;
  /** trainable / total in percent */
  percent: number;
  /** PEFT's print_trainable_parameters line. */
  text: string;
}

/** The LoRA modules attached to one model, by module path. */
export class LoraAdapter {
  constructor(
    readonly model: HasNamedLinears,
    readonly config: LoraConfig,
    /** Module path -> wrapper, in model order. */
    readonly modules: Map<string, LoraLinear>,
  ) {}

  /** A then B of every module, in model order: what an optimizer updates. */
  variables(): tf.Variable[] {
    return [...this.modules.values()].flatMap((m) => [m.lora_A, m.lora_B]);
  }

  /** PEFT key of each variable, by variable name (as tf.variableGrads keys its result). */
  peftKeyOf(): Map<string, string> {
    const out = new Map<string, string>();
    for (const [path, m] of this.modules) {
      out.set(m.lora_A.name, peftKey(path, 'A'));
      out.set(m.lora_B.name, peftKey(path, 'B'));
    }
    return out;
  }

  numTrainable(): number {
    let n = 0;
    for (const v of this.variables()) n += v.size;
    return n;
  }

  /** Trainable vs total parameters, counted as PEFT does (total includes the adapter). */
  report(): TrainableReport {
    const trainable = this.numTrainable();
    const total = this.model.numParameters() + trainable;
    const percent = (100 * trainable) / total;
    const text = `trainable params: ${trainable.toLocaleString('en-US')} || all params: ${total.toLocaleString('en-US')} || trainable%: ${percent.toFixed(4)}`;
    return { trainable, total, percent, text };
  }

  /**
   * Folds s B A into each base weight (W' = W + s B A) and removes the adapter: the model
   * is then a plain model with the update built in.
   */
  merge(): void {
    this.detach((m) => {
      const merged = m.mergedWeight();
      m.base.weight.dispose();
      m.base.weight = merged;
    });
  }

  /** Removes the adapter without merging: the model is back to its base weights. */
  unload(): void {
    this.detach(() => undefined);
  }

  private detach(update: (m: LoraLinear) => void): void {
    const byPath = new Map(this.model.namedLinears().map((n) => [n.path, n]));
    for (const [path, m] of this.modules) {
      const slot = byPath.get(path);
      if (!slot || slot.module !== m) throw new Error(`LoRA module ${path} is no longer attached to the model`);
      update(m);
      slot.set(m.base);
      m.disposeAdapter();
    }
    this.modules.clear();
  }
}

/** `base_model.model.<path>.lora_A.weight`: PEFT's saved key (the adapter name is dropped on save). */
export function peftKey(path: string, which: 'A' | 'B'): string {
  return `base_model.model.${path}.lora_${which}.weight`;
}

/** Wraps every module matching `config.targetModules`; throws if a listed target matches nothing. */
export function applyLora(model: HasNamedLinears, config: LoraConfig): LoraAdapter {
  validateLoraConfig(config);
  const rng = new Rng(config.seed ?? 0);
  const prefix = `lora${adapterCounter++}`;
  const modules = new Map<string, LoraLinear>();
  const linears = model.namedLinears();
  for (const n of linears) {
    if (!matchesTarget(n.path, config.targetModules)) continue;
    if (!(n.module instanceof Linear)) throw new Error(`${n.path} is already wrapped (${n.module.constructor.name}); unload or merge the adapter first`);
    const m = LoraLinear.fromLinear(n.module, config, rng, `${prefix}/${n.path}`);
    n.set(m);
    modules.set(n.path, m);
  }
  const targets = typeof config.targetModules === 'string' ? [config.targetModules] : config.targetModules;
  const unmatched = targets.filter((t) => !linears.some((n) => matchesTarget(n.path, typeof config.targetModules === 'string' ? t : [t])));
  if (unmatched.length) {
    // Undo before throwing so the model is left as it was.
    new LoraAdapter(model, config, modules).unload();
    throw new Error(`LoRA target modules ${JSON.stringify(unmatched)} match no linear module (paths look like ${JSON.stringify(linears[0]?.path)})`);
  }
  return new LoraAdapter(model, config, modules);
}

/**
 * Loss and gradients with respect to the LoRA variables only (the base weights are not
 * variables, so they stay frozen). `lossFn` builds the scalar loss; gradients come back
 * keyed by PEFT key. The caller owns `value` and every gradient.
 */
export function loraValueAndGrads(adapter: LoraAdapter, lossFn: () => tf.Scalar): { value: tf.Scalar; grads: Map<string, tf.Tensor> } {
  const { value, grads } = tf.variableGrads(lossFn, adapter.variables());
  const keys = adapter.peftKeyOf();
  const out = new Map<string, tf.Tensor>();
  for (const [name, g] of Object.entries(grads)) out.set(keys.get(name)!, g);
  return { value, grads: out };
}
