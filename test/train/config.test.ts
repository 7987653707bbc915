/** TrainConfig: workshop defaults, and errors that name the field and the value. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_TRAIN_CONFIG, TrainConfigError, validateTrainConfig } from '../../src/train/config';

test('defaults are the workshop setup', () => {
  const c = validateTrainConfig({});
  assert.equal(c.loraR, 32);
  assert.equal(c.loraAlpha, 16);
  assert.equal(c.useRslora, true);
  assert.deepEqual(c.targetModules, ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']);
  assert.equal(c.learningRate, 2e-4);
  assert.equal(c.warmupSteps, 3);
  assert.equal(c.batchSize, 2);
  assert.equal(c.gradientAccumulationSteps, 4);
  assert.equal(c.maxSteps, 60);
  assert.equal(c.weightDecay, 0.01);
  assert.equal(c.schedule, 'constant');
  assert.match(c.optimizer, /^adamw/);
  // The defaults object is not shared with results.
  c.targetModules.push('x');
  assert.equal(DEFAULT_TRAIN_CONFIG.targetModules.length, 7);
});

test('given fields override defaults', () => {
  const c = validateTrainConfig({ learningRate: 1e-3, schedule: 'cosine', resume: 'runs/x/checkpoint-20' });
  assert.equal(c.learningRate, 1e-3);
  assert.equal(c.schedule, 'cosine');
  assert.equal(c.resume, 'runs/x/checkpoint-20');
  assert.equal(c.loraR, 32);
});

const bad: [Record<string, unknown>, string, RegExp][] = [
  [{ learning_rate: 1e-4 }, 'learning_rate', /learning_rate is not a TrainConfig field \(did you mean learningRate\?\), got 0\.0001/],
  [{ lr: 1e-4 }, 'lr', /lr is not a TrainConfig field, got 0\.0001/],
  [{ learningRate: -1e-4 }, 'learningRate', /learningRate must be a number > 0, got -0\.0001/],
  [{ learningRate: '2e-4' }, 'learningRate', /learningRate must be a number > 0, got "2e-4"/],
  [{ loraR: 0 }, 'loraR', /loraR must be an integer >= 1, got 0/],
  [{ loraR: 2.5 }, 'loraR', /loraR must be an integer >= 1, got 2\.5/],
  [{ batchSize: null }, 'batchSize', /batchSize must be an integer >= 1, got null/],
  [{ useRslora: 'yes' }, 'useRslora', /useRslora must be true or false, got "yes"/],
  [{ schedule: 'exponential' }, 'schedule', /schedule must be one of "constant", .*got "exponential"/],
  [{ targetModules: [] }, 'targetModules', /targetModules must be a non-empty list/],
  [{ loraDropout: 1 }, 'loraDropout', /loraDropout must be in \[0, 1\), got 1/],
  [{ weightDecay: Number.NaN }, 'weightDecay', /weightDecay must be a number >= 0, got NaN/],
  [{ warmupSteps: 10, maxSteps: 5 }, 'warmupSteps', /warmupSteps must not exceed maxSteps \(5\), got 10/],
];
for (const [input, field, message] of bad) {
  test(`rejects ${JSON.stringify(input)} naming ${field}`, () => {
    assert.throws(() => validateTrainConfig(input, 'train.json'), (e: unknown) => {
      assert.ok(e instanceof TrainConfigError);
      assert.equal(e.field, field);
      assert.match(e.message, /^train\.json: /);
      assert.match(e.message, message);
      return true;
    });
  });
}

test('rejects a non-object', () => {
  assert.throws(() => validateTrainConfig([1]), /must be an object/);
});
