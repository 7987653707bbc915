/**
 * LoRA against PEFT on the fixtures: a PEFT adapter loads with equal logits and loss,
 * gradients of the loss with respect to A and B equal PEFT's (rel. error <= 1e-3), the
 * trainable/total count equals PEFT's, merging keeps the logits, a ttslab-saved adapter
 * round-trips, and a merged F16 export loads back.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { Checkpoint } from '../../src/weights/checkpoint';
import { LlamaForCausalLM } from '../../src/models/llama';
import {
  LoraLinear, applyLora, fromPeftConfig, loadPeftAdapter, loraValueAndGrads, matchesTarget, saveMergedCheckpoint, savePeftAdapter,
} from '../../src/lora';
import {
  CASE_NAMES, FIXTURE_NAMES, expectedArray, loadFixture, loadModel, maskedRelError, relError, tensorsLeaked,
} from '../models/llama_fixtures';
import type { Fixture } from '../models/llama_fixtures';

const LOGITS_TOL = 1e-4;
const LOSS_TOL = 1e-5;
const GRAD_TOL = 1e-3;

let tmp: string;
before(async () => {
  await tf.setBackend('cpu');
  tmp = await mkdtemp(join(tmpdir(), 'ttslab-lora-'));
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function logitsError(model: LlamaForCausalLM, f: Fixture, c: (typeof CASE_NAMES)[number], key = 'lora_logits'): Promise<number> {
  const cs = f.expected.cases[c];
  const logits = model.forward({ inputIds: cs.input_ids, attentionMask: cs.attention_mask });
  const exp = await expectedArray(f, `${key}.${c}`);
  const e = maskedRelError(logits.dataSync() as Float32Array, exp.data, cs.attention_mask, model.config.vocabSize);
  logits.dispose();
  return e;
}

for (const name of FIXTURE_NAMES) {
  describe(`LoRA parity with PEFT: ${name}`, () => {
    let f: Fixture;
    let model: LlamaForCausalLM;
    before(async () => {
      f = await loadFixture(name);
      model = await loadModel(f);
    });
    after(() => model.dispose());

    test('the PEFT adapter loads: logits, loss and gradients equal PEFT\'s', async () => {
      const adapter = await loadPeftAdapter(model, join(f.dir, 'adapter'));
      assert.equal(adapter.modules.size, 2 * f.expected.lora.target_modules.length);
      for (const c of CASE_NAMES) {
        const cs = f.expected.cases[c];
        const e = await logitsError(model, f, c);
        assert.ok(e <= LOGITS_TOL, `${c}: logits relative error ${e}`);
        const { value, grads } = loraValueAndGrads(adapter,
          () => model.loss({ inputIds: cs.input_ids, attentionMask: cs.attention_mask, labels: cs.labels }));
        const loss = value.dataSync()[0];
        assert.ok(Math.abs(loss - cs.lora_loss) <= LOSS_TOL, `${c}: loss ${loss} vs ${cs.lora_loss}`);
        const expectedKeys = f.arrays.keys().filter((k) => k.startsWith(`grad.${c}.`)).map((k) => k.slice(`grad.${c}.`.length));
        assert.deepEqual([...grads.keys()].sort(), expectedKeys.sort());
        for (const [key, g] of grads) {
          const exp = await expectedArray(f, `grad.${c}.${key}`);
          assert.deepEqual(g.shape, exp.shape, key);
          const err = relError(g.dataSync(), exp.data);
          assert.ok(err <= GRAD_TOL, `${c}: gradient of ${key}: relative error ${err}`);
        }
        tf.dispose([value, ...grads.values()]);
      }
      adapter.unload();
    });

    test('trainable and total parameters are counted as PEFT counts them', async () => {
      const adapter = await loadPeftAdapter(model, join(f.dir, 'adapter'));
      const r = adapter.report();
      assert.equal(r.trainable, f.expected.lora.trainable_params);
      assert.equal(r.total, f.expected.lora.total_params);
      assert.match(r.text, /^trainable params: [\d,]+ \|\| all params: [\d,]+ \|\| trainable%: \d+\.\d{4}$/);
      adapter.unload();
    });

    test('after unload the model gives the base logits again', async () => {
      const adapter = await loadPeftAdapter(model, join(f.dir, 'adapter'));
      adapter.unload();
      for (const c of CASE_NAMES) assert.ok((await logitsError(model, f, c, 'logits')) <= LOGITS_TOL);
    });

    test('a ttslab-saved adapter round-trips exactly, in PEFT\'s layout', async () => {
      const adapter = await loadPeftAdapter(model, join(f.dir, 'adapter'));
      const dir = join(tmp, `${name}-roundtrip`);
      await savePeftAdapter(dir, adapter, { baseModelNameOrPath: 'tiny' });
      const cs = f.expected.cases.left;
      const a = model.forward({ inputIds: cs.input_ids, attentionMask: cs.attention_mask });
      adapter.unload();
      const saved = await Checkpoint.open(join(dir, 'adapter_model.safetensors'));
      const peft = await Checkpoint.open(join(f.dir, 'adapter', 'adapter_model.safetensors'));
      assert.deepEqual(saved.keys(), peft.keys());
      for (const k of peft.keys()) assert.deepEqual((await saved.getF32(k)).data, (await peft.getF32(k)).data, k);
      const cfg = JSON.parse(await readFile(join(dir, 'adapter_config.json'), 'utf8'));
      assert.equal(cfg.peft_type, 'LORA');
      assert.equal(cfg.r, f.expected.lora.r);
      assert.equal(cfg.lora_alpha, f.expected.lora.lora_alpha);
      assert.equal(cfg.use_rslora, f.expected.lora.use_rslora);
      const again = await loadPeftAdapter(model, dir);
      const b = model.forward({ inputIds: cs.input_ids, attentionMask: cs.attention_mask });
      assert.deepEqual(b.dataSync(), a.dataSync());
      again.unload();
      tf.dispose([a, b]);
    });

    test('merging folds the adapter into the weights with unchanged logits', async () => {
      const m = await loadModel(f);
      const adapter = await loadPeftAdapter(m, join(f.dir, 'adapter'));
      adapter.merge();
      assert.ok(m.namedLinears().every((n) => !(n.module instanceof LoraLinear)));
      for (const c of CASE_NAMES) {
        const e = await logitsError(m, f, c);
        assert.ok(e <= LOGITS_TOL, `${c}: merged logits relative error ${e}`);
      }
      m.dispose();
    });

    // F16 keeps 11 significant bits (relative rounding 2^-11 = 5e-4 per weight), BF16 8
    // (2^-8 = 4e-3); through two layers the logits move by a few times that.
    for (const [dtype, tol] of [['F16', 1e-2], ['BF16', 5e-2]] as const) {
      test(`a merged ${dtype} export loads back with logits within ${dtype} rounding`, async () => {
        const adapter = await loadPeftAdapter(model, join(f.dir, 'adapter'));
        const dir = join(tmp, `${name}-merged-${dtype}`);
        await saveMergedCheckpoint(model, dir, { dtype });
        adapter.unload();
        const ckpt = await Checkpoint.open(dir);
        assert.ok(ckpt.keys().every((k) => ckpt.info(k).dtype === dtype));
        assert.equal(ckpt.has('lm_head.weight'), !f.expected.name.startsWith('tied'));
        const merged = await LlamaForCausalLM.fromPretrained(dir);
        for (const c of CASE_NAMES) {
          const e = await logitsError(merged, f, c);
          assert.ok(e <= tol, `${c}: ${dtype} merged logits relative error ${e}`);
        }
        merged.dispose();
      });
    }
  });
}

describe('LoRA training and semantics', () => {
  let f: Fixture;
  before(async () => {
    f = await loadFixture('gqa');
  });

  test('a fresh adapter: B zero (logits unchanged), A within the kaiming bound, scale alpha/r or alpha/sqrt(r)', async () => {
    const model = await loadModel(f);
    const cs = f.expected.cases.full;
    const base = model.forward({ inputIds: cs.input_ids });
    const adapter = applyLora(model, { r: 4, alpha: 8, dropout: 0, targetModules: ['q_proj', 'down_proj'], useRslora: false, seed: 1 });
    assert.deepEqual([...adapter.modules.keys()], [
      'model.layers.0.self_attn.q_proj', 'model.layers.0.mlp.down_proj', 'model.layers.1.self_attn.q_proj', 'model.layers.1.mlp.down_proj',
    ]);
    const q = adapter.modules.get('model.layers.0.self_attn.q_proj')!;
    assert.equal(q.scale, 2);
    const bound = 1 / Math.sqrt(64);
    const a = q.lora_A.dataSync();
    assert.ok(a.every((x) => Math.abs(x) <= bound) && Math.max(...a.map(Math.abs)) > bound / 2);
    assert.ok(q.lora_B.dataSync().every((x) => x === 0));
    const withLora = model.forward({ inputIds: cs.input_ids });
    assert.deepEqual(withLora.dataSync(), base.dataSync());
    adapter.unload();
    const rs = applyLora(model, { r: 16, alpha: 8, dropout: 0, targetModules: ['v_proj'], useRslora: true });
    assert.equal(rs.modules.get('model.layers.1.self_attn.v_proj')!.scale, 2); // 8 / sqrt(16)
    rs.unload();
    tf.dispose([base, withLora]);
    model.dispose();
  });

  test('SGD steps on A and B lower the loss, leave base weights untouched and leak nothing', async () => {
    const model = await loadModel(f);
    const cs = f.expected.cases.left;
    const adapter = applyLora(model, { r: 4, alpha: 8, dropout: 0, targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'], useRslora: false, seed: 2 });
    const baseBefore = new Map([...model.namedParameters()].map(([k, t]) => [k, t.dataSync().slice()]));
    const opt = tf.train.sgd(0.5);
    const lossFn = () => model.loss({ inputIds: cs.input_ids, attentionMask: cs.attention_mask, labels: cs.labels, training: true });
    const losses: number[] = [];
    const step = () => {
      const { value, grads } = tf.variableGrads(lossFn, adapter.variables());
      opt.applyGradients(grads);
      losses.push(value.dataSync()[0]);
      tf.dispose([value, ...Object.values(grads)]);
    };
    step(); // the optimizer creates no state for SGD; first step outside the leak check anyway
    const leaked = await tensorsLeaked(() => {
      for (let i = 0; i < 5; i++) step();
    });
    assert.equal(leaked, 0);
    assert.ok(losses[losses.length - 1] < losses[0] - 0.1, `losses ${losses}`);
    for (const [k, t] of model.namedParameters()) assert.deepEqual(t.dataSync(), baseBefore.get(k), `${k} changed`);
    opt.dispose();
    adapter.unload();
    model.dispose();
  });

  test('dropout acts in training mode only', async () => {
    const model = await loadModel(f);
    const cs = f.expected.cases.full;
    const adapter = applyLora(model, { r: 4, alpha: 8, dropout: 0.5, targetModules: ['q_proj'], useRslora: false });
    for (const v of adapter.variables()) v.assign(tf.onesLike(v)); // B non-zero so the branch matters
    const e1 = model.forward({ inputIds: cs.input_ids });
    const e2 = model.forward({ inputIds: cs.input_ids });
    const t1 = model.forward({ inputIds: cs.input_ids, training: true });
    assert.deepEqual(e1.dataSync(), e2.dataSync());
    assert.ok(relError(t1.dataSync(), e1.dataSync()) > 1e-3);
    tf.dispose([e1, e2, t1]);
    adapter.unload();
    model.dispose();
  });

  test('target matching follows PEFT: list entries match a path or its last components; a string is a full regex', () => {
    assert.ok(matchesTarget('model.layers.0.self_attn.q_proj', ['q_proj']));
    assert.ok(matchesTarget('model.layers.0.self_attn.q_proj', ['self_attn.q_proj']));
    assert.ok(!matchesTarget('model.layers.0.self_attn.q_proj', ['proj']));
    assert.ok(matchesTarget('model.layers.1.mlp.up_proj', '.*\\.1\\..*(up|down)_proj'));
    assert.ok(!matchesTarget('model.layers.1.mlp.up_proj', 'up_proj'));
  });

  test('errors: unknown targets, double wrapping, unsupported PEFT features, mismatched adapter files', async () => {
    const model = await loadModel(f);
    assert.throws(() => applyLora(model, { r: 4, alpha: 8, dropout: 0, targetModules: ['q_proj', 'qkv'], useRslora: false }),
      /LoRA target modules \["qkv"\] match no linear module/);
    assert.ok(model.namedLinears().every((n) => !(n.module instanceof LoraLinear)), 'a failed applyLora leaves the model as it was');
    const a = applyLora(model, { r: 2, alpha: 2, dropout: 0, targetModules: ['q_proj'], useRslora: false });
    assert.throws(() => applyLora(model, { r: 2, alpha: 2, dropout: 0, targetModules: ['q_proj'], useRslora: false }), /already wrapped/);
    a.unload();
    assert.throws(() => applyLora(model, { r: 0, alpha: 2, dropout: 0, targetModules: ['q_proj'], useRslora: false }), /r must be an integer >= 1, got 0/);
    const peftCfg = JSON.parse(await readFile(join(f.dir, 'adapter', 'adapter_config.json'), 'utf8'));
    assert.throws(() => fromPeftConfig({ ...peftCfg, use_dora: true }, 'a.json'), /a\.json: use_dora is not supported by ttslab, got true/);
    assert.throws(() => fromPeftConfig({ ...peftCfg, rank_pattern: { q_proj: 8 } }), /rank_pattern is not supported/);
    assert.throws(() => fromPeftConfig({ ...peftCfg, bias: 'all' }), /bias must be "none"/);
    // An adapter whose config targets more modules than its file holds.
    const dir = join(tmp, 'mismatch');
    const { mkdir, copyFile } = await import('node:fs/promises');
    await mkdir(dir, { recursive: true });
    await copyFile(join(f.dir, 'adapter', 'adapter_model.safetensors'), join(dir, 'adapter_model.safetensors'));
    await writeFile(join(dir, 'adapter_config.json'), JSON.stringify({ ...peftCfg, target_modules: [...peftCfg.target_modules, 'lm_head'] }));
    await assert.rejects(loadPeftAdapter(model, dir), /missing base_model\.model\.lm_head\.lora_A\.weight, base_model\.model\.lm_head\.lora_B\.weight/);
    assert.ok(model.namedLinears().every((n) => !(n.module instanceof LoraLinear)), 'a failed load leaves the model as it was');
    model.dispose();
  });
});
