/**
 * Llasa prompts and training sequences against transformers (test/fixtures/llasa/expected.json,
 * made by make_llasa_fixtures.py on the fixture tokenizer: Llama-3.2 chat template, the 8
 * markers, 1024 `<|s_N|>`): zero-shot and cloning prompts (continue_final_message) and
 * train_tts.py's spliced sequences with labels equal token for token; the layout read from
 * the tokenizer; codes <-> tokens; parsing errors name position and value.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TextTokenizer } from '../../../src/tokenizer';
import {
  LLASA_LAYOUT, LLASA_MARKERS, LLASA_SPEECH_TOKEN_START, LLASA_VOCAB_SIZE, LlasaProcessor, codesToSpeechTokens,
  continueFinalMessage, llasaLayoutFromTokenizer, parseSpeechTokens, speechTokenText,
} from '../../../src/models/llasa';

const DIR = join(__dirname, '..', '..', 'fixtures', 'llasa');

interface Expected {
  date_string: string;
  speech_token_start: number;
  num_speech_tokens: number;
  pad_token_id: number;
  markers: Record<string, number>;
  prompts: { text: string; rendered: string; ids: number[] }[];
  cloning: { prompt_text: string; text: string; prompt_codes: number[]; ids: number[] }[];
  training: { text: string; codes: number[]; input_ids: number[]; labels: number[] }[];
}

let expected: Expected;
let tokenizer: TextTokenizer;
let processor: LlasaProcessor;

before(async () => {
  expected = JSON.parse(await readFile(join(DIR, 'expected.json'), 'utf8')) as Expected;
  tokenizer = await TextTokenizer.fromDir(join(DIR, 'tokenizer'));
  processor = new LlasaProcessor(tokenizer, { dateString: expected.date_string });
});

describe('Llasa token layout', () => {
  test('real checkpoints: markers 128256..128263, <|s_0|> = 128264, vocabulary 193800', () => {
    assert.deepEqual(LLASA_MARKERS.map((m) => LLASA_LAYOUT.markers[m]), [128256, 128257, 128258, 128259, 128260, 128261, 128262, 128263]);
    assert.equal(LLASA_SPEECH_TOKEN_START, 128264);
    assert.equal(LLASA_VOCAB_SIZE, 193800);
    assert.deepEqual(codesToSpeechTokens([0, 65535]), [128264, 193799]);
  });

  test('read from the fixture tokenizer as transformers sees it', () => {
    const layout = processor.layout;
    assert.deepEqual({ ...layout.markers }, expected.markers);
    assert.equal(layout.speechTokenStart, expected.speech_token_start);
    assert.equal(layout.numSpeechTokens, expected.num_speech_tokens);
    assert.equal(processor.padTokenId, expected.pad_token_id);
  });

  test('a tokenizer without the markers, or with a gap in the speech ids, is refused by name', () => {
    assert.throws(() => llasaLayoutFromTokenizer({ tokenToId: () => undefined }, 'plain'), /plain: no Llasa marker <\|TEXT_GENERATION_START\|>/);
    const ids = new Map<string, number>(LLASA_MARKERS.map((m, i) => [`<|${m}|>`, i]));
    ids.set(speechTokenText(0), 100);
    ids.set(speechTokenText(1), 101);
    ids.set(speechTokenText(2), 205);
    assert.throws(() => llasaLayoutFromTokenizer({ tokenToId: (t) => ids.get(t) }, 'gappy'), /gappy: <\|s_2\|> has id 205, expected 102/);
  });

  test('codes -> tokens -> codes; out-of-range codes named by index and value', () => {
    const layout = processor.layout;
    const codes = [0, 5, 1023, 17];
    const tokens = codesToSpeechTokens(codes, layout);
    assert.deepEqual(tokens.map((t) => tokenizer.idToToken(t)), codes.map(speechTokenText));
    const end = layout.markers.SPEECH_GENERATION_END;
    const parsed = parseSpeechTokens([...tokens, end, 3, 4], layout);
    assert.deepEqual(parsed, { codes, invalid: [], ended: true });
    assert.throws(() => codesToSpeechTokens([1, 1024], layout), /speech code 1 is 1024, expected an integer in \[0, 1024\)/);
    assert.throws(() => codesToSpeechTokens([-1], layout), /speech code 0 is -1/);
  });

  test('parsing: text tokens inside speech are errors naming position and value, or skipped and reported', () => {
    const layout = processor.layout;
    const s = layout.speechTokenStart;
    const start = layout.markers.SPEECH_GENERATION_START;
    // Speech starts after the last SPEECH_GENERATION_START.
    const tokens = [42, start, s + 1, s + 2, 198, s + 3];
    assert.throws(() => parseSpeechTokens(tokens, layout), /token 198 at position 4 is not speech: expected a speech token id in \[571, 1595\)/);
    const parsed = parseSpeechTokens(tokens, layout, { onInvalid: 'skip' });
    assert.deepEqual(parsed.codes, [1, 2, 3]);
    assert.equal(parsed.ended, false);
    assert.deepEqual(parsed.invalid.map((i) => [i.position, i.value]), [[4, 198]]);
  });
});

describe('Llasa prompts equal transformers apply_chat_template(continue_final_message=True)', () => {
  test('continueFinalMessage cuts as transformers does', () => {
    assert.equal(continueFinalMessage('<a>hi there<eot><b>', 'hi there'), '<a>hi there');
    // Trailing space trimmed by the template: cut after the stripped content.
    assert.equal(continueFinalMessage('<a>hi<eot>', 'hi '), '<a>hi');
    assert.throws(() => continueFinalMessage('<a>x<eot>', 'missing'), /does not appear/);
  });

  test('zero-shot prompts, token for token', () => {
    assert.ok(expected.prompts.length >= 4);
    for (const p of expected.prompts) {
      const rendered = tokenizer.applyChatTemplate([
        { role: 'user', content: processor.userContent(p.text) }, { role: 'assistant', content: '<|SPEECH_GENERATION_START|>' },
      ], { extra: { date_string: expected.date_string } });
      assert.equal(continueFinalMessage(rendered, '<|SPEECH_GENERATION_START|>'), p.rendered, p.text);
      assert.deepEqual(processor.prompt(p.text), p.ids, p.text);
    }
  });

  test('voice-cloning prompts (prompt text + text, prompt speech after SPEECH_GENERATION_START), token for token', () => {
    assert.ok(expected.cloning.length >= 2);
    for (const c of expected.cloning) {
      assert.deepEqual(processor.prompt(c.text, { text: c.prompt_text, codes: c.prompt_codes }), c.ids, c.text);
    }
  });

  test('the default date is the template fallback; another date changes the prompt', () => {
    const other = new LlasaProcessor(tokenizer, { dateString: '01 Jan 2030' });
    assert.notDeepEqual(other.prompt('Hello world.'), expected.prompts[0]!.ids);
    assert.deepEqual(new LlasaProcessor(tokenizer).prompt('Hello world.'), expected.prompts[0]!.ids);
  });
});

describe('Llasa training sequences equal train_tts.py', () => {
  test('input ids and labels, token for token (labels -100 before SPEECH_GENERATION_START and on the closing eot)', () => {
    assert.ok(expected.training.length >= 4);
    for (const t of expected.training) {
      const ex = processor.trainingExample(t.text, t.codes);
      assert.deepEqual(ex.inputIds, t.input_ids, t.text);
      assert.deepEqual(ex.labels, t.labels, t.text);
    }
  });

  test('the inference prompt is the training sequence up to SPEECH_GENERATION_START', () => {
    const start = processor.layout.markers.SPEECH_GENERATION_START;
    for (const t of expected.training) {
      const ex = processor.trainingExample(t.text, t.codes);
      assert.deepEqual(processor.prompt(t.text), ex.inputIds.slice(0, ex.inputIds.indexOf(start) + 1), t.text);
    }
  });

  test('bad rows are named', () => {
    assert.throws(() => processor.trainingExample('hi', [1, 5000], 'row 3'), /Llasa row 3: speech code 1 is 5000/);
    assert.throws(() => processor.trainingExample('hi', [], 'row 4'), /Llasa row 4: no speech codes/);
    assert.throws(() => processor.trainingExample(' ', [1], 'row 5'), /Llasa row 5: text must be a non-empty string/);
    assert.throws(() => processor.trainingExample('say <|SPEECH_GENERATION_START|> now', [1], 'row 6'),
      /Llasa row 6: text contains the token string <\|SPEECH_GENERATION_START\|> at character 4/);
    assert.throws(() => processor.prompt('hi <|s_12|>'), /Llasa prompt: text contains the token string <\|s_12\|>/);
    assert.throws(() => processor.prompt('hi', { text: '<|TEXT_UNDERSTANDING_END|>', codes: [1] }), /Llasa prompt clip: text contains/);
  });
});
